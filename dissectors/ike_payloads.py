"""IKE payloads: ISAKMP/IKEv1 (RFC 2408, 2409, 3947) and IKEv2 (RFC 7296).

The chain after the fixed header (``dissectors.ike``) is a list of payloads,
each with the generic header::

    Next Payload (1) | Critical + reserved (1) | Payload Length (2, with header) | body

Decoded here: Security Association (with proposals, transforms and their
attributes), Key Exchange, Nonce, Vendor ID, NAT-D (RFC 3947), Hash,
Identification, Notification/Notify, and IKEv2's Encrypted and Authenticated
(SK: the bytes as they are, IV + ciphertext + ICV). Anything else is kept as
``GenericPayload``. ``decode_payloads`` never raises: what it cannot read is
a ``Problem``; ``encode_payloads`` is its inverse (it computes the next
payload numbers and lengths).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dissectors.base import Malformed, Problem

__all__ = [
    "Attribute", "Transform", "Proposal", "SaPayload", "KePayload", "NoncePayload",
    "VendorIdPayload", "NatDPayload", "HashPayload", "IdPayload", "NotifyPayload",
    "EncryptedPayload", "GenericPayload", "Payload", "decode_payloads", "encode_payloads",
    "payload_name", "V1", "V2",
]

LAYER = "ike"

# IKEv1 payload types (RFC 2408 3.1, RFC 3947) and IKEv2 (RFC 7296 3.2).
V1 = {"SA": 1, "P": 2, "T": 3, "KE": 4, "ID": 5, "CERT": 6, "CR": 7, "HASH": 8, "SIG": 9,
      "NONCE": 10, "N": 11, "D": 12, "VID": 13, "NAT-D": 20, "NAT-OA": 21}
V2 = {"SA": 33, "KE": 34, "IDi": 35, "IDr": 36, "CERT": 37, "CERTREQ": 38, "AUTH": 39,
      "Nonce": 40, "N": 41, "D": 42, "V": 43, "TSi": 44, "TSr": 45, "SK": 46, "CP": 47, "EAP": 48}
_NAMES = {1: {v: k for k, v in V1.items()}, 2: {v: k for k, v in V2.items()}}


def payload_name(version: int, ptype: int) -> str:
    return _NAMES.get(version, {}).get(ptype, f"type-{ptype}")


@dataclass(frozen=True, slots=True)
class Attribute:
    """A data attribute (RFC 2408 3.3 / RFC 7296 3.3.5): TV when ``value``
    is an int (the AF bit set, 2-byte value), TLV when it is bytes."""

    type: int
    value: int | bytes


@dataclass(frozen=True, slots=True)
class Transform:
    """IKEv1: ``number`` is the transform #, ``transform_type`` 0.
    IKEv2: ``transform_type`` is ENCR/PRF/INTEG/DH/ESN (1..5), ``number`` 0."""

    number: int
    transform_type: int
    transform_id: int
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True, slots=True)
class Proposal:
    number: int
    protocol_id: int  # 1 ISAKMP/IKE, 3 ESP
    spi: bytes
    transforms: tuple[Transform, ...]


@dataclass(frozen=True, slots=True)
class SaPayload:
    proposals: tuple[Proposal, ...]
    doi: int | None = 1  # IKEv1 only (1 = IPsec DOI); None for IKEv2
    situation: int | None = 1  # IKEv1 only (1 = SIT_IDENTITY_ONLY)
    critical: bool = False


@dataclass(frozen=True, slots=True)
class KePayload:
    data: bytes
    dh_group: int | None = None  # IKEv2 only
    critical: bool = False


@dataclass(frozen=True, slots=True)
class NoncePayload:
    data: bytes
    critical: bool = False


@dataclass(frozen=True, slots=True)
class VendorIdPayload:
    data: bytes
    critical: bool = False


@dataclass(frozen=True, slots=True)
class NatDPayload:
    """RFC 3947 NAT-Discovery: HASH(CKY-I | CKY-R | IP | Port)."""

    hash: bytes
    critical: bool = False


@dataclass(frozen=True, slots=True)
class HashPayload:
    data: bytes
    critical: bool = False


@dataclass(frozen=True, slots=True)
class IdPayload:
    """IKEv1 ID (type 5): id type, protocol, port; IKEv2 IDi/IDr: id type
    and three reserved bytes (``protocol``/``port`` 0)."""

    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0
    responder: bool = False  # IKEv2: IDr rather than IDi
    critical: bool = False


@dataclass(frozen=True, slots=True)
class NotifyPayload:
    notify_type: int
    protocol_id: int = 0
    spi: bytes = b""
    data: bytes = b""
    doi: int | None = None  # IKEv1 only
    critical: bool = False


@dataclass(frozen=True, slots=True)
class EncryptedPayload:
    """IKEv2 SK (type 46): IV, ciphertext and ICV, undivided (their sizes
    depend on the negotiated algorithms). ``inner`` is the type of the first
    payload inside, carried in this payload's own next-payload field."""

    data: bytes
    inner: int
    critical: bool = False


