"""ESP (RFC 4303): the header, and with a Security Association, the payload.

Wire format::

    SPI (4) | Sequence Number (4) | IV (per algorithm) | ciphertext of
    [payload | padding | pad length (1) | next header (1)] | ICV (per algorithm)

``decode_esp(buf, sa)`` reads SPI and sequence number always; given an SA it
checks the ICV, decrypts, checks the trailer and hands back the inner
payload (GRE/UDP/... in transport mode, an IPv4/IPv6 packet in tunnel mode:
next header 4/41). ``encode_esp`` is its inverse, for the generator.

Honest results. A decryption is reported only when it is shown to be right:

- by the ICV of a combined mode (AES-GCM, ChaCha20-Poly1305), which covers
  the plaintext;
- otherwise (CBC/CTR ciphers, whose ICV, even when it checks, proves only the
  integrity key) by the trailer and the inner header together: the pad
  length fits, the padding is RFC 4303's default 1, 2, 3 ..., the next
  header is one ``plausible_inner`` can check and the inner header passes
  it. Random bytes pass all three about once in millions. (With a verified
  ICV, a few protocols we cannot check, ``UNCHECKED_PROTOCOLS``, pass on
  next header and at least two bytes of default padding.)

Anything else is ``status="decryption-failed"`` with an empty payload: a
wrong key never turns into invented layers.

Extended sequence numbers (RFC 4303 2.2.1): the high 32 bits never go on the
wire but enter the ICV (appended after the packet for a separate integrity
algorithm, in the AAD of a combined mode). They come from the SA when it
says (``esn``, ``seq_hi``, as ``ip xfrm state`` shows ``flag esn`` and
``seq-hi``); otherwise the ICV finds them, trying the last value seen, its
neighbours across a wrap of the low 32 bits, and 0..3. An SA that does not
say ESN is tried without first, then with. The SA's ``esn_hint`` remembers
the last verified (high bits, low bits) so a long capture follows the wrap;
it is the only state a decoder ever changes that bears on a result, a
cache that orders the guesses (see ``SecurityAssociation``); the other,
``ops``, only keeps the SA's cipher and HMAC contexts (``SaOps``).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nhrpscope.dissectors.base import Decoded, Layer, Problem, addr_str, internet_checksum
from nhrpscope.dissectors.esp_algorithms import (
    ENCRYPTION,
    INTEGRITY,
    EncAlgorithm,
    can_verify,
    check_key_length,
    decrypt,
    encrypt,
    hmac_context,
    icv,
    split_keymat,
)

__all__ = [
    "ESP_HEADER",
    "SaOps",
    "EspFixed",
    "EspHeader",
    "peek_esp",
    "SecurityAssociation",
    "decode_esp",
    "encode_esp",
    "plausible_inner",
    "MAX_SMALL_SEQ_HI",
    "UNCHECKED_PROTOCOLS",
    "GRE_KNOWN_PROTOCOLS",
    "NULL_ICV_LENGTHS",
    "NULL_NEXT_HEADERS",
    "guess_null",
    "decode_esp_null",
]

# Highest ESN high word tried blindly (besides the SA's own and the hint's).
MAX_SMALL_SEQ_HI = 3

_MODES = (None, "transport", "tunnel", "beet")

# RFC 4303 2: the SPI and the sequence number, in the clear before the rest.
ESP_HEADER = struct.Struct("!II")
ESP_HEADER_LEN = 8


class EspFixed(NamedTuple):
    """ESP's clear fields (``peek_esp``); ``EspPeek`` opens what follows."""

    spi: int
    seq: int


def peek_esp(buf: bytes, off: int = 0) -> EspFixed | None:
    """The SPI and sequence number at ``buf[off:]``, or None when cut short."""
    if len(buf) < off + ESP_HEADER_LEN:
        return None
    return EspFixed(*ESP_HEADER.unpack_from(buf, off))


