"""NHRP (RFC 2332) with the extensions Cisco IOS, OpenNHRP and FRR nhrpd send.

Wire layout (all big-endian)::

    fixed header (20)   afn(2) pro_type(2) pro_snap(5) hop_count(1) packet_size(2)
                        checksum(2) extension_offset(2) version(1) type(1) shtl(1) sstl(1)
    mandatory (8)       src_proto_len(1) dst_proto_len(1) flags(2) request_id(4)
                        error indication: unused(2) error_code(2) error_offset(2)
                        traffic indication: flags(2) traffic_code(2) unused(2)
                          (draft-detienne-dmvpn; the layout tcpdump and FRR use)
    addresses           src NBMA, src NBMA subaddress, src protocol, dst protocol
    body                CIEs; error indication: the packet in error;
                        traffic indication: the IP packet that caused it
    extensions          from extension_offset: type(2, 0x8000 = compulsory) length(2) body

The decoder never raises; what it could not read is reported as ``Problem``s.
The encoder writes what the record says: numbers on the wire (``type_code``,
``flags_raw``, length bytes, ``offending_raw``) are authoritative, names are
derived from them. The ``make_*`` builders fill the derived fields so that
``decode_nhrp(encode_nhrp(r)).record == r``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from operator import attrgetter
from typing import Any, ClassVar

from nhrpscope.dissectors.base import (
    Decoded,
    Layer,
    Malformed,
    Problem,
    addr_bytes,
    addr_str,
    internet_checksum,
    slot_constructor,
    slot_replacer,
)

__all__ = [
    "AuthenticationExtension",
    "Cie",
    "CieListExtension",
    "DeviceCapabilitiesExtension",
    "EndExtension",
    "NhrpMemo",
    "QuotedDecoder",
    "Extension",
    "NhrpPacket",
    "UnknownExtension",
    "VendorPrivateExtension",
    "cie_code_name",
    "decode_cie",
    "decode_nhrp",
    "encode_cie",
    "encode_extension",
    "encode_nhrp",
    "error_name",
    "extension_name",
    "flag_names",
    "flags_value",
    "make_auth_extension",
    "make_cie",
    "make_cie_extension",
    "make_device_capabilities_extension",
    "make_end_extension",
    "make_packet",
    "make_unknown_extension",
    "make_vendor_extension",
    "traffic_name",
    "type_name",
]

LAYER = "nhrp"
# Problem ids the replay reads to report a malformed NHRP packet: a wrong
# checksum, a packet size that disagrees with the bytes, a cut fixed header.
PROBLEM_CHECKSUM = "nhrp.checksum"
PROBLEM_LENGTH = "nhrp.length"
PROBLEM_TRUNCATED = "nhrp.truncated"
# Not a defect: the bytes the checksum covers are not all there (a capture's
# snap length cut the packet), so it cannot be checked either way.
PROBLEM_CHECKSUM_UNVERIFIED = "nhrp.checksum-unverified"
FIXED_LEN = 20
MANDATORY_LEN = 8
CIE_LEN = 12
EXT_HEADER_LEN = 4
COMPULSORY = 0x8000
# An error indication carries an NHRP packet, which may itself be one; a traffic
# indication carries an IP packet, which may hold GRE and another traffic
# indication: bound the recursion (and the output, which repeats each level's bytes).
MAX_NESTING = 4

AFN_IPV4 = 1
AFN_IPV6 = 2
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD

RESOLUTION_REQUEST = 1
RESOLUTION_REPLY = 2
REGISTRATION_REQUEST = 3
REGISTRATION_REPLY = 4
PURGE_REQUEST = 5
PURGE_REPLY = 6
ERROR_INDICATION = 7
TRAFFIC_INDICATION = 8

TYPE_NAMES: dict[int, str] = {
    RESOLUTION_REQUEST: "resolution-request",
    RESOLUTION_REPLY: "resolution-reply",
    REGISTRATION_REQUEST: "registration-request",
    REGISTRATION_REPLY: "registration-reply",
    PURGE_REQUEST: "purge-request",
    PURGE_REPLY: "purge-reply",
    ERROR_INDICATION: "error-indication",
    TRAFFIC_INDICATION: "traffic-indication",
}
TYPE_CODES: dict[str, int] = {name: code for code, name in TYPE_NAMES.items()}

# Flag bits per packet type (RFC 2332 5.2.1-5.2.6); 0x0002 is Cisco's "NAT supported".
_RESOLUTION_FLAGS = {
    0x8000: "is-router",
    0x4000: "authoritative",
    0x2000: "destination-stable",
    0x1000: "unique",
    0x0800: "source-stable",
    0x0002: "cisco-nat",
}
_REGISTRATION_FLAGS = {0x8000: "unique", 0x0002: "cisco-nat"}
_PURGE_FLAGS = {0x8000: "no-reply", 0x0002: "cisco-nat"}
FLAG_BITS: dict[int, dict[int, str]] = {
    RESOLUTION_REQUEST: _RESOLUTION_FLAGS,
    RESOLUTION_REPLY: _RESOLUTION_FLAGS,
    REGISTRATION_REQUEST: _REGISTRATION_FLAGS,
    REGISTRATION_REPLY: _REGISTRATION_FLAGS,
    PURGE_REQUEST: _PURGE_FLAGS,
    PURGE_REPLY: _PURGE_FLAGS,
}

# CIE codes, RFC 2332 5.2.2/5.2.4. OpenNHRP and FRR nhrpd send 11 where the RFC
# says 12 for "no binding exists", so 11 gets the same name.
CIE_CODE_NAMES: dict[int, str] = {
    0: "success",
    4: "administratively-prohibited",
    5: "insufficient-resources",
    11: "no-binding",
    12: "no-binding",
    13: "binding-not-unique",
    14: "already-registered",
}

# Error codes, RFC 2332 5.2.7 plus RFC 2735 (16, 17). OpenNHRP and FRR define
# "loop detected" as 2 where the RFC says 3.
ERROR_NAMES: dict[int, str] = {
    1: "unrecognized-extension",
    2: "nhrp-loop-detected",
    3: "nhrp-loop-detected",
    6: "protocol-address-unreachable",
    7: "protocol-error",
    8: "nhrp-sdu-size-exceeded",
    9: "invalid-extension",
    10: "invalid-nhrp-resolution-reply-received",
    11: "authentication-failure",
    15: "hop-count-exceeded",
    16: "vpn-mismatch",
    17: "vpn-not-supported",
}

# Traffic indication codes (draft-detienne-dmvpn): only redirect is defined.
TRAFFIC_NAMES: dict[int, str] = {0: "redirect"}

EXT_END = 0
EXT_RESPONDER_ADDRESS = 3
EXT_FORWARD_TRANSIT = 4
EXT_REVERSE_TRANSIT = 5
EXT_AUTHENTICATION = 7
EXT_VENDOR_PRIVATE = 8
EXT_NAT_OR_CAPABILITIES = 9  # Cisco NAT address, or RFC 2735 device capabilities
EXT_MOBILE_AUTHENTICATION = 10  # RFC 2520, the only extension it defines

_CIE_EXT_NAMES = {
    EXT_RESPONDER_ADDRESS: "responder-address",
    EXT_FORWARD_TRANSIT: "forward-transit-nhs-record",
    EXT_REVERSE_TRANSIT: "reverse-transit-nhs-record",
    EXT_NAT_OR_CAPABILITIES: "cisco-nat-address",
}
_AUTH_EXT_NAMES = {
    EXT_AUTHENTICATION: "authentication",
    EXT_MOBILE_AUTHENTICATION: "mobile-nhc-authentication",
}
EXTENSION_NAMES: dict[int, str] = {
    EXT_END: "end",
    **_CIE_EXT_NAMES,
    **_AUTH_EXT_NAMES,
    EXT_VENDOR_PRIVATE: "vendor-private",
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Cie:
    """A Client Information Entry (RFC 2332 5.2.0.1)."""

    code: int
    code_name: str
    prefix_len: int
    mtu: int
    holding_time: int
    preference: int
    client_nbma: str | None
    client_nbma_subaddr: str | None  # hex
    client_proto: str | None
    reserved: int  # the 16 "unused" bits
    # Raw type/length bytes: 0x40 is the E.164 type bit, the low 6 bits the length.
    client_nbma_tl: int
    client_nbma_subaddr_tl: int
    client_proto_len: int


@dataclass(frozen=True, slots=True)
class EndExtension:
    type: int
    name: str
    compulsory: bool
    length: int
    data: bytes  # an End extension has no body; kept only to report and re-encode it


@dataclass(frozen=True, slots=True)
class CieListExtension:
    """Responder Address, Forward/Reverse Transit NHS Record, Cisco NAT Address."""

    type: int
    name: str
    compulsory: bool
    length: int
    cies: tuple[Cie, ...]


@dataclass(frozen=True, slots=True)
class AuthenticationExtension:
    """RFC 2332 5.3.4 (type 7) and RFC 2520 (type 10).

    ``spi`` is the first 32-bit word: RFC 2332's reserved(16)+SPI(16), which
    Cisco fills with the authentication type (1 = cleartext). ``data`` is the
    rest; Cisco, OpenNHRP and FRR put the cleartext password there (no source
    address, contrary to what Wireshark assumes)."""

    type: int
    name: str
    compulsory: bool
    length: int
    spi: int | None  # None when the body is shorter than 4 bytes
    password: str | None  # data as text when it is printable ASCII (NUL padding dropped)
    data: bytes


@dataclass(frozen=True, slots=True)
class VendorPrivateExtension:
    type: int
    name: str
    compulsory: bool
    length: int
    oui: int | None  # None when the body is shorter than 3 bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class DeviceCapabilitiesExtension:
    """RFC 2735: two 32-bit capability words; bit 0 = VPN-aware."""

    type: int
    name: str
    compulsory: bool
    length: int
    source_capabilities: int
    target_capabilities: int
    source_vpn_aware: bool
    target_vpn_aware: bool


@dataclass(frozen=True, slots=True)
class UnknownExtension:
    type: int
    name: str
    compulsory: bool
    length: int
    data: bytes


Extension = (
    EndExtension
    | CieListExtension
    | AuthenticationExtension
    | VendorPrivateExtension
    | DeviceCapabilitiesExtension
    | UnknownExtension
)


@dataclass(frozen=True, slots=True)
class NhrpPacket(Layer):
    """One NHRP packet. Addresses are strings (``base.addr_str``) or None when absent."""

    proto: ClassVar[str] = "nhrp"

    type: str
    type_code: int
    hop_count: int
    checksum_ok: bool | None  # None: not all the bytes it covers are present
    request_id: int | None  # None for error and traffic indications
    flags: tuple[str, ...]
    src_nbma: str | None
    src_proto: str | None
    dst_proto: str | None
    cies: tuple[Cie, ...]
    extensions: tuple[Extension, ...]
    # fixed header
    afn: int
    protocol_type: int
    protocol_snap: bytes  # 5 bytes; meaningful when protocol_type is 0x0080
    version: int
    packet_size: int
    checksum: int
    extension_offset: int
    shtl: int  # raw type/length of the source NBMA address
    sstl: int  # raw type/length of the source NBMA subaddress
    src_nbma_subaddr: str | None  # hex
    # mandatory header
    src_proto_len: int
    dst_proto_len: int
    flags_raw: int
    # error indication
    error_code: int | None = None
    error_name: str | None = None
    error_offset: int | None = None
    # traffic indication
    traffic_code: int | None = None
    traffic_name: str | None = None
    traffic_reserved: int | None = None
    # Error indication: the packet in error, decoded as NHRP (NhrpPacket).
    # Traffic indication: the IP packet that caused it, as decoded layers.
    offending: NhrpPacket | tuple[Any, ...] | None = None
    offending_raw: bytes = b""


# The records' constructors, every field in order (base.slot_constructor):
# the decoder makes thousands of them.
_new_cie = slot_constructor(Cie)
_new_packet = slot_constructor(NhrpPacket)


# --------------------------------------------------------------------------- names


def type_name(code: int) -> str:
    return TYPE_NAMES.get(code, f"unknown-{code}")


def cie_code_name(code: int) -> str:
    return CIE_CODE_NAMES.get(code, f"unknown-{code}")


def error_name(code: int) -> str:
    return ERROR_NAMES.get(code, f"unknown-{code}")


def traffic_name(code: int) -> str:
    return TRAFFIC_NAMES.get(code, f"unknown-{code}")


def extension_name(ext_type: int, body_is_cie_list: bool = True) -> str:
    if ext_type == EXT_NAT_OR_CAPABILITIES and not body_is_cie_list:
        return "device-capabilities"
    return EXTENSION_NAMES.get(ext_type, "unknown")


@lru_cache(maxsize=1024)  # a pure function of two small numbers, asked once a packet
def flag_names(type_code: int, flags_raw: int) -> tuple[str, ...]:
    """Names of the set flag bits, most significant first; unnamed bits are
    ``bit-N`` with N the bit's position counted from the least significant (0)."""
    table = FLAG_BITS.get(type_code, {})
    names = []
    for pos in range(15, -1, -1):
        bit = 1 << pos
        if flags_raw & bit:
            names.append(table.get(bit, f"bit-{pos}"))
    return tuple(names)


