"""ESP's cryptographic algorithms: one table, and the few operations ESP needs.

Every algorithm ESP can use is a row here, named in one canonical spelling
(the names key files map onto: ``aes-cbc``, ``hmac-sha1-96`` ...). The
operations are thin wrappers over ``cryptography``; the one MAC it lacks,
AES-XCBC-MAC-96 (RFC 3566), is built here on AES.

Encryption (``ENCRYPTION``), by kind:

- ``null`` (RFC 2410): no key, no IV, the plaintext is on the wire.
- ``cbc``: DES (RFC 2405), 3DES (RFC 2451), AES (RFC 3602), Blowfish and
  CAST5 (RFC 2451), Camellia (RFC 4312). The IV is one cipher block, sent
  in clear before the ciphertext; the ciphertext is whole blocks.
- ``ctr``: AES-CTR (RFC 3686). The key material ends with a 4-byte nonce;
  an 8-byte IV is sent; counter block = nonce | IV | 32-bit block counter
  starting at 1.
- ``aead``: AES-GCM (RFC 4106, ICV 8/12/16 bytes) and ChaCha20-Poly1305
  (RFC 7634, ICV 16). Key material ends with a 4-byte salt; nonce = salt | IV
  (8 bytes sent); AAD = SPI | sequence number (8 bytes), or SPI | high 32
  bits | low 32 bits (12 bytes) with extended sequence numbers. The ``-iiv``
  variants (RFC 8750) send no IV: the 8 nonce bytes are the 64-bit sequence
  number.

Integrity (``INTEGRITY``): HMAC with MD5/SHA-1 (RFC 2403/2404, 96-bit ICV),
HMAC-SHA-256-96 (the pre-RFC 4868 draft Linux still uses for ``auth
hmac(sha256)``), HMAC-SHA-256/384/512 (RFC 4868, truncated to half),
HMAC-RIPEMD-160-96 (RFC 2857), AES-XCBC-MAC-96 (RFC 3566), ``null``, and
``unknown``: an ICV of N bytes whose algorithm or key we do not have, so it
is skipped and never checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC

# HMACs are cryptography's, not the standard library's: hashlib loads the
# system's OpenSSL beside the one cryptography carries (3.5 MB of resident
# memory in each process, measured) and its HMAC copy is no faster. Only
# RIPEMD-160, which cryptography lacks, takes hashlib, imported for it alone.

# ChaCha20-Poly1305 (its module: about 1 MB of resident memory per process)
# and the decrepit ciphers (3DES, Blowfish, CAST5, Camellia) are imported here
# when an SA uses them, not for the AES SAs nearly every capture has.


@dataclass(frozen=True, slots=True)
class EncAlgorithm:
    """One encryption (or combined-mode) transform."""

    name: str
    kind: str  # "null" | "cbc" | "ctr" | "aead"
    key_sizes: tuple[int, ...]  # the cipher key proper, in bytes
    salt_len: int  # bytes at the end of the key material (RFC 3686 nonce, RFC 4106 salt)
    iv_len: int  # IV bytes on the wire
    block: int  # padding alignment the cipher needs (ESP adds 4-byte alignment)
    icv_len: int = 0  # combined modes only: the ICV (tag) length
    implicit_iv: bool = False  # RFC 8750: nonce from the sequence number
    title: str = ""

    @property
    def is_aead(self) -> bool:
        return self.kind == "aead"

    @property
    def align(self) -> int:
        """What the ESP payload + padding + trailer must be a multiple of."""
        b = max(self.block, 1)
        return b if b % 4 == 0 else 4 * b // _gcd(4, b)


@dataclass(frozen=True, slots=True)
class IntegAlgorithm:
    """One integrity transform: the ICV it produces, and from what key."""

    name: str
    icv_len: int  # 0 for "unknown": the SA then says how long the ICV is
    key_sizes: tuple[int, ...] | None  # None: any length (HMAC)
    title: str = ""


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


_BLOWFISH_KEYS = tuple(range(4, 57))  # 32..448 bits
_CAST5_KEYS = tuple(range(5, 17))  # 40..128 bits

ENCRYPTION: dict[str, EncAlgorithm] = {
    a.name: a
    for a in (
        EncAlgorithm("null", "null", (0,), 0, 0, 1, title="NULL (RFC 2410)"),
        EncAlgorithm("des-cbc", "cbc", (8,), 0, 8, 8, title="DES-CBC (RFC 2405)"),
        EncAlgorithm("3des-cbc", "cbc", (24,), 0, 8, 8, title="3DES-CBC (RFC 2451)"),
        EncAlgorithm("aes-cbc", "cbc", (16, 24, 32), 0, 16, 16, title="AES-CBC (RFC 3602)"),
        EncAlgorithm("aes-ctr", "ctr", (16, 24, 32), 4, 8, 1, title="AES-CTR (RFC 3686)"),
        EncAlgorithm("aes-gcm-8", "aead", (16, 24, 32), 4, 8, 1, 8, title="AES-GCM-8 (RFC 4106)"),
        EncAlgorithm("aes-gcm-12", "aead", (16, 24, 32), 4, 8, 1, 12, title="AES-GCM-12 (RFC 4106)"),
        EncAlgorithm("aes-gcm-16", "aead", (16, 24, 32), 4, 8, 1, 16, title="AES-GCM-16 (RFC 4106)"),
        EncAlgorithm("aes-gcm-16-iiv", "aead", (16, 24, 32), 4, 0, 1, 16, True,
                     title="AES-GCM-16 with implicit IV (RFC 8750)"),
        EncAlgorithm("chacha20-poly1305", "aead", (32,), 4, 8, 1, 16,
                     title="ChaCha20-Poly1305 (RFC 7634)"),
        EncAlgorithm("chacha20-poly1305-iiv", "aead", (32,), 4, 0, 1, 16, True,
                     title="ChaCha20-Poly1305 with implicit IV (RFC 8750)"),
        EncAlgorithm("blowfish-cbc", "cbc", _BLOWFISH_KEYS, 0, 8, 8, title="Blowfish-CBC (RFC 2451)"),
        EncAlgorithm("cast5-cbc", "cbc", _CAST5_KEYS, 0, 8, 8, title="CAST5-CBC (RFC 2144/2451)"),
        EncAlgorithm("camellia-cbc", "cbc", (16, 24, 32), 0, 16, 16, title="Camellia-CBC (RFC 4312)"),
    )
}

INTEGRITY: dict[str, IntegAlgorithm] = {
    a.name: a
    for a in (
        IntegAlgorithm("null", 0, (0,), "NULL"),
        IntegAlgorithm("hmac-md5-96", 12, None, "HMAC-MD5-96 (RFC 2403)"),
        IntegAlgorithm("hmac-sha1-96", 12, None, "HMAC-SHA1-96 (RFC 2404)"),
        IntegAlgorithm("hmac-sha256-96", 12, None, "HMAC-SHA-256-96 (pre-RFC 4868 draft)"),
        IntegAlgorithm("hmac-sha256-128", 16, None, "HMAC-SHA-256-128 (RFC 4868)"),
        IntegAlgorithm("hmac-sha384-192", 24, None, "HMAC-SHA-384-192 (RFC 4868)"),
        IntegAlgorithm("hmac-sha512-256", 32, None, "HMAC-SHA-512-256 (RFC 4868)"),
        IntegAlgorithm("hmac-ripemd160-96", 12, None, "HMAC-RIPEMD-160-96 (RFC 2857)"),
        IntegAlgorithm("aes-xcbc-96", 12, (16,), "AES-XCBC-MAC-96 (RFC 3566)"),
        IntegAlgorithm("unknown", 0, None, "ICV of known length, not checked"),
    )
}

_HMAC_HASH: dict[str, Any] = {
    "hmac-md5-96": hashes.MD5,
    "hmac-sha1-96": hashes.SHA1,
    "hmac-sha256-96": hashes.SHA256,
    "hmac-sha256-128": hashes.SHA256,
    "hmac-sha384-192": hashes.SHA384,
    "hmac-sha512-256": hashes.SHA512,
    "hmac-ripemd160-96": "ripemd160",  # hashlib's (module comment)
}


@cache
def ripemd160_available() -> bool:
    """Whether this Python's OpenSSL offers RIPEMD-160 (OpenSSL 3 keeps it in
    the legacy provider, not always loaded)."""
    import hashlib

    try:
        hashlib.new("ripemd160")
    except (ValueError, TypeError):
        return False
    return True


class _HashlibHmac:
    """hashlib's HMAC (for RIPEMD-160) behind cryptography's HMAC interface
    (``copy``, ``update``, ``finalize``), so callers hold one kind."""

    __slots__ = ("_h",)

    def __init__(self, h: Any) -> None:
        self._h = h

    def copy(self) -> _HashlibHmac:
        return _HashlibHmac(self._h.copy())

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def finalize(self) -> bytes:
        return self._h.digest()


def can_verify(integrity: str) -> bool:
    """Whether ``icv()`` can compute this algorithm's ICV here."""
    if integrity in ("null", "unknown"):
        return False
    if integrity == "hmac-ripemd160-96":
        return ripemd160_available()
    return integrity in INTEGRITY


