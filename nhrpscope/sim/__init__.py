"""The actor: a discrete-event simulation of DMVPN hubs and spokes.

Routers speak NHRP (RFC 2332, as Cisco IOS and FRR nhrpd put it on the wire)
over multipoint GRE, optionally inside ESP, on a simulated provider network;
a tap records what a capture would hold. Scenarios are TOML files
(``scenarios/*.toml``); ``run.simulate`` runs one and ``run.write_outputs``
writes the capture, key files, truth and narrative.
"""