def flags_value(type_code: int, names: Iterable[str]) -> int:
    """The inverse of ``flag_names``; raises ValueError on a name the type lacks."""
    by_name = {name: bit for bit, name in FLAG_BITS.get(type_code, {}).items()}
    value = 0
    for name in names:
        if name in by_name:
            value |= by_name[name]
        elif name.startswith("bit-") and name[4:].isdigit() and int(name[4:]) < 16:
            value |= 1 << int(name[4:])
        else:
            raise ValueError(f"no flag {name!r} in NHRP {type_name(type_code)}")
    return value


def _password(data: bytes) -> str | None:
    text = data.rstrip(b"\0")
    if text and all(0x20 <= b < 0x7F for b in text):
        return text.decode("ascii")
    return None


# --------------------------------------------------------------------------- decoding


def _take(buf: bytes, pos: int, n: int, limit: int, what: str) -> bytes:
    if pos + n > limit:
        have = max(limit - pos, 0)
        raise Malformed(pos, f"truncated {what}: needs {n} bytes, {have} left", PROBLEM_TRUNCATED)
    return buf[pos : pos + n]


def _opt_addr(b: bytes) -> str | None:
    return addr_str(b) if b else None


def _opt_hex(b: bytes) -> str | None:
    return b.hex() if b else None