def _block_cipher(name: str, key: bytes):  # noqa: ANN202 - a cryptography algorithm object
    if name == "aes-cbc" or name == "aes-ctr":
        return algorithms.AES(key)
    from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit

    if name == "3des-cbc":
        return decrepit.TripleDES(key)
    if name == "des-cbc":
        # Single DES is 3DES-EDE with K1 = K2 = K3 (the 8-byte form is deprecated).
        return decrepit.TripleDES(key * 3)
    if name == "blowfish-cbc":
        return decrepit.Blowfish(key)
    if name == "cast5-cbc":
        return decrepit.CAST5(key)
    if name == "camellia-cbc":
        return decrepit.Camellia(key)
    raise ValueError(f"{name} is not a block cipher mode")


def split_keymat(alg: EncAlgorithm, keymat: bytes) -> tuple[bytes, bytes]:
    """Key material → (cipher key, salt/nonce)."""
    if alg.salt_len:
        return keymat[: -alg.salt_len], keymat[-alg.salt_len :]
    return keymat, b""


def _ctr_block(nonce: bytes, iv: bytes) -> bytes:
    return nonce + iv + b"\x00\x00\x00\x01"


def encrypt(alg: EncAlgorithm, keymat: bytes, iv: bytes, plaintext: bytes,
            aad: bytes = b"") -> bytes:
    """Encrypt; for combined modes the result ends with the (truncated) ICV.

    ``iv`` is the 8 nonce bytes for RFC 8750 implicit-IV modes (not sent)."""
    key, salt = split_keymat(alg, keymat)
    if alg.kind == "null":
        return plaintext
    if alg.kind == "cbc":
        enc = Cipher(_block_cipher(alg.name, key), modes.CBC(iv)).encryptor()
        return enc.update(plaintext) + enc.finalize()
    if alg.kind == "ctr":
        enc = Cipher(algorithms.AES(key), modes.CTR(_ctr_block(salt, iv))).encryptor()
        return enc.update(plaintext) + enc.finalize()
    if alg.name.startswith("chacha20"):
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

        return ChaCha20Poly1305(key).encrypt(salt + iv, plaintext, aad)
    enc = Cipher(algorithms.AES(key), modes.GCM(salt + iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return ct + enc.tag[: alg.icv_len]


def decrypt(alg: EncAlgorithm, keymat: bytes, iv: bytes, ciphertext: bytes,
            aad: bytes = b"", tag: bytes = b"") -> bytes | None:
    """Decrypt. Combined modes check ``tag`` and return None when it is wrong;
    the other kinds always return bytes (right or wrong is for the caller)."""
    key, salt = split_keymat(alg, keymat)
    if alg.kind == "null":
        return ciphertext
    if alg.kind == "cbc":
        dec = Cipher(_block_cipher(alg.name, key), modes.CBC(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()
    if alg.kind == "ctr":
        dec = Cipher(algorithms.AES(key), modes.CTR(_ctr_block(salt, iv))).decryptor()
        return dec.update(ciphertext) + dec.finalize()
    try:
        if alg.name.startswith("chacha20"):
            from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

            return ChaCha20Poly1305(key).decrypt(salt + iv, ciphertext + tag, aad)
        # AESGCM only takes 16-byte tags; GCM mode checks truncated ones.
        dec = Cipher(algorithms.AES(key),
                     modes.GCM(salt + iv, tag, min_tag_length=min(len(tag), 16) or 16)).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(ciphertext) + dec.finalize()
    except (InvalidTag, ValueError):
        return None


# AES-XCBC-MAC (RFC 3566 section 4) ----------------------------------------


def _aes_ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def xcbc_mac(key: bytes, message: bytes) -> bytes:
    """AES-XCBC-MAC (RFC 3566), the full 16 bytes; ESP uses the first 12.

    K1, K2, K3 are AES-ECB of 0x01.., 0x02.., 0x03.. under K; the message is
    CBC-MACed under K1, its last block XORed with K2 when complete or
    10*-padded and XORed with K3 otherwise. Chaining the first n-1 blocks is
    AES-CBC under K1 with a zero IV: the same ECB-then-XOR steps, done in C."""
    if len(key) != 16:
        raise ValueError("AES-XCBC-MAC needs a 16-byte key")
    k1 = _aes_ecb(key, b"\x01" * 16)
    k2 = _aes_ecb(key, b"\x02" * 16)
    k3 = _aes_ecb(key, b"\x03" * 16)
    if message and len(message) % 16 == 0:
        head, last, k_last = message[:-16], message[-16:], k2
    else:
        cut = len(message) - len(message) % 16
        head, last = message[:cut], message[cut:] + b"\x80" + b"\x00" * (15 - len(message) % 16)
        k_last = k3
    chain = bytes(16)
    if head:
        enc = Cipher(algorithms.AES(k1), modes.CBC(bytes(16))).encryptor()
        chain = (enc.update(head) + enc.finalize())[-16:]
    x = bytes(a ^ b ^ c for a, b, c in zip(chain, last, k_last, strict=True))
    return _aes_ecb(k1, x)


def icv(integrity: str, key: bytes, data: bytes) -> bytes:
    """The truncated ICV of ``data`` (SPI through trailer, plus ESN high
    bits when used) under ``integrity``."""
    alg = INTEGRITY[integrity]
    if integrity == "aes-xcbc-96":
        return xcbc_mac(key, data)[: alg.icv_len]
    mac = _keyed(integrity, key)
    if mac is None:
        raise ValueError(f"cannot compute an ICV for {integrity}")
    mac.update(data)
    return mac.finalize()[: alg.icv_len]


def _keyed(integrity: str, key: bytes) -> Any:
    h = _HMAC_HASH.get(integrity)
    if h is None:
        return None
    if isinstance(h, str):
        import hmac

        return _HashlibHmac(hmac.new(key, digestmod=h))
    return HMAC(key, h())


def hmac_context(integrity: str, key: bytes) -> Any:
    """The HMAC of ``integrity`` keyed with ``key``, to copy per packet
    (``copy()``, ``update(data)``, ``finalize()``: ``icv``'s digest, less
    the keying); None for an integrity ``icv`` computes otherwise
    (AES-XCBC) or not at all."""
    if not can_verify(integrity):
        return None
    return _keyed(integrity, key)


def check_key_length(kind: str, name: str, length: int) -> str | None:
    """Why a key of ``length`` bytes does not fit, or None if it does.
    ``kind`` is "encryption" or "integrity". Never mentions key contents."""
    if kind == "encryption":
        alg = ENCRYPTION.get(name)
        if alg is None:
            return f"unknown encryption algorithm {name!r}"
        sizes = tuple(s + alg.salt_len for s in alg.key_sizes)
        if length not in sizes:
            return (f"{name} needs a key of {_sizes_text(sizes)} bytes"
                    + (f" (including the {alg.salt_len}-byte salt/nonce)" if alg.salt_len else "")
                    + f", got {length}")
        return None
    ialg = INTEGRITY.get(name)
    if ialg is None:
        return f"unknown integrity algorithm {name!r}"
    if ialg.key_sizes is not None and length not in ialg.key_sizes:
        return f"{name} needs a key of {_sizes_text(ialg.key_sizes)} bytes, got {length}"
    return None


def _sizes_text(sizes: tuple[int, ...]) -> str:
    if len(sizes) > 4 and sizes == tuple(range(sizes[0], sizes[-1] + 1)):
        return f"{sizes[0]}..{sizes[-1]}"
    return "/".join(str(s) for s in sizes)
