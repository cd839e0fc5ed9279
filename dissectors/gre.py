"""GRE (RFC 2784 / RFC 2890, RFC 1701 routing, RFC 2637 enhanced GRE v1) and ERSPAN.

ERSPAN II/III (0x88BE / 0x22EB) is a SPAN session carried over GRE: the frame
chain decapsulates it and analyses the mirrored frame, so a capture taken
through a SPAN tunnel is not mistaken for DMVPN GRE.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from nhrpscope.dissectors.base import Decoded, Layer, Problem, internet_checksum

GRE_C = 0x8000
GRE_R = 0x4000
GRE_K = 0x2000
GRE_S = 0x1000
GRE_SSR = 0x0800
GRE_A = 0x0080  # v1 acknowledgment present
GRE_VERSION = 0x0007
GRE_RESERVED0 = 0x0078  # RFC 2784's Reserved0 bits after the flags (v0)

# RFC 2784: C R K S s Recur(3) Flags(5) Ver(3), protocol type; then the
# optional words (checksum+offset, key, sequence number; v1: acknowledgment).
GRE_HEADER = struct.Struct("!HH")
GRE_WORD = struct.Struct("!I")

PT_IPV4 = 0x0800
PT_IPV6 = 0x86DD
PT_NHRP = 0x2001
PT_TEB = 0x6558
PT_ERSPAN2 = 0x88BE
PT_ERSPAN3 = 0x22EB
PT_PPP = 0x880B
PT_WCCP = 0x883E
PT_CDP = 0x2000
PT_CMD = 0x8909
PT_KEEPALIVE = 0x0000

PROTOCOL_NAMES = {
    PT_IPV4: "ipv4", PT_IPV6: "ipv6", PT_NHRP: "nhrp", PT_TEB: "transparent-ethernet-bridging",
    PT_ERSPAN2: "erspan", PT_ERSPAN3: "erspan-3", PT_PPP: "ppp", PT_WCCP: "wccp",
    PT_CDP: "cdp", 0x0806: "arp", 0x8847: "mpls", 0x8848: "mpls-multicast", 0x8909: "cisco-metadata",
    0x88A8: "802.1ad", 0x8100: "802.1q", 0x0000: "keepalive-or-reserved",
}

_FLAG_NAMES = ((GRE_C, "checksum"), (GRE_R, "routing"), (GRE_K, "key"), (GRE_S, "sequence"),
               (GRE_SSR, "strict-source-route"), (GRE_A, "acknowledgment"))


@dataclass(frozen=True, slots=True)
class Gre(Layer):
    proto = "gre"
    version: int
    key: int | None
    seq: int | None
    checksum_ok: bool | None
    protocol_type: int
    protocol_name: str
    flags: tuple[str, ...]
    checksum: int | None = None
    offset: int | None = None
    recursion: int = 0
    routing: bytes = b""
    ack: int | None = None
    # GRE v1 (PPTP) splits the key field in payload length and call id.
    payload_length: int | None = None
    call_id: int | None = None
    # True when this GRE packet is a returning keepalive (see frame chain).
    keepalive: bool = False


class GrePeek(NamedTuple):
    """The fixed GRE fields a fast path reads (``peek_gre``)."""

    flags: int  # the first 16 bits less the version: C R K S s, recursion, flags
    version: int
    protocol_type: int
    key: int | None  # v0 with K; a v1 key field is payload length and call id
    header_len: int  # up to the payload; with R, the source route entries follow


def gre_header_len(fl: int) -> int:
    """The length of the words the flags+version word ``fl`` announces
    (not counting RFC 1701 source route entries)."""
    n = 4
    if fl & (GRE_C | GRE_R):
        n += 4
    if fl & GRE_K:
        n += 4
    if fl & GRE_S:
        n += 4
    if fl & GRE_A and fl & GRE_VERSION == 1:
        n += 4
    return n


def peek_gre(buf: bytes, off: int = 0) -> GrePeek | None:
    """The GRE header at ``buf[off:]`` read from its flags alone, or None when
    the words the flags announce are not all there."""
    if len(buf) < off + 4:
        return None
    fl, ptype = GRE_HEADER.unpack_from(buf, off)
    hl = gre_header_len(fl)
    if len(buf) < off + hl:
        return None
    version = fl & GRE_VERSION
    key = None
    if fl & GRE_K and version == 0:
        key = GRE_WORD.unpack_from(buf, off + (8 if fl & (GRE_C | GRE_R) else 4))[0]
    return GrePeek(fl & ~GRE_VERSION, version, ptype, key, hl)


def decode_gre(buf: bytes, *, cut: bool = False) -> Decoded:
    """One GRE header and its payload. ``cut``: the capture holds less than
    the IP packet carrying it (snap length), so the checksum, which covers
    the whole GRE packet (RFC 2784 2.5), cannot be checked."""
    if len(buf) < 4:
        return Decoded(None, b"", [Problem(0, f"GRE header cut short ({len(buf)} of 4 bytes)",
                                           "gre", "gre.truncated", "error")])
    fl, ptype = GRE_HEADER.unpack_from(buf)
    version = fl & GRE_VERSION
    problems: list[Problem] = []
    pos = 4
    checksum = offset = key = seq = ack = plen = call_id = None
    routing = b""

    def need(n: int, what: str) -> bool:
        if pos + n > len(buf):
            problems.append(Problem(pos, f"GRE {what} field cut short", "gre",
                                    "gre.truncated", "error"))
            return False
        return True

    ok = True
    if fl & (GRE_C | GRE_R):
        if ok := need(4, "checksum/offset"):
            checksum, offset = struct.unpack_from("!HH", buf, pos)
            pos += 4
    if ok and fl & GRE_K:
        if ok := need(4, "key"):
            if version == 1:
                plen, call_id = struct.unpack_from("!HH", buf, pos)
            else:
                key = GRE_WORD.unpack_from(buf, pos)[0]
            pos += 4
    if ok and fl & GRE_S:
        if ok := need(4, "sequence number"):
            seq = GRE_WORD.unpack_from(buf, pos)[0]
            pos += 4
    if ok and version == 1 and fl & GRE_A:
        if ok := need(4, "acknowledgment number"):
            ack = GRE_WORD.unpack_from(buf, pos)[0]
            pos += 4
    if ok and fl & GRE_R and version == 0:
        # RFC 1701 source route entries, ended by a NULL SRE (af 0, length 0).
        start = pos
        while True:
            if not need(4, "source route entry"):
                ok = False
                break
            af, _sre_off, sre_len = struct.unpack_from("!HBB", buf, pos)
            pos += 4
            if af == 0 and sre_len == 0:
                break
            if not need(sre_len, "source route entry"):
                ok = False
                break
            pos += sre_len
        routing = bytes(buf[start:pos])
    if version not in (0, 1):
        problems.append(Problem(1, f"GRE version {version} is unknown", "gre",
                                "gre.version", "error"))
    elif version == 0 and fl & GRE_RESERVED0:
        problems.append(Problem(0, f"GRE reserved flag bits set (0x{fl & GRE_RESERVED0:04x})", "gre", "gre.reserved", "warning"))
    checksum_ok = None
    if fl & GRE_C and checksum is not None and cut:
        problems.append(Problem(4, "GRE checksum unverified: the capture holds only part of "
                                "the packet", "gre", "gre.checksum-unverified", "note"))
    elif fl & GRE_C and checksum is not None:
        checksum_ok = internet_checksum(bytes(buf)) == 0
        if not checksum_ok:
            problems.append(Problem(4, f"GRE checksum 0x{checksum:04x} is wrong", "gre",
                                    "gre.checksum", "error"))
    names = tuple(n for bit, n in _FLAG_NAMES if fl & bit)
    rec = Gre(version, key, seq, checksum_ok, ptype, PROTOCOL_NAMES.get(ptype, f"0x{ptype:04x}"), names,
              checksum, offset, (fl >> 8) & 7, routing, ack, plen, call_id)
    return Decoded(rec, bytes(buf[pos:]) if ok else b"", problems, pos)


def encode_gre(protocol_type: int, payload: bytes, *, key: int | None = None, seq: int | None = None,
               checksum: bool = False, version: int = 0, ack: int | None = None,
               call_id: int | None = None, recursion: int = 0, routing: bytes | None = None) -> bytes:
    """A GRE header (checksum computed when asked) followed by payload."""
    fl = version | (recursion << 8)
    body = b""
    if checksum or routing is not None:
        fl |= GRE_C if checksum else 0
        fl |= GRE_R if routing is not None else 0
        body += b"\0\0\0\0"
    if version == 1:
        if call_id is not None:
            fl |= GRE_K
            body += struct.pack("!HH", len(payload), call_id)
    elif key is not None:
        fl |= GRE_K
        body += struct.pack("!I", key)
    if seq is not None:
        fl |= GRE_S
        body += struct.pack("!I", seq)
    if version == 1 and ack is not None:
        fl |= GRE_A
        body += struct.pack("!I", ack)
    if routing is not None and version == 0:
        body += routing
    pkt = GRE_HEADER.pack(fl, protocol_type) + body + payload
    if checksum:
        c = internet_checksum(pkt)
        pkt = pkt[:4] + struct.pack("!H", c) + pkt[6:]
    return pkt


def encode_gre_record(rec: Gre, payload: bytes) -> bytes:
    """Re-encode a decoded GRE record (the round-trip partner of decode_gre)."""
    return encode_gre(rec.protocol_type, payload, key=rec.key, seq=rec.seq,
                      checksum="checksum" in rec.flags, version=rec.version, ack=rec.ack,
                      call_id=rec.call_id, recursion=rec.recursion,
                      routing=rec.routing if "routing" in rec.flags else None)


# -- Cisco MetaData (TrustSec SGT) --------------------------------------------


@dataclass(frozen=True, slots=True)
class CiscoMetaData(Layer):
    """Cisco MetaData (0x8909): a TrustSec tag between GRE and what it carries."""

    proto = "cmd"
    version: int
    length: int
    options: int
    sgt: int
    ethertype: int


def decode_cmd(buf: bytes) -> Decoded:
    """Inside GRE the carried protocol type comes first, then version,
    length, options and the SGT (as IOS sends it and tshark reads it)."""
    if len(buf) < 8:
        return Decoded(None, b"", [Problem(0, "Cisco MetaData header cut short", "cmd",
                                           "cmd.truncated", "error")])
    et, ver, ln, opt, sgt = struct.unpack_from("!HBBHH", buf)
    return Decoded(CiscoMetaData(ver, ln, opt, sgt, et), bytes(buf[8:]), [], 8)


def encode_cmd(sgt: int, ethertype: int, payload: bytes) -> bytes:
    return struct.pack("!HBBHH", ethertype, 1, 1, 1, sgt) + payload


# -- ERSPAN --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Erspan(Layer):
    proto = "erspan"
    type: int  # 1, 2 or 3
    session_id: int | None = None
    vlan: int | None = None
    cos: int | None = None
    index: int | None = None
    timestamp: int | None = None
    hw_id: int | None = None
    direction: str | None = None


def decode_erspan(buf: bytes, protocol_type: int, seq_present: bool) -> Decoded:
    """ERSPAN header; payload is the mirrored Ethernet frame."""
    if protocol_type == PT_ERSPAN2 and not seq_present:
        return Decoded(Erspan(1), bytes(buf), [], 0)  # type I: no header at all
    if len(buf) < 8:
        return Decoded(None, b"", [Problem(0, "ERSPAN header cut short", "erspan",
                                           "erspan.truncated", "error")])
    w1, w2 = struct.unpack_from("!II", buf)
    ver = w1 >> 28
    session = w1 & 0x3FF
    vlan = (w1 >> 16) & 0xFFF
    cos = (w1 >> 13) & 7
    if protocol_type == PT_ERSPAN2 or ver == 1:
        return Decoded(Erspan(2, session, vlan, cos, w2 & 0xFFFFF), bytes(buf[8:]), [], 8)
    if len(buf) < 12:
        return Decoded(None, b"", [Problem(0, "ERSPAN III header cut short", "erspan",
                                           "erspan.truncated", "error")])
    w3 = struct.unpack_from("!I", buf, 8)[0]
    pos = 12 + (8 if w3 & 1 else 0)  # O bit: platform-specific subheader
    if pos > len(buf):
        return Decoded(None, b"", [Problem(12, "ERSPAN III platform subheader cut short", "erspan",
                                           "erspan.truncated", "error")])
    rec = Erspan(3, session, vlan, cos, None, w2, (w3 >> 4) & 0x3F, "egress" if w3 & 8 else "ingress")
    return Decoded(rec, bytes(buf[pos:]), [], pos)


def encode_erspan2(frame: bytes, *, session_id: int = 1, vlan: int = 0, index: int = 0,
                   cos: int = 0) -> bytes:
    return struct.pack("!II", (1 << 28) | (vlan << 16) | (cos << 13) | session_id,
                       index & 0xFFFFF) + frame


def encode_erspan(rec: Erspan, frame: bytes) -> bytes:
    """The ERSPAN header a record describes (the round-trip partner of
    decode_erspan; type I has none), followed by the mirrored frame. GRE
    carries type I and II as 0x88BE (type I without a sequence number),
    type III as 0x22EB."""
    if rec.type == 1:
        return bytes(frame)
    session, vlan, cos = rec.session_id or 0, rec.vlan or 0, rec.cos or 0
    if rec.type == 2:
        return encode_erspan2(frame, session_id=session, vlan=vlan, index=rec.index or 0, cos=cos)
    w3 = ((rec.hw_id or 0) & 0x3F) << 4 | (8 if rec.direction == "egress" else 0)
    return struct.pack("!III", (2 << 28) | (vlan << 16) | (cos << 13) | session,
                       rec.timestamp or 0, w3) + frame