_FAMILY_LEN = {AFN_IPV4: (4, "IPv4"), AFN_IPV6: (16, "IPv6")}
_ETHERTYPE_LEN = {ETHERTYPE_IPV4: (4, "IPv4"), ETHERTYPE_IPV6: (16, "IPv6")}


def _check_len(
    problems: list[Problem], offset: int, what: str, n: int, family: int, table: dict
) -> None:
    """Report an address whose length does not fit its (known) family."""
    if n and family in table and n != table[family][0]:
        want, label = table[family]
        problems.append(Problem(offset, f"{what} is {n} bytes, {label} needs {want}", LAYER,
                                "nhrp.address-length", "warning"))


def decode_cie(
    buf: bytes,
    pos: int = 0,
    limit: int | None = None,
    *,
    afn: int = 0,
    protocol_type: int = 0,
    problems: list[Problem] | None = None,
) -> tuple[Cie, int]:
    """One CIE at ``pos``; returns it and the position after it. Raises
    ``Malformed`` when it does not fit before ``limit``; length mismatches
    with the address family are appended to ``problems``."""
    limit = len(buf) if limit is None else limit
    head = _take(buf, pos, CIE_LEN, limit, "CIE")
    code, plen, reserved, mtu, htime, nbma_tl, sub_tl, proto_len, pref = struct.unpack(
        "!BBHHHBBBB", head
    )
    p = pos + CIE_LEN
    nbma = _take(buf, p, nbma_tl & 0x3F, limit, "CIE client NBMA address")
    if problems is not None:
        _check_len(problems, p, "CIE client NBMA address", len(nbma), afn, _FAMILY_LEN)
    p += len(nbma)
    sub = _take(buf, p, sub_tl & 0x3F, limit, "CIE client NBMA subaddress")
    p += len(sub)
    proto = _take(buf, p, proto_len, limit, "CIE client protocol address")
    if problems is not None:
        _check_len(
            problems, p, "CIE client protocol address", len(proto), protocol_type, _ETHERTYPE_LEN
        )
    p += len(proto)
    cie = _new_cie(code, cie_code_name(code), plen, mtu, htime, pref, _opt_addr(nbma),
                   _opt_hex(sub), _opt_addr(proto), reserved, nbma_tl, sub_tl, proto_len)
    return cie, p


def _decode_cies(
    buf: bytes, pos: int, limit: int, afn: int, protocol_type: int, problems: list[Problem]
) -> tuple[tuple[Cie, ...], bool]:
    """CIEs filling [pos, limit); the flag says whether every byte was consumed."""
    cies: list[Cie] = []
    while pos < limit:
        n = CIE_LEN
        if pos + CIE_LEN <= limit:
            n += (buf[pos + 8] & 0x3F) + (buf[pos + 9] & 0x3F) + buf[pos + 10]
        if pos + n <= limit:  # whole: decoded once per distinct bytes (_cie_once)
            cie, found = _cie_once(buf[pos:pos + n], afn, protocol_type)
            if found:
                problems.extend(p.shifted(pos) for p in found)
            cies.append(cie)
            pos += n
            continue
        try:
            cie, pos = decode_cie(
                buf, pos, limit, afn=afn, protocol_type=protocol_type, problems=problems
            )
        except Malformed as exc:
            problems.append(Problem(exc.offset, exc.reason, LAYER, exc.id, exc.severity))
            return tuple(cies), False
        cies.append(cie)
    return tuple(cies), True


# A CIE, and an extension, is a pure function of its bytes and the packet's
# address family and protocol type, and a capture repeats the same few
# thousand (an NHS's empty transit records, a spoke's NAT address, the
# holding time every spoke asks for): each is decoded once, its problems
# kept relative to its start. Bounded; a hit is the record decoded afresh.
@lru_cache(maxsize=4096)
def _cie_once(raw: bytes, afn: int, protocol_type: int) -> tuple[Cie, tuple[Problem, ...]]:
    found: list[Problem] = []
    cie, _ = decode_cie(raw, 0, len(raw), afn=afn, protocol_type=protocol_type, problems=found)
    return cie, tuple(found)