@dataclass(frozen=True, slots=True)
class EspHeader(Layer):
    """An ESP packet as decoded. ``status``: "no-key" (no SA was given),
    "decrypted", "decryption-failed" (wrong key, or bytes that are not ESP),
    "truncated" (too short for the header or for the SA's algorithms),
    "null-heuristic" (no key, but NULL encryption recognised: ``decode_esp_null``)."""

    proto = "esp"
    spi: int
    seq: int | None
    decrypted: bool = False
    icv_ok: bool | None = None  # None: not checked (no SA, no key, or no ICV)
    next_header: int | None = None
    status: str = "no-key"
    pad_len: int | None = None
    iv: bytes = b""
    seq_hi: int | None = None  # ESN high 32 bits, when known
    sa_desc: str | None = None  # e.g. "aes128-cbc+hmac-sha1-96"
    # NULL encryption (RFC 2410) recognised without a key (``decode_esp_null``):
    # status "null-heuristic", the payload read in the clear, the ICV unchecked
    null_heuristic: bool = False


@dataclass(slots=True)
class SecurityAssociation:
    """One ESP SA: what decrypts (or encrypts) one direction of traffic.

    ``spi``/``src``/``dst`` None are wildcards. Algorithms use the names of
    ``dissectors.esp_algorithms``; ``enc_key`` is the whole key material
    (with the RFC 3686 nonce or RFC 4106/7634 salt at its end). ``auth_key``
    None means the integrity key is unknown: the SA is then normalized to
    integrity "unknown" with the ICV length kept, so the ICV is skipped.
    ``icv_len`` is derived from the algorithms; give it only for "unknown".

    Equality compares what decides decryption: SPI, addresses, algorithms,
    keys, ICV length. ``esn``/``seq_hi`` (a starting guess: the ICV finds
    the high bits anyway), ``mode``, ``encap`` and ``origin`` (file:line,
    for messages) are carried but not compared.

    ``esn_hint`` is the only mutable state and the only state a decoder
    changes: after an ICV-verified packet it holds (high bits or None for
    "no ESN", low bits) of the highest sequence number seen, so the next
    packet tries the right high bits first and follows a wrap of the low
    32 bits. It never makes a wrong ICV pass; it only orders the guesses.
    ``ops`` is a cache beside it, filled on the first decode: the cipher
    and HMAC contexts made from the keys (``SaOps``), so each packet does
    not make them again; it changes no result.
    """

    spi: int | None
    src: str | None
    dst: str | None
    encryption: str
    enc_key: bytes = field(default=b"", repr=False)
    integrity: str = "null"
    auth_key: bytes | None = field(default=b"", repr=False)
    icv_len: int | None = None
    esn: bool = field(default=False, compare=False)
    seq_hi: int | None = field(default=None, compare=False)
    mode: str | None = field(default=None, compare=False)
    encap: tuple[int, int] | None = field(default=None, compare=False)
    origin: str = field(default="", compare=False)
    esn_hint: tuple[int | None, int] | None = field(default=None, compare=False, repr=False)
    ops: SaOps | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.spi is not None and not 0 <= self.spi <= 0xFFFFFFFF:
            raise ValueError(f"SPI {self.spi} is not a 32-bit number")
        self.src = _canonical_addr(self.src)
        self.dst = _canonical_addr(self.dst)
        self.encryption = str(self.encryption).lower()
        self.integrity = str(self.integrity).lower()
        enc = ENCRYPTION.get(self.encryption)
        if enc is None:
            raise ValueError(f"unknown encryption algorithm {self.encryption!r}")
        self.enc_key = bytes(self.enc_key or b"")
        why = check_key_length("encryption", self.encryption, len(self.enc_key))
        if why:
            raise ValueError(why)
        integ = INTEGRITY.get(self.integrity)
        if integ is None:
            raise ValueError(f"unknown integrity algorithm {self.integrity!r}")
        if enc.is_aead:
            if self.integrity != "null":
                raise ValueError(f"{self.encryption} carries its own ICV; integrity must be null")
            want = enc.icv_len
        elif self.integrity == "null":
            want = 0
        elif self.integrity == "unknown" or self.auth_key is None:
            want = integ.icv_len or self.icv_len or 0
            if not want or not 1 <= want <= 64:
                raise ValueError("an unchecked ICV needs a length of 1..64 bytes")
            self.integrity, self.auth_key = "unknown", None
        else:
            want = integ.icv_len
        if self.icv_len is not None and self.icv_len != want:
            raise ValueError(f"ICV length {self.icv_len} does not fit {self.integrity} ({want})")
        self.icv_len = want
        if self.integrity == "null":
            self.auth_key = b""
        elif self.auth_key is not None:
            self.auth_key = bytes(self.auth_key)
            why = check_key_length("integrity", self.integrity, len(self.auth_key))
            if why:
                raise ValueError(why)
        if self.seq_hi is not None and not 0 <= self.seq_hi <= 0xFFFFFFFF:
            raise ValueError("seq_hi is not a 32-bit number")
        if self.mode not in _MODES:
            raise ValueError(f"mode {self.mode!r} is not transport, tunnel or beet")
        if self.encap is not None:
            sport, dport = self.encap
            self.encap = (int(sport), int(dport))
        self.esn = bool(self.esn)

    @property
    def algorithm(self) -> EncAlgorithm:
        return ENCRYPTION[self.encryption]

    def describe(self) -> str:
        """Short algorithm text, never key material: "aes128-cbc+hmac-sha1-96"."""
        enc = ENCRYPTION[self.encryption]
        bits = 8 * (len(self.enc_key) - enc.salt_len)
        name = self.encryption
        if name.startswith("aes-"):
            name = f"aes{bits}-{name[4:]}"
        elif name.startswith("camellia-"):
            name = f"camellia{bits}-{name[9:]}"
        if self.integrity == "null":
            return name
        if self.integrity == "unknown":
            return f"{name}+unchecked-{8 * (self.icv_len or 0)}"
        return f"{name}+{self.integrity}"