@dataclass(frozen=True, slots=True)
class GenericPayload:
    type: int
    data: bytes
    critical: bool = False


Payload = (SaPayload | KePayload | NoncePayload | VendorIdPayload | NatDPayload | HashPayload
           | IdPayload | NotifyPayload | EncryptedPayload | GenericPayload)


# -- attributes, transforms, proposals ----------------------------------------------


def _enc_attrs(attrs: tuple[Attribute, ...]) -> bytes:
    out = b""
    for a in attrs:
        if isinstance(a.value, int):
            out += struct.pack("!HH", 0x8000 | a.type, a.value)
        else:
            out += struct.pack("!HH", a.type & 0x7FFF, len(a.value)) + a.value
    return out


def _dec_attrs(buf: bytes, pos: int, end: int) -> tuple[Attribute, ...]:
    out = []
    while pos < end:
        if pos + 4 > end:
            raise Malformed(pos, "attribute cut short")
        t, v = struct.unpack_from("!HH", buf, pos)
        pos += 4
        if t & 0x8000:
            out.append(Attribute(t & 0x7FFF, v))
        else:
            if pos + v > end:
                raise Malformed(pos, f"attribute value of {v} bytes runs past its transform")
            out.append(Attribute(t, bytes(buf[pos: pos + v])))
            pos += v
    return tuple(out)


def _enc_proposals(version: int, props: tuple[Proposal, ...]) -> bytes:
    out = b""
    for i, p in enumerate(props):
        tbody = b""
        for j, t in enumerate(p.transforms):
            more = 3 if j + 1 < len(p.transforms) else 0
            attrs = _enc_attrs(t.attributes)
            if version == 1:
                tb = struct.pack("!BBHBBH", more, 0, 8 + len(attrs), t.number, t.transform_id, 0) + attrs
            else:
                tb = struct.pack("!BBHBBH", more, 0, 8 + len(attrs), t.transform_type, 0,
                                 t.transform_id) + attrs
            tbody += tb
        more = 2 if i + 1 < len(props) else 0
        out += struct.pack("!BBHBBBB", more, 0, 8 + len(p.spi) + len(tbody), p.number, p.protocol_id,
                           len(p.spi), len(p.transforms)) + p.spi + tbody
    return out


def _dec_proposals(version: int, buf: bytes, pos: int, end: int) -> tuple[Proposal, ...]:
    props = []
    while pos < end:
        if pos + 8 > end:
            raise Malformed(pos, "proposal header cut short")
        more, _res, plen, num, proto, spi_size, ntrans = struct.unpack_from("!BBHBBBB", buf, pos)
        pend = pos + plen
        if plen < 8 or pend > end:
            raise Malformed(pos + 2, f"proposal length {plen} does not fit its SA payload")
        q = pos + 8
        spi = bytes(buf[q: q + spi_size])
        q += spi_size
        trans = []
        while q < pend:
            if q + 8 > pend:
                raise Malformed(q, "transform header cut short")
            _tm, _r, tlen, a, b, c = struct.unpack_from("!BBHBBH", buf, q)
            tend = q + tlen
            if tlen < 8 or tend > pend:
                raise Malformed(q + 2, f"transform length {tlen} does not fit its proposal")
            attrs = _dec_attrs(buf, q + 8, tend)
            trans.append(Transform(a, 0, b, attrs) if version == 1 else Transform(0, a, c, attrs))
            q = tend
        if len(trans) != ntrans:
            raise Malformed(pos + 7, f"proposal says {ntrans} transforms, has {len(trans)}")
        props.append(Proposal(num, proto, spi, tuple(trans)))
        pos = pend
        if more == 0 and pos < end:
            raise Malformed(pos, "bytes after the last proposal")
    return tuple(props)


# -- payload bodies -----------------------------------------------------------------


def _type_of(version: int, p: Payload) -> int:
    v1 = version == 1
    if isinstance(p, SaPayload):
        return 1 if v1 else 33
    if isinstance(p, KePayload):
        return 4 if v1 else 34
    if isinstance(p, NoncePayload):
        return 10 if v1 else 40
    if isinstance(p, VendorIdPayload):
        return 13 if v1 else 43
    if isinstance(p, NatDPayload):
        return 20
    if isinstance(p, HashPayload):
        return 8
    if isinstance(p, IdPayload):
        return 5 if v1 else (36 if p.responder else 35)
    if isinstance(p, NotifyPayload):
        return 11 if v1 else 41
    if isinstance(p, EncryptedPayload):
        return 46
    return p.type


def _body(version: int, p: Payload) -> bytes:
    if isinstance(p, SaPayload):
        head = struct.pack("!II", p.doi or 0, p.situation or 0) if version == 1 else b""
        return head + _enc_proposals(version, p.proposals)
    if isinstance(p, KePayload):
        return (struct.pack("!HH", p.dh_group or 0, 0) if version == 2 else b"") + p.data
    if isinstance(p, NatDPayload):
        return p.hash
    if isinstance(p, IdPayload):
        if version == 1:
            return struct.pack("!BBH", p.id_type, p.protocol, p.port) + p.data
        return struct.pack("!B3x", p.id_type) + p.data
    if isinstance(p, NotifyPayload):
        if version == 1:
            return struct.pack("!IBBH", p.doi or 1, p.protocol_id, len(p.spi), p.notify_type) + p.spi + p.data
        return struct.pack("!BBH", p.protocol_id, len(p.spi), p.notify_type) + p.spi + p.data
    return p.data  # Nonce, VID, Hash, SK, generic