# bodies longer than this are decoded each time (a cache entry holds its bytes)
_EXT_ONCE_MAX = 512


@lru_cache(maxsize=4096)
def _extension_once(raw_type: int, length: int, body: bytes, afn: int, protocol_type: int
                    ) -> tuple[Extension, tuple[Problem, ...]]:
    found: list[Problem] = []
    ext = _decode_extension(raw_type, length, body, 0, afn, protocol_type, found)
    return ext, tuple(found)


def _decode_extension(
    raw_type: int,
    length: int,
    body: bytes,
    offset: int,
    afn: int,
    protocol_type: int,
    problems: list[Problem],
) -> Extension:
    """One extension; ``offset`` is where its body starts in the packet."""
    ext_type = raw_type & ~COMPULSORY
    compulsory = bool(raw_type & COMPULSORY)
    name = extension_name(ext_type)
    if ext_type == EXT_END:
        if body:
            problems.append(Problem(offset, f"end extension carries {len(body)} bytes", LAYER,
                                    "nhrp.extension", "warning"))
        return EndExtension(ext_type, name, compulsory, length, body)
    if ext_type == EXT_NAT_OR_CAPABILITIES:
        # Cisco's NAT address extension and RFC 2735 device capabilities share
        # type 9. A CIE list is 0 or >= 12 bytes, capabilities exactly 8: no overlap.
        scratch: list[Problem] = []
        cies, exact = _decode_cies(body, 0, len(body), afn, protocol_type, scratch)
        if exact:
            problems.extend(p.shifted(offset) for p in scratch)
            return CieListExtension(ext_type, name, compulsory, length, cies)
        if len(body) == 8:
            src, dst = struct.unpack("!II", body)
            return DeviceCapabilitiesExtension(
                ext_type,
                extension_name(ext_type, body_is_cie_list=False),
                compulsory,
                length,
                src,
                dst,
                bool(src & 1),
                bool(dst & 1),
            )
        problems.append(
            Problem(
                offset,
                f"type 9 extension of {len(body)} bytes is neither a CIE list (Cisco NAT "
                "address) nor 8 bytes of RFC 2735 device capabilities",
                LAYER, "nhrp.extension", "warning",
            )
        )
        return UnknownExtension(ext_type, "unknown", compulsory, length, body)
    if ext_type in _CIE_EXT_NAMES:
        scratch = []
        cies, _ = _decode_cies(body, 0, len(body), afn, protocol_type, scratch)
        problems.extend(p.shifted(offset) for p in scratch)
        return CieListExtension(ext_type, name, compulsory, length, cies)
    if ext_type in _AUTH_EXT_NAMES:
        if len(body) < 4:
            problems.append(
                Problem(offset, f"authentication extension of {len(body)} bytes has no SPI", LAYER,
                        "nhrp.extension", "error")
            )
            return AuthenticationExtension(ext_type, name, compulsory, length, None, None, body)
        data = body[4:]
        spi = int.from_bytes(body[:4], "big")
        return AuthenticationExtension(
            ext_type, name, compulsory, length, spi, _password(data), data
        )
    if ext_type == EXT_VENDOR_PRIVATE:
        if len(body) < 3:
            problems.append(
                Problem(offset, f"vendor-private extension of {len(body)} bytes has no OUI", LAYER,
                        "nhrp.extension", "error")
            )
            return VendorPrivateExtension(ext_type, name, compulsory, length, None, body)
        oui = int.from_bytes(body[:3], "big")
        return VendorPrivateExtension(ext_type, name, compulsory, length, oui, body[3:])
    return UnknownExtension(ext_type, name, compulsory, length, body)


def _decode_extensions(
    buf: bytes, pos: int, end: int, afn: int, protocol_type: int, problems: list[Problem]
) -> tuple[Extension, ...]:
    exts: list[Extension] = []
    cut_short = False  # a truncation already explains a missing end extension
    while pos < end:
        if exts and isinstance(exts[-1], EndExtension):
            problems.append(Problem(pos, f"{end - pos} bytes after the end extension", LAYER,
                                    "nhrp.extension", "warning"))
            break
        if end - pos < EXT_HEADER_LEN:
            problems.append(
                Problem(pos, f"truncated extension header: {end - pos} of 4 bytes", LAYER,
                        "nhrp.extension", "error")
            )
            cut_short = True
            break
        raw_type, length = struct.unpack_from("!HH", buf, pos)
        body_start = pos + EXT_HEADER_LEN
        body_end = body_start + length
        if body_end > end:
            problems.append(
                Problem(
                    pos,
                    f"extension type {raw_type & ~COMPULSORY} of length {length} runs "
                    f"{body_end - end} bytes past the packet end",
                    LAYER, "nhrp.extension", "error",
                )
            )
            body_end = end
            cut_short = True
        body = buf[body_start:body_end]
        if len(body) <= _EXT_ONCE_MAX:
            ext, found = _extension_once(raw_type, length, body, afn, protocol_type)
            if found:
                problems.extend(p.shifted(body_start) for p in found)
            exts.append(ext)
        else:
            exts.append(
                _decode_extension(raw_type, length, body, body_start, afn, protocol_type, problems)
            )
        pos = body_end
    if exts and not cut_short and not isinstance(exts[-1], EndExtension):
        problems.append(Problem(end, "extensions not terminated by an end extension", LAYER,
                                "nhrp.extension", "warning"))
    return tuple(exts)


# Decodes the IP packet a traffic indication quotes, ``nesting`` NHRP packets
# deep, into its layers. The frame chain (``dissectors.frame``) passes its
# own: NHRP sits inside the chain, so it takes the chain as a parameter
# rather than importing it.
QuotedDecoder = Callable[[bytes, int], tuple[Any, ...]]


