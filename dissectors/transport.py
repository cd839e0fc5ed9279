"""ICMP, ICMPv6 and TCP: enough to follow pings and flows through a tunnel,
and to see the ICMP "fragmentation needed" that DMVPN's MTU troubles cause."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nhrpscope.dissectors.base import Decoded, Layer, Problem, internet_checksum, ipv4_str

ICMP_NAMES = {
    0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
    8: "echo-request", 11: "time-exceeded", 12: "parameter-problem", 13: "timestamp",
    14: "timestamp-reply",
}
ICMPV6_NAMES = {
    1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
    128: "echo-request", 129: "echo-reply", 133: "router-solicitation", 134: "router-advertisement",
    135: "neighbor-solicitation", 136: "neighbor-advertisement", 137: "redirect",
}


@dataclass(frozen=True, slots=True)
class Icmp(Layer):
    proto = "icmp"
    type: int
    code: int
    name: str
    checksum: int
    checksum_ok: bool | None
    id: int | None = None
    seq: int | None = None
    # Destination unreachable / fragmentation needed (type 3 code 4): next-hop MTU.
    mtu: int | None = None
    # For errors: the header of the packet that caused them.
    orig_src: str | None = None
    orig_dst: str | None = None
    orig_protocol: int | None = None
    data_length: int = 0


@dataclass(frozen=True, slots=True)
class Icmpv6(Icmp):
    proto = "icmpv6"


def decode_icmp(buf: bytes, v6: bool = False) -> Decoded:
    proto = "icmpv6" if v6 else "icmp"
    if len(buf) < 8:
        return Decoded(None, b"", [Problem(0, f"ICMP header cut short ({len(buf)} of 8 bytes)", proto, f"{proto}.truncated", "error")])
    t, c, csum, a, b = struct.unpack_from("!BBHHH", buf)
    names = ICMPV6_NAMES if v6 else ICMP_NAMES
    ok = None if v6 else internet_checksum(bytes(buf)) == 0  # v6 needs the pseudo-header
    problems = [] if ok is not False else [Problem(2, f"ICMP checksum 0x{csum:04x} is wrong", proto,
                                                   f"{proto}.checksum", "error")]
    ident = seq = mtu = osrc = odst = oproto = None
    if (not v6 and t in (0, 8)) or (v6 and t in (128, 129)):
        ident, seq = a, b
    elif not v6 and t == 3 and c == 4:
        mtu = b
    elif v6 and t == 2:
        mtu = (a << 16) | b
    if not v6 and t in (3, 4, 5, 11, 12) and len(buf) >= 28 and buf[8] >> 4 == 4:
        osrc, odst, oproto = ipv4_str(buf[20:24]), ipv4_str(buf[24:28]), buf[17]
    cls = Icmpv6 if v6 else Icmp
    rec = cls(t, c, names.get(t, f"type-{t}"), csum, ok, ident, seq, mtu, osrc, odst, oproto, len(buf) - 8)
    return Decoded(rec, b"", problems, len(buf))


def encode_icmp(type_: int, code: int, rest: int, data: bytes, *, v6: bool = False) -> bytes:
    """An ICMP message: type, code, the 4 bytes after the checksum
    (``rest``: identifier and sequence number, the MTU ...) and the data. The
    checksum is computed for ICMP; ICMPv6's needs the IPv6 pseudo-header,
    so it is left zero."""
    hdr = struct.pack("!BBHI", type_, code, 0, rest) + data
    if v6:
        return hdr
    return hdr[:2] + struct.pack("!H", internet_checksum(hdr)) + hdr[4:]


def encode_icmp_echo(ident: int, seq: int, data: bytes, *, reply: bool = False) -> bytes:
    hdr = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + data
    return hdr[:2] + struct.pack("!H", internet_checksum(hdr)) + hdr[4:]


def encode_icmp_frag_needed(mtu: int, original: bytes) -> bytes:
    hdr = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + original[:28]
    return hdr[:2] + struct.pack("!H", internet_checksum(hdr)) + hdr[4:]


_TCP_FLAGS = ((0x01, "fin"), (0x02, "syn"), (0x04, "rst"), (0x08, "psh"), (0x10, "ack"),
              (0x20, "urg"), (0x40, "ece"), (0x80, "cwr"))


@dataclass(frozen=True, slots=True)
class Tcp(Layer):
    proto = "tcp"
    src_port: int
    dst_port: int
    seq: int
    ack: int
    header_length: int
    flags: tuple[str, ...]
    window: int
    data_length: int


def decode_tcp(buf: bytes) -> Decoded:
    if len(buf) < 20:
        return Decoded(None, b"", [Problem(0, f"TCP header cut short ({len(buf)} of 20 bytes)", "tcp", "tcp.truncated", "error")])
    sp, dp, seq, ack, off, fl, win = struct.unpack_from("!HHIIBBH", buf)
    hl = (off >> 4) * 4
    problems = []
    if hl < 20 or hl > len(buf):
        problems.append(Problem(12, f"TCP header length {hl} is impossible", "tcp",
                                "tcp.header-length", "error"))
        hl = min(max(hl, 20), len(buf))
    names = tuple(n for bit, n in _TCP_FLAGS if fl & bit)
    return Decoded(Tcp(sp, dp, seq, ack, hl, names, win, len(buf) - hl), bytes(buf[hl:]), problems, hl)


def encode_tcp(src_port: int, dst_port: int, payload: bytes, *, seq: int = 0, ack: int = 0,
               flags: int = 0x18, window: int = 65535) -> bytes:
    # Checksum left zero: it needs the pseudo-header, and nothing here checks it.
    return struct.pack("!HHIIBBHHH", src_port, dst_port, seq, ack, 5 << 4, flags, window, 0, 0) + payload