def encode_payloads(version: int, payloads: list[Payload] | tuple[Payload, ...]) -> tuple[int, bytes]:
    """(type of the first payload, for the header's Next Payload; the chain)."""
    types = [_type_of(version, p) for p in payloads]
    out = b""
    for i, p in enumerate(payloads):
        body = _body(version, p)
        if isinstance(p, EncryptedPayload):
            nxt = p.inner  # SK's next payload names the first payload inside it
        else:
            nxt = types[i + 1] if i + 1 < len(payloads) else 0
        out += struct.pack("!BBH", nxt, 0x80 if p.critical else 0, 4 + len(body)) + body
    return (types[0] if types else 0), out


def _decode_one(version: int, ptype: int, crit: bool, nxt: int, body: bytes, off: int) -> Payload:
    v1 = version == 1
    if ptype == (1 if v1 else 33):
        if v1:
            if len(body) < 8:
                raise Malformed(off, "SA payload shorter than DOI and situation")
            doi, sit = struct.unpack_from("!II", body)
            return SaPayload(_dec_proposals(1, body, 8, len(body)), doi, sit, crit)
        return SaPayload(_dec_proposals(2, body, 0, len(body)), None, None, crit)
    if ptype == (4 if v1 else 34):
        if v1:
            return KePayload(body, None, crit)
        if len(body) < 4:
            raise Malformed(off, "KE payload shorter than its group field")
        return KePayload(body[4:], struct.unpack_from("!H", body)[0], crit)
    if ptype == (10 if v1 else 40):
        return NoncePayload(body, crit)
    if ptype == (13 if v1 else 43):
        return VendorIdPayload(body, crit)
    if v1 and ptype == 20:
        return NatDPayload(body, crit)
    if v1 and ptype == 8:
        return HashPayload(body, crit)
    if ptype in ((5,) if v1 else (35, 36)):
        if len(body) < 4:
            raise Malformed(off, "ID payload shorter than 4 bytes")
        if v1:
            t, proto, port = struct.unpack_from("!BBH", body)
            return IdPayload(t, body[4:], proto, port, False, crit)
        return IdPayload(body[0], body[4:], 0, 0, ptype == 36, crit)
    if ptype == (11 if v1 else 41):
        if v1:
            if len(body) < 8:
                raise Malformed(off, "notification payload cut short")
            doi, proto, spi_size, nt = struct.unpack_from("!IBBH", body)
            spi = body[8: 8 + spi_size]
            if len(spi) < spi_size:
                raise Malformed(off + 8, "notification SPI cut short")
            return NotifyPayload(nt, proto, spi, body[8 + spi_size:], doi, crit)
        if len(body) < 4:
            raise Malformed(off, "notify payload cut short")
        proto, spi_size, nt = struct.unpack_from("!BBH", body)
        spi = body[4: 4 + spi_size]
        if len(spi) < spi_size:
            raise Malformed(off + 4, "notify SPI cut short")
        return NotifyPayload(nt, proto, spi, body[4 + spi_size:], None, crit)
    if not v1 and ptype == 46:
        return EncryptedPayload(body, nxt, crit)
    return GenericPayload(ptype, body, crit)


def decode_payloads(version: int, first: int, buf: bytes) -> tuple[list[Payload], list[Problem]]:
    """The payload chain starting with type ``first``. Never raises; stops at
    an encrypted IKEv2 SK payload (what follows is inside it)."""
    buf = bytes(buf)
    out: list[Payload] = []
    problems: list[Problem] = []
    pos, ptype = 0, first
    while ptype != 0 and len(out) < 64:
        if pos + 4 > len(buf):
            problems.append(Problem(pos, f"{payload_name(version, ptype)} payload header cut short", LAYER))
            break
        nxt, crit, plen = struct.unpack_from("!BBH", buf, pos)
        if plen < 4 or pos + plen > len(buf):
            problems.append(Problem(pos + 2, f"{payload_name(version, ptype)} payload length {plen} does "
                                    f"not fit the {len(buf) - pos} bytes left", LAYER))
            break
        body = buf[pos + 4: pos + plen]
        try:
            out.append(_decode_one(version, ptype, bool(crit & 0x80), nxt, body, pos + 4))
        except Malformed as e:
            problems.append(Problem(pos + 4 + e.offset, e.reason, LAYER))
            out.append(GenericPayload(ptype, body, bool(crit & 0x80)))
        pos += plen
        if ptype == 46 and version == 2:
            break
        ptype = nxt
    if pos < len(buf) and not (out and isinstance(out[-1], EncryptedPayload)):
        problems.append(Problem(pos, f"{len(buf) - pos} bytes after the last payload", LAYER))
    return out, problems
