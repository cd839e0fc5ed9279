"""The provider network between the routers: access links, NAT boxes and the tap.

Each router hangs off the core on its own access link (latency, loss, MTU,
up/down). A packet leaves its router, crosses the sender's link (fragmented
there if it is too big and DF is clear), through the sender's NAT if any,
across the core, then the receiver's link (ICMP "fragmentation needed" from
the link's provider router when DF is set and it does not fit) and the
receiver's NAT. The default tap sits in the core: it sees every packet that
crosses it exactly once, on the public side of any NAT. ``--tap ROUTER``
records what a capture on that router's NBMA interface holds instead.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nhrpscope.dissectors.transport import encode_icmp_frag_needed
from nhrpscope.sim import packets as P
from nhrpscope.sim.clock import Clock
from nhrpscope.sim.packets import udp
from nhrpscope.sim.scenario import NatSpec, RouterSpec
from nhrpscope.sim.wire import Wire

PROTO_ICMP, PROTO_UDP = 1, 17


class Router(Protocol):
    """A router as its access link sees it: its addresses, its link's
    settings (``spec``), whether it and its link are up, and its input."""

    name: str
    nbma: str
    gateway: str
    spec: RouterSpec
    up: bool
    link_down: bool

    def receive(self, raw: bytes, wire: Wire) -> None: ...


@dataclass(slots=True)
class Captured:
    time: float
    seq: int
    data: bytes  # IPv4 packet
    comment: str
    wire: Wire
    src_mac: bytes
    dst_mac: bytes


def mac_for(addr: str) -> bytes:
    """A locally administered MAC derived from an address (stable, readable)."""
    return b"\x02\x00" + ipaddress.IPv4Address(addr).packed


def _udp_rewrite(ip: P.Ip, raw: bytes, *, src: str | None = None, dst: str | None = None,
                 sport: int | None = None, dport: int | None = None) -> bytes:
    sp, dp = struct.unpack_from("!HH", ip.payload)
    new_src, new_dst = src or ip.src, dst or ip.dst
    body = udp(new_src, new_dst, sport or sp, dport or dp, ip.payload[8:])
    return P.rewrite(raw, src=src, dst=dst, payload=body)


class Nat:
    """Address and port translation for the routers inside. UDP gets a
    public port per inside (address, port); anything else is translated
    1:1 to the first inside router (a static NAT, as GRE needs)."""

    def __init__(self, spec: NatSpec) -> None:
        self.spec = spec
        self.public = spec.public
        self.inside: dict[str, str] = {}  # inside address -> router name
        self.out_map: dict[tuple[str, int], int] = {}
        self.in_map: dict[int, tuple[str, int]] = {}
        self.next_port = spec.port_base
        self.static: str | None = None

    def outbound(self, raw: bytes) -> bytes:
        ip = P.parse_ipv4(raw)
        if ip.proto == PROTO_UDP and not ip.offset:
            sp = struct.unpack_from("!H", ip.payload)[0]
            key = (ip.src, sp)
            if key not in self.out_map:
                self.out_map[key] = self.next_port
                self.in_map[self.next_port] = key
                self.next_port += 1
            return _udp_rewrite(ip, raw, src=self.public, sport=self.out_map[key])
        if self.static is None:
            self.static = ip.src
        return P.rewrite(raw, src=self.public)

    def inbound(self, raw: bytes) -> bytes | None:
        ip = P.parse_ipv4(raw)
        if ip.proto == PROTO_UDP and not ip.offset:
            dp = struct.unpack_from("!H", ip.payload, 2)[0]
            if dp not in self.in_map:
                return None
            addr, port = self.in_map[dp]
            return _udp_rewrite(ip, raw, dst=addr, dport=port)
        if self.static is None:
            return None
        return P.rewrite(raw, dst=self.static)


class Network:
    def __init__(self, clock: Clock, rng: random.Random, tap: str | None,
                 nats: list[NatSpec]) -> None:
        self.clock = clock
        self.rng = rng
        self.tap = tap  # None: the core; else a router name
        self.routers: dict[str, Router] = {}
        self.by_public: dict[str, Router] = {}
        self.nats = {n.name: Nat(n) for n in nats}
        self.nat_by_public = {n.public: n for n in self.nats.values()}
        self.captured: list[Captured] = []
        self._seq = 0
        self.on_drop: Callable[[str, Wire, str], None] | None = None
        self.on_icmp: Callable[[Wire], None] | None = None  # an ICMP the provider routers send

    # -- set-up ---------------------------------------------------------------

    def reindex(self) -> None:
        self.by_public = {}
        for r in self.routers.values():
            if not r.spec.behind_nat:
                self.by_public[r.nbma] = r
        for n in self.nats.values():
            n.inside = {r.nbma: r.name for r in self.routers.values() if r.spec.behind_nat == n.spec.name}

    def public_address(self, router: Router) -> str:
        return self.nats[router.spec.behind_nat].public if router.spec.behind_nat else router.nbma

    # -- recording ------------------------------------------------------------

    def _record(self, t: float, raw: bytes, wire: Wire, src_mac: bytes, dst_mac: bytes) -> None:
        self._seq += 1
        ip = P.parse_ipv4(raw)
        comment = wire.comment
        if ip.mf or ip.offset:
            wire.fragments += 1
            comment = f"IP fragment (offset {ip.offset}{', more follow' if ip.mf else ', last'}) of: {comment}"
        self.captured.append(Captured(t, self._seq, raw, comment, wire, src_mac, dst_mac))

    def finish(self) -> list[Captured]:
        """The tap's frames in time order, numbered; wires learn their frames."""
        self.captured.sort(key=lambda c: (c.time, c.seq))
        for n, c in enumerate(self.captured, 1):
            c.wire.frames.append(n)
            c.wire.tap_times.append(c.time)
        return self.captured

    # -- the path -------------------------------------------------------------

    def _drop(self, why: str, wire: Wire, where: str) -> None:
        if self.on_drop:
            self.on_drop(why, wire, where)

    def transmit(self, router: Router, raw: bytes, wire: Wire) -> None:
        """``router`` puts ``raw`` (an IPv4 packet) on its NBMA interface now."""
        if not router.up:
            return
        spec = router.spec
        ip = P.parse_ipv4(raw)
        if len(raw) > spec.link_mtu:
            if ip.df:
                self._drop("bigger than the router's own link MTU with DF set", wire, router.name)
                return
            pieces = P.fragment(raw, spec.link_mtu)
        else:
            pieces = [raw]
        gw = mac_for(router.gateway)
        for piece in pieces:
            if self.tap == router.name:
                self._record(self.clock.now, piece, wire, mac_for(router.nbma), gw)
            if router.link_down:
                self._drop("sender's link is down", wire, router.name)
                continue
            if spec.loss and self.rng.random() < spec.loss:
                self._drop("lost on the sender's link", wire, router.name)
                continue
            if spec.block and self._blocked(spec.block, "out", piece):
                self._drop("a filter on the sender's link drops it", wire, router.name)
                continue
            if spec.behind_nat:
                piece = self.nats[spec.behind_nat].outbound(piece)
            self.clock.after(spec.latency, self._core, piece, wire, router.gateway)

    def _core(self, raw: bytes, wire: Wire, from_gw: str) -> None:
        ip = P.parse_ipv4(raw)
        dest = self.by_public.get(ip.dst)
        nat = None
        if dest is None and ip.dst in self.nat_by_public:
            nat = self.nat_by_public[ip.dst]
        if self.tap is None:
            to_gw = dest.gateway if dest else (self._nat_gateway(nat) if nat else ip.dst)
            self._record(self.clock.now, raw, wire, mac_for(from_gw), mac_for(to_gw))
        if nat is not None:
            inner = nat.inbound(raw)
            if inner is None:
                self._drop("no NAT mapping for it", wire, nat.spec.name)
                return
            name = nat.inside.get(P.parse_ipv4(inner).dst)
            dest = self.routers.get(name) if name else None
            raw = inner
        if dest is None:
            self._drop("nobody has that address", wire, "core")
            return
        spec = dest.spec
        size = len(raw)
        if size > spec.link_mtu:
            if ip.df:
                self._drop(f"{size} bytes with DF set do not fit the {spec.link_mtu}-byte link", wire,
                           dest.name)
                if not spec.icmp_blocked and ip.proto != PROTO_ICMP:
                    self._frag_needed(dest, raw if nat is None else raw, ip, spec.link_mtu)
                return
            pieces = P.fragment(raw, spec.link_mtu)
        else:
            pieces = [raw]
        for piece in pieces:
            if dest.link_down:
                self._drop("receiver's link is down", wire, dest.name)
                continue
            if spec.loss and self.rng.random() < spec.loss:
                self._drop("lost on the receiver's link", wire, dest.name)
                continue
            if spec.block and self._blocked(spec.block, "in", piece):
                self._drop("a filter on the receiver's link drops it", wire, dest.name)
                continue
            self.clock.after(spec.latency, self._deliver, dest, piece, wire)

    def _blocked(self, rules: list, direction: str, raw: bytes) -> bool:
        """Does a filter rule (scenario key ``block``) drop this packet?"""
        ip = P.parse_ipv4(raw)
        for d, proto, port, peer in rules:
            if d != direction:
                continue
            if peer is not None:
                r = self.routers.get(peer)
                other = ip.dst if direction == "out" else ip.src
                if r is None or other not in (r.nbma, self.public_address(r)):
                    continue
            if proto == "esp" and ip.proto == 50:
                return True
            if proto == "udp" and ip.proto == PROTO_UDP and not ip.offset and len(ip.payload) >= 4:
                sp, dp = struct.unpack_from("!HH", ip.payload)
                if port in (sp, dp):
                    return True
        return False

    def _nat_gateway(self, nat: Nat) -> str:
        for name in nat.inside.values():
            return self.routers[name].gateway
        return nat.public

    def _frag_needed(self, dest: Router, raw: bytes, ip: P.Ip, mtu: int) -> None:
        """The provider router in front of ``dest`` says the packet does not fit."""
        gw = dest.gateway
        original = raw
        if dest.spec.behind_nat:  # quote the packet as it was in the core
            original = P.rewrite(raw, dst=self.public_address(dest))
        icmp = encode_icmp_frag_needed(mtu, original)
        pkt = P.ipv4(gw, ip.src, PROTO_ICMP, icmp, ident=self.rng.randrange(1, 0xFFFF), ttl=254, tos=0xC0)
        wire = Wire("icmp-frag-needed", f"ICMP fragmentation needed (next-hop MTU {mtu}) from the "
                    f"provider router {gw} in front of {dest.name}: a {ip.proto == 47 and 'GRE' or 'tunnel'}"
                    f" packet from {ip.src} of {len(raw)} bytes with DF set does not fit its {mtu}-byte link",
                    sender=gw, meta={"mtu": mtu, "to": ip.src, "gateway": gw})
        if self.on_icmp:
            self.on_icmp(wire)
        self.clock.after(0.0004, self._core, pkt, wire, gw)

    def _deliver(self, dest: Router, raw: bytes, wire: Wire) -> None:
        if not dest.up:
            self._drop("receiver is down", wire, dest.name)
            return
        if self.tap == dest.name:
            self._record(self.clock.now, raw, wire, mac_for(dest.gateway), mac_for(dest.nbma))
        dest.receive(raw, wire)
