"""A TCP-like flow between hosts behind two routers (modelled inside them).

Enough TCP to teach the MTU lesson: the sender sends ``count`` segments with
DF set, one every ``interval`` seconds; the receiver acknowledges each; a
segment not acknowledged within the retransmission timeout (1 s, doubling,
RFC 6298) is sent again, up to ``MAX_RETRIES`` times. When the sending router
knows the path MTU is smaller (it got ICMP "fragmentation needed"), the host
learns it too (PMTUD) and sends smaller segments; when that ICMP never comes
(a filter drops it) the segments vanish and only retransmissions follow:
the PMTUD blackhole. No handshake, no window: a teaching model, not a stack.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Protocol

from nhrpscope.dissectors.base import internet_checksum
from nhrpscope.dissectors.transport import encode_tcp
from nhrpscope.sim import packets as P
from nhrpscope.sim.clock import Timer
from nhrpscope.sim.host import Host
from nhrpscope.sim.wire import Wire

PROTO_TCP = 6
MAX_RETRIES = 4
ACK, PSH = 0x10, 0x08


class FlowRouter(Protocol):
    """What the hosts behind a router use of it: its clock, its tunnel's view
    of the path (next hop, path MTU, overhead) and its routing."""

    host: Host
    up: bool
    pmtu: dict[str, int]

    def next_hop(self, dst: str) -> tuple[str | None, str]: ...

    def overhead(self) -> int: ...

    def source_for(self, dst: str) -> str: ...

    def next_ip_id(self) -> int: ...

    def route(self, inner: bytes, *, arrived_from: str | None = None, wire_in: Wire | None = None,
              comment: str = "") -> None: ...


def tcp_segment(src: str, dst: str, sport: int, dport: int, payload: bytes, *, seq: int, ack: int,
                flags: int) -> bytes:
    """A TCP header with its checksum (the encoder leaves it zero), then payload."""
    seg = encode_tcp(sport, dport, payload, seq=seq, ack=ack, flags=flags, window=64240)
    pseudo = (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
              + struct.pack("!BBH", 0, PROTO_TCP, len(seg)))
    c = internet_checksum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


@dataclass(eq=False)
class TcpFlow:
    sender: FlowRouter
    dst: str
    count: int
    size: int  # IP datagram size of a full segment
    interval: float
    df: bool
    sport: int
    dport: int
    isn: int
    sent: int = 0
    acked: set[int] = field(default_factory=set)
    timers: dict[int, Timer] = field(default_factory=dict)
    retries: dict[int, int] = field(default_factory=dict)
    mss: int = 0
    lens: dict[int, int] = field(default_factory=dict)

    def start(self) -> None:
        self.mss = self.size - 40
        for i in range(self.count):
            self.sender.host.after(i * self.interval, self._send, i, 1.0)

    def seq_of(self, i: int) -> int:
        return (self.isn + i * (self.size - 40)) & 0xFFFFFFFF

    def _send(self, i: int, rto: float) -> None:
        r = self.sender
        if not r.up or i in self.acked:
            return
        nbma, _ = r.next_hop(self.dst)
        pm = r.pmtu.get(nbma or "")
        if pm is not None:
            self.mss = min(self.mss, pm - r.overhead() - 40)  # the host's PMTUD
        n = self.retries.get(i, 0)
        src = r.source_for(self.dst)
        data = bytes((i * 7 + j) & 0xFF for j in range(self.mss))
        self.lens[i] = len(data)
        seg = tcp_segment(src, self.dst, self.sport, self.dport, data, seq=self.seq_of(i), ack=1,
                          flags=ACK | PSH)
        inner = P.ipv4(src, self.dst, PROTO_TCP, seg, ident=r.next_ip_id(), ttl=64, df=self.df)
        what = f"TCP segment {i + 1} of {self.count} ({len(inner)} bytes{', DF' if self.df else ''})"
        if n:
            what += f", retransmission {n} after {rto / 2:g} s without an ACK"
        r.route(inner, comment=what)
        if n < MAX_RETRIES:
            self.timers[i] = r.host.after(rto, self._timeout, i, rto)

    def _timeout(self, i: int, rto: float) -> None:
        if i in self.acked:
            return
        self.retries[i] = self.retries.get(i, 0) + 1
        self._send(i, rto * 2)

    def on_ack(self, ack: int) -> None:
        """An ACK names the next byte expected: it acknowledges the segment ending there."""
        for i, n in self.lens.items():
            if i not in self.acked and ack == (self.seq_of(i) + n) & 0xFFFFFFFF:
                self.acked.add(i)
                t = self.timers.pop(i, None)
                if t:
                    t.cancel()


def acknowledge(receiver: FlowRouter, ip: P.Ip) -> None:
    """The host behind ``receiver`` acknowledges a data segment."""
    b = ip.payload
    sport, dport, seq = struct.unpack_from("!HHI", b)
    hl = (b[12] >> 4) * 4
    n = len(b) - hl
    if n <= 0:
        return
    seg = tcp_segment(ip.dst, ip.src, dport, sport, b"", seq=1, ack=(seq + n) & 0xFFFFFFFF, flags=ACK)
    out = P.ipv4(ip.dst, ip.src, PROTO_TCP, seg, ident=receiver.next_ip_id(), ttl=64, df=True)
    receiver.route(out, comment=f"TCP ACK for {n} bytes")