class SaOps:
    """What decoding an SA's packets reuses, made from its keys once
    (``SecurityAssociation.ops``): its description; for CBC a long-lived
    decryptor, fed each packet from its IV on (the IV is the block that
    chains the first, so the decryptor's own state never matters, and the
    first block out is dropped); for an HMAC the keyed context, copied per
    packet. ``for_sa`` gives the SA's, made anew if its keys changed."""

    __slots__ = ("enc_key", "auth_key", "desc", "cbc", "mac")

    def __init__(self, sa: SecurityAssociation) -> None:
        self.enc_key, self.auth_key = sa.enc_key, sa.auth_key
        self.desc = sa.describe()
        enc = sa.algorithm
        self.cbc: Any = None
        if enc.kind == "cbc":
            from cryptography.hazmat.primitives.ciphers import Cipher, modes
            from nhrpscope.dissectors.esp_algorithms import _block_cipher

            key, _salt = split_keymat(enc, sa.enc_key)
            self.cbc = Cipher(_block_cipher(enc.name, key), modes.CBC(bytes(enc.block))).decryptor()
        self.mac: Any = None
        if not enc.is_aead and sa.icv_len and sa.auth_key is not None and can_verify(sa.integrity):
            self.mac = hmac_context(sa.integrity, sa.auth_key)

    @staticmethod
    def for_sa(sa: SecurityAssociation) -> SaOps:
        ops = sa.ops
        if ops is None or ops.enc_key is not sa.enc_key or ops.auth_key is not sa.auth_key:
            ops = sa.ops = SaOps(sa)
        return ops


def _canonical_addr(a: object) -> str | None:
    if a is None:
        return None
    if isinstance(a, bytes | bytearray):
        if len(a) in (4, 16):
            return addr_str(bytes(a))
        raise ValueError("an address is 4 or 16 bytes")
    s = str(a).strip()
    if s in ("", "*"):
        return None
    return _canonical_text(s)


@functools.lru_cache(maxsize=4096)
def _canonical_text(s: str) -> str:
    # a hub's key file names its own address once per SA: parsed once
    try:
        return addr_str(ipaddress.ip_address(s).packed)
    except ValueError:
        raise ValueError(f"{s!r} is not an IPv4 or IPv6 address") from None


# Decoding ------------------------------------------------------------------


