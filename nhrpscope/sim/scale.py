"""The scale scenario: N spokes, a million packets, about a minute.

NHRP stays simulated by the same routers as every other scenario: all spokes
are registered when the capture starts (they booted during a warm-up
interval that is not recorded) and refresh every holding time / 3; a share
of the spokes (5 % by default) pings a partner spoke, so the capture holds
their resolutions and the shortcuts they build. The rest, about 98 % of the
packets, is GRE data: UDP flows between each spoke and the hub site, and
between the partners once their shortcut is up. Those data packets come
from precomputed templates (one per flow direction) with only the outer IP
identification and checksum patched per packet (each flow's identification
rising, as a real sender's does), and are merged by time with the simulated
NHRP packets as the capture is written, so memory stays flat.

Under IPsec (``--ipsec``: the scenario's ESP transform, by default AES-CBC +
HMAC-SHA1-96, ESP transport mode as DMVPN uses) the routers run IKE and
encrypt their NHRP as in every other scenario; each data flow's template is
encrypted once under the SA its direction uses, and each packet gets the
SA's next sequence number and its ICV computed afresh. The simulated NHRP
packets are re-sequenced the same way as they are merged, so every SA's
sequence numbers rise through the capture and every ICV verifies. A flow
starts once its SA carried its first packet (after the IKE exchange).

The span is chosen so the NHRP share holds: with 1000 spokes, a million
packets and the default holding time of 7200 s, some six hours.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from nhrpscope.dissectors.esp import SecurityAssociation, decode_esp, encode_esp
from nhrpscope.dissectors.esp_algorithms import ENCRYPTION
from nhrpscope.dissectors.gre import PT_IPV4, encode_gre
from nhrpscope.sim import packets as P
from nhrpscope.sim.net import Captured, mac_for
from nhrpscope.sim.packets import udp
from nhrpscope.sim.result import Options, Result
from nhrpscope.sim.router import Router
from nhrpscope.sim.scenario import EventSpec, Scenario, ScenarioError, check_scale
from nhrpscope.sim.simulation import Simulation
from nhrpscope.sim.truth import ShortcutRec
from nhrpscope.sim.wire import Wire

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
    try:
        check_scale(n, total)
    except ValueError as e:
        raise ScenarioError(f"{scenario.source}: --{e}") from None
    ipsec = scenario.ipsec.enabled if opts.ipsec is None else bool(opts.ipsec)
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
    sc = replace(scenario, routers=routers, events=events, ipsec=replace(scenario.ipsec, enabled=ipsec),
                 duration=interval + span, nats=[])
    data = max(0, total - round(nhrp_budget))
    return sc, interval, span, n, data


class _Sa:
    """The sending side of one ESP SA in the stream: its next sequence number,
    its ICV, and what it carried (for the truth)."""

    __slots__ = ("sa", "spi_b", "seq", "icv_len", "inner", "outer", "cbc", "start",
                 "packets", "bytes", "first", "last", "first_t", "last_t")

    def __init__(self, sa: SecurityAssociation) -> None:
        self.sa = sa
        self.spi_b = (sa.spi or 0).to_bytes(4, "big")
        self.seq = 0
        self.icv_len = sa.icv_len or 0
        enc = ENCRYPTION[sa.encryption]
        self.cbc = enc.kind == "cbc"
        self.start = float("inf")  # when the simulation first sent on it
        self.packets = self.bytes = self.first = self.last = 0
        self.first_t = self.last_t = 0.0
        # HMAC with the key's pads hashed once: per packet, two copies and two updates.
        self.inner = self.outer = None
        if not enc.is_aead and sa.integrity.startswith("hmac-") and sa.auth_key is not None:
            name = sa.integrity.split("-")[1]
            try:
                blk = hashlib.new(name).block_size
            except ValueError:
                return
            key = sa.auth_key
            if len(key) > blk:
                key = hashlib.new(name, key).digest()
            key = key.ljust(blk, b"\0")
            self.inner = hashlib.new(name, bytes(x ^ 0x36 for x in key))
            self.inner.update(self.spi_b)
            self.outer = hashlib.new(name, bytes(x ^ 0x5C for x in key))

    def reseal(self, esp: bytes, payload: bytes | None = None) -> bytes:
        """``esp`` (SPI to ICV, encrypted under this SA) with the next sequence
        number and a fresh ICV. Without an HMAC to recompute (a combined mode,
        say) the payload (``payload``, or ``esp`` decrypted) is encrypted again."""
        self.seq += 1
        seq_b = self.seq.to_bytes(4, "big")
        if self.inner is not None:
            body = esp[8: len(esp) - self.icv_len]
            h = self.inner.copy()
            h.update(seq_b)
            h.update(body)
            o = self.outer.copy()  # type: ignore[union-attr]
            o.update(h.digest())
            return self.spi_b + seq_b + body + o.digest()[: self.icv_len]
        nh = 47
        if payload is None:
            d = decode_esp(esp, self.sa)
            payload = d.payload
            nh = getattr(d.record, "next_header", None) or 47
        iv = esp[8: 8 + self.sa.algorithm.iv_len] if self.cbc else None
        return encode_esp(self.sa, self.seq, payload, nh, iv=iv)


class _Flow:
    __slots__ = ("frame", "csum", "comment", "a", "b", "ident", "sa", "gre", "start")

    def __init__(self, frame: bytes, comment: str, a: int, b: int, sa: _Sa | None = None,
                 gre: bytes | None = None) -> None:
        self.frame = frame
        self.csum = struct.unpack_from("!H", frame, 14 + 10)[0]
        self.comment = comment
        self.a = a
        self.b = b
        self.ident = 0
        self.sa = sa
        self.gre = gre
        self.start = sa.start if sa is not None else float("-inf")

    def packet(self) -> bytes:
        """The next packet of this flow: identification + 1, and under ESP the
        SA's next sequence number."""
        ident = self.ident = (self.ident + 1) & 0xFFFF
        # RFC 1624 incremental checksum update for the identification field (template id 0).
        c = (~self.csum & 0xFFFF) + ident
        c = (c & 0xFFFF) + (c >> 16)
        fr = self.frame
        head = fr[:18] + ident.to_bytes(2, "big") + fr[20:24] + (~c & 0xFFFF).to_bytes(2, "big")
        if self.sa is None:
            return head + fr[26:]
        return head + fr[26:34] + self.sa.reseal(fr[34:], self.gre)