def _decode_ip_layers(raw: bytes, depth: int, quoted: QuotedDecoder | None
                      ) -> tuple[Any, ...] | None:
    """The packet a traffic indication carries, decoded by ``quoted`` when
    given. Its problems are not ours: routers copy only the start of the
    packet, so truncation there is normal. ``depth``: how many NHRP packets
    quote this one; past MAX_NESTING only offending_raw is kept (a 50 KB
    frame of nested indications made 45 MB of JSON)."""
    if quoted is None or depth >= MAX_NESTING:
        return None
    return quoted(raw, depth + 1)


# Packets decoded before, by their bytes less the checksum and the request
# id: a spoke's registration requests, and the hub's replies, repeat but for
# those two, and a hit costs about a seventh of a decode (the record built
# again with those two fields: about 25 against 175 us on the scale file).
# Only packets with a right checksum are kept (a wrong one's problem names
# it), error and traffic indications never (their bytes 24-27 are no request id).
PACKET_FIELDS = tuple(f.name for f in dataclass_fields(NhrpPacket))
# A record's field values in order (``_new_packet(*packet_values(r)) == r``)
packet_values: Callable[[NhrpPacket], tuple] = attrgetter(*PACKET_FIELDS)
# ``packet_with(packet_values(r), request_id, checksum)``: a repeat's record
# (this memo's and the frame shape memo's), dataclasses.replace at a fraction
# of its cost
packet_with = slot_replacer(NhrpPacket, "request_id", "checksum")


# The memo's bound in bytes: each entry is charged its key's length times
# MEMO_BYTES_PER_KEY_BYTE (the record built from those bytes: addresses as
# str, a CIE object per 12 bytes, about that much larger) plus
# MEMO_ENTRY_OVERHEAD. A packet over MEMO_MAX_PACKET is not kept: NHRP
# control packets fit a tunnel's MTU, repeats of a 64 KB one are hostile
# (3,000 distinct ones held 1.87 GB).
MEMO_MAX_BYTES = 8 << 20
MEMO_MAX_PACKET = 2048
MEMO_BYTES_PER_KEY_BYTE = 20
MEMO_ENTRY_OVERHEAD = 768


class NhrpMemo:
    """The memo of decoded NHRP packets (above), owned by whoever decodes a
    stream of them (``FrameDecoder`` holds one); bounded at ``max_size``
    entries and ``max_bytes`` (estimated, see MEMO_MAX_BYTES); when full it
    starts over (the repeats worth keeping come back at once)."""

    __slots__ = ("entries", "max_size", "max_bytes", "held")

    def __init__(self, max_size: int = 4096, max_bytes: int = MEMO_MAX_BYTES) -> None:
        self.entries: dict[bytes, tuple[NhrpPacket, tuple[Problem, ...], int]] = {}
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.held = 0  # estimated bytes of the entries

    def remember(self, key: bytes, d: Decoded) -> None:
        if len(key) > MEMO_MAX_PACKET:
            return
        cost = len(key) * MEMO_BYTES_PER_KEY_BYTE + MEMO_ENTRY_OVERHEAD
        if len(self.entries) >= self.max_size or self.held + cost > self.max_bytes:
            self.entries.clear()
            self.held = 0
        self.entries[key] = (d.record, tuple(d.problems), d.payload_offset)
        self.held += cost


def decode_nhrp(buf: bytes, *, nesting: int = 0, memo: NhrpMemo | None = None,
                quoted: QuotedDecoder | None = None) -> Decoded:
    """Decode one NHRP packet; never raises. ``nesting``: how many NHRP
    packets quote this one (the frame chain passes it on; only indications,
    never memoized, depend on it). ``memo``: packets decoded before, to
    skip decoding a repeat. ``quoted``: the decoder of a traffic
    indication's offending IP packet (without it, only ``offending_raw``)."""
    buf = bytes(buf)
    if memo is None or len(buf) < FIXED_LEN + MANDATORY_LEN \
            or buf[17] in (ERROR_INDICATION, TRAFFIC_INDICATION):
        return _decode(buf, nesting, quoted)
    key = buf[:12] + buf[14:24] + buf[28:]
    hit = memo.entries.get(key)
    if hit is not None:
        rec, problems, end = hit
        if internet_checksum(buf[:rec.packet_size]) == 0:
            rec = packet_with(packet_values(rec), int.from_bytes(buf[24:28], "big"),
                              (buf[12] << 8) | buf[13])
            return Decoded(rec, b"", list(problems), end)
    d = _decode(buf, 0, quoted)
    if d.record is not None and d.record.checksum_ok:
        memo.remember(key, d)
    return d