def decode_esp(buf: bytes, sa: SecurityAssociation | None) -> Decoded:
    """Decode one ESP packet (from the SPI on); decrypt when ``sa`` is given.

    Never raises. ``Decoded.payload`` is the clear inner payload when
    decrypted, else b""; ``payload_offset`` is where the ciphertext starts
    (offsets inside the payload map onto it)."""
    buf = bytes(buf)
    n = len(buf)
    if n < 4:
        return Decoded(None, b"", [Problem(0, f"ESP header cut short ({n} of 8 bytes)", "esp",
                                           "esp.truncated", "error")])
    spi = int.from_bytes(buf[:4], "big")
    ops: SaOps | None = None
    if sa is not None:
        try:
            ops = SaOps.for_sa(sa)
        except (ValueError, TypeError, OverflowError, KeyError):
            ops = None  # made per packet, as ever: the error is reported where it arises
    desc = ops.desc if ops is not None else sa.describe() if sa is not None else None
    if n < ESP_HEADER_LEN:
        rec = EspHeader(spi, None, status="truncated", sa_desc=desc)
        return Decoded(rec, b"", [Problem(n, f"ESP header cut short ({n} of 8 bytes)", "esp",
                                          "esp.truncated", "error")], n)
    spi, seq = ESP_HEADER.unpack_from(buf)
    problems: list[Problem] = []
    if spi == 0:
        problems.append(Problem(0, "SPI 0 is reserved (RFC 4303 2.1)", "esp",
                                "esp.spi-reserved", "warning"))
    if sa is None:
        return Decoded(EspHeader(spi, seq, status="no-key"), b"", problems, 8)
    try:
        return _open(buf, spi, seq, sa, desc, problems, ops)
    except (ValueError, TypeError, OverflowError, KeyError) as e:  # defensive: never raise
        problems.append(Problem(8, f"could not decrypt ({type(e).__name__})", "esp",
                                "esp.decrypt-failed", "error"))
        rec = EspHeader(spi, seq, status="decryption-failed", sa_desc=desc)
        return Decoded(rec, b"", problems, 8)


# _hi_candidates of an SA that says nothing of ESN and has verified none
_NO_ESN: tuple[int | None, ...] = (None, *range(MAX_SMALL_SEQ_HI + 1))


def _hi_candidates(sa: SecurityAssociation, seq: int) -> Sequence[int | None]:
    """ESN high words to try, most likely first; None means "no ESN"."""
    hint = sa.esn_hint
    if not sa.esn and sa.seq_hi is None and (hint is None or hint[0] is None):
        return _NO_ESN  # the commonest SA: what _hi_list comes to, made once
    return _hi_list(sa, seq)


def _hi_list(sa: SecurityAssociation, seq: int) -> list[int | None]:
    """``_hi_candidates`` by the general rule: the hint's guesses (the wrap
    since, or before it), the SA's own high word and its neighbours, "no
    ESN" unless the SA says ESN, then the small high words."""
    hint = sa.esn_hint
    first: list[int | None] = []
    if hint is not None:
        hi, lo = hint
        if hi is None:
            first.append(None)
        elif lo >= 1 << 31 and seq < lo - (1 << 31):
            first += [hi + 1, hi]  # the low 32 bits wrapped since
        elif lo < 1 << 31 and seq >= lo + (1 << 31) and hi > 0:
            first += [hi - 1, hi]  # a late packet from before the wrap
        else:
            first += [hi, hi + 1]
    if sa.seq_hi is not None:
        first += [sa.seq_hi, sa.seq_hi + 1, sa.seq_hi - 1]
    if not sa.esn:
        first.append(None)
    first += list(range(MAX_SMALL_SEQ_HI + 1))
    out: list[int | None] = []
    for h in first:
        if (h is None or 0 <= h <= 0xFFFFFFFF) and h not in out:
            out.append(h)
    return out


def _assumed_hi(sa: SecurityAssociation, seq: int) -> int | None:
    """The ESN high bits when nothing can check them: only what the SA or
    the hint tells, else None (unknown)."""
    if not sa.esn:
        return None
    if sa.esn_hint is not None or sa.seq_hi is not None:
        h = _hi_candidates(sa, seq)[0]
        return h
    return None


def _remember(sa: SecurityAssociation, hi: int | None, seq: int) -> None:
    """Keep the highest verified sequence number (the RFC 4303 A2 "Th, Tl")."""
    old = sa.esn_hint
    if (old is None or (old[0] is None) != (hi is None)
            or ((hi or 0) << 32 | seq) >= ((old[0] or 0) << 32 | old[1])):
        sa.esn_hint = (hi, seq)


