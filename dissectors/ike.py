"""IKE's fixed header: ISAKMP (RFC 2408, IKEv1) and IKEv2 (RFC 7296 3.1).

Both versions share the layout (28 bytes)::

    Initiator SPI / cookie (8) | Responder SPI / cookie (8) | Next Payload (1)
    | Major Version (4 bits) | Minor Version (4 bits) | Exchange Type (1)
    | Flags (1) | Message ID (4) | Length (4, whole message)

What follows is a chain of payloads (encrypted after the first exchange).
``decode_ike`` reads the header only; ``decode_ike_message`` also decodes
the clear payloads (``dissectors.ike_payloads``) into the record's
``payloads``: SA proposals and transforms by name, KE, nonces, vendor IDs,
NAT-D, notifies, deletes, and what is encrypted shown as such (IKEv1 bodies
with the E flag, IKEv2 SK and SKF payloads). ``encode_ike_message`` is its
inverse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from nhrpscope.dissectors import ike_payloads as _P
from nhrpscope.dissectors.base import Decoded, Layer, Problem

__all__ = [
    "IkeHeader",
    "decode_ike",
    "encode_ike",
    "decode_ike_message",
    "encode_ike_message",
    "make_ike_header",
    "exchange_name",
    "flag_names",
    "HEADER_LEN",
]

HEADER_LEN = 28

# IANA "ISAKMP Exchange Types" (RFC 2408, 2409) and IKEv2 "Exchange Types".
IKEV1_EXCHANGES = {
    0: "none",
    1: "base",
    2: "main-mode",  # Identity Protection
    3: "authentication-only",
    4: "aggressive-mode",
    5: "informational",
    6: "transaction",  # Config Mode (draft-ietf-ipsec-isakmp-mode-cfg)
    32: "quick-mode",
    33: "new-group-mode",
}
IKEV2_EXCHANGES = {
    34: "ike-sa-init",
    35: "ike-auth",
    36: "create-child-sa",
    37: "informational",
    38: "ike-session-resume",  # RFC 5723
    39: "gsa-auth",
    40: "gsa-registration",
    41: "gsa-rekey",
    43: "ike-intermediate",  # RFC 9242
    44: "ike-followup-ke",  # RFC 9370
}
# Flag bits: IKEv1 (RFC 2408 3.1), IKEv2 (RFC 7296 3.1).
IKEV1_FLAGS = ((0x01, "encryption"), (0x02, "commit"), (0x04, "authentication-only"))
IKEV2_FLAGS = ((0x08, "initiator"), (0x10, "version"), (0x20, "response"))


def exchange_name(version: int, exchange_type: int) -> str:
    table = IKEV2_EXCHANGES if version == 2 else IKEV1_EXCHANGES
    name = table.get(exchange_type)
    if name is not None:
        return name
    if version == 1 and 240 <= exchange_type <= 255:
        return f"private-{exchange_type}"
    return f"type-{exchange_type}"


def flag_names(version: int, bits: int) -> tuple[str, ...]:
    table = IKEV2_FLAGS if version == 2 else IKEV1_FLAGS
    names = [name for bit, name in table if bits & bit]
    rest = bits & ~sum(bit for bit, _ in table) & 0xFF
    if rest:
        names.append(f"0x{rest:02x}")
    return tuple(names)


@dataclass(frozen=True, slots=True)
class IkeHeader(Layer):
    """IKE header. ``version`` is the major version (1 = ISAKMP/IKEv1,
    2 = IKEv2); the SPIs (cookies, in IKEv1) are 16 hex digits.
    ``payloads``: the decoded payload chain (``decode_ike_message``); empty
    when only the header was read."""

    proto = "ike"
    version: int
    minor_version: int
    exchange: str
    exchange_type: int
    initiator_spi: str
    responder_spi: str
    flags: tuple[str, ...]
    flag_bits: int
    message_id: int
    length: int
    next_payload: int
    payloads: tuple = ()

    @property
    def is_response(self) -> bool:
        """IKEv2 only: the R flag."""
        return bool(self.flag_bits & 0x20) if self.version == 2 else False

    @property
    def encrypted(self) -> bool:
        """IKEv1: the E flag; IKEv2: an SK or SKF payload."""
        if self.version == 1:
            return bool(self.flag_bits & 0x01)
        return any(isinstance(p, (_P.EncryptedPayload, _P.EncryptedFragmentPayload))
                   for p in self.payloads)


def make_ike_header(version: int, exchange_type: int, initiator_spi: bytes | str,
                    responder_spi: bytes | str = bytes(8), *, flag_bits: int = 0,
                    message_id: int = 0, next_payload: int = 0, length: int = HEADER_LEN,
                    minor_version: int = 0) -> IkeHeader:
    """A header record with the derived fields (names) filled in."""

    def spi(v: bytes | str) -> str:
        b = bytes.fromhex(v) if isinstance(v, str) else bytes(v)
        if len(b) != 8:
            raise ValueError("an IKE SPI is 8 bytes")
        return b.hex()

    return IkeHeader(version, minor_version, exchange_name(version, exchange_type), exchange_type,
                     spi(initiator_spi), spi(responder_spi), flag_names(version, flag_bits),
                     flag_bits, message_id, length, next_payload)


def decode_ike(buf: bytes) -> Decoded:
    """The header; the payload is the message body after it (as far as
    ``length`` says and the capture has). Never raises."""
    buf = bytes(buf)
    n = len(buf)
    if n < HEADER_LEN:
        return Decoded(None, b"", [Problem(0, f"IKE header cut short ({n} of {HEADER_LEN} bytes)",
                                           "ike", "ike.truncated", "error")])
    ispi, rspi, next_payload, ver, xtype, flags, msgid, length = struct.unpack_from(
        "!8s8sBBBBII", buf)
    major, minor = ver >> 4, ver & 15
    rec = IkeHeader(major, minor, exchange_name(major, xtype), xtype, ispi.hex(), rspi.hex(),
                    flag_names(major, flags), flags, msgid, length, next_payload)
    problems: list[Problem] = []
    if major not in (1, 2):
        problems.append(Problem(17, f"IKE major version {major} (not 1 or 2)", "ike",
                                "ike.version", "error"))
    if ispi == bytes(8):
        problems.append(Problem(0, "initiator SPI is zero", "ike", "ike.spi-zero", "warning"))
    end = length
    if length < HEADER_LEN:
        problems.append(Problem(24, f"IKE length {length} is less than the header", "ike",
                                "ike.length", "error"))
        end = n
    elif length > n:
        problems.append(Problem(24, f"IKE length {length} but only {n} bytes captured", "ike",
                                "ike.length", "error"))
        end = n
    elif length < n:
        problems.append(Problem(length, f"{n - length} bytes after the IKE message", "ike",
                                "ike.trailing", "warning"))
    return Decoded(rec, buf[HEADER_LEN:end], problems, HEADER_LEN)


def encode_ike(hdr: IkeHeader, body: bytes = b"", *, fix_length: bool = True) -> bytes:
    """Header + body. ``fix_length`` writes the real length (28 + body);
    without it the record's ``length`` is written as is."""
    length = HEADER_LEN + len(body) if fix_length else hdr.length
    return struct.pack("!8s8sBBBBII", bytes.fromhex(hdr.initiator_spi),
                       bytes.fromhex(hdr.responder_spi), hdr.next_payload,
                       (hdr.version & 15) << 4 | (hdr.minor_version & 15), hdr.exchange_type,
                       hdr.flag_bits, hdr.message_id, length) + bytes(body)


