"""Small IPv4 helpers for the simulator: build, parse, fragment, reassemble.

Building goes through the dissectors' encoders (``encode_ipv4``) so the
simulator writes what the decoders test.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from nhrpscope.dissectors.base import internet_checksum
from nhrpscope.dissectors.ip import encode_ipv4


@dataclass(slots=True)
class Ip:
    src: str
    dst: str
    proto: int
    ident: int
    ttl: int
    tos: int
    df: bool
    mf: bool
    offset: int  # bytes
    payload: bytes
    header_len: int


def parse_ipv4(b: bytes) -> Ip:
    ihl = (b[0] & 15) * 4
    total, ident, fl = struct.unpack_from("!HHH", b, 2)
    return Ip(socket.inet_ntoa(b[12:16]), socket.inet_ntoa(b[16:20]), b[9], ident, b[8], b[1],
              bool(fl & 0x4000), bool(fl & 0x2000), (fl & 0x1FFF) * 8, bytes(b[ihl:total]), ihl)


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int, ttl: int = 255, tos: int = 0,
         df: bool = False) -> bytes:
    return encode_ipv4(src, dst, proto, payload, ttl=ttl, tos=tos, ident=ident & 0xFFFF, df=df)


def rewrite(pkt: bytes, *, src: str | None = None, dst: str | None = None, ttl: int | None = None,
            payload: bytes | None = None) -> bytes:
    """The same IPv4 packet with addresses, TTL or payload changed and the
    checksum recomputed (what a NAT box or a forwarding router does)."""
    ihl = (pkt[0] & 15) * 4
    hdr = bytearray(pkt[:ihl])
    body = pkt[ihl:] if payload is None else payload
    if src is not None:
        hdr[12:16] = socket.inet_aton(src)
    if dst is not None:
        hdr[16:20] = socket.inet_aton(dst)
    if ttl is not None:
        hdr[8] = ttl
    struct.pack_into("!H", hdr, 2, ihl + len(body))
    hdr[10:12] = b"\0\0"
    hdr[10:12] = struct.pack("!H", internet_checksum(bytes(hdr)))
    return bytes(hdr) + body


def fragment(pkt: bytes, mtu: int) -> list[bytes]:
    """RFC 791 fragmentation of an IPv4 packet (DF not set) to fit ``mtu``."""
    if len(pkt) <= mtu:
        return [pkt]
    ip = parse_ipv4(pkt)
    step = (mtu - ip.header_len) // 8 * 8
    data = ip.payload
    out = []
    for off in range(0, len(data), step):
        chunk = data[off: off + step]
        more = off + step < len(data) or ip.mf
        hdr = bytearray(pkt[: ip.header_len])
        struct.pack_into("!HHH", hdr, 2, ip.header_len + len(chunk), ip.ident,
                         (0x2000 if more else 0) | ((ip.offset + off) // 8))
        hdr[10:12] = b"\0\0"
        hdr[10:12] = struct.pack("!H", internet_checksum(bytes(hdr)))
        out.append(bytes(hdr) + chunk)
    return out


class Reassembly:
    """Joins fragments at a receiving router (no timeouts needed here)."""

    def __init__(self) -> None:
        self.pending: dict[tuple, dict[int, Ip]] = {}

    def add(self, raw: bytes) -> bytes | None:
        ip = parse_ipv4(raw)
        if not ip.mf and ip.offset == 0:
            return raw
        key = (ip.src, ip.dst, ip.ident, ip.proto)
        parts = self.pending.setdefault(key, {})
        parts[ip.offset] = ip
        last = [p for p in parts.values() if not p.mf]
        if not last:
            return None
        total = last[0].offset + len(last[0].payload)
        data = bytearray(total)
        have = 0
        for off in sorted(parts):
            if off > have:
                return None
            p = parts[off]
            data[off: off + len(p.payload)] = p.payload
            have = max(have, off + len(p.payload))
        if have < total:
            return None
        del self.pending[key]
        first = parts[0]
        return encode_ipv4(first.src, first.dst, first.proto, bytes(data), ttl=first.ttl,
                           tos=first.tos, ident=first.ident, df=first.df)


def icmp_echo_data(size: int) -> bytes:
    """Cisco IOS's ping payload: 0xABCD repeated (size is the IP datagram size)."""
    n = max(size - 28, 0)
    return (b"\xab\xcd" * (n // 2 + 1))[:n]


PROTO_UDP = 17


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP header with its checksum (RFC 768 pseudo-header), then payload."""
    length = 8 + len(payload)
    pseudo = (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
              + struct.pack("!BBH", 0, PROTO_UDP, length))
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = internet_checksum(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload
