"""UDP (RFC 768) and what rides on IPsec's ports (RFC 3947/3948 NAT-T).

On UDP port 4500 one port carries three things, told apart by the first
bytes of the payload (RFC 3948 2.2):

- a single 0xFF byte: a NAT-keepalive (RFC 3948 2.3);
- four zero bytes, the non-ESP marker: an IKE message follows it;
- anything else: an ESP packet, its first four bytes the (non-zero) SPI.

On port 500 the payload is IKE, with no marker.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from nhrpscope.dissectors.base import Decoded, Layer, Problem, internet_checksum

__all__ = [
    "UDP_HEADER",
    "UDP_PORTS",
    "UdpHeader",
    "UdpPeek",
    "peek_udp",
    "NatKeepalive",
    "decode_udp",
    "encode_udp",
    "udp_checksum",
    "verify_udp_checksum",
    "classify_udp_payload",
    "split_udp_payload",
    "decode_nat_keepalive",
    "encode_nat_keepalive",
    "IKE_PORT",
    "NAT_T_PORT",
    "NON_ESP_MARKER",
]

IKE_PORT = 500
NAT_T_PORT = 4500
NON_ESP_MARKER = b"\x00\x00\x00\x00"
_KEEPALIVE = b"\xff"


@dataclass(frozen=True, slots=True)
class UdpHeader(Layer):
    proto = "udp"
    src_port: int
    dst_port: int
    length: int
    checksum: int


@dataclass(frozen=True, slots=True)
class NatKeepalive(Layer):
    """RFC 3948 2.3: one 0xFF byte, keeping a NAT mapping open."""

    proto = "nat-keepalive"
    value: int = 0xFF


# RFC 768: source port, destination port, length, checksum.
UDP_HEADER = struct.Struct("!HHHH")
UDP_PORTS = struct.Struct("!HH")  # UDP_HEADER's first two fields alone
UDP_HEADER_LEN = 8


class UdpPeek(NamedTuple):
    """The UDP header as ``peek_udp`` reads it."""

    src_port: int
    dst_port: int
    length: int
    checksum: int


def peek_udp(buf: bytes, off: int = 0) -> UdpPeek | None:
    """The UDP header at ``buf[off:]``, or None when cut short."""
    if len(buf) < off + UDP_HEADER_LEN:
        return None
    return UdpPeek(*UDP_HEADER.unpack_from(buf, off))


def decode_udp(buf: bytes) -> Decoded:
    """Header and payload. The payload is what the length field covers,
    cut short to what was captured (with a problem saying so)."""
    buf = bytes(buf)
    n = len(buf)
    if n < UDP_HEADER_LEN:
        return Decoded(None, b"", [Problem(0, f"UDP header cut short ({n} of 8 bytes)", "udp",
                                           "udp.truncated", "error")])
    sport, dport, length, checksum = UDP_HEADER.unpack_from(buf)
    rec = UdpHeader(sport, dport, length, checksum)
    problems: list[Problem] = []
    end = length
    if length < 8:
        problems.append(Problem(4, f"UDP length {length} is less than the 8-byte header", "udp",
                                "udp.length", "error"))
        end = n
    elif length > n:
        problems.append(Problem(4, f"UDP length {length} but only {n} bytes captured", "udp",
                                "udp.truncated", "error"))
        end = n
    elif length < n:
        problems.append(Problem(length, f"{n - length} bytes after the UDP datagram", "udp",
                                "udp.trailing", "warning"))
    return Decoded(rec, buf[8:end], problems, 8)


def _pseudo_header(src_addr: bytes, dst_addr: bytes, length: int) -> bytes:
    if len(src_addr) == 4 and len(dst_addr) == 4:
        return src_addr + dst_addr + struct.pack("!BBH", 0, 17, length)
    if len(src_addr) == 16 and len(dst_addr) == 16:
        return src_addr + dst_addr + struct.pack("!IxxxB", length, 17)
    raise ValueError("addresses must both be IPv4 (4 bytes) or IPv6 (16 bytes)")


def udp_checksum(src_addr: bytes, dst_addr: bytes, segment: bytes) -> int:
    """The checksum a UDP datagram should carry (its checksum field is
    taken as zero); 0 is sent as 0xFFFF (RFC 768)."""
    seg = bytes(segment[:6]) + b"\0\0" + bytes(segment[8:])
    c = internet_checksum(_pseudo_header(src_addr, dst_addr, len(segment)) + seg)
    return c or 0xFFFF


def verify_udp_checksum(src_addr: bytes, dst_addr: bytes, segment: bytes) -> bool | None:
    """True/False, or None when an IPv4 sender left the checksum out (0)."""
    if len(segment) < 8:
        return False
    got = int.from_bytes(segment[6:8], "big")
    if got == 0 and len(src_addr) == 4:
        return None
    return internet_checksum(_pseudo_header(src_addr, dst_addr, len(segment)) + bytes(segment)) == 0


def encode_udp(src_port: int, dst_port: int, payload: bytes, *,
               src_addr: bytes | None = None, dst_addr: bytes | None = None,
               length: int | None = None, checksum: int | None = None) -> bytes:
    """Header + payload. The checksum is computed when both addresses are
    given (else 0, "none", as RFC 3948 NAT-T senders may do over IPv4);
    ``length``/``checksum`` override the fields (to write malformed ones)."""
    ln = 8 + len(payload) if length is None else length
    seg = UDP_HEADER.pack(src_port, dst_port, ln, 0) + bytes(payload)
    if checksum is None:
        checksum = udp_checksum(src_addr, dst_addr, seg) if src_addr and dst_addr else 0
    return seg[:6] + struct.pack("!H", checksum) + seg[8:]


def classify_udp_payload(src_port: int, dst_port: int, payload: bytes) -> str:
    """"ike", "esp", "nat-keepalive" or "other", from the ports and the
    first payload bytes (RFC 3948 2.2). For "ike" on port 4500 the caller
    strips the 4-byte non-ESP marker (``split_udp_payload`` does)."""
    if NAT_T_PORT in (src_port, dst_port):
        if payload == _KEEPALIVE:
            return "nat-keepalive"
        if len(payload) >= 4:
            return "ike" if payload[:4] == NON_ESP_MARKER else "esp"
        return "other"
    if IKE_PORT in (src_port, dst_port):
        return "ike"
    return "other"


def split_udp_payload(src_port: int, dst_port: int, payload: bytes) -> tuple[str, bytes, int]:
    """(kind, the bytes for its decoder, their offset in ``payload``): the
    non-ESP marker is stripped from IKE on port 4500."""
    kind = classify_udp_payload(src_port, dst_port, payload)
    if kind == "ike" and NAT_T_PORT in (src_port, dst_port):
        return kind, bytes(payload[4:]), 4
    return kind, bytes(payload), 0


def decode_nat_keepalive(buf: bytes) -> Decoded:
    if len(buf) < 1:
        return Decoded(None, b"", [Problem(0, "empty NAT-keepalive", "nat-keepalive",
                                           "nat-keepalive.empty", "error")])
    problems = []
    if buf[0] != 0xFF:
        problems.append(Problem(0, f"NAT-keepalive byte is 0x{buf[0]:02x}, not 0xff", "nat-keepalive", "nat-keepalive.value", "warning"))
    if len(buf) > 1:
        problems.append(Problem(1, f"{len(buf) - 1} bytes after the NAT-keepalive", "nat-keepalive",
                                "nat-keepalive.trailing", "warning"))
    return Decoded(NatKeepalive(buf[0]), b"", problems, 1)


def encode_nat_keepalive(rec: NatKeepalive | None = None) -> bytes:
    return bytes(((rec.value if rec is not None else 0xFF) & 0xFF,))