def decode_ike_message(buf: bytes) -> Decoded:
    """The header and its clear payloads (``IkeHeader.payloads``). Never
    raises; payload problems have offsets from the start of the message."""
    d = decode_ike(buf)
    rec = d.record
    if rec is None or rec.version not in (1, 2):
        return d
    body = d.payload
    payloads, problems = _P.decode_payloads(rec.version, rec.next_payload, body,
                                            encrypted=rec.version == 1 and bool(rec.flag_bits & 1))
    d.problems.extend(p.shifted(HEADER_LEN) for p in problems)
    return Decoded(replace(rec, payloads=tuple(payloads)), b"", d.problems, HEADER_LEN)


def encode_ike_message(hdr: IkeHeader, payloads: list | tuple | None = None) -> bytes:
    """Header + the payload chain (``payloads``, default the record's own):
    next payload and lengths computed."""
    pl = hdr.payloads if payloads is None else payloads
    first, body = _P.encode_payloads(hdr.version, tuple(pl))
    return encode_ike(replace(hdr, next_payload=first), body)


def payload_summary(hdr: IkeHeader) -> str:
    """The payload chain in one line, as an engineer reads it:
    ``SA KE Nonce N(NAT_DETECTION_SOURCE_IP) V(RFC 3706 DPD) ...``."""
    out = []
    for p in hdr.payloads:
        name = getattr(p, "payload", "") or type(p).__name__
        if isinstance(p, _P.NotifyPayload):
            out.append(f"N({p.name or p.notify_type})")
        elif isinstance(p, _P.VendorIdPayload):
            out.append(f"V({p.name})" if p.name else "V")
        elif isinstance(p, _P.EncryptedBody):
            out.append(f"<encrypted {len(p.data)} bytes>")
        elif isinstance(p, _P.EncryptedPayload):
            out.append(f"SK<encrypted {len(p.data)} bytes>")
        elif isinstance(p, _P.EncryptedFragmentPayload):
            out.append(f"SKF({p.fragment_number}/{p.total_fragments})")
        elif isinstance(p, _P.DeletePayload):
            out.append(f"D({len(p.spis)} SPI{'s' if len(p.spis) != 1 else ''})")
        elif isinstance(p, _P.SaPayload):
            ts = [_P.transform_summary(hdr.version, t) for pr in p.proposals for t in pr.transforms]
            out.append(f"SA[{'; '.join(x for x in ts if x)}]" if any(ts) else "SA")
        else:
            out.append(name)
    return " ".join(out)
