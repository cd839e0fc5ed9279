"""Link layers: Ethernet (802.1Q / QinQ), Linux cooked SLL and SLL2, BSD NULL/LOOP.

Each decoder returns the layer records it read and the EtherType of what
follows (0x0800 IPv4, 0x86DD IPv6, ...), or None when it cannot tell.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nhrpscope.dissectors.base import Decoded, Layer, Problem

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)
ETH_HEADER_LEN = 14

# Link types (tcpdump.org/linktypes.html), as in nhrpscope.capture: plain
# numbers keep dissectors free of nhrpscope imports.
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
LINKTYPE_RAW_ALIASES = (12, 14)  # DLT_RAW's numbers on some BSDs
# BSD address families differ by OS for IPv6 (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
_NULL_FAMILIES = {2: ETH_IPV4, 24: ETH_IPV6, 28: ETH_IPV6, 30: ETH_IPV6}
IP_ETHERTYPES = (b"\x08\x00", b"\x86\xdd")


def ip_offset(linktype: int, data: bytes) -> int | None:
    """The link layer's peek: where the IPv4/IPv6 header starts in a frame
    (Ethernet with any 802.1Q/QinQ tags, SLL, SLL2, NULL/LOOP, raw IP), read
    from the EtherType or family fields alone; None when no IP follows or
    the header is cut short. Agrees with the decoders below."""
    if linktype == LINKTYPE_ETHERNET:
        off = 12
        n = len(data)
        while off + 2 <= n:
            et = (data[off] << 8) | data[off + 1]
            if et in ETH_VLAN:
                off += 4
                continue
            return off + 2 if et == ETH_IPV4 or et == ETH_IPV6 else None
        return None
    if linktype == LINKTYPE_RAW or linktype == LINKTYPE_IPV4 or linktype == LINKTYPE_IPV6 \
            or linktype in LINKTYPE_RAW_ALIASES:
        return 0
    if linktype == LINKTYPE_LINUX_SLL:
        return SLL_HEADER_LEN if len(data) >= SLL_HEADER_LEN and data[14:16] in IP_ETHERTYPES \
            else None
    if linktype == LINKTYPE_LINUX_SLL2:
        return SLL2_HEADER_LEN if len(data) >= SLL2_HEADER_LEN and data[0:2] in IP_ETHERTYPES \
            else None
    if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        # the family is in host order for NULL: the IP version nibble is the surer sign
        return NULL_HEADER_LEN if len(data) > NULL_HEADER_LEN and data[4] >> 4 in (4, 6) else None
    return None


def mac_str(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def mac_bytes(s: str) -> bytes:
    return bytes(int(x, 16) for x in s.split(":"))


@dataclass(frozen=True, slots=True)
class Ethernet(Layer):
    proto = "eth"
    dst: str
    src: str
    ethertype: int


@dataclass(frozen=True, slots=True)
class Vlan(Layer):
    proto = "vlan"
    tpid: int
    pcp: int
    dei: int
    vid: int
    ethertype: int


@dataclass(frozen=True, slots=True)
class LinuxSll(Layer):
    proto = "sll"
    packet_type: int
    arphrd: int
    addr: str
    ethertype: int


@dataclass(frozen=True, slots=True)
class LinuxSll2(Layer):
    proto = "sll2"
    ethertype: int
    ifindex: int
    arphrd: int
    packet_type: int
    addr: str


@dataclass(frozen=True, slots=True)
class Null(Layer):
    proto = "null"
    family: int


def decode_ethernet(buf: bytes) -> tuple[list[Layer], Decoded]:
    """Ethernet II with any number of VLAN tags; the result's record is the
    EtherType of the payload (int) or None."""
    if len(buf) < ETH_HEADER_LEN:
        return [], Decoded(None, b"", [Problem(0, f"Ethernet header cut short ({len(buf)} of 14 bytes)", "eth", "eth.truncated", "error")])
    ethertype = struct.unpack_from("!H", buf, 12)[0]
    layers: list[Layer] = [Ethernet(mac_str(buf[0:6]), mac_str(buf[6:12]), ethertype)]
    pos = ETH_HEADER_LEN
    problems: list[Problem] = []
    while ethertype in ETH_VLAN:
        if len(buf) < pos + 4:
            problems.append(Problem(pos, "802.1Q tag cut short", "vlan", "vlan.truncated", "error"))
            return layers, Decoded(None, b"", problems)
        tci, inner = struct.unpack_from("!HH", buf, pos)
        layers.append(Vlan(ethertype, tci >> 13, (tci >> 12) & 1, tci & 0xFFF, inner))
        ethertype = inner
        pos += 4
    if ethertype <= 1500:
        # 802.3 length field: LLC/SNAP follows (CDP, STP ...), not IP.
        return layers, Decoded(None, buf[pos:], problems, pos)
    return layers, Decoded(ethertype, buf[pos:], problems, pos)


def encode_ethernet(eth: Ethernet, payload: bytes, vlans: tuple[Vlan, ...] = ()) -> bytes:
    out = mac_bytes(eth.dst) + mac_bytes(eth.src)
    if vlans:
        out += struct.pack("!H", vlans[0].tpid)
        for i, v in enumerate(vlans):
            nxt = vlans[i + 1].tpid if i + 1 < len(vlans) else v.ethertype
            out += struct.pack("!HH", (v.pcp << 13) | (v.dei << 12) | v.vid, nxt)
    else:
        out += struct.pack("!H", eth.ethertype)
    return out + payload


SLL_HEADER_LEN, SLL2_HEADER_LEN, NULL_HEADER_LEN = 16, 20, 4


def decode_sll(buf: bytes) -> tuple[list[Layer], Decoded]:
    if len(buf) < SLL_HEADER_LEN:
        return [], Decoded(None, b"", [Problem(0, "Linux cooked (SLL) header cut short", "sll",
                                               "sll.truncated", "error")])
    ptype, arphrd, alen = struct.unpack_from("!HHH", buf, 0)
    addr = buf[6 : 6 + min(alen, 8)]
    ethertype = struct.unpack_from("!H", buf, 14)[0]
    rec = LinuxSll(ptype, arphrd, mac_str(addr), ethertype)
    return [rec], Decoded(ethertype, buf[SLL_HEADER_LEN:], [], SLL_HEADER_LEN)


def encode_sll(rec: LinuxSll, payload: bytes) -> bytes:
    addr = bytes.fromhex(rec.addr.replace(":", "")) if rec.addr else b""
    return struct.pack("!HHH", rec.packet_type, rec.arphrd, len(addr)) + addr.ljust(8, b"\0") + struct.pack(
        "!H", rec.ethertype
    ) + payload


def decode_sll2(buf: bytes) -> tuple[list[Layer], Decoded]:
    if len(buf) < SLL2_HEADER_LEN:
        return [], Decoded(None, b"", [Problem(0, "Linux cooked (SLL2) header cut short", "sll2",
                                               "sll2.truncated", "error")])
    ethertype, _res, ifindex, arphrd, ptype, alen = struct.unpack_from("!HHIHBB", buf, 0)
    addr = buf[12 : 12 + min(alen, 8)]
    rec = LinuxSll2(ethertype, ifindex, arphrd, ptype, mac_str(addr))
    return [rec], Decoded(ethertype, buf[SLL2_HEADER_LEN:], [], SLL2_HEADER_LEN)


def encode_sll2(rec: LinuxSll2, payload: bytes) -> bytes:
    addr = bytes.fromhex(rec.addr.replace(":", "")) if rec.addr else b""
    return struct.pack(
        "!HHIHBB", rec.ethertype, 0, rec.ifindex, rec.arphrd, rec.packet_type, len(addr)
    ) + addr.ljust(8, b"\0") + payload


def decode_null(buf: bytes, *, big_endian: bool = False) -> tuple[list[Layer], Decoded]:
    """DLT_NULL stores the family in host byte order (unknown to us); LOOP in
    network order. Try both orders for NULL."""
    if len(buf) < NULL_HEADER_LEN:
        return [], Decoded(None, b"", [Problem(0, "loopback header cut short", "null",
                                               "null.truncated", "error")])
    if big_endian:
        fam = struct.unpack_from("!I", buf)[0]
    else:
        fam = struct.unpack_from("<I", buf)[0]
        if fam not in _NULL_FAMILIES:
            fam = struct.unpack_from("!I", buf)[0]
    return [Null(fam)], Decoded(_NULL_FAMILIES.get(fam), buf[NULL_HEADER_LEN:], [], NULL_HEADER_LEN)


def encode_null(family: int, payload: bytes) -> bytes:
    return struct.pack("<I", family) + payload
