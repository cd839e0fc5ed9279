"""The NHRP observer's shared steps, driven directly: NAT inference (a named
step that re-keys the caches through their public method), router roles."""

from __future__ import annotations

from typing import Any

from test_observer_tunnel import Host, rk

from nhrpscope.replay.cache import DYNAMIC, STATIC, NhrpCache
from nhrpscope.replay.facts.nhrp import NatDetected
from nhrpscope.replay.observers.nhrp import NhrpObserver
from nhrpscope.replay.observers.routers import Routers
from nhrpscope.replay.observers.tunnel import TunnelObserver

HUB, SPOKE, PUBLIC = "172.16.15.2", "10.0.0.3", "203.0.113.3"


def observer() -> tuple[NhrpObserver, list[Any]]:
    facts: list[Any] = []
    routers = Routers()
    caches: dict[str, NhrpCache] = {}
    emit = lambda *a, **kw: None  # noqa: E731
    tunnel = TunnelObserver(routers, caches, emit, facts.append)
    nhrp = NhrpObserver(routers, tunnel, caches, emit=emit, state=facts.append,
                        schedule=lambda when, txn: None, expire_at=lambda *a: None)
    return nhrp, facts


def test_cache_rekey_moves_claimed_entries_to_the_public_address():
    c = NhrpCache()
    c.put(1.0, 1, proto="192.168.0.3", via="192.168.0.3", nbma=SPOKE, claimed_nbma=SPOKE,
          type=DYNAMIC, source="registration", holding_time=300)
    c.put(1.0, 2, proto="192.168.0.9", via="192.168.0.9", nbma=SPOKE, claimed_nbma="10.9.9.9",
          type=DYNAMIC, source="registration", holding_time=300)
    c.rekey(SPOKE, PUBLIC)
    moved, kept = c.get("192.168.0.3"), c.get("192.168.0.9")
    assert (moved.nbma, moved.nat) == (PUBLIC, True)
    assert (kept.nbma, kept.nat) == (SPOKE, False)  # not the router's own claim
    assert c.has_nbma(PUBLIC) and c.has_nbma(SPOKE)
    c.mark_used(PUBLIC)
    assert "used" in moved.flags and "used" not in kept.flags


def test_nat_inference_marks_the_router_rekeys_caches_and_states_one_fact():
    nhrp, facts = observer()
    hub_cache = nhrp.cache(HUB)
    hub_cache.put(1.0, 1, proto="192.168.0.3", via="192.168.0.3", nbma=SPOKE, claimed_nbma=SPOKE,
                  type=DYNAMIC, source="registration", holding_time=300)
    gen = nhrp.tunnel.gen
    nhrp.nat(SPOKE, PUBLIC, "its registration came from 203.0.113.3", 2.0, 4)
    nhrp.nat(SPOKE, PUBLIC, "again", 3.0, 6)
    r = nhrp.routers.get(SPOKE)
    assert r is not None and (r.nat, r.public, r.nat_evidence) == (
        True, PUBLIC, "its registration came from 203.0.113.3")
    assert nhrp.routers.claimed(PUBLIC) == SPOKE and nhrp.routers.wire(SPOKE) == PUBLIC
    assert hub_cache.get("192.168.0.3").nbma == PUBLIC
    assert nhrp.tunnel.gen == gen + 1  # the hot path looks everything up again, once
    assert facts == [NatDetected(SPOKE, PUBLIC, "its registration came from 203.0.113.3", 2.0, 4)]
    nhrp.nat(SPOKE, SPOKE, "no NAT", 4.0, 7)  # the same address: nothing
    assert len(facts) == 1


def test_a_cache_the_observer_makes_tells_the_hot_path_of_new_entries():
    nhrp, _ = observer()
    host = Host()
    data = (1, 1.0, 100, rk(SPOKE, HUB), None)
    nhrp.tunnel.run([data], host)
    c = nhrp.cache(SPOKE)
    c.put(1.5, 2, proto="192.168.0.1", via="192.168.0.1", nbma=HUB, claimed_nbma=HUB, type=STATIC,
          source="nhs", holding_time=None)
    assert "used" not in c.get("192.168.0.1").flags
    nhrp.tunnel.run([(3, 2.0, 100, rk(SPOKE, HUB), None)], host)
    assert "used" in c.get("192.168.0.1").flags


def test_roles_follow_what_a_router_did():
    routers = Routers()
    hub = routers.seen(HUB, 1.0, 1)
    spoke = routers.seen(SPOKE, 1.0, 1)
    other = routers.seen("10.9.9.9", 1.0, 1)
    spoke.reg_sent += 1
    hub.reg_received += 1
    assert (hub.role, spoke.role, other.role) == ("hub", "spoke", "unknown")
    spoke.bind("192.168.0.3")
    assert routers.name(SPOKE) == "10.0.0.3 (192.168.0.3)" and routers.name(None) == "?"
