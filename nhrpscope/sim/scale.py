"""The scale scenario: N spokes, a million packets, about a minute.

NHRP stays simulated by the same routers as every other scenario: all spokes
are registered when the capture starts (they booted during a warm-up
interval that is not recorded) and refresh every holding time / 3; a share
of the spokes (5 % by default) pings a partner spoke, so the capture holds
their resolutions and the shortcuts they build. The rest, about 98 % of the
packets, is GRE data: UDP flows between each spoke and the hub site, and
between the partners once their shortcut is up. Those data packets come
from precomputed templates (one per flow direction) with only the outer IP
identification and checksum patched per packet, and are merged by time with
the simulated NHRP packets as the capture is written, so memory stays flat.

The span is chosen so the NHRP share holds: with 1000 spokes, a million
packets and the default holding time of 7200 s, some six hours.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from dissectors.gre import PT_IPV4, encode_gre
from nhrpscope.sim import packets as P
from nhrpscope.sim.net import Wire, mac_for, udp
from nhrpscope.sim.run import Options, Result, Simulation
from nhrpscope.sim.scenario import EventSpec, Scenario, ScenarioError
from nhrpscope.sim.truth import ShortcutRec

HUB_NBMA = "198.51.100.1"
TUNNEL_NET = ipaddress.IPv4Network("10.0.0.0/8")
NBMA_NET = ipaddress.IPv4Network("172.16.0.0/12")
DC_SERVER = "10.255.255.10"  # the hub site's server every spoke talks to (via the hub's tunnel address)
SIZES = (64, 128, 512, 1024, 1400)


def _spoke_addrs(i: int) -> tuple[str, str]:
    nbma = str(NBMA_NET.network_address + 4 * (i + 1) + 2)
    tunnel = str(TUNNEL_NET.network_address + i + 2)
    return nbma, tunnel


def build(scenario: Scenario, opts: Options) -> tuple[Scenario, float, float, int, int]:
    """The concrete scenario: (scenario, warm-up, span, spokes, data packets)."""
    sp = scenario.scale
    assert sp is not None
    n = opts.spokes or sp.spokes
    total = opts.packets or sp.packets
    if n > 65000:
        raise ScenarioError(f"{scenario.source}: --spokes {n}: at most 65000 spokes")
    if opts.ipsec:
        raise ScenarioError(f"{scenario.source}: the scale scenario runs in clear (no --ipsec): its data "
                            "packets come from templates, and ESP cannot")
    if opts.tap:
        raise ScenarioError(f"{scenario.source}: the scale scenario records the provider core only (no --tap)")
    hub_t = next((r for r in scenario.routers if r.role == "hub"), None)
    spoke_t = next((r for r in scenario.routers if r.role == "spoke"), None)
    if hub_t is None or spoke_t is None:
        raise ScenarioError(f"{scenario.source}: a [scale] scenario needs one hub and one spoke as templates")
    interval = spoke_t.registration_interval or spoke_t.holding_time / 3
    resolvers = max(1, round(n * sp.resolving_share)) if n >= 2 else 0
    nhrp_budget = total * (1.0 - sp.data_share)
    # Each refresh is 2 packets; each resolving pair costs about 12 (both sides resolve,
    # the hub forwards each request, plus the data that goes through the hub meanwhile).
    refreshes = max(float(n), (nhrp_budget - 12 * resolvers) / 2)
    span = opts.duration or max(interval, refreshes / n * interval)
    rng = random.Random(f"{opts.seed if opts.seed is not None else scenario.seed}:scale")
    hub = replace(hub_t, name="HUB", nbma=HUB_NBMA, tunnel=str(TUNNEL_NET.network_address + 1),
                  prefix_len=TUNNEL_NET.prefixlen, start=0.0)
    routers = [hub]
    for i in range(n):
        nbma, tunnel = _spoke_addrs(i)
        routers.append(replace(spoke_t, name=f"S{i + 1}", nbma=nbma, tunnel=tunnel,
                               prefix_len=TUNNEL_NET.prefixlen, nhs=[hub.tunnel],
                               nhs_nbma={hub.tunnel: HUB_NBMA}, start=0.5 + rng.uniform(0, interval - 1.0),
                               lan=None))
    events = []
    order = list(range(n))
    rng.shuffle(order)
    for k in range(resolvers):
        a = order[k]
        b = order[(k + resolvers) % n] if n > resolvers else order[(k + 1) % n]
        if a == b:
            continue
        events.append(EventSpec(interval + rng.uniform(0.02, 0.9) * span, "ping",
                                {"from": f"S{a + 1}", "to": routers[b + 1].tunnel, "count": 2}))
    sc = replace(scenario, routers=routers, events=events, ipsec=replace(scenario.ipsec, enabled=False),
                 duration=interval + span, nats=[])
    data = max(0, total - round(nhrp_budget))
    return sc, interval, span, n, data


class _Flow:
    __slots__ = ("frame", "csum", "comment", "a", "b")

    def __init__(self, frame: bytes, comment: str, a: int, b: int) -> None:
        self.frame = frame
        self.csum = struct.unpack_from("!H", frame, 14 + 10)[0]
        self.comment = comment
        self.a = a
        self.b = b


def _template(src: str, dst: str, inner_src: str, inner_dst: str, key: int | None, size: int,
              comment: str, a: int, b: int) -> _Flow:
    payload = bytes(range(256)) * (size // 256 + 1)
    body = udp(inner_src, inner_dst, 5001, 5001, payload[: max(size - 28, 0)])
    inner = P.ipv4(inner_src, inner_dst, 17, body, ident=0, ttl=63)
    outer = P.ipv4(src, dst, 47, encode_gre(PT_IPV4, inner, key=key), ident=0, ttl=254)
    return _Flow(mac_for(dst) + mac_for(src) + b"\x08\x00" + outer, comment, a, b)


def simulate_scale(scenario: Scenario, opts: Options) -> Result:
    sc, warm, span, n, data = build(scenario, opts)
    sim = Simulation(sc, replace(opts, ipsec=False, duration=None))
    seed = sim.seed
    sim._schedule_events()
    sim.clock.run(sc.duration)
    for r in sim.routers.values():
        for reg in r.regs.values():
            r._close_unanswered(reg)
    nhrp = sorted((c for c in sim.net.captured if c.time >= warm), key=lambda c: (c.time, c.seq))
    rng = random.Random(f"{seed}:scale-data")
    hub = sim.routers["HUB"]
    key = hub.key
    flows: list[_Flow] = []
    for i in range(n):
        s = sim.routers[f"S{i + 1}"]
        size = SIZES[i % len(SIZES)]
        flows.append(_template(s.nbma, hub.nbma, s.tunnel, DC_SERVER, key, size,
                               f"GRE data {s.name} -> hub site (UDP {s.tunnel} -> {DC_SERVER}, template)", i, -1))
        flows.append(_template(hub.nbma, s.nbma, DC_SERVER, s.tunnel, key, size,
                               f"GRE data hub site -> {s.name} (UDP {DC_SERVER} -> {s.tunnel}, template)", -1, i))
    # Shortcuts: once a pair's resolution reply is on the wire, part of its data goes direct.
    pairs: list[tuple[float, _Flow, _Flow, ShortcutRec]] = []
    seen_at: dict[int, float] = {}
    for c in nhrp:
        seen_at.setdefault(id(c.wire), c.time)
    for srec in sim.ledger.shortcuts.values():
        t0 = seen_at.get(id(srec.via)) if srec.via is not None else None
        if t0 is None:
            continue
        ra, rb = sim.routers[srec.a], sim.routers[srec.b]
        fa = _template(ra.nbma, rb.nbma, ra.tunnel, rb.tunnel, key, 512,
                       f"GRE data {ra.name} -> {rb.name} over their shortcut (template)", -2, -2)
        fb = _template(rb.nbma, ra.nbma, rb.tunnel, ra.tunnel, key, 512,
                       f"GRE data {rb.name} -> {ra.name} over their shortcut (template)", -2, -2)
        pairs.append((t0 + 0.05, fa, fb, srec))
    pairs.sort(key=lambda p: p[0])
    mean = span / data if data else 1.0

    def stream() -> Iterator[tuple[float, bytes, str, Wire | None]]:
        ids = [rng.randrange(1, 0xFFFF) for _ in range(len(flows))]
        t = warm
        nf = len(flows)
        ni = 0
        active: list[tuple[_Flow, _Flow, ShortcutRec]] = []
        pending = list(pairs)
        rand = rng.random
        expo = rng.expovariate
        for _ in range(data):
            t += expo(1.0 / mean)
            while ni < len(nhrp) and nhrp[ni].time <= t:
                c = nhrp[ni]
                yield c.time, c.dst_mac + c.src_mac + b"\x08\x00" + c.data, c.comment, c.wire
                ni += 1
            while pending and pending[0][0] <= t:
                _, fa, fb, srec = pending.pop(0)
                active.append((fa, fb, srec))
            if active and rand() < 0.1:
                fa, fb, srec = active[int(rand() * len(active))]
                f = fa if rand() < 0.5 else fb
                w = None
                if srec.first_direct is None:
                    w = srec.first_direct = Wire("data", f.comment, srec.a)
                yield t, f.frame, f.comment, w
                continue
            k = int(rand() * nf)
            f = flows[k]
            ident = ids[k] = (ids[k] + 1) & 0xFFFF
            # RFC 1624 incremental checksum update for the identification field (template id 0).
            c = (~f.csum & 0xFFFF) + ident
            c = (c & 0xFFFF) + (c >> 16)
            fr = f.frame
            yield t, fr[:18] + struct.pack("!H", ident) + fr[20:24] + struct.pack("!H", ~c & 0xFFFF) + fr[26:], \
                f.comment, None
        while ni < len(nhrp):
            c = nhrp[ni]
            yield c.time, c.dst_mac + c.src_mac + b"\x08\x00" + c.data, c.comment, c.wire
            ni += 1

    result = Result(sc, opts, [], sim.ledger, {}, [], False, seed, span)
    state: dict[str, Any] = {"frames": 0, "first": None, "last": None}

    def frames() -> Iterator[tuple[float, bytes, str]]:
        count = 0
        for t, raw, comment, wire in stream():
            count += 1
            rel = t - warm
            if wire is not None:
                wire.frames.append(count)
                wire.tap_times.append(rel)
            if state["first"] is None:
                state["first"] = rel
            state["last"] = rel
            yield rel, raw, comment
        state["frames"] = count

    def finalize() -> dict[str, Any]:
        sim._final_findings()
        info = sim._capture_info([])
        info.update(frames=state["frames"],
                    first=sim.ledger.at(state["first"]) if state["first"] is not None else None,
                    last=sim.ledger.at(state["last"]) if state["last"] is not None else None,
                    spokes=n)
        sim.ledger.routers = [{"name": r.name, "nbma": r.nbma, "tunnel": r.tunnel, "role": r.spec.role,
                               "flavor": r.spec.flavor, "gre_key": r.key, "nat": None}
                              for r in sim.routers.values()]
        return sim.ledger.truth(info)

    result.stream = frames
    result.finalize = finalize
    return result