def _template(src: str, dst: str, inner_src: str, inner_dst: str, key: int | None, size: int,
              comment: str, a: int, b: int, sa: _Sa | None = None, iv: bytes = b"") -> _Flow:
    payload = bytes(range(256)) * (size // 256 + 1)
    body = udp(inner_src, inner_dst, 5001, 5001, payload[: max(size - 28, 0)])
    inner = P.ipv4(inner_src, inner_dst, 17, body, ident=0, ttl=63)
    gre = encode_gre(PT_IPV4, inner, key=key)
    if sa is None:
        outer = P.ipv4(src, dst, 47, gre, ident=0, ttl=254)
        return _Flow(mac_for(dst) + mac_for(src) + b"\x08\x00" + outer, comment, a, b)
    esp = encode_esp(sa.sa, 1, gre, 47, iv=iv if sa.cbc else None)
    outer = P.ipv4(src, dst, 50, esp, ident=0, ttl=254)
    return _Flow(mac_for(dst) + mac_for(src) + b"\x08\x00" + outer, comment.replace("GRE data", "ESP (GRE data)"),
                 a, b, sa, gre)


def _esp_spi(data: bytes) -> int | None:
    """The SPI of an unfragmented IPv4 ESP packet, else None."""
    if len(data) < 28 or data[9] != 50 or (data[6] << 8 | data[7]) & 0x3FFF:
        return None
    ihl = (data[0] & 15) * 4
    return int.from_bytes(data[ihl: ihl + 4], "big")


def simulate_scale(scenario: Scenario, opts: Options) -> Result:
    sc, warm, span, n, data = build(scenario, opts)
    sim = Simulation(sc, replace(opts, ipsec=sc.ipsec.enabled, duration=None))
    seed = sim.seed
    sim.play()
    nhrp = sorted((c for c in sim.net.captured if c.time >= warm), key=lambda c: (c.time, c.seq))
    rng = random.Random(f"{seed}:scale-data")
    hub = sim.routers["HUB"]
    key = hub.key
    # IPsec: the SA each direction sends on (the last negotiated), and when it first carried a packet.
    sa_list: list[SecurityAssociation] = sim.ipsec.all_sas() if sim.ipsec is not None else []
    by_spi: dict[int, _Sa] = {}
    by_dir: dict[tuple[str, str], _Sa] = {}
    for sa in sa_list:
        by_spi[sa.spi or 0] = by_dir[(sa.src or "", sa.dst or "")] = _Sa(sa)
    for c in sim.net.captured:
        spi = _esp_spi(c.data)
        carrier = by_spi.get(spi) if spi is not None else None
        if carrier is not None and c.time < carrier.start:
            carrier.start = c.time

    def flow(src: Router, dst: Router, inner_src: str, inner_dst: str, size: int, comment: str, a: int,
             b: int) -> _Flow | None:
        if sim.ipsec is None:
            return _template(src.nbma, dst.nbma, inner_src, inner_dst, key, size, comment, a, b)
        st = by_dir.get((src.nbma, dst.nbma))
        if st is None:
            return None  # no SA this way: the routers never sent on it
        return _template(src.nbma, dst.nbma, inner_src, inner_dst, key, size, comment, a, b, st,
                         rng.randbytes(st.sa.algorithm.iv_len))

    flows: list[_Flow] = []
    for i in range(n):
        s = sim.routers[f"S{i + 1}"]
        size = SIZES[i % len(SIZES)]
        for f in (flow(s, hub, s.tunnel, DC_SERVER, size,
                       f"GRE data {s.name} -> hub site (UDP {s.tunnel} -> {DC_SERVER}, template)", i, -1),
                  flow(hub, s, DC_SERVER, s.tunnel, size,
                       f"GRE data hub site -> {s.name} (UDP {DC_SERVER} -> {s.tunnel}, template)", -1, i)):
            if f is not None:
                flows.append(f)
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
        fa = flow(ra, rb, ra.tunnel, rb.tunnel, 512,
                  f"GRE data {ra.name} -> {rb.name} over their shortcut (template)", -2, -2)
        fb = flow(rb, ra, rb.tunnel, ra.tunnel, 512,
                  f"GRE data {rb.name} -> {ra.name} over their shortcut (template)", -2, -2)
        if fa is None or fb is None:
            continue
        pairs.append((max(t0 + 0.05, fa.start, fb.start), fa, fb, srec))
    pairs.sort(key=lambda p: p[0])
    mean = span / data if data else 1.0
    for f in flows:
        f.ident = rng.randrange(1, 0xFFFF)
    for _, fa, fb, _ in pairs:
        fa.ident = rng.randrange(1, 0xFFFF)
        fb.ident = rng.randrange(1, 0xFFFF)

    def sim_frame(c: Captured) -> tuple[bytes, _Sa | None]:
        spi = _esp_spi(c.data) if by_spi else None
        st = by_spi.get(spi) if spi is not None else None
        if st is None:
            return c.dst_mac + c.src_mac + b"\x08\x00" + c.data, None
        ihl = (c.data[0] & 15) * 4
        return c.dst_mac + c.src_mac + b"\x08\x00" + c.data[:ihl] + st.reseal(c.data[ihl:]), st

    def stream() -> Iterator[tuple[float, bytes, str, Wire | None, _Sa | None]]:
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
                raw, st = sim_frame(c)
                yield c.time, raw, c.comment, c.wire, st
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
                yield t, f.packet(), f.comment, w, f.sa
                continue
            if not nf:
                continue
            f = flows[int(rand() * nf)]
            tries = 0
            while f.start > t and tries < 64:  # its SA is not up yet: another flow
                f = flows[int(rand() * nf)]
                tries += 1
            if f.start > t:
                continue
            yield t, f.packet(), f.comment, None, f.sa
        while ni < len(nhrp):
            c = nhrp[ni]
            raw, st = sim_frame(c)
            yield c.time, raw, c.comment, c.wire, st
            ni += 1

    result = Result(sc, opts, [], sim.ledger, {}, sa_list, sim.ipsec is not None, seed, span)
    state: dict[str, Any] = {"frames": 0, "first": None, "last": None}

    def frames() -> Iterator[tuple[float, bytes, str]]:
        count = 0
        for t, raw, comment, wire, st in stream():
            count += 1
            rel = t - warm
            if wire is not None:
                wire.frames.append(count)
                wire.tap_times.append(rel)
            if st is not None:
                if not st.packets:
                    st.first, st.first_t = count, rel
                st.packets += 1
                st.bytes += len(raw)
                st.last, st.last_t = count, rel
            if state["first"] is None:
                state["first"] = rel
            state["last"] = rel
            yield rel, raw, comment
        state["frames"] = count

    def finalize() -> dict[str, Any]:
        sim.final_findings()
        led = sim.ledger
        if by_spi:
            # The simulation counted the NHRP it encrypted; the SAs also carried the data.
            rows = {int(d["spi"], 16): d for d in led.sas}
            for spi, st in by_spi.items():
                if not st.packets:
                    continue
                d = rows.get(spi)
                if d is None:
                    back = by_dir.get((st.sa.dst or "", st.sa.src or ""))
                    d = {"spi": f"0x{spi:08x}", "src": st.sa.src, "dst": st.sa.dst,
                         "paired_spi": f"0x{back.sa.spi:08x}" if back is not None else None}
                    led.sa_seen(d)
                d.update(packets=st.packets, bytes=st.bytes, first=led.at(st.first_t),
                         last=led.at(st.last_t), decrypted=st.packets, frames=[st.first, st.last])
        info = sim.capture_info([])
        info.update(frames=state["frames"],
                    first=led.at(state["first"]) if state["first"] is not None else None,
                    last=led.at(state["last"]) if state["last"] is not None else None,
                    spokes=n)
        led.routers = [{"name": r.name, "nbma": r.nbma, "tunnel": r.tunnel, "role": r.spec.role,
                        "flavor": r.spec.flavor, "gre_key": r.key, "nat": None}
                       for r in sim.routers.values()]
        return led.truth(info)

    result.stream = frames
    result.finalize = finalize
    return result