def _open(buf: bytes, spi: int, seq: int, sa: SecurityAssociation, desc: str | None,
          problems: list[Problem], ops: SaOps | None = None) -> Decoded:
    enc = ENCRYPTION[sa.encryption]
    icv_len = sa.icv_len or 0
    n = len(buf)
    iv_len = enc.iv_len
    min_ct = enc.block if enc.kind == "cbc" else 2
    start = 8 + iv_len
    iv = buf[8:start] if n >= start else b""

    def result(status: str, *, icv_ok: bool | None = None, payload: bytes = b"",
               nh: int | None = None, pad_len: int | None = None, hi: int | None = None) -> Decoded:
        rec = EspHeader(spi, seq, status == "decrypted", icv_ok, nh, status, pad_len, iv, hi, desc)
        return Decoded(rec, payload, problems, start)

    if n < start + min_ct + icv_len:
        problems.append(Problem(n, f"ESP packet of {n} bytes is shorter than {desc} needs "
                                   f"({start + min_ct + icv_len})", "esp",
                                       "esp.truncated", "error"))
        return result("truncated")
    ct = buf[start : n - icv_len]
    wire_icv = buf[n - icv_len :]
    if enc.kind == "cbc" and len(ct) % enc.block:
        problems.append(Problem(start, f"ciphertext of {len(ct)} bytes is not a whole number of "
                                       f"{enc.block}-byte blocks (truncated capture?)", "esp",
                                           "esp.block-length", "error"))
        return result("truncated")
    if (iv_len + len(ct)) % 4:
        problems.append(Problem(n - icv_len, "ICV does not start on a 32-bit boundary", "esp",
                                "esp.icv-alignment", "warning"))

    spi_b = buf[:4]
    seq_b = buf[4:8]
    pt: bytes | None = None
    icv_ok: bool | None = None
    hi: int | None = None
    authentic = False  # plaintext proven right (combined mode, or NULL cipher + ICV)
    if enc.is_aead:
        for h in _hi_candidates(sa, seq):
            aad = spi_b + seq_b if h is None else spi_b + h.to_bytes(4, "big") + seq_b
            nonce_iv = ((h or 0) << 32 | seq).to_bytes(8, "big") if enc.implicit_iv else iv
            pt = decrypt(enc, sa.enc_key, nonce_iv, ct, aad, wire_icv)
            if pt is not None:
                hi, icv_ok, authentic = h, True, True
                break
        if pt is None:
            problems.append(Problem(n - icv_len, "ICV does not match: wrong key, or not this SA", "esp", "esp.icv", "error"))
            return result("decryption-failed", icv_ok=False)
        _remember(sa, hi, seq)
    else:
        if icv_len and sa.auth_key is not None and can_verify(sa.integrity):
            signed = buf[: n - icv_len]
            mac = ops.mac if ops is not None else None
            for h in _hi_candidates(sa, seq):
                if mac is not None:  # the keyed HMAC, copied: the same ICV as icv() gives
                    m = mac.copy()
                    m.update(signed)
                    if h is not None:
                        m.update(h.to_bytes(4, "big"))
                    got = m.finalize()[:icv_len]
                else:
                    data = signed if h is None else signed + h.to_bytes(4, "big")
                    got = icv(sa.integrity, sa.auth_key, data)
                if got == wire_icv:  # a capture read offline: no timing to leak
                    hi, icv_ok = h, True
                    break
            else:
                problems.append(Problem(n - icv_len, "ICV does not match: wrong integrity key, "
                                                     "or not this SA", "esp", "esp.icv", "error"))
                return result("decryption-failed", icv_ok=False)
            _remember(sa, hi, seq)
            authentic = enc.kind == "null"
        else:
            hi = _assumed_hi(sa, seq)
        cbc = ops.cbc if ops is not None else None
        if cbc is not None:  # IV and ciphertext through the SA's decryptor (SaOps)
            pt = cbc.update(buf[8:n - icv_len])[iv_len:]
        else:
            pt = decrypt(enc, sa.enc_key, iv, ct)
        if pt is None:  # pragma: no cover - only combined modes return None
            return result("decryption-failed", icv_ok=icv_ok)

    pad_len, nh = pt[-2], pt[-1]
    end = len(pt) - 2 - pad_len
    trailer_ok = end >= 0
    inner = pt[:end] if trailer_ok else b""
    padding = pt[end:-2] if trailer_ok else b""
    pad_default = trailer_ok and padding == _PADS[pad_len]
    if authentic:
        if not trailer_ok:
            problems.append(Problem(start, f"pad length {pad_len} exceeds the {len(pt) - 2} "
                                           "bytes before it", "esp", "esp.pad-length", "error"))
            return result("decrypted", icv_ok=icv_ok, nh=nh, pad_len=pad_len, hi=hi)
        if not pad_default:
            problems.append(Problem(start + end, "padding is not RFC 4303's default 1, 2, 3 ...",
                                    "esp", "esp.padding", "warning"))
    else:
        why = None
        if not trailer_ok:
            why = f"pad length {pad_len} exceeds the payload"
        elif not pad_default:
            why = "padding is not 1, 2, 3 ..."
        elif not plausible_inner(nh, inner) and not (
                icv_ok and nh in UNCHECKED_PROTOCOLS and (enc.is_aead or pad_len >= 2)):
            why = f"no valid next-header {nh} packet inside"
        if why:
            hint = "wrong encryption key?" if icv_ok else "wrong key?"
            problems.append(Problem(start, f"decrypted bytes are not a packet: {why} ({hint})",
                                    "esp", "esp.decrypt-failed", "error"))
            return result("decryption-failed", icv_ok=icv_ok)
    if nh == 59:  # "no next header": a dummy packet (RFC 4303 2.6), nothing inside
        inner = b""
    return result("decrypted", icv_ok=icv_ok, payload=inner, nh=nh, pad_len=pad_len, hi=hi)