def _decode(buf: bytes, depth: int, quoted: QuotedDecoder | None = None) -> Decoded:
    problems: list[Problem] = []
    if len(buf) < FIXED_LEN:
        problems.append(
            Problem(0, f"truncated NHRP fixed header: {len(buf)} of {FIXED_LEN} bytes", LAYER,
                    PROBLEM_TRUNCATED, "error")
        )
        return Decoded(None, b"", problems, len(buf))

    afn, protocol_type = struct.unpack_from("!HH", buf, 0)
    snap = buf[4:9]
    hop_count = buf[9]
    size, checksum, extoff = struct.unpack_from("!HHH", buf, 10)
    version, type_code, shtl, sstl = buf[16], buf[17], buf[18], buf[19]

    if version != 1:
        problems.append(Problem(16, f"unknown NHRP version {version}", LAYER,
                                "nhrp.version", "error"))

    # Where the packet ends: its own size when the buffer holds it, else the buffer.
    if size < FIXED_LEN:
        problems.append(Problem(10, f"packet size {size} is less than the fixed header", LAYER,
                                PROBLEM_LENGTH, "error"))
        end = len(buf)
    elif size > len(buf):
        problems.append(
            Problem(len(buf), f"truncated: packet size {size}, {len(buf)} bytes present", LAYER,
                    PROBLEM_LENGTH, "error")
        )
        end = len(buf)
    else:
        if size < len(buf):
            problems.append(
                Problem(size, f"{len(buf) - size} bytes after the packet size {size}", LAYER,
                        PROBLEM_LENGTH, "warning")
            )
        end = size

    checksum_ok: bool | None = None  # unverified unless the packet is all there (as tshark)
    if size > len(buf):
        problems.append(
            Problem(12, f"checksum unverified: the packet is cut ({len(buf)} of its {size} "
                        f"bytes present)", LAYER, PROBLEM_CHECKSUM_UNVERIFIED, "note")
        )
    elif FIXED_LEN <= size:
        checksum_ok = internet_checksum(buf[:size]) == 0
        if not checksum_ok:
            want = internet_checksum(buf[:12] + b"\0\0" + buf[14:size])
            problems.append(
                Problem(12, f"bad checksum 0x{checksum:04x}, should be 0x{want:04x}", LAYER,
                        PROBLEM_CHECKSUM, "error")
            )

    ext_start: int | None = None
    if extoff == 0:
        mand_end = end
    elif extoff < FIXED_LEN + MANDATORY_LEN or extoff > size:
        problems.append(
            Problem(14, f"extension offset {extoff} outside the packet (size {size})", LAYER,
                    "nhrp.extension-offset", "error")
        )
        mand_end = end
    else:
        mand_end = min(extoff, end)
        ext_start = extoff

    fields: dict[str, Any] = {}
    src_proto_len = dst_proto_len = flags_raw = 0
    request_id: int | None = None
    src_nbma = src_sub = src_proto = dst_proto = b""
    cies: tuple[Cie, ...] = ()
    try:
        head = _take(buf, FIXED_LEN, MANDATORY_LEN, mand_end, "mandatory header")
        src_proto_len, dst_proto_len, flags_raw = struct.unpack_from("!BBH", head)
        if type_code == ERROR_INDICATION:
            code, offset = struct.unpack_from("!HH", head, 4)
            fields.update(error_code=code, error_name=error_name(code), error_offset=offset)
        elif type_code == TRAFFIC_INDICATION:
            code, reserved = struct.unpack_from("!HH", head, 4)
            fields.update(
                traffic_code=code, traffic_name=traffic_name(code), traffic_reserved=reserved
            )
        else:
            request_id = struct.unpack_from("!I", head, 4)[0]
        pos = FIXED_LEN + MANDATORY_LEN
        # the four addresses in order; those past a truncation stay absent
        n = shtl & 0x3F
        src_nbma = _take(buf, pos, n, mand_end, "source NBMA address")
        _check_len(problems, pos, "source NBMA address", n, afn, _FAMILY_LEN)
        pos += n
        n = sstl & 0x3F
        src_sub = _take(buf, pos, n, mand_end, "source NBMA subaddress")
        pos += n
        n = src_proto_len
        src_proto = _take(buf, pos, n, mand_end, "source protocol address")
        _check_len(problems, pos, "source protocol address", n, protocol_type, _ETHERTYPE_LEN)
        pos += n
        n = dst_proto_len
        dst_proto = _take(buf, pos, n, mand_end, "destination protocol address")
        _check_len(problems, pos, "destination protocol address", n, protocol_type,
                   _ETHERTYPE_LEN)
        pos += n

        if type_code in (ERROR_INDICATION, TRAFFIC_INDICATION):
            raw = buf[pos:mand_end]
            fields["offending_raw"] = raw
            if type_code == TRAFFIC_INDICATION:
                fields["offending"] = _decode_ip_layers(raw, depth, quoted) if raw else None
            elif raw and depth < MAX_NESTING:
                # The inner packet's defects are its own, not this packet's.
                fields["offending"] = _decode(raw, depth + 1, quoted).record
        else:
            cies, _ = _decode_cies(buf, pos, mand_end, afn, protocol_type, problems)
    except Malformed as exc:
        problems.append(Problem(exc.offset, exc.reason, LAYER, exc.id, exc.severity))

    extensions: tuple[Extension, ...] = ()
    if ext_start is not None and ext_start < end:
        extensions = _decode_extensions(buf, ext_start, end, afn, protocol_type, problems)

    get = fields.get
    record = _new_packet(  # NhrpPacket's fields in order (PACKET_FIELDS)
        type_name(type_code), type_code, hop_count, checksum_ok, request_id,
        flag_names(type_code, flags_raw), addr_str(src_nbma) if src_nbma else None,
        addr_str(src_proto) if src_proto else None, addr_str(dst_proto) if dst_proto else None,
        cies, extensions, afn, protocol_type, snap, version, size, checksum, extoff, shtl, sstl,
        src_sub.hex() if src_sub else None, src_proto_len, dst_proto_len, flags_raw,
        get("error_code"), get("error_name"), get("error_offset"), get("traffic_code"),
        get("traffic_name"), get("traffic_reserved"), get("offending"),
        get("offending_raw", b""),
    )
    return Decoded(record, b"", problems, end)


# --------------------------------------------------------------------------- encoding


def _addr(s: str | None) -> bytes:
    return addr_bytes(s) if s else b""


def _unhex(s: str | None) -> bytes:
    return bytes.fromhex(s) if s else b""


def _tl(raw: int, n: int, what: str) -> int:
    """A type/length byte for ``n`` bytes, keeping the type and reserved bits of ``raw``."""
    if n > 0x3F:
        raise ValueError(f"{what} of {n} bytes does not fit a 6-bit length")
    return (raw & 0xC0) | n


def encode_cie(cie: Cie, *, fix_lengths: bool = True) -> bytes:
    nbma = _addr(cie.client_nbma)
    sub = _unhex(cie.client_nbma_subaddr)
    proto = _addr(cie.client_proto)
    if fix_lengths:
        nbma_tl = _tl(cie.client_nbma_tl, len(nbma), "CIE client NBMA address")
        sub_tl = _tl(cie.client_nbma_subaddr_tl, len(sub), "CIE client NBMA subaddress")
        if len(proto) > 0xFF:
            raise ValueError("CIE client protocol address longer than 255 bytes")
        proto_len = len(proto)
    else:
        nbma_tl, sub_tl, proto_len = (
            cie.client_nbma_tl,
            cie.client_nbma_subaddr_tl,
            cie.client_proto_len,
        )
    head = struct.pack(
        "!BBHHHBBBB",
        cie.code,
        cie.prefix_len,
        cie.reserved,
        cie.mtu,
        cie.holding_time,
        nbma_tl,
        sub_tl,
        proto_len,
        cie.preference,
    )
    return head + nbma + sub + proto


def _extension_body(ext: Extension, fix_lengths: bool) -> bytes:
    if isinstance(ext, CieListExtension):
        return b"".join(encode_cie(c, fix_lengths=fix_lengths) for c in ext.cies)
    if isinstance(ext, AuthenticationExtension):
        spi = b"" if ext.spi is None else ext.spi.to_bytes(4, "big")
        return spi + ext.data
    if isinstance(ext, VendorPrivateExtension):
        oui = b"" if ext.oui is None else ext.oui.to_bytes(3, "big")
        return oui + ext.data
    if isinstance(ext, DeviceCapabilitiesExtension):
        return struct.pack("!II", ext.source_capabilities, ext.target_capabilities)
    return ext.data  # End, Unknown


def encode_extension(ext: Extension, *, fix_lengths: bool = True) -> bytes:
    body = _extension_body(ext, fix_lengths)
    length = len(body) if fix_lengths else ext.length
    raw_type = ext.type | (COMPULSORY if ext.compulsory else 0)
    return struct.pack("!HH", raw_type, length) + body


def encode_nhrp(pkt: NhrpPacket, *, fix_lengths: bool = True, fix_checksum: bool = True) -> bytes:
    """The wire bytes of ``pkt``. With ``fix_lengths`` the packet size, extension
    offset and every length byte are computed (type bits of the type/length
    bytes are kept); without it the record's values are written as they are.
    With ``fix_checksum`` the checksum is computed, else ``pkt.checksum`` is written."""
    nbma = _addr(pkt.src_nbma)
    sub = _unhex(pkt.src_nbma_subaddr)
    sproto = _addr(pkt.src_proto)
    dproto = _addr(pkt.dst_proto)
    if fix_lengths:
        shtl = _tl(pkt.shtl, len(nbma), "source NBMA address")
        sstl = _tl(pkt.sstl, len(sub), "source NBMA subaddress")
        if len(sproto) > 0xFF or len(dproto) > 0xFF:
            raise ValueError("protocol address longer than 255 bytes")
        spl, dpl = len(sproto), len(dproto)
    else:
        shtl, sstl, spl, dpl = pkt.shtl, pkt.sstl, pkt.src_proto_len, pkt.dst_proto_len

    if pkt.type_code == ERROR_INDICATION:
        word = struct.pack("!HH", pkt.error_code or 0, pkt.error_offset or 0)
    elif pkt.type_code == TRAFFIC_INDICATION:
        word = struct.pack("!HH", pkt.traffic_code or 0, pkt.traffic_reserved or 0)
    else:
        word = struct.pack("!I", pkt.request_id or 0)
    mandatory = struct.pack("!BBH", spl, dpl, pkt.flags_raw) + word + nbma + sub + sproto + dproto
    if pkt.type_code in (ERROR_INDICATION, TRAFFIC_INDICATION):
        mandatory += pkt.offending_raw
    else:
        mandatory += b"".join(encode_cie(c, fix_lengths=fix_lengths) for c in pkt.cies)
    exts = b"".join(encode_extension(e, fix_lengths=fix_lengths) for e in pkt.extensions)

    if fix_lengths:
        size = FIXED_LEN + len(mandatory) + len(exts)
        if size > 0xFFFF:
            raise ValueError(f"NHRP packet of {size} bytes exceeds 65535")
        extoff = FIXED_LEN + len(mandatory) if pkt.extensions else 0
    else:
        size, extoff = pkt.packet_size, pkt.extension_offset
    if len(pkt.protocol_snap) != 5:
        raise ValueError("protocol_snap must be 5 bytes")

    fixed = bytearray(
        struct.pack(
            "!HH5sBHHHBBBB",
            pkt.afn,
            pkt.protocol_type,
            pkt.protocol_snap,
            pkt.hop_count,
            size,
            0 if fix_checksum else pkt.checksum,
            extoff,
            pkt.version,
            pkt.type_code,
            shtl,
            sstl,
        )
    )
    out = bytes(fixed) + mandatory + exts
    if fix_checksum:
        fixed[12:14] = internet_checksum(out).to_bytes(2, "big")
        out = bytes(fixed) + mandatory + exts
    return out


# --------------------------------------------------------------------------- builders


def make_cie(
    *,
    code: int = 0,
    prefix_len: int = 0,
    mtu: int = 0,
    holding_time: int = 0,
    preference: int = 0,
    client_nbma: str | None = None,
    client_nbma_subaddr: str | None = None,
    client_proto: str | None = None,
    reserved: int = 0,
) -> Cie:
    """A CIE with its name and length bytes filled in (NSAP type bits)."""
    return Cie(
        code=code,
        code_name=cie_code_name(code),
        prefix_len=prefix_len,
        mtu=mtu,
        holding_time=holding_time,
        preference=preference,
        client_nbma=client_nbma,
        client_nbma_subaddr=client_nbma_subaddr,
        client_proto=client_proto,
        reserved=reserved,
        client_nbma_tl=_tl(0, len(_addr(client_nbma)), "CIE client NBMA address"),
        client_nbma_subaddr_tl=_tl(0, len(_unhex(client_nbma_subaddr)), "CIE subaddress"),
        client_proto_len=len(_addr(client_proto)),
    )


def make_end_extension(*, compulsory: bool = True) -> EndExtension:
    return EndExtension(EXT_END, "end", compulsory, 0, b"")


def make_cie_extension(
    ext_type: int, cies: Iterable[Cie] = (), *, compulsory: bool | None = None
) -> CieListExtension:
    """Responder address (3), forward (4) / reverse (5) transit NHS record, Cisco
    NAT address (9). Compulsory by default except 9, as IOS sends them."""
    if ext_type not in _CIE_EXT_NAMES:
        raise ValueError(f"extension type {ext_type} does not carry CIEs")
    cies = tuple(cies)
    if compulsory is None:
        compulsory = ext_type != EXT_NAT_OR_CAPABILITIES
    length = sum(len(encode_cie(c)) for c in cies)
    return CieListExtension(ext_type, _CIE_EXT_NAMES[ext_type], compulsory, length, cies)


