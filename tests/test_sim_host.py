"""The routers behind their host interface (``nhrpscope.sim.host``).

A router reaches the world only through its ``Host``: the clock, ``transmit``,
the truth ledger and a read-only directory. So two routers run with a host
made here - no ``Simulation``, no network: the test carries each transmitted
packet to the other router itself - and register exactly as in a scenario.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nhrpscope.dissectors import nhrp as N
from nhrpscope.dissectors.gre import decode_gre

from nhrpscope.sim import packets as P
from nhrpscope.sim.clock import Clock, Timer
from nhrpscope.sim.host import Directory, Host, PeerInfo
from nhrpscope.sim.ipsec import Endpoint, IpsecDomain
from nhrpscope.sim.net import Network
from nhrpscope.sim.result import EPOCH, Options
from nhrpscope.sim.router import Router
from nhrpscope.sim.scenario import load_scenario, parse_scenario
from nhrpscope.sim.simulation import Simulation
from nhrpscope.sim.truth import Ledger, RegistrationTxn, ShortcutRec
from nhrpscope.sim.wire import Wire

TWO = """
name = "two"
[[routers]]
name = "H"
role = "hub"
nbma = "10.0.0.1"
tunnel = "192.168.0.1/24"

[[routers]]
name = "S"
nbma = "10.0.0.2"
tunnel = "192.168.0.2/24"
nhs = ["192.168.0.1"]
"""


@dataclass
class BenchHost:
    """A host with a clock and a ledger whose ``transmit`` only records."""

    clock: Clock = field(default_factory=Clock)
    ledger: Ledger = field(default_factory=lambda: Ledger(EPOCH))
    directory: Directory = field(default_factory=Directory)
    sent: list[tuple[float, str, bytes, Wire]] = field(default_factory=list)

    @property
    def now(self) -> float:
        return self.clock.now

    def at(self, when: float, fn: Callable[..., Any], *args: Any) -> Timer:
        return self.clock.at(when, fn, *args)

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        return self.clock.after(delay, fn, *args)

    def transmit(self, sender: str, raw: bytes, wire: Wire) -> None:
        self.sent.append((self.clock.now, sender, raw, wire))


def _nhrp(raw: bytes) -> N.NhrpPacket:
    ip = P.parse_ipv4(raw)
    assert ip.proto == 47
    pkt = N.decode_nhrp(decode_gre(ip.payload).payload).record
    assert pkt is not None
    return pkt


def _bench() -> tuple[BenchHost, Router, Router]:
    sc = parse_scenario(TWO, "two.toml")
    host = BenchHost()
    hub, spoke = (Router(spec, host, 1) for spec in sc.routers)
    host.directory.update(PeerInfo(r.name, r.nbma, r.nbma, r.nbma, r.tunnel, r.is_hub, None, r.lan)
                          for r in (hub, spoke))
    return host, hub, spoke


def test_bench_host_satisfies_the_protocol() -> None:
    host: Host = BenchHost()  # mypy checks the structural match
    assert host.now == 0.0


def test_two_routers_register_through_a_host_of_our_own() -> None:
    host, hub, spoke = _bench()
    host.at(0.0, hub.boot)
    host.at(0.0, spoke.boot)
    host.clock.run(0.5)
    # Cisco registers 50 ms after boot; the packet leaves after its processing time.
    [(t, sender, raw, wire)] = host.sent
    assert sender == "S" and 0.05 < t < 0.06
    assert P.parse_ipv4(raw).dst == "10.0.0.1"
    req = _nhrp(raw)
    assert req.type_code == N.REGISTRATION_REQUEST and req.src_proto == "192.168.0.2"
    [txn] = host.ledger.registrations
    assert (txn.spoke, txn.hub, txn.request_id, txn.requests) == ("S", "H", req.request_id, [wire])
    assert txn.reply is None

    # The test is the network: the hub gets the request and answers through its host.
    hub.receive(raw, wire)
    host.clock.run(1.0)
    [_, (_, sender, reply_raw, reply_wire)] = host.sent
    assert sender == "H" and P.parse_ipv4(reply_raw).dst == "10.0.0.2"
    reply = _nhrp(reply_raw)
    assert reply.type_code == N.REGISTRATION_REPLY and reply.request_id == req.request_id
    assert hub.clients["192.168.0.2"].nbma == "10.0.0.2"
    # The hub recorded its answer on the spoke's transaction through the ledger.
    assert (txn.reply, txn.code) == (reply_wire, 0)

    spoke.receive(reply_raw, reply_wire)
    [reg] = spoke.regs.values()
    assert reg.registered and reg.request_id is None
    # Registered (at t = 1 s): no retry; the next request is the refresh, holding time / 3 later.
    host.clock.run(2400.9)
    assert len(host.sent) == 2
    host.clock.run(2402.0)
    assert len(host.sent) == 3 and _nhrp(host.sent[2][2]).request_id != req.request_id


def test_an_unanswered_spoke_retries_and_closes_with_a_finding() -> None:
    host, _, spoke = _bench()  # the hub never boots
    host.at(0.0, spoke.boot)
    host.clock.run(10.0)
    ids = [_nhrp(raw).request_id for _, _, raw, _ in host.sent]
    assert len(ids) == 4 and len(set(ids)) == 4  # Cisco: 1, 2, 4 s apart, a new id each time
    spoke.close_registrations()
    [f] = host.ledger.findings
    # The fourth request's wait (8 s) has not run out: only the three that timed out are cited.
    assert f.code == "registration-unanswered" and f.wires == [w for *_, w in host.sent[:3]]


def test_the_ledger_matches_what_the_rfc_matches_on() -> None:
    led = Ledger(EPOCH)
    txn = RegistrationTxn("S", "10.0.0.2", "192.168.0.2", "H", "10.0.0.1", "192.168.0.1", 7, 7200)
    led.open_registration(txn)
    w = Wire("nhrp", "reply", "H")
    led.registration_answered("192.168.0.2", 8, w, 0)  # another request id: not this one
    led.registration_answered("192.168.0.3", 7, w, 0)  # another source: not this one
    assert txn.reply is None
    led.registration_answered("192.168.0.2", 7, w, 14)
    assert (txn.reply, txn.code) == (w, 14)


def test_the_first_resolution_reply_sets_the_shortcut_up_and_data_uses_it() -> None:
    led = Ledger(EPOCH)
    first, second = Wire("nhrp", "1", "S"), Wire("nhrp", "2", "T")
    led.shortcut_installed(ShortcutRec("S", "T", "10.0.0.2", "10.0.0.3", first))
    led.shortcut_installed(ShortcutRec("T", "S", "10.0.0.3", "10.0.0.2", second))
    [s] = led.shortcuts.values()
    assert s.via is first
    d1, d2 = Wire("data", "a", "S"), Wire("data", "b", "T")
    led.direct_data("T", "S", d1)
    led.direct_data("S", "T", d2)
    led.direct_data("S", "X", d2)  # no shortcut between these
    assert (s.first_direct, s.direct_packets) == (d1, 2)


def test_the_directory_names_routers_by_claimed_or_public_address() -> None:
    d = Directory()
    d.update([PeerInfo("S", "192.168.1.2", "203.0.113.9", "203.0.113.9", "10.0.0.2", False, "nat1", None),
              PeerInfo("H", "198.51.100.1", "198.51.100.1", "198.51.100.1", "10.0.0.1", True, None,
                       ipaddress.IPv4Network("10.1.0.0/16"))])
    assert d.name_of("192.168.1.2", "203.0.113.9") == "S"
    assert d.name_of(None, "203.0.113.9") == "S"
    assert d.name_of(None, "192.0.2.7") == "192.0.2.7"
    assert d.public_of_claimed("192.168.1.2") == "203.0.113.9"
    assert d.by_tunnel("10.0.0.1") is not None and d.by_tunnel(None) is None
    assert [p.name for p in d.peers()] == ["S", "H"]


def _holds(obj: object, kinds: tuple[type, ...]) -> list[str]:
    """The attributes of ``obj`` (and of the lists, tuples and dicts in them) of these kinds."""
    found = []
    for name, v in vars(obj).items():
        items = list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, list | tuple) else [v]
        found += [name for x in items if isinstance(x, kinds)]
    return found


def test_no_router_or_ipsec_actor_holds_the_world_or_another_router() -> None:
    sim = Simulation(load_scenario("nat-spoke"), Options(duration=30))
    sim.play()
    assert sim.ipsec is not None and sim.ipsec.negs
    world = (Simulation, Network, IpsecDomain)
    for r in sim.routers.values():
        assert not _holds(r, world), r.name
        assert [n for n in _holds(r, (Router, Endpoint)) if n != "ipsec"] == [], r.name
        ep = r.ipsec
        assert ep is not None and ep.r is r
        assert not _holds(ep, (Simulation, Network, Router)) or _holds(ep, (Router,)) == ["r"]
        for peer in ep.peers.values():
            assert not _holds(peer, (Router, Endpoint))
    for neg in sim.ipsec.negs.values():
        assert not _holds(neg, (Router, Endpoint)) and isinstance(neg.initiator, str)
    assert not _holds(sim.ipsec, (Router, Endpoint, Simulation, Network))