# Plausibility of an inner packet --------------------------------------------

# Next headers whose packets ``plausible_inner`` cannot check, accepted only
# when the ICV verified (the integrity key is right, so the encryption key,
# from the same source, most likely is too) and the padding is the default.
# Random plaintext passed that about once in 6500 tries (a wrong encryption
# key with the right integrity key is a common typo), so we also ask for at
# least two bytes of default padding: about once in 10^9. A combined mode's
# tag proves the encryption key itself, so there padding alone will do.
UNCHECKED_PROTOCOLS = frozenset({2, 59, 88, 89, 97, 103, 112, 115, 132, 137, 143})

# GRE protocol types a DMVPN (or any sane GRE) carries.
GRE_KNOWN_PROTOCOLS = frozenset({
    0x0800,  # IPv4
    0x86DD,  # IPv6
    0x2001,  # NHRP
    0x6558,  # transparent Ethernet bridging
    0x88BE,  # ERSPAN type II
    0x22EB,  # ERSPAN type III
    0x0806,  # ARP
    0x2000,  # Cisco CDP
    0x8847, 0x8848,  # MPLS
    0x880B,  # PPP (PPTP)
    0x883E,  # WCCP
    0x8100,  # 802.1Q
    0x894F,  # NSH
})

_ICMPV6_TYPES = frozenset({1, 2, 3, 4, *range(128, 156)})


