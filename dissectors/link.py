"""Link layers: Ethernet (802.1Q / QinQ), Linux cooked SLL and SLL2, BSD NULL/LOOP.

Each decoder returns the layer records it read and the EtherType of what
follows (0x0800 IPv4, 0x86DD IPv6, ...), or None when it cannot tell.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dissectors.base import Decoded, Layer, Problem

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)


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
    if len(buf) < 14:
        return [], Decoded(None, b"", [Problem(0, f"Ethernet header cut short ({len(buf)} of 14 bytes)", "eth", "eth.truncated", "error")])
    ethertype = struct.unpack_from("!H", buf, 12)[0]
    layers: list[Layer] = [Ethernet(mac_str(buf[0:6]), mac_str(buf[6:12]), ethertype)]
    pos = 14
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


def decode_sll(buf: bytes) -> tuple[list[Layer], Decoded]:
    if len(buf) < 16:
        return [], Decoded(None, b"", [Problem(0, "Linux cooked (SLL) header cut short", "sll", "sll.truncated", "error")])
    ptype, arphrd, alen = struct.unpack_from("!HHH", buf, 0)
    addr = buf[6 : 6 + min(alen, 8)]
    ethertype = struct.unpack_from("!H", buf, 14)[0]
    rec = LinuxSll(ptype, arphrd, mac_str(addr), ethertype)
    return [rec], Decoded(ethertype, buf[16:], [], 16)


def encode_sll(rec: LinuxSll, payload: bytes) -> bytes:
    addr = bytes.fromhex(rec.addr.replace(":", "")) if rec.addr else b""
    return struct.pack("!HHH", rec.packet_type, rec.arphrd, len(addr)) + addr.ljust(8, b"\0") + struct.pack(
        "!H", rec.ethertype
    ) + payload


def decode_sll2(buf: bytes) -> tuple[list[Layer], Decoded]:
    if len(buf) < 20:
        return [], Decoded(None, b"", [Problem(0, "Linux cooked (SLL2) header cut short", "sll2", "sll2.truncated", "error")])
    ethertype, _res, ifindex, arphrd, ptype, alen = struct.unpack_from("!HHIHBB", buf, 0)
    addr = buf[12 : 12 + min(alen, 8)]
    rec = LinuxSll2(ethertype, ifindex, arphrd, ptype, mac_str(addr))
    return [rec], Decoded(ethertype, buf[20:], [], 20)


def encode_sll2(rec: LinuxSll2, payload: bytes) -> bytes:
    addr = bytes.fromhex(rec.addr.replace(":", "")) if rec.addr else b""
    return struct.pack(
        "!HHIHBB", rec.ethertype, 0, rec.ifindex, rec.arphrd, rec.packet_type, len(addr)
    ) + addr.ljust(8, b"\0") + payload


# BSD address families differ by OS for IPv6 (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
_NULL_FAMILIES = {2: ETH_IPV4, 24: ETH_IPV6, 28: ETH_IPV6, 30: ETH_IPV6}


def decode_null(buf: bytes, *, big_endian: bool = False) -> tuple[list[Layer], Decoded]:
    """DLT_NULL stores the family in host byte order (unknown to us); LOOP in
    network order. Try both orders for NULL."""
    if len(buf) < 4:
        return [], Decoded(None, b"", [Problem(0, "loopback header cut short", "null", "null.truncated", "error")])
    if big_endian:
        fam = struct.unpack_from("!I", buf)[0]
    else:
        fam = struct.unpack_from("<I", buf)[0]
        if fam not in _NULL_FAMILIES:
            fam = struct.unpack_from("!I", buf)[0]
    return [Null(fam)], Decoded(_NULL_FAMILIES.get(fam), buf[4:], [], 4)


def encode_null(family: int, payload: bytes) -> bytes:
    return struct.pack("<I", family) + payload