def make_auth_extension(
    *,
    spi: int | None = 1,
    password: str | None = None,
    data: bytes | None = None,
    mobile: bool = False,
    compulsory: bool = True,
) -> AuthenticationExtension:
    """Cisco-style cleartext authentication (SPI 1 + password), or any ``data``.
    ``mobile`` makes it RFC 2520's Mobile NHC authentication (type 10)."""
    if data is None:
        data = (password or "").encode("ascii")
    ext_type = EXT_MOBILE_AUTHENTICATION if mobile else EXT_AUTHENTICATION
    length = (0 if spi is None else 4) + len(data)
    password = None if spi is None else _password(data)  # as the decoder reads a short body
    return AuthenticationExtension(
        ext_type, _AUTH_EXT_NAMES[ext_type], compulsory, length, spi, password, data
    )


def make_vendor_extension(
    oui: int | None, data: bytes = b"", *, compulsory: bool = False
) -> VendorPrivateExtension:
    length = (0 if oui is None else 3) + len(data)
    return VendorPrivateExtension(
        EXT_VENDOR_PRIVATE, "vendor-private", compulsory, length, oui, data
    )


def make_device_capabilities_extension(
    source_capabilities: int, target_capabilities: int, *, compulsory: bool = False
) -> DeviceCapabilitiesExtension:
    return DeviceCapabilitiesExtension(
        EXT_NAT_OR_CAPABILITIES,
        "device-capabilities",
        compulsory,
        8,
        source_capabilities,
        target_capabilities,
        bool(source_capabilities & 1),
        bool(target_capabilities & 1),
    )


def make_unknown_extension(
    ext_type: int, data: bytes = b"", *, compulsory: bool = False
) -> UnknownExtension:
    if ext_type in EXTENSION_NAMES or ext_type == EXT_NAT_OR_CAPABILITIES:
        raise ValueError(f"extension type {ext_type} is known; use its own builder")
    return UnknownExtension(ext_type, "unknown", compulsory, len(data), data)


def _family(addr: str | None, v4: int, v6: int, what: str) -> int:
    n = len(_addr(addr))
    if n == 4:
        return v4
    if n == 16:
        return v6
    raise ValueError(f"cannot infer the {what} from {addr!r}; pass it explicitly")


def make_packet(
    type: str | int,
    *,
    hop_count: int = 255,
    request_id: int = 0,
    flags: Iterable[str] | int = (),
    src_nbma: str | None = None,
    src_nbma_subaddr: str | None = None,
    src_proto: str | None = None,
    dst_proto: str | None = None,
    cies: Iterable[Cie] = (),
    extensions: Iterable[Extension] = (),
    afn: int | None = None,
    protocol_type: int | None = None,
    protocol_snap: bytes = b"\0" * 5,
    version: int = 1,
    shtl_type: int = 0,
    sstl_type: int = 0,
    error_code: int = 0,
    error_offset: int = 0,
    traffic_code: int = 0,
    traffic_reserved: int = 0,
    offending: NhrpPacket | None = None,
    offending_raw: bytes | None = None,
    quoted: QuotedDecoder | None = None,
) -> NhrpPacket:
    """A consistent packet record: names, lengths, size, offset and checksum
    computed. ``type`` is a name or a number; ``flags`` names or a raw value;
    ``afn``/``protocol_type`` default from the address lengths. An error
    indication takes the packet in error as ``offending`` (a record) or
    ``offending_raw``; a traffic indication the IP packet as ``offending_raw``.
    ``shtl_type``/``sstl_type`` are the high bits (0x40 = E.164) of shtl/sstl.
    ``quoted``: what decodes a traffic indication's packet (``decode_nhrp``)."""
    type_code = TYPE_CODES[type] if isinstance(type, str) else type
    flags_raw = flags if isinstance(flags, int) else flags_value(type_code, flags)
    if afn is None:
        afn = _family(src_nbma, AFN_IPV4, AFN_IPV6, "address family (afn)")
    if protocol_type is None:
        protocol_type = _family(
            src_proto or dst_proto, ETHERTYPE_IPV4, ETHERTYPE_IPV6, "protocol type"
        )
    fields: dict[str, Any] = {}
    raw = b""
    if type_code == ERROR_INDICATION:
        if offending_raw is None:
            offending_raw = encode_nhrp(offending) if offending is not None else b""
        raw = offending_raw
        fields.update(
            error_code=error_code,
            error_name=error_name(error_code),
            error_offset=error_offset,
            offending_raw=raw,
            offending=_decode(raw, 1, quoted).record if raw else None,
        )
    elif type_code == TRAFFIC_INDICATION:
        raw = offending_raw or b""
        fields.update(
            traffic_code=traffic_code,
            traffic_name=traffic_name(traffic_code),
            traffic_reserved=traffic_reserved,
            offending_raw=raw,
            offending=_decode_ip_layers(raw, 0, quoted) if raw else None,
        )
    cies = () if type_code in (ERROR_INDICATION, TRAFFIC_INDICATION) else tuple(cies)
    extensions = tuple(extensions)
    src_sub = _unhex(src_nbma_subaddr)
    draft = NhrpPacket(
        type=type_name(type_code),
        type_code=type_code,
        hop_count=hop_count,
        checksum_ok=True,
        request_id=None if type_code in (ERROR_INDICATION, TRAFFIC_INDICATION) else request_id,
        flags=flag_names(type_code, flags_raw),
        src_nbma=src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        cies=cies,
        extensions=extensions,
        afn=afn,
        protocol_type=protocol_type,
        protocol_snap=protocol_snap,
        version=version,
        packet_size=0,
        checksum=0,
        extension_offset=0,
        shtl=_tl(shtl_type, len(_addr(src_nbma)), "source NBMA address"),
        sstl=_tl(sstl_type, len(src_sub), "source NBMA subaddress"),
        src_nbma_subaddr=src_nbma_subaddr,
        src_proto_len=len(_addr(src_proto)),
        dst_proto_len=len(_addr(dst_proto)),
        flags_raw=flags_raw,
        **fields,
    )
    wire = encode_nhrp(draft)
    size, checksum, extoff = struct.unpack_from("!HHH", wire, 10)
    return replace(draft, packet_size=size, checksum=checksum, extension_offset=extoff)
