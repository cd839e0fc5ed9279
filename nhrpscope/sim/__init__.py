"""The actor: a discrete-event simulation of DMVPN hubs and spokes.

Routers speak NHRP (RFC 2332, as Cisco IOS and FRR nhrpd put it on the wire)
over multipoint GRE, optionally inside ESP, on a simulated provider network;
a tap records what a capture would hold. Scenarios are TOML files
(``scenarios/*.toml``); ``run.simulate`` runs one and ``run.write_outputs``
writes the capture, key files, truth and narrative.
"""

# The longest simulated time a scenario or ``generate --duration`` may ask
# for: a week of registrations is a few hundred thousand events; 1e12 s ran
# until killed. Here, not in ``scenario``, so the command line can name it
# without importing the simulator.
MAX_DURATION = 7 * 86400.0
