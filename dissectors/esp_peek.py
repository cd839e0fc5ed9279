"""ESP opened at its ends, for the replay's fast path: ``EspPeek`` decrypts
only the first blocks (the GRE header and the inner IPv4 header) and the
last (the trailer) of a packet under a known SA, and says whether the full
decode (``esp.decode_esp``) would find the same GRE packet inside;
``CbcEnds`` hands its CBC recipe to a loop that inlines it
(``replay.fastpath``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from nhrpscope.dissectors.esp import (
    _PADS,
    GRE_KNOWN_PROTOCOLS,
    SaOps,
    SecurityAssociation,
    _hi_candidates,
    _remember,
)
from nhrpscope.dissectors.esp_algorithms import can_verify

__all__ = ["CbcEnds", "EspPeek"]

# Plaintext bytes EspPeek opens from the start (a multiple of every block
# size): GRE with a key, an IPv4 header and 4 bytes of what it carries.
_HEAD = 32


class CbcEnds(NamedTuple):
    """How ``EspPeek.peek_at`` opens a CBC packet whose ciphertext is longer
    than ``whole`` bytes, as values for a copy of it inlined in a loop (the
    replay's classifier: a call per packet there cost more than the rest of
    the work). With ``s = q + skip`` and ``e`` the end less ``icv_len``,
    ``update(b[s - blk:s + HEAD] + b[e - 2 * blk:e])`` gives one junk block,
    the first ``HEAD`` plaintext bytes, one junk block and the last block;
    that last block ends with ``trailers[pad_len]`` when the trailer is what
    ``peek_at`` accepts (default padding within the block, next header 47;
    for a pad length it does not, bytes longer than all that, which nothing
    ends with). ``tests/test_esp_speed_inline.py`` holds a copy to ``peek_at``."""

    update: Any  # the long-lived CBC decryptor's update
    skip: int  # SPI, sequence number, IV
    blk: int
    icv_len: int
    whole: int  # ciphertext of at most this many bytes peek_at decrypts whole
    trailers: tuple[bytes, ...]


def _trailers(blk: int) -> tuple[bytes, ...]:
    # one table per block size, shared by every SA (constants, not state)
    t = _TRAILERS.get(blk)
    if t is None:
        never = bytes(3 * blk + _HEAD + 1)  # longer than what update gives: ends nothing
        t = _TRAILERS[blk] = tuple(_PADS[p] + bytes((p, 47)) if p + 2 <= blk else never
                                   for p in range(256))
    return t


_TRAILERS: dict[int, tuple[bytes, ...]] = {}


class EspPeek:
    """Opens just the ends of ESP packets under one SA: the first plaintext
    bytes (the GRE header and the inner IP header: what a replay needs to
    count a data packet) and the trailer (pad length, padding, next header).

    For the hot path of a replay over millions of packets: a GRE data packet
    under ESP needs only counting, and decrypting it whole costs a cipher
    object and the whole payload. CBC is opened by feeding [IV, C1..C3] and
    [C(n-1), C(n)] to one long-lived CBC decryptor (each run starts with the
    block that chains the next, so the decryptor's own state never matters);
    CTR (RFC 3686) and AES-GCM (RFC 4106, 8750) by computing the keystream of
    just those blocks with one long-lived AES-ECB encryptor. ChaCha20 and
    anything else: ``for_sa`` gives None and packets take the full path.

    ``peek`` accepts only what ``decode_esp`` would decrypt to the same GRE
    (default padding, next header 47, ``plausible_inner``'s GRE checks), so
    a packet it accepts decodes the same both ways provided its ICV is right.
    The ICV is not checked by ``peek``; ``verify`` checks it the way
    ``decode_esp`` does (for HMACs; False when the full path must decide).
    """

    HEAD = _HEAD

    __slots__ = ("sa", "kind", "blk", "iv_len", "icv_len", "_dec", "_ecb", "_salt", "_ctr0",
                 "_implicit", "_mac", "_verifies", "_skip")

    def __init__(self, sa: SecurityAssociation) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from nhrpscope.dissectors.esp_algorithms import split_keymat

        enc = sa.algorithm
        self.sa = sa
        self.kind = enc.kind
        self.blk = max(enc.block, 1)
        self.iv_len = enc.iv_len
        self._skip = 8 + enc.iv_len  # SPI, sequence number, IV
        self.icv_len = sa.icv_len or 0
        self._dec = self._ecb = None
        self._salt = b""
        self._ctr0 = 1
        self._implicit = enc.implicit_iv
        key, salt = split_keymat(enc, sa.enc_key)
        if enc.kind == "cbc":  # the SA's own decryptor (SaOps), as decode_esp feeds it
            self._dec = SaOps.for_sa(sa).cbc
        elif enc.kind == "ctr" or enc.name.startswith("aes-gcm"):
            self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
            self._salt = salt
            self._ctr0 = 1 if enc.kind == "ctr" else 2
            self.blk = 16
        else:
            raise ValueError(f"no fast path for {enc.name}")
        # What the full path checks as the ICV (decode_esp: HMACs here, the tag of a
        # combined mode); the keyed HMAC, the SA's own (SaOps), is taken on the first
        # ``verify``. Sharing the SA's contexts with decode_esp keeps one of each per
        # SA in a process that does both (about 1.7 kB an SA).
        self._mac: Any = None
        self._verifies = not enc.is_aead and not (
            self.icv_len and sa.auth_key is not None and can_verify(sa.integrity))

    @classmethod
    def for_sa(cls, sa: SecurityAssociation) -> EspPeek | None:
        try:
            return cls(sa)
        except (ValueError, TypeError, ImportError):
            return None

    def cbc_ends(self) -> CbcEnds | None:
        """``CbcEnds`` of this SA; None when it is not a CBC cipher."""
        if self._dec is None:
            return None
        return CbcEnds(self._dec.update, self._skip, self.blk, self.icv_len,
                       _HEAD + 2 * self.blk, _trailers(self.blk))

    def _keystream(self, iv: bytes, first: int, count: int) -> bytes:
        """``count`` keystream blocks from block ``first`` of the payload."""
        base = self._salt + iv
        c0 = self._ctr0 + first
        return self._ecb.update(b"".join(  # type: ignore[union-attr]
            base + (c0 + i).to_bytes(4, "big") for i in range(count)))

    def peek(self, b: bytes, q: int, e: int) -> tuple[bytes, int] | None:
        """``b[q:e]`` is one ESP packet under this SA. When the full path
        would find a GRE packet inside: (the first plaintext bytes, at least
        ``HEAD`` of them or all there are, possibly with padding after the
        GRE packet; the GRE packet's length). Else None."""
        r = self.peek_at(b, q, e)
        if r is None:
            return None
        buf, off, inner, known = r
        return buf[off:off + known], inner

    def peek_at(self, b: bytes, q: int, e: int) -> tuple[bytes, int, int, int] | None:
        """``peek`` without copying: (a buffer, where the plaintext starts in
        it, the GRE packet's length, how many plaintext bytes from there are
        known: past them the buffer holds other things)."""
        start = q + self._skip
        end = e - self.icv_len
        n = end - start  # ciphertext bytes
        blk = self.blk
        head_len = _HEAD
        dec = self._dec
        if dec is not None:  # CBC: [IV or chaining block, C1, C2 ...] -> [junk, P1, P2 ...]
            if n < blk or n % blk:
                return None
            if n <= head_len + 2 * blk:
                buf = dec.update(b[start - blk:end])  # all of it
                avail = known = n
            else:
                buf = dec.update(b[start - blk:start + head_len] + b[end - 2 * blk:end])
                avail = blk  # plaintext bytes known before the end: the last block
                known = head_len
            off = blk
        else:  # CTR / GCM: keystream XOR
            if n < 2:
                return None
            if self._implicit:
                if self.sa.esn:
                    return None  # the nonce holds ESN high bits the ICV would have to find
                iv = b[q + 4:q + 8].rjust(8, b"\0")
            else:
                iv = b[q + 8:start]
            h = min(n, head_len)
            ks = self._keystream(iv, 0, -(-h // blk))
            head = (int.from_bytes(b[start:start + h], "big")
                    ^ int.from_bytes(ks[:h], "big")).to_bytes(h, "big")
            known = h
            if n <= head_len:
                buf, avail = head, n
            else:
                t0 = max(0, n - blk) // blk * blk
                ks = self._keystream(iv, t0 // blk, -(-(n - t0) // blk))
                tail = (int.from_bytes(b[start + t0:end], "big")
                        ^ int.from_bytes(ks[:n - t0], "big")).to_bytes(n - t0, "big")
                buf, avail = head + tail, n - t0
            off = 0
        # the trailer, as decode_esp checks it: next header, RFC 4303's default padding
        last = len(buf)
        if buf[last - 1] != 47:
            return None
        pad_len = buf[last - 2]
        if pad_len + 2 > avail or buf[last - 2 - pad_len:last - 2] != _PADS[pad_len]:
            return None
        inner = n - 2 - pad_len
        # plausible_inner(47, ...), version 0
        if inner < 4:
            return None
        b0, b1 = buf[off], buf[off + 1]
        if b0 & 0x4F or b1 & 0xF8 or ((buf[off + 2] << 8) | buf[off + 3]) not in GRE_KNOWN_PROTOCOLS:
            return None
        if inner < 4 + 4 * ((b0 >> 7) + ((b0 >> 5) & 1) + ((b0 >> 4) & 1)):
            return None
        return buf, off, inner, known

    def verify(self, b: bytes, q: int, e: int) -> bool:
        """Whether ``decode_esp`` would find this packet's ICV right with its
        first guess of the ESN high bits (and so decrypt it as ``peek`` says),
        updating the SA's hint as it does. False: let the full path decide."""
        if self._verifies:
            return True  # no ICV the full path could check
        mac = self._mac
        if mac is None:
            mac = self._mac = SaOps.for_sa(self.sa).mac  # the HMAC decode_esp copies
            if mac is None:
                return False  # an ICV but no HMAC (AES-XCBC, a combined mode): the full path
        sa = self.sa
        seq = int.from_bytes(b[q + 4:q + 8], "big")
        hi = _hi_candidates(sa, seq)[0]
        h = mac.copy()
        h.update(b[q:e - self.icv_len])
        if hi is not None:
            h.update(hi.to_bytes(4, "big"))
        if h.finalize()[:self.icv_len] != b[e - self.icv_len:e]:
            return False
        _remember(sa, hi, seq)
        return True
