"""IPv4 (RFC 791) and IPv6 (RFC 8200) headers, and fragment reassembly.

Reassembly matters for DMVPN: an MTU problem fragments GRE and ESP, and the
NHRP or ESP inside is only readable once the pieces are joined.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import NamedTuple

from nhrpscope.dissectors.base import (
    Decoded,
    Layer,
    Problem,
    internet_checksum,
    ipv4_str,
    ipv6_str,
    slot_constructor,
)

PROTO_ICMP = 1
PROTO_IPIP = 4
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPV6 = 41
PROTO_GRE = 47
PROTO_ESP = 50
PROTO_AH = 51
PROTO_ICMPV6 = 58
PROTO_NHRP = 54

IP_PROTO_NAMES = {
    1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre",
    50: "esp", 51: "ah", 54: "nhrp", 58: "icmpv6", 89: "ospf", 103: "pim", 112: "vrrp",
}

# RFC 791's fixed header: version+IHL, TOS, total length, identification,
# flags+fragment offset, TTL, protocol, checksum, source, destination.
IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
# The same header as a fast path tests it: IPV4_HEADER's version+IHL, total
# length, flags+fragment offset and protocol, the fields between skipped.
IPV4_TESTED = struct.Struct("!BxH2xHxB")
IPV4_MIN_LEN = 20
IPV4_DF, IPV4_MF, IPV4_OFFSET = 0x4000, 0x2000, 0x1FFF
IPV4_FRAGMENT = IPV4_MF | IPV4_OFFSET  # either set: a fragment (the reassembler's)
# RFC 8200's fixed header: version+class+flow label, payload length, next
# header, hop limit, source, destination.
IPV6_HEADER = struct.Struct("!IHBB16s16s")
IPV6_LEN = 40


class Ipv4Peek(NamedTuple):
    """The fixed IPv4 fields a fast path reads (``peek_ipv4``)."""

    version: int
    ihl: int  # header length in bytes
    total_length: int
    flags_fragment: int  # flags and fragment offset as on the wire
    protocol: int
    src: bytes
    dst: bytes

    @property
    def is_fragment(self) -> bool:
        return bool(self.flags_fragment & IPV4_FRAGMENT)


class Ipv6Peek(NamedTuple):
    """The fixed IPv6 fields a fast path reads (``peek_ipv6``)."""

    version: int
    payload_length: int
    next_header: int
    src: bytes
    dst: bytes


def peek_ipv4(buf: bytes, off: int = 0) -> Ipv4Peek | None:
    """The fixed IPv4 header at ``buf[off:]``, unchecked (version, IHL and
    lengths as found), or None when fewer than 20 bytes are there."""
    if len(buf) < off + IPV4_MIN_LEN:
        return None
    vihl, _tos, total, _id, fl, _ttl, proto, _csum, src, dst = IPV4_HEADER.unpack_from(buf, off)
    return Ipv4Peek(vihl >> 4, (vihl & 15) * 4, total, fl, proto, src, dst)


def peek_ipv6(buf: bytes, off: int = 0) -> Ipv6Peek | None:
    """The fixed IPv6 header at ``buf[off:]`` (``next_header`` before any
    extension header), or None when fewer than 40 bytes are there."""
    if len(buf) < off + IPV6_LEN:
        return None
    word, plen, nh, _hlim, src, dst = IPV6_HEADER.unpack_from(buf, off)
    return Ipv6Peek(word >> 28, plen, nh, src, dst)


# IPv6 extension headers that chain with (next header, length in 8-octet units).
_V6_EXT = {0: "hop-by-hop", 43: "routing", 60: "destination-options", 44: "fragment",
           135: "mobility", 139: "hip", 140: "shim6"}


@dataclass(frozen=True, slots=True)
class IPv4(Layer):
    proto = "ipv4"
    version: int
    ihl: int
    tos: int
    total_length: int
    id: int
    flags: tuple[str, ...]
    frag_offset: int
    ttl: int
    protocol: int
    checksum: int
    checksum_ok: bool | None
    src: str
    dst: str
    options: bytes = b""
    # Set on the layer of the frame whose fragment completed a datagram.
    reassembled_from: tuple[int, ...] = ()


IPV4_FIELDS = tuple(f.name for f in fields(IPv4))
_new_ipv4 = slot_constructor(IPv4)  # every field in order: a record per IPv4 packet decoded
# the names of the three flag bits (reserved, DF, MF), by their value
_IPV4_FLAGS = tuple(tuple(n for bit, n in ((4, "reserved"), (2, "df"), (1, "mf")) if v & bit)
                    for v in range(8))
# A record's field values in order, for ``slot_constructor(IPv4)``
ipv4_values = attrgetter(*IPV4_FIELDS)


@dataclass(frozen=True, slots=True)
class IPv6Ext(Layer):
    proto = "ipv6-ext"
    type: int
    name: str
    length: int
    frag_offset: int | None = None
    more_fragments: bool | None = None
    frag_id: int | None = None


@dataclass(frozen=True, slots=True)
class IPv6(Layer):
    proto = "ipv6"
    version: int
    traffic_class: int
    flow_label: int
    payload_length: int
    next_header: int
    hop_limit: int
    src: str
    dst: str
    extensions: tuple[IPv6Ext, ...] = ()
    protocol: int = 0  # the upper-layer protocol after the extension headers
    reassembled_from: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Fragment:
    """What the frame chain needs to know to reassemble."""

    key: tuple
    offset: int  # bytes
    more: bool
    data: bytes
    protocol: int


def decode_ipv4(buf: bytes) -> tuple[IPv4 | None, Decoded, Fragment | None]:
    """The IPv4 header, its payload (cut to total length) and, for a fragment,
    the piece to hand to the reassembler."""
    problems: list[Problem] = []
    if len(buf) < IPV4_MIN_LEN:
        return None, Decoded(None, b"", [Problem(0, f"IPv4 header cut short ({len(buf)} of 20 bytes)",
                                                 "ipv4", "ip.truncated", "error")]), None
    vihl, tos, total, ident, fl, ttl, proto, csum, src, dst = IPV4_HEADER.unpack_from(buf)
    version, ihl = vihl >> 4, (vihl & 15) * 4
    if version != 4:
        problems.append(Problem(0, f"IP version {version}, expected 4", "ipv4",
                                "ip.version", "error"))
        return None, Decoded(None, b"", problems), None
    if ihl < 20:
        problems.append(Problem(0, f"IPv4 header length {ihl} < 20", "ipv4",
                                "ip.header-length", "error"))
        return None, Decoded(None, b"", problems), None
    if ihl > len(buf):
        problems.append(Problem(0, f"IPv4 header length {ihl} beyond the {len(buf)} captured bytes", "ipv4", "ip.truncated", "error"))
        return None, Decoded(None, b"", problems), None
    checksum_ok = internet_checksum(buf[:ihl]) == 0
    if not checksum_ok:
        problems.append(Problem(10, f"IPv4 header checksum 0x{csum:04x} is wrong", "ipv4",
                                "ip.checksum", "error"))
    flags = _IPV4_FLAGS[fl >> 13]
    frag_off = (fl & IPV4_OFFSET) * 8
    end = total
    if total < ihl:
        problems.append(Problem(2, f"IPv4 total length {total} shorter than its header", "ipv4",
                                "ip.length", "error"))
        end = len(buf)
    elif total > len(buf):
        problems.append(Problem(2, f"IPv4 total length {total} but only {len(buf)} bytes captured", "ipv4", "ip.truncated", "error"))
        end = len(buf)
    rec = _new_ipv4(4, ihl, tos, total, ident, flags, frag_off, ttl, proto, csum, checksum_ok,
                    ipv4_str(src), ipv4_str(dst), bytes(buf[IPV4_MIN_LEN:ihl]), ())
    payload = bytes(buf[ihl:end])
    frag = None
    if fl & IPV4_FRAGMENT:
        frag = Fragment((4, rec.src, rec.dst, ident, proto), frag_off, bool(fl & IPV4_MF), payload, proto)
    return rec, Decoded(rec, payload, problems, ihl), frag


def encode_ipv4(src: str, dst: str, protocol: int, payload: bytes, *, ttl: int = 255, tos: int = 0,
                ident: int = 0, df: bool = False, mf: bool = False, frag_offset: int = 0,
                options: bytes = b"", checksum: int | None = None) -> bytes:
    """An IPv4 header (checksum computed unless given) followed by payload."""
    import socket

    options += b"\0" * (-len(options) % 4)
    ihl = 20 + len(options)
    fl = (IPV4_DF if df else 0) | (IPV4_MF if mf else 0) | (frag_offset // 8)
    hdr = IPV4_HEADER.pack(0x40 | ihl // 4, tos, ihl + len(payload), ident, fl, ttl,
                      protocol, 0, socket.inet_aton(src), socket.inet_aton(dst)) + options
    if checksum is None:
        checksum = internet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", checksum) + hdr[12:] + payload


def decode_ipv6(buf: bytes) -> tuple[IPv6 | None, Decoded, Fragment | None]:
    problems: list[Problem] = []
    if len(buf) < IPV6_LEN:
        return None, Decoded(None, b"", [Problem(0, f"IPv6 header cut short ({len(buf)} of 40 bytes)",
                                                 "ipv6", "ip.truncated", "error")]), None
    word, plen, nh, hlim, src, dst = IPV6_HEADER.unpack_from(buf)
    if word >> 28 != 6:
        problems.append(Problem(0, f"IP version {word >> 28}, expected 6", "ipv6",
                                "ip.version", "error"))
        return None, Decoded(None, b"", problems), None
    end = 40 + plen
    if end > len(buf):
        problems.append(Problem(4, f"IPv6 payload length {plen} but only {len(buf) - 40} bytes captured", "ipv6", "ip.truncated", "error"))
        end = len(buf)
    exts: list[IPv6Ext] = []
    pos, proto = 40, nh
    frag: tuple[int, bool, int] | None = None
    while proto in _V6_EXT and len(exts) < 16:
        if pos + 8 > end:
            problems.append(Problem(pos, f"IPv6 {_V6_EXT[proto]} header cut short", "ipv6",
                                    "ip.truncated", "error"))
            break
        nxt, hl = buf[pos], buf[pos + 1]
        if proto == 44:
            off_m, fid = struct.unpack_from("!HI", buf, pos + 2)
            frag = (off_m & 0xFFF8, bool(off_m & 1), fid)
            exts.append(IPv6Ext(44, "fragment", 8, off_m & 0xFFF8, bool(off_m & 1), fid))
            length = 8
        else:
            length = (hl + 1) * 8
            exts.append(IPv6Ext(proto, _V6_EXT[proto], length))
        pos += length
        proto = nxt
        if frag is not None:
            break  # what follows a fragment header is the fragmentable part
    pos = min(pos, end)
    rec = IPv6(6, (word >> 20) & 0xFF, word & 0xFFFFF, plen, nh, hlim, ipv6_str(src),
               ipv6_str(dst), tuple(exts), proto)
    payload = bytes(buf[pos:end])
    fr = None
    if frag is not None and (frag[0] or frag[1]):
        fr = Fragment((6, rec.src, rec.dst, frag[2], proto), frag[0], frag[1], payload, proto)
    return rec, Decoded(rec, payload, problems, pos), fr


def encode_ipv6(src: str, dst: str, next_header: int, payload: bytes, *, hop_limit: int = 64,
                traffic_class: int = 0, flow_label: int = 0) -> bytes:
    import socket

    return IPV6_HEADER.pack((6 << 28) | (traffic_class << 20) | flow_label, len(payload),
                            next_header, hop_limit, socket.inet_pton(socket.AF_INET6, src),
                            socket.inet_pton(socket.AF_INET6, dst)) + payload


# -- reassembly ----------------------------------------------------------------

# The most an IP datagram may hold (RFC 791's total length; RFC 8200's
# payload length without a jumbogram): a fragment ending past it is refused.
MAX_DATAGRAM = 65535
# Bytes held for all datagrams in reassembly together. Each holds at most
# MAX_DATAGRAM (overlaps keep only what they add), but 1024 of them at 64 KiB
# would be 64 MiB: real fragmentation (an MTU problem: a few hundred 1.5 KB
# datagrams in flight) stays well under this; past it the oldest is dropped.
MAX_PENDING_BYTES = 8 << 20
# Frames cited per datagram: a real one has at most a few dozen fragments
# (64 KiB in 1,280-byte pieces: 52); hostile repeats are counted, not listed.
MAX_CITED_FRAMES = 64
# Datagrams never completed that are told one by one; the rest are counted
# in one line (250,000 such datagrams made 250,000 warning lines).
MAX_EXPIRED_SHOWN = 10


@dataclass
class _Pending:
    first_time: float
    frames: list[int] = field(default_factory=list)
    fragments: int = 0  # fragments seen, cited in ``frames`` or not
    starts: list[int] = field(default_factory=list)  # piece offsets, sorted
    pieces: dict[int, bytes] = field(default_factory=dict)  # by offset; never overlapping
    total: int | None = None
    protocol: int = 0
    size: int = 0  # bytes in ``pieces``


class Reassembler:
    """Joins IPv4/IPv6 fragments. Bounded: at most ``max_datagrams`` in
    flight and ``max_bytes`` held in all, each datagram at most MAX_DATAGRAM
    bytes, dropped ``timeout`` seconds (capture time) after its first piece;
    what was dropped incomplete is reported (the first MAX_EXPIRED_SHOWN
    one by one, then counted).

    An overlapping fragment keeps only the bytes no earlier piece holds (the
    first copy wins, as in BSD; Linux and RFC 5722 drop such a datagram
    outright, so an overlap is always reported: the join is ours, not
    necessarily the receiver's)."""

    def __init__(self, *, timeout: float = 30.0, max_datagrams: int = 1024,
                 max_bytes: int = MAX_PENDING_BYTES) -> None:
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.pending: dict[tuple, _Pending] = {}
        self.held = 0  # bytes in all pending pieces
        self.expired: list[str] = []
        self.expired_more = 0  # dropped incomplete beyond those told in ``expired``

    def add(self, frag: Fragment, frame: int, time: float) -> tuple[bytes | None, tuple[int, ...], list[str]]:
        """Returns (whole payload or None, frames that made it, problems)."""
        notes: list[str] = []
        self._expire(time)
        end = frag.offset + len(frag.data)
        if end > MAX_DATAGRAM:
            notes.append(f"fragment ends at byte {end}, past the {MAX_DATAGRAM} an IP datagram may have")
            return None, (), notes
        p = self.pending.get(frag.key)
        if p is None:
            if len(self.pending) >= self.max_datagrams:
                self._drop(next(iter(self.pending)), "too many datagrams in reassembly")
            p = self.pending[frag.key] = _Pending(time, protocol=frag.protocol)
        p.fragments += 1
        if len(p.frames) < MAX_CITED_FRAMES:
            p.frames.append(frame)
        if p.total is not None and end > p.total:
            notes.append(f"fragment ends at byte {end}, past the datagram's end at {p.total}")
            return None, (), notes
        if not frag.more:
            if p.total is not None and p.total != end:
                notes.append(f"a second last fragment ends at byte {end}, not {p.total}")
                return None, (), notes
            p.total = end
            self._cut(p, end)
        added = self._put(p, frag.offset, frag.data, notes)
        self.held += added
        while self.held > self.max_bytes and self.pending:
            oldest = next(iter(self.pending))
            self._drop(oldest, f"over the {self.max_bytes >> 20} MiB held for reassembly")
            if oldest == frag.key:
                return None, (), notes
        if p.total is None or p.size < p.total:
            return None, (), notes
        del self.pending[frag.key]
        self.held -= p.size
        whole = b"".join(p.pieces[off] for off in p.starts)
        return whole, tuple(p.frames), notes

    @staticmethod
    def _put(p: _Pending, offset: int, data: bytes, notes: list[str]) -> int:
        """Store the parts of ``data`` at ``offset`` that no piece holds yet;
        the bytes added. One note names the first piece overlapped (an
        exact repeat, a retransmission, is none)."""
        end = offset + len(data)
        starts, pieces = p.starts, p.pieces
        i = max(bisect_right(starts, offset) - 1, 0)  # the first piece that may reach ``offset``
        pos, added, overlapped = offset, 0, None
        while pos < end:
            if i < len(starts):
                held = starts[i]
                held_end = held + len(pieces[held])
            else:
                held = held_end = end  # nothing held further on
            if held_end <= pos:
                i += 1
            elif held <= pos:  # held already: the first copy stays
                if overlapped is None and (held, held_end) != (offset, end):
                    overlapped = held
                pos = held_end
                i += 1
            else:  # a gap up to the next piece
                stop = min(held, end)
                pieces[pos] = data[pos - offset:stop - offset]
                starts.insert(i, pos)
                added += stop - pos
                i += 1
                pos = stop
        p.size += added
        if overlapped is not None:
            notes.append(f"fragment at offset {offset} overlaps the piece at offset {overlapped}")
        return added

    def _cut(self, p: _Pending, total: int) -> None:
        """Trim held pieces to the datagram's end, now known."""
        for off in [o for o in p.starts if o + len(p.pieces[o]) > total]:
            piece = p.pieces.pop(off)
            p.starts.remove(off)
            p.size -= len(piece)
            self.held -= len(piece)
            if off < total:
                p.pieces[off] = piece[:total - off]
                p.starts.append(off)
                p.starts.sort()
                p.size += total - off
                self.held += total - off

    def _drop(self, key: tuple, why: str) -> None:
        p = self.pending.pop(key)
        self.held -= p.size
        if len(self.expired) >= MAX_EXPIRED_SHOWN:
            self.expired_more += 1
            return
        cited = ", ".join(map(str, p.frames))
        if p.fragments > len(p.frames):
            cited += f" and {p.fragments - len(p.frames)} more"
        self.expired.append(
            f"IPv{key[0]} datagram id {key[3]} {key[1]} > {key[2]} never completed ({why}): "
            f"{len(p.pieces)} piece(s) in frames {cited}"
        )

    def _expire(self, now: float) -> None:
        # ``pending`` is in order of first piece, so of first time (frames
        # come in time order): the expired are at its head. Not a scan of
        # all per fragment: 250,000 datagrams that never complete took 20 s.
        pending = self.pending
        while pending:
            key = next(iter(pending))
            if now - pending[key].first_time <= self.timeout:
                break
            self._drop(key, f"no missing piece within {self.timeout:g} s")

    def flush(self) -> list[str]:
        """At the end of the capture: report whatever is still incomplete."""
        for key in list(self.pending):
            self._drop(key, "capture ended")
        out, self.expired = self.expired, []
        if self.expired_more:
            out.append(f"{self.expired_more} more IP datagram(s) never completed "
                       f"(the first {MAX_EXPIRED_SHOWN} are named above)")
            self.expired_more = 0
        return out