def plausible_inner(next_header: int, data: bytes) -> bool:
    """Whether ``data`` looks like a packet of protocol ``next_header``.

    Checks what a random byte string rarely gets right: IPv4 version, IHL,
    total length and header checksum; IPv6 version and payload length; GRE
    reserved flags, version and a known protocol type; UDP length; TCP data
    offset; ICMP checksum; AH length. Lengths may fall short of ``data`` by
    TFC padding (RFC 4303 2.7). Protocols it cannot check give False."""
    n = len(data)
    nh = next_header
    if nh == 4:  # IPv4 (tunnel mode)
        if n < 20 or data[0] >> 4 != 4:
            return False
        ihl = (data[0] & 15) * 4
        total = int.from_bytes(data[2:4], "big")
        return 20 <= ihl <= total <= n and internet_checksum(data[:ihl]) == 0
    if nh == 41:  # IPv6 (tunnel mode)
        if n < 40 or data[0] >> 4 != 6:
            return False
        plen = int.from_bytes(data[4:6], "big")
        return 40 + plen <= n and data[7] != 0  # hop limit 0 is never sent
    if nh == 47:  # GRE
        if n < 4:
            return False
        b0, b1 = data[0], data[1]
        ptype = int.from_bytes(data[2:4], "big")
        version = b1 & 7
        if version == 0:
            if b0 & 0x4F or b1 & 0xF8 or ptype not in GRE_KNOWN_PROTOCOLS:
                return False
            need = 4 + 4 * (bool(b0 & 0x80) + bool(b0 & 0x20) + bool(b0 & 0x10))
            return n >= need
        if version == 1:  # enhanced GRE (RFC 2637): key present, no checksum/routing
            if b0 & 0xEF != 0x20 or b1 & 0x78 or ptype != 0x880B:
                return False
            return n >= 8 + 4 * (bool(b0 & 0x10) + bool(b1 & 0x80))
        return False
    if nh == 17:  # UDP
        if n < 8:
            return False
        length = int.from_bytes(data[4:6], "big")
        return 8 <= length <= n and data[2:4] != b"\0\0"
    if nh == 6:  # TCP
        if n < 20 or data[12] & 0x0E or data[2:4] == b"\0\0":
            return False
        off = (data[12] >> 4) * 4
        return 20 <= off <= n
    if nh == 1:  # ICMP: its checksum covers all of it
        return n >= 8 and internet_checksum(data) == 0
    if nh == 58:  # ICMPv6 (checksum needs addresses we do not have)
        return n >= 8 and data[0] in _ICMPV6_TYPES
    if nh == 51:  # AH
        return n >= 12 and data[2:4] == b"\0\0" and (data[1] + 2) * 4 <= n
    if nh == 50:  # ESP in ESP (transport)
        # Little to check: SPIs below 256 are reserved (RFC 4303 2.1) and a
        # sequence number starts at 1; we also ask it to be below 2**24, or
        # random bytes would pass once in ~65,000 wrong-key decryptions.
        spi = int.from_bytes(data[:4], "big")
        seq = int.from_bytes(data[4:8], "big")
        return n >= 16 and spi >= 256 and 0 < seq < 1 << 24
    return False


# NULL encryption without a key ------------------------------------------------

# ICV lengths tried, commonest first: HMAC-SHA1-96 / MD5-96 (12), HMAC-SHA-256-128
# and AES-GMAC (16), no integrity (0), HMAC-SHA-384-192 (24), HMAC-SHA-512-256 (32).
NULL_ICV_LENGTHS = (12, 16, 0, 24, 32)
# What NULL ESP carries and ``plausible_inner`` can check: IPv4 and IPv6 (tunnel
# mode), GRE (DMVPN's transport mode), UDP, TCP, ICMP.
NULL_NEXT_HEADERS = frozenset({4, 41, 47, 17, 6, 1})


def guess_null(buf: bytes, off: int = 0, end: int | None = None) -> tuple[int, int, int] | None:
    """Whether the ESP packet ``buf[off:end]`` reads as NULL encryption
    (RFC 2410) with no key, as Wireshark's heuristic
    (``esp.enable_null_encryption_decode_heuristic``) does, with its checks
    made stricter: for an ICV length of ``NULL_ICV_LENGTHS``, the byte
    before the ICV is a next header of ``NULL_NEXT_HEADERS``, the pad length
    before it fits, the padding is RFC 4303's default 1, 2, 3 ..., the
    trailer ends on a 4-byte boundary (RFC 4303 2.4), and the payload passes
    ``plausible_inner`` for that protocol. (ICV length, pad length, next
    header) of the first that fits, else None. Encrypted bytes pass about
    once in a hundred thousand SAs; the caller says the verdict is a guess."""
    if end is None:
        end = len(buf)
    body = off + ESP_HEADER_LEN
    for icv_len in NULL_ICV_LENGTHS:
        t = end - icv_len  # where the trailer ends
        if t - 2 < body or (t - body) % 4:
            continue
        nh = buf[t - 1]
        if nh not in NULL_NEXT_HEADERS:
            continue
        pad_len = buf[t - 2]
        p = t - 2 - pad_len
        if p < body or buf[p:t - 2] != _PADS[pad_len]:
            continue
        if plausible_inner(nh, buf[body:p]):
            return icv_len, pad_len, nh
    return None


def decode_esp_null(buf: bytes) -> Decoded | None:
    """An ESP packet with no key that ``guess_null`` reads as NULL encryption:
    its header, and its payload in the clear (``payload_offset`` is where it
    starts in ``buf``, as the bytes are the packet's own). None otherwise."""
    buf = bytes(buf)
    found = guess_null(buf)
    if found is None:
        return None
    icv_len, pad_len, nh = found
    spi, seq = ESP_HEADER.unpack_from(buf)
    desc = "null" if not icv_len else f"null+unchecked-{8 * icv_len}"
    rec = EspHeader(spi, seq, next_header=nh, status="null-heuristic", pad_len=pad_len,
                    sa_desc=desc, null_heuristic=True)
    end = len(buf) - icv_len - 2 - pad_len
    return Decoded(rec, buf[ESP_HEADER_LEN:end], [], ESP_HEADER_LEN)


# Encoding ------------------------------------------------------------------


def encode_esp(sa: SecurityAssociation, seq: int, payload: bytes, next_header: int, *,
               iv: bytes | None = None, pad_to: int | None = None) -> bytes:
    """Build an encrypted ESP packet (SPI through ICV) under ``sa``.

    ``seq`` is the 32-bit wire sequence number; with an ESN SA the high
    bits come from ``sa.seq_hi`` (0 if unset), or ``seq`` may be the whole
    64-bit number. ``iv`` makes the output deterministic; without it CBC
    gets a random IV and counter modes use the 64-bit sequence number (unique
    per SA, as RFC 3686/4106 allow). Padding is RFC 4303's default 1, 2, 3 ...
    up to the cipher's alignment, or up to a multiple of ``pad_to`` (itself a
    multiple of that alignment). Raises ValueError for what cannot be sent."""
    if sa.spi is None:
        raise ValueError("an SA with a wildcard SPI cannot send")
    if sa.integrity == "unknown":
        raise ValueError("cannot compute an ICV with an unknown integrity key")
    if not 0 <= next_header <= 255:
        raise ValueError("next header is one byte")
    hi: int | None = None
    if seq > 0xFFFFFFFF:
        if not sa.esn or seq >> 64:
            raise ValueError("sequence number does not fit 32 bits (and the SA has no ESN)")
        hi, seq = seq >> 32, seq & 0xFFFFFFFF
    elif sa.esn:
        hi = sa.seq_hi or 0
    if seq < 0:
        raise ValueError("negative sequence number")
    enc = ENCRYPTION[sa.encryption]
    align = enc.align
    if pad_to is not None:
        if pad_to <= 0 or pad_to % align:
            raise ValueError(f"pad_to must be a positive multiple of {align}")
        align = pad_to
    pad_len = -(len(payload) + 2) % align
    if pad_len > 255:
        raise ValueError("padding longer than 255 bytes")
    plaintext = bytes(payload) + bytes(range(1, pad_len + 1)) + bytes((pad_len, next_header))
    spi_b, seq_b = sa.spi.to_bytes(4, "big"), seq.to_bytes(4, "big")
    seq64 = ((hi or 0) << 32 | seq).to_bytes(8, "big")
    if enc.implicit_iv:
        if iv:
            raise ValueError(f"{sa.encryption} sends no IV")
        wire_iv, nonce_iv = b"", seq64
    else:
        if iv is None:
            iv = os.urandom(enc.iv_len) if enc.kind == "cbc" else seq64[: enc.iv_len]
        if len(iv) != enc.iv_len:
            raise ValueError(f"{sa.encryption} needs an IV of {enc.iv_len} bytes")
        wire_iv = nonce_iv = bytes(iv)
    if enc.is_aead:
        aad = spi_b + seq_b if hi is None else spi_b + hi.to_bytes(4, "big") + seq_b
        return spi_b + seq_b + wire_iv + encrypt(enc, sa.enc_key, nonce_iv, plaintext, aad)
    packet = spi_b + seq_b + wire_iv + encrypt(enc, sa.enc_key, nonce_iv, plaintext)
    if sa.integrity == "null":
        return packet
    signed = packet if hi is None else packet + hi.to_bytes(4, "big")
    return packet + icv(sa.integrity, sa.auth_key or b"", signed)


# The replay's fast path --------------------------------------------------------


# RFC 4303's default padding, by length.
_PADS = tuple(bytes(range(1, n + 1)) for n in range(256))
