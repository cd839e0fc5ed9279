"""Key material → ESP Security Associations, and back.

Sources, each parsed into ``SecurityAssociation`` objects (defined in
``dissectors.esp``, which takes them):

- tcpdump's ``-E`` syntax (``parse_tcpdump_spec``): comma- or newline-separated
  items ``SPI@DST ALGO:SECRET``; ``ALGO:SECRET`` alone is the default SA for
  any SPI; ``file PATH`` reads a secrets file of such lines (``#`` comments).
  ALGO as tcpdump spells it (OpenSSL cipher names with ``-cbc``: des-cbc,
  3des-cbc, aes128-cbc, aes192-cbc, aes256-cbc, blowfish-cbc, cast-cbc,
  camellia128-cbc ...), suffix ``-hmac96`` for a 12-byte ICV whose key tcpdump
  does not take (so it is skipped, not checked). SECRET is ``0x`` + hex, or
  the text itself (one pair of surrounding quotes is removed). tcpdump's
  syntax has no place for an integrity key; ``ikev2 ...`` lines (IKEv2 SA
  keys) are not ESP keys and are skipped.
- Wireshark's ``esp_sa`` UAT file (``parse_esp_sa``), which strongSwan's
  save-keys plugin also writes: CSV rows ``"IPv4","src","dst","0xSPI",
  "encryption","0xkey","authentication","0xkey"`` with Wireshark's algorithm
  strings ("AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]", "ANY 96 bit
  authentication [no checking]" ...) and ``*`` wildcards for addresses and
  SPI (per-octet wildcards like ``10.*.*.1`` are not supported).
- ``ip xfrm state`` output pasted in a file (``parse_xfrm``), also ``ip -o``.
- pcapng Decryption Secrets Blocks of type ``DSB_ESP_SA`` (``parse_dsb``).

``load_key_file`` tells the formats apart itself. Writers
(``format_esp_sa``, ``format_tcpdump_secrets``, ``format_xfrm``) produce text
that parses back to equal SAs, or raise ValueError for what a format cannot
say (``lossy=True`` drops what does not fit instead, as comments).

Errors are ``KeyFileError``, naming the file and line (for ``-E`` the item
number) and never the key text.
"""

from __future__ import annotations

import csv
import functools
import ipaddress
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from dissectors.base import addr_str
from dissectors.esp import SecurityAssociation
from dissectors.esp_algorithms import ENCRYPTION

__all__ = [
    "DSB_ESP_SA",
    "KeyFileError",
    "SADatabase",
    "parse_tcpdump_spec",
    "parse_tcpdump_secrets",
    "parse_esp_sa",
    "parse_xfrm",
    "parse_key_text",
    "detect_format",
    "load_key_file",
    "parse_dsb",
    "read_pcapng_secrets",
    "format_esp_sa",
    "format_tcpdump_secrets",
    "format_xfrm",
]

# pcapng Decryption Secrets Block type for ESP SAs: 0x45535053 ("ESPS"),
# SECRETS_TYPE_ESP "ESP SA Key" in Wireshark's wiretap/secrets-types.h. Its
# data is taken to be esp_sa rows (text); any of our text formats is accepted.
DSB_ESP_SA = 0x45535053

_MAX_INCLUDE_DEPTH = 8
_MAX_KEY_FILE = 64 << 20


class KeyFileError(Exception):
    """A key source that cannot be used: where (file, or "-E #n"), which
    line (or item), and why. Never carries key material."""

    def __init__(self, where: str, line: int | None, reason: str) -> None:
        self.where = where
        self.line = line
        self.reason = reason
        super().__init__(f"{where}:{line}: {reason}" if line is not None else f"{where}: {reason}")


# The database ----------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _canon(s: str) -> str | None:
    try:
        return addr_str(ipaddress.ip_address(s).packed)
    except ValueError:
        return None


def _norm_addr(a: object) -> str | None:
    if a is None or a == "" or a == b"":
        return None
    if isinstance(a, bytes | bytearray):
        return addr_str(bytes(a)) if len(a) in (4, 16) else None
    return _canon(str(a))


class SADatabase:
    """SAs indexed for O(1) lookup by SPI and addresses.

    ``lookup(spi, src, dst)`` prefers the most specific SA: exact (SPI, src,
    dst), then (SPI, dst) with any source (tcpdump's keying), then (SPI,
    src), then SPI alone; SAs with a wildcard SPI come last (a short list,
    scanned). The first SA added for a selector wins; an equal one added
    again is ignored, a different one is kept in ``conflicts``."""

    def __init__(self, sas: Iterable[SecurityAssociation] = ()) -> None:
        self._all: list[SecurityAssociation] = []
        self._exact: dict[tuple[int, str, str], SecurityAssociation] = {}
        self._by_dst: dict[tuple[int, str], SecurityAssociation] = {}
        self._by_src: dict[tuple[int, str], SecurityAssociation] = {}
        self._by_spi: dict[int, SecurityAssociation] = {}
        self._any_spi: list[SecurityAssociation] = []
        self.conflicts: list[tuple[SecurityAssociation, SecurityAssociation]] = []
        for sa in sas:
            self.add(sa)

    def add(self, sa: SecurityAssociation) -> bool:
        """Add ``sa``; False if an SA for the same selector was there."""
        if sa.spi is None:
            for old in self._any_spi:
                if old.src == sa.src and old.dst == sa.dst:
                    if old != sa:
                        self.conflicts.append((old, sa))
                    return False
            self._any_spi.append(sa)
            self._all.append(sa)
            return True
        index: dict
        if sa.src is not None and sa.dst is not None:
            index, key = self._exact, (sa.spi, sa.src, sa.dst)
        elif sa.dst is not None:
            index, key = self._by_dst, (sa.spi, sa.dst)
        elif sa.src is not None:
            index, key = self._by_src, (sa.spi, sa.src)
        else:
            index, key = self._by_spi, sa.spi
        old = index.get(key)
        if old is not None:
            if old != sa:
                self.conflicts.append((old, sa))
            return False
        index[key] = sa
        self._all.append(sa)
        return True

    def lookup(self, spi: int, src: object = None, dst: object = None) -> SecurityAssociation | None:
        """The SA for an ESP packet with ``spi`` from ``src`` to ``dst``
        (addresses as strings or packed bytes; None or "" when unknown)."""
        s, d = _norm_addr(src), _norm_addr(dst)
        if s is not None and d is not None:
            sa = self._exact.get((spi, s, d))
            if sa is not None:
                return sa
        if d is not None:
            sa = self._by_dst.get((spi, d))
            if sa is not None:
                return sa
        if s is not None:
            sa = self._by_src.get((spi, s))
            if sa is not None:
                return sa
        sa = self._by_spi.get(spi)
        if sa is not None:
            return sa
        for sa in self._any_spi:
            if (sa.src is None or sa.src == s) and (sa.dst is None or sa.dst == d):
                return sa
        return None

    __call__ = lookup  # usable directly as the frame decoder's ``sa_lookup``

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[SecurityAssociation]:
        return iter(self._all)

    def __bool__(self) -> bool:
        return bool(self._all)


# Shared helpers ----------------------------------------------------------------


_HEXISH = re.compile(r"[0-9A-Fa-f]{12,}")


def _show(text: str) -> str:
    """A field's text for an error message, unless it could be key
    material (long, or a long run of hex digits): then only its length."""
    if len(text) > 40 or _HEXISH.search(text):
        return f"({len(text)} characters, not shown)"
    return repr(text)


def _make_sa(where: str, line: int | None, **kw: object) -> SecurityAssociation:
    kw.setdefault("origin", f"{where}:{line}" if line is not None else where)
    try:
        return SecurityAssociation(**kw)  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        # SecurityAssociation's messages name algorithms and lengths, never keys.
        raise KeyFileError(where, line, str(e)) from None


def _hex_key(text: str, where: str, line: int | None, what: str, *, odd_ok: bool = False) -> bytes:
    """``0x``-prefixed hex → bytes (the caller checked the prefix)."""
    digits = text[2:]
    if odd_ok and len(digits) % 2:
        digits = "0" + digits
    if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise KeyFileError(where, line, f"{what} is not valid hex")
    return bytes.fromhex(digits)


def _addr_field(text: str, where: str, line: int | None, what: str) -> str | None:
    t = text.strip()
    if t in ("", "*"):
        return None
    if "*" in t:
        raise KeyFileError(where, line, f"{what} {_show(t)}: per-octet wildcards are not supported")
    a = _canon(t)
    if a is None:
        raise KeyFileError(where, line, f"{what} {_show(t)} is not an IPv4 or IPv6 address")
    return a


def _c_ulong(text: str) -> int | None:
    """strtoul(text, 0) on the whole string: 0x hex, leading-0 octal, decimal."""
    t = text.strip()
    try:
        if t[:2].lower() == "0x":
            v = int(t[2:], 16)
        elif len(t) > 1 and t[0] == "0":
            v = int(t[1:], 8)
        else:
            v = int(t, 10) if t.isdigit() else None
    except ValueError:
        return None
    if v is None or not 0 <= v <= 0xFFFFFFFF:
        return None
    return v


# tcpdump -E ------------------------------------------------------------------

# OpenSSL cipher names (after tcpdump strips "-cbc") → (algorithm, key bytes or None).
_TCPDUMP_CIPHERS: dict[str, tuple[str, int | None]] = {
    "des": ("des-cbc", 8),
    "3des": ("3des-cbc", 24),
    "des3": ("3des-cbc", 24),
    "des-ede3": ("3des-cbc", 24),
    "aes128": ("aes-cbc", 16),
    "aes-128": ("aes-cbc", 16),
    "aes192": ("aes-cbc", 24),
    "aes-192": ("aes-cbc", 24),
    "aes256": ("aes-cbc", 32),
    "aes-256": ("aes-cbc", 32),
    "blowfish": ("blowfish-cbc", None),
    "bf": ("blowfish-cbc", None),
    "cast": ("cast5-cbc", None),
    "cast5": ("cast5-cbc", None),
    "cast128": ("cast5-cbc", None),
    "camellia128": ("camellia-cbc", 16),
    "camellia192": ("camellia-cbc", 24),
    "camellia256": ("camellia-cbc", 32),
    "none": ("null", 0),
    "null": ("null", 0),
}


def _unknown_algorithm(text: str) -> str:
    """The error for an algorithm tcpdump does not know. ``text`` is quoted
    only when it is near one of tcpdump's names (a typo): a line with the
    secret and the algorithm swapped must not print a short plain-text secret."""
    import difflib

    known = sorted({f"{k}-cbc" for k in _TCPDUMP_CIPHERS if k not in ("none", "null")})
    t = text[:-7] if text.endswith("-hmac96") else text
    near = difflib.get_close_matches(t if t.endswith("-cbc") else f"{t}-cbc", known, n=1,
                                     cutoff=0.75)
    if near and len(text) <= 24:
        return f"unknown tcpdump ESP algorithm {text!r}; did you mean {near[0]!r}?"
    return ("unknown tcpdump ESP algorithm (not shown: it may be a secret); expected ALGO:SECRET, "
            "ALGO as aes128-cbc, aes256-cbc, 3des-cbc, des-cbc, blowfish-cbc (-hmac96 for an ICV)")


def _tcpdump_algo(decode: str, where: str, line: int | None) -> dict[str, object]:
    if ":" not in decode:
        raise KeyFileError(where, line, "expected ALGO:SECRET")
    name, secret = decode.split(":", 1)
    name = given = name.strip().lower()
    integrity: dict[str, object] = {"integrity": "null", "auth_key": b""}
    if len(name) > 7 and name.endswith("-hmac96"):
        name = name[:-7]
        integrity = {"integrity": "unknown", "auth_key": None, "icv_len": 12}
    if len(name) > 4 and name.endswith("-cbc"):
        name = name[:-4]
    found = _TCPDUMP_CIPHERS.get(name)
    if found is None:
        raise KeyFileError(where, line, _unknown_algorithm(given))
    algo, size = found
    secret = secret.strip()
    if len(secret) >= 2 and secret[0] == secret[-1] and secret[0] in "\"'":
        secret = secret[1:-1]
    if secret[:2] in ("0x", "0X"):
        key = _hex_key(secret, where, line, "the secret")
    else:
        key = secret.encode("utf-8")
    if size is not None and len(key) != size:
        raise KeyFileError(where, line, f"{name}-cbc needs a {size}-byte key, got {len(key)}")
    return {"encryption": algo, "enc_key": key, **integrity}


def _tcpdump_item(item: str, where: str, line: int | None, depth: int,
                  out: list[SecurityAssociation], base: Path | None, files: bool = True) -> None:
    item = item.strip()
    if not item or item.startswith("#"):
        return
    parts = item.split(None, 1)
    if len(parts) == 1:
        spikey, decode = None, parts[0]
    else:
        spikey, decode = parts
    if spikey is not None and spikey.lower() == "file":
        if not files:  # text from a capture must not make us read (or block on) local files
            raise KeyFileError(where, line, "'file' includes are not followed in a capture's keys")
        out.extend(_tcpdump_file(decode.strip(), where, line, depth + 1, base))
        return
    if spikey is not None and spikey.lower() == "ikev2":
        return  # IKEv2 SA secrets: not ESP keys
    spi = dst = None
    if spikey is not None:
        if "@" not in spikey:
            raise KeyFileError(where, line, "expected SPI@ADDRESS before the algorithm")
        spi_text, addr = spikey.split("@", 1)
        spi = _c_ulong(spi_text)
        if spi is None:
            raise KeyFileError(where, line, f"bad SPI {_show(spi_text)}")
        dst = _addr_field(addr, where, line, "address")
        if dst is None:
            raise KeyFileError(where, line, "SPI@ needs an address")
    out.append(_make_sa(where, line, spi=spi, src=None, dst=dst,
                        **_tcpdump_algo(decode, where, line)))


def _tcpdump_file(name: str, where: str, line: int | None, depth: int,
                  base: Path | None) -> list[SecurityAssociation]:
    if depth > _MAX_INCLUDE_DEPTH:
        raise KeyFileError(where, line, "secrets files include each other too deeply")
    path = Path(name)
    if not path.is_absolute() and not path.exists() and base is not None:
        path = base / path
    text = _read_text(path, where, line)
    return parse_tcpdump_secrets(text, str(path), _depth=depth)


def parse_tcpdump_spec(text: str, where: str = "-E") -> list[SecurityAssociation]:
    """Parse a tcpdump ``-E`` argument: items separated by commas or
    newlines; errors name ``where`` and the item number."""
    out: list[SecurityAssociation] = []
    for i, item in enumerate(re.split(r"[,\n]", text), 1):
        _guard(where, i, functools.partial(_tcpdump_item, item, where, i, 0, out, None))
    return out


def parse_tcpdump_secrets(text: str, where: str = "secrets", *, _depth: int = 0,
                          files: bool = True) -> list[SecurityAssociation]:
    """A tcpdump secrets file: one item per line, ``#`` comment lines.
    ``files`` False: a ``file PATH`` line is an error, not an include."""
    out: list[SecurityAssociation] = []
    base = Path(where).parent if where else None
    for i, line in enumerate(text.splitlines(), 1):
        _guard(where, i, functools.partial(_tcpdump_item, line, where, i, _depth, out, base, files))
    return out


def _guard(where: str, line: int | None, fn: Callable[[], object]) -> None:
    """Run one line's parser; anything but KeyFileError becomes one (and
    loses its text, which might quote a key)."""
    try:
        fn()
    except KeyFileError:
        raise
    except Exception as e:  # noqa: BLE001
        raise KeyFileError(where, line, f"cannot parse this line ({type(e).__name__})") from None


# Wireshark esp_sa ----------------------------------------------------------------

WIRESHARK_ENCRYPTION = {
    "NULL": "null",
    "TripleDES-CBC [RFC2451]": "3des-cbc",
    "AES-CBC [RFC3602]": "aes-cbc",
    "AES-CTR [RFC3686]": "aes-ctr",
    "DES-CBC [RFC2405]": "des-cbc",
    "CAST5-CBC [RFC2144]": "cast5-cbc",
    "BLOWFISH-CBC [RFC2451]": "blowfish-cbc",
    "AES-GCM with 8 octet ICV [RFC4106]": "aes-gcm-8",
    "AES-GCM with 12 octet ICV [RFC4106]": "aes-gcm-12",
    "AES-GCM with 16 octet ICV [RFC4106]": "aes-gcm-16",
    "AES-GCM with IIV and 16 octet ICV [RFC4106 & RFC8750]": "aes-gcm-16-iiv",
    "ChaCha20 with Poly1305 [RFC7634]": "chacha20-poly1305",
    "ChaCha20 with Poly1305 and IIV [RFC7634 & RFC8750]": "chacha20-poly1305-iiv",
}
# Deprecated (no ICV length: taken from the "ANY n bit" authentication).
_WIRESHARK_GCM_OLD = "AES-GCM [RFC4106]"
_WIRESHARK_ENC_ALIASES = {
    "AES-CBC with 128-bit keys [RFC3602]": "aes-cbc",  # older releases
    "TripleDES-CBC": "3des-cbc",
    "AES-CBC": "aes-cbc",
}
WIRESHARK_AUTHENTICATION = {
    "NULL": ("null", 0),
    "HMAC-SHA-1-96 [RFC2404]": ("hmac-sha1-96", 12),
    "HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]": ("hmac-sha256-96", 12),
    "HMAC-SHA-256-128 [RFC4868]": ("hmac-sha256-128", 16),
    "HMAC-SHA-384-192 [RFC4868]": ("hmac-sha384-192", 24),
    "HMAC-SHA-512-256 [RFC4868]": ("hmac-sha512-256", 32),
    "HMAC-MD5-96 [RFC2403]": ("hmac-md5-96", 12),
    "MAC-RIPEMD-160-96 [RFC2857]": ("hmac-ripemd160-96", 12),
    "ANY 64 bit authentication [no checking]": ("unknown", 8),
    "ANY 96 bit authentication [no checking]": ("unknown", 12),
    "ANY 128 bit authentication [no checking]": ("unknown", 16),
    "ANY 192 bit authentication [no checking]": ("unknown", 24),
    "ANY 256 bit authentication [no checking]": ("unknown", 32),
}
_WIRESHARK_AUTH_ALIASES = {
    # Commented out in Wireshark, implemented here.
    "AES-XCBC-MAC-96 [RFC3566]": ("aes-xcbc-96", 12),
    # Older releases.
    "HMAC-SHA1-96 [RFC2404]": ("hmac-sha1-96", 12),
    "HMAC-SHA256": ("hmac-sha256-96", 12),
    "ANY 12-bytes of Authentication [No Checking]": ("unknown", 12),
    "ANY 12 bytes of authentication [no checking]": ("unknown", 12),
}


def _fold(s: str) -> str:
    return " ".join(s.split()).lower()


_WS_ENC = {_fold(k): v for k, v in {**WIRESHARK_ENCRYPTION, **_WIRESHARK_ENC_ALIASES}.items()}
_WS_AUTH = {_fold(k): v for k, v in {**WIRESHARK_AUTHENTICATION, **_WIRESHARK_AUTH_ALIASES}.items()}
_WS_ENC_OUT = {v: k for k, v in WIRESHARK_ENCRYPTION.items()}
_WS_AUTH_OUT = {v: k for k, v in WIRESHARK_AUTHENTICATION.items() if v[0] != "unknown"}
_WS_ANY_OUT = {n: k for k, (a, n) in WIRESHARK_AUTHENTICATION.items() if a == "unknown"}


def _uat_unescape(s: str) -> str:
    """UAT strings escape bytes as \\xHH."""
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def _uat_escape(s: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in s)


def _ws_key(text: str, where: str, line: int, what: str) -> bytes:
    """Wireshark's compute_ascii_key: 0x-hex (odd length gets a leading
    zero nibble), "0x" alone is empty, anything else is the text itself."""
    if len(text) >= 2 and text[0] == "0" and text[1] in "xX":
        return _hex_key(text, where, line, what, odd_ok=True)
    return text.encode("utf-8")


def _esp_sa_row(fields: list[str], where: str, line: int) -> SecurityAssociation:
    if len(fields) != 8:
        raise KeyFileError(where, line, f"expected 8 fields, found {len(fields)}")
    proto, src, dst, spi_t, enc_t, enc_k, auth_t, auth_k = (_uat_unescape(f).strip() for f in fields)
    family = proto.lower()
    if family not in ("ipv4", "ipv6"):
        raise KeyFileError(where, line, f"protocol {_show(proto)} is not IPv4 or IPv6")
    src_a = _addr_field(src, where, line, "source")
    dst_a = _addr_field(dst, where, line, "destination")
    for a in (src_a, dst_a):
        if a is not None and (":" in a) != (family == "ipv6"):
            raise KeyFileError(where, line, f"address {a} is not {proto}")
    if spi_t == "*":
        spi = None
    else:
        spi = _c_ulong(spi_t) if spi_t[:2].lower() == "0x" or spi_t.isdigit() else None
        if spi is None:
            raise KeyFileError(where, line, f"bad SPI {_show(spi_t)}")
    enc_name = _fold(enc_t)
    auth = _WS_AUTH.get(_fold(auth_t))
    if auth is None:
        raise KeyFileError(where, line, f"unknown authentication algorithm {_show(auth_t)}")
    if enc_name == _fold(_WIRESHARK_GCM_OLD):
        by_icv = {0: "aes-gcm-16", 8: "aes-gcm-8", 12: "aes-gcm-12", 16: "aes-gcm-16"}
        if auth[0] not in ("null", "unknown") or auth[1] not in by_icv:
            raise KeyFileError(where, line, f"{_WIRESHARK_GCM_OLD} needs NULL or ANY 64/96/128 bit "
                                            "authentication")
        encryption = by_icv[auth[1]]
        auth = ("null", 0)
    else:
        found = _WS_ENC.get(enc_name)
        if found is None:
            raise KeyFileError(where, line, f"unsupported encryption algorithm {_show(enc_t)}")
        encryption = found
    key = _ws_key(enc_k, where, line, "the encryption key")
    if ENCRYPTION[encryption].is_aead and auth[0] != "null":
        raise KeyFileError(where, line, f"{enc_t} carries its own ICV: authentication must be NULL")
    integrity, icv_len = auth
    if integrity == "unknown":
        akey: bytes | None = None
    elif integrity == "null":
        akey = b""
    else:
        akey = _ws_key(auth_k, where, line, "the authentication key")
    return _make_sa(where, line, spi=spi, src=src_a, dst=dst_a, encryption=encryption,
                    enc_key=key, integrity=integrity, auth_key=akey,
                    icv_len=icv_len if integrity == "unknown" else None)


def parse_esp_sa(text: str, where: str = "esp_sa") -> list[SecurityAssociation]:
    """Wireshark's (and strongSwan save-keys') ``esp_sa`` rows."""
    out: list[SecurityAssociation] = []
    for i, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        _guard(where, i, functools.partial(_esp_sa_line, s, where, i, out))
    return out


def _esp_sa_line(s: str, where: str, line: int, out: list[SecurityAssociation]) -> None:
    fields = next(csv.reader([s], skipinitialspace=True))
    out.append(_esp_sa_row(fields, where, line))


# ip xfrm state ------------------------------------------------------------------

XFRM_ENCRYPTION = {
    "cbc(aes)": "aes-cbc",
    "cbc(des3_ede)": "3des-cbc",
    "cbc(des)": "des-cbc",
    "rfc3686(ctr(aes))": "aes-ctr",
    "cbc(blowfish)": "blowfish-cbc",
    "cbc(cast5)": "cast5-cbc",
    "cbc(camellia)": "camellia-cbc",
    "ecb(cipher_null)": "null",
}
_XFRM_ENC_ALIASES = {
    "aes": "aes-cbc", "des3_ede": "3des-cbc", "des": "des-cbc", "blowfish": "blowfish-cbc",
    "cast5": "cast5-cbc", "camellia": "camellia-cbc", "cipher_null": "null",
}
XFRM_AEAD = {
    ("rfc4106(gcm(aes))", 64): "aes-gcm-8",
    ("rfc4106(gcm(aes))", 96): "aes-gcm-12",
    ("rfc4106(gcm(aes))", 128): "aes-gcm-16",
    ("rfc7539esp(chacha20,poly1305)", 128): "chacha20-poly1305",
}
XFRM_AUTH = {
    ("hmac(md5)", 96): "hmac-md5-96",
    ("hmac(sha1)", 96): "hmac-sha1-96",
    ("hmac(sha256)", 96): "hmac-sha256-96",
    ("hmac(sha256)", 128): "hmac-sha256-128",
    ("hmac(sha384)", 192): "hmac-sha384-192",
    ("hmac(sha512)", 256): "hmac-sha512-256",
    ("hmac(rmd160)", 96): "hmac-ripemd160-96",
    ("xcbc(aes)", 96): "aes-xcbc-96",
    ("digest_null", 0): "null",
}
# Linux's ICV truncation when the state was set with "auth" (not "auth-trunc").
_XFRM_AUTH_DEFAULT_BITS = {
    "hmac(md5)": 96, "hmac(sha1)": 96, "hmac(sha256)": 96, "hmac(sha384)": 192,
    "hmac(sha512)": 256, "hmac(rmd160)": 96, "xcbc(aes)": 96, "digest_null": 0,
}
_XFRM_AUTH_ALIASES = {
    "md5": "hmac(md5)", "sha1": "hmac(sha1)", "sha256": "hmac(sha256)",
    "sha384": "hmac(sha384)", "sha512": "hmac(sha512)", "rmd160": "hmac(rmd160)",
}
_XFRM_ENC_OUT = {v: k for k, v in XFRM_ENCRYPTION.items()}
_XFRM_AEAD_OUT = {v: k for k, v in XFRM_AEAD.items()}
_XFRM_AUTH_OUT = {v: k for k, v in XFRM_AUTH.items()}

_SA_START = re.compile(r"^\s*src\s+\S+\s+dst\s+\S+")


def _unquote(t: str) -> str:
    return t[1:-1] if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'" else t


class _XfrmState:
    def __init__(self, line: int) -> None:
        self.line = line
        self.kw: dict[str, object] = {}
        self.proto: str | None = None
        self.enc: tuple[str, bytes, int] | None = None
        self.auth: tuple[str, bytes, int] | None = None
        self.seq_hi = 0
        self.seen_seq_hi = False


def _xfrm_line(st: _XfrmState, tokens: list[str], where: str, line: int) -> None:
    head = tokens[0]
    if head == "src":
        if len(tokens) < 4 or tokens[2] != "dst":
            raise KeyFileError(where, line, "expected 'src ADDRESS dst ADDRESS'")
        st.kw["src"] = _addr_field(tokens[1], where, line, "source")
        st.kw["dst"] = _addr_field(tokens[3], where, line, "destination")
    elif head == "proto":
        st.proto = tokens[1] if len(tokens) > 1 else ""
        pairs = dict(zip(tokens[2::2], tokens[3::2], strict=False))
        if "spi" in pairs:
            spi = _c_ulong(re.sub(r"\(\d+\)$", "", pairs["spi"]))  # "ip -s": 0x100(256)
            if spi is None:
                raise KeyFileError(where, line, f"bad SPI {_show(pairs['spi'])}")
            st.kw["spi"] = spi
        if "mode" in pairs:
            mode = pairs["mode"]
            st.kw["mode"] = mode if mode in ("transport", "tunnel", "beet") else None
    elif head in ("replay-window", "flag"):
        if "flag" in tokens and "esn" in tokens[tokens.index("flag") + 1 :]:
            st.kw["esn"] = True
    elif head in ("enc", "aead", "auth", "auth-trunc"):
        if len(tokens) < 2:
            raise KeyFileError(where, line, f"'{head}' needs an algorithm and a key")
        name = _unquote(tokens[1]).lower()
        rest = [_unquote(t) for t in tokens[2:]]
        key = b""
        if rest and rest[0][:2].lower() == "0x":
            key = _hex_key(rest.pop(0), where, line, f"the {head} key")
        elif rest and head in ("enc", "auth"):
            raise KeyFileError(where, line, f"the {head} key is not 0x-hex")
        if len(rest) >= 2 and re.fullmatch(r"\(\d+", rest[0]) and rest[1] == "bits)":
            del rest[:2]  # "ip -s" adds the key length: "(128 bits)"
        bits = None
        if head in ("aead", "auth-trunc"):
            # At most 4 ASCII digits: a key written without its 0x must not be
            # taken for the bit count, which the error below would quote.
            if not rest or not (rest[0].isascii() and rest[0].isdigit()) or len(rest[0]) > 4:
                raise KeyFileError(where, line, f"'{head}' needs the ICV length in bits")
            bits = int(rest[0])
        if head == "enc":
            algo = XFRM_ENCRYPTION.get(name) or _XFRM_ENC_ALIASES.get(name)
            if algo is None:
                raise KeyFileError(where, line, f"unsupported encryption {_show(name)}")
            st.enc = (algo, key, 0)
        elif head == "aead":
            algo = XFRM_AEAD.get((name, bits or 0))
            if algo is None:
                raise KeyFileError(where, line, f"unsupported aead {_show(name)} with {bits}-bit ICV")
            st.enc = (algo, key, 0)
        else:
            name = _XFRM_AUTH_ALIASES.get(name, name)
            if bits is None:
                bits = _XFRM_AUTH_DEFAULT_BITS.get(name, -1)
            algo = XFRM_AUTH.get((name, bits))
            if algo is None:
                raise KeyFileError(where, line, f"unsupported authentication {_show(name)} "
                                                f"truncated to {bits} bits")
            st.auth = (algo, key, bits)
    elif head == "encap":
        pairs = dict(zip(tokens[1::2], tokens[2::2], strict=False))
        try:
            st.kw["encap"] = (int(pairs["sport"]), int(pairs["dport"]))
        except (KeyError, ValueError):
            raise KeyFileError(where, line, "encap needs sport and dport numbers") from None
    elif head == "seq-hi":
        vals = {}
        toks = [t.rstrip(",") for t in tokens]
        for k, v in zip(toks[0::2], toks[1::2], strict=False):
            n = _c_ulong(v)
            if n is not None:
                vals[k] = n
        st.seq_hi = max(vals.get("seq-hi", 0), vals.get("oseq-hi", 0))
        st.seen_seq_hi = True
    # Anything else (sel, lifetime, stats, anti-replay context, mark, if_id,
    # offload, dir ...) says nothing about keys.


def _xfrm_finish(st: _XfrmState, where: str) -> SecurityAssociation | None:
    if st.proto != "esp":
        return None  # AH, IPComp, ... are not ESP SAs
    if "spi" not in st.kw:
        raise KeyFileError(where, st.line, "ESP state without an SPI")
    if st.enc is None:
        raise KeyFileError(where, st.line, "ESP state without 'enc' or 'aead'")
    encryption, key, _ = st.enc
    kw = dict(st.kw)
    if st.auth is not None:
        if ENCRYPTION[encryption].is_aead and st.auth[0] != "null":
            raise KeyFileError(where, st.line, "ESP state with both 'aead' and 'auth'")
        kw["integrity"], kw["auth_key"] = st.auth[0], st.auth[1]
    if st.seen_seq_hi:
        kw["seq_hi"] = st.seq_hi
    return _make_sa(where, st.line, encryption=encryption, enc_key=key, **kw)


def parse_xfrm(text: str, where: str = "xfrm") -> list[SecurityAssociation]:
    """``ip xfrm state`` (or ``ip -o xfrm state``) output. Non-ESP states
    are skipped."""
    out: list[SecurityAssociation] = []
    st: _XfrmState | None = None
    # ip -o joins a state's lines with "\" + tab: split them, keeping the line number.
    parts = ((i, part) for i, line in enumerate(text.splitlines(), 1)
             for part in re.split(r"\\(?=[ \t]|$)", line))
    for i, raw in parts:
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if _SA_START.match(raw):
            if st is not None:
                sa = _xfrm_finish_guarded(st, where)
                if sa is not None:
                    out.append(sa)
            st = _XfrmState(i)
        if st is None:
            raise KeyFileError(where, i, "expected 'src ADDRESS dst ADDRESS' to start a state")
        _guard(where, i, functools.partial(_xfrm_line, st, tokens, where, i))
    if st is not None:
        sa = _xfrm_finish_guarded(st, where)
        if sa is not None:
            out.append(sa)
    return out


def _xfrm_finish_guarded(st: _XfrmState, where: str) -> SecurityAssociation | None:
    try:
        return _xfrm_finish(st, where)
    except KeyFileError:
        raise
    except Exception as e:  # noqa: BLE001
        raise KeyFileError(where, st.line, f"cannot use this state ({type(e).__name__})") from None


# Detection and files --------------------------------------------------------------


def detect_format(text: str) -> str:
    """"esp_sa", "xfrm" or "tcpdump", from the first meaningful line."""
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith('"'):
            return "esp_sa"
        if _SA_START.match(s):
            return "xfrm"
        return "tcpdump"
    return "tcpdump"


def parse_key_text(text: str, where: str, *, files: bool = True) -> list[SecurityAssociation]:
    """Key text in any of the formats, detected. ``files`` False: tcpdump
    ``file PATH`` includes are refused (for text that came from a capture)."""
    text = text.lstrip("\ufeff")
    fmt = detect_format(text)
    if fmt == "esp_sa":
        return parse_esp_sa(text, where)
    if fmt == "xfrm":
        return parse_xfrm(text, where)
    return parse_tcpdump_secrets(text, where, files=files)


def _read_text(path: Path, where: str | None = None, line: int | None = None) -> str:
    data = _read_bytes(path, where, line)
    return _decode_text(data, str(path))


def _read_bytes(path: Path, where: str | None = None, line: int | None = None) -> bytes:
    try:
        with open(path, "rb") as f:
            # Not read(_MAX_KEY_FILE + 1) at once: that allocates 64 MB first,
            # for a file of a few kilobytes.
            parts: list[bytes] = []
            have = 0
            while have <= _MAX_KEY_FILE and (part := f.read(min(1 << 20, _MAX_KEY_FILE + 1 - have))):
                parts.append(part)
                have += len(part)
            data = b"".join(parts)
    except OSError as e:
        why = e.strerror or type(e).__name__
        if where is None:
            raise KeyFileError(str(path), None, f"cannot read: {why}") from None
        raise KeyFileError(where, line, f"cannot read {path}: {why}") from None
    if len(data) > _MAX_KEY_FILE:
        raise KeyFileError(str(path), None, "too large for a key file")
    return data


def _decode_text(data: bytes, where: str) -> str:
    if b"\0" in data.rstrip(b"\0"):
        raise KeyFileError(where, None, "not a text key file (binary data)")
    try:
        return data.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError as e:
        raise KeyFileError(where, None, f"not UTF-8 text (byte {e.start})") from None


_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_DSB = 0x0000000A


def read_pcapng_secrets(path: str | Path) -> list[tuple[int, bytes, str]]:
    """(secrets type, data, "file (DSB at offset n)") of each Decryption
    Secrets Block in a pcapng file, read block by block without loading
    packets."""
    path = Path(path)
    out: list[tuple[int, bytes, str]] = []
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise KeyFileError(str(path), None, f"cannot read: {e.strerror or type(e).__name__}") from None
    with f:
        endian = "<"
        offset = 0
        while True:
            head = f.read(8)
            if not head:
                break
            if len(head) < 8:
                raise KeyFileError(str(path), None, f"pcapng block cut short at offset {offset}")
            btype_raw = head[:4]
            if btype_raw == b"\x0a\x0d\x0d\x0a":
                bom = f.read(4)
                if bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                elif bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                else:
                    raise KeyFileError(str(path), None, f"bad pcapng byte-order magic at offset {offset}")
                f.seek(-4, 1)
            btype, blen = struct.unpack(endian + "II", head)
            if blen < 12 or blen % 4:
                raise KeyFileError(str(path), None, f"bad pcapng block length {blen} at offset {offset}")
            if btype == _PCAPNG_DSB:
                if blen > _MAX_KEY_FILE:  # read(blen) would first allocate up to 4 GiB
                    raise KeyFileError(str(path), None, f"pcapng DSB at offset {offset} claims "
                                                        f"{blen} bytes, more than a key file may hold")
                body = f.read(blen - 8)
                if len(body) < blen - 8 or len(body) < 12:
                    raise KeyFileError(str(path), None, f"pcapng DSB cut short at offset {offset}")
                stype, slen = struct.unpack_from(endian + "II", body)
                if 8 + slen > len(body) - 4:
                    raise KeyFileError(str(path), None, f"pcapng DSB length wrong at offset {offset}")
                out.append((stype, body[8 : 8 + slen], f"{path} (DSB at offset {offset})"))
            else:
                f.seek(blen - 8, 1)
            offset += blen
    return out


def load_key_file(path: str | Path) -> list[SecurityAssociation]:
    """SAs from a key file, whatever its format: tcpdump secrets, esp_sa,
    ``ip xfrm state`` output, or a pcapng capture's ESP secrets blocks."""
    path = Path(path)
    data = _read_bytes(path)
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        sas: list[SecurityAssociation] = []
        for stype, sdata, where in read_pcapng_secrets(path):
            sas.extend(parse_dsb(stype, sdata, where))
        return sas
    text = _decode_text(data, str(path))
    return parse_key_text(text, str(path))


def parse_dsb(secrets_type: int, data: bytes, where: str) -> list[SecurityAssociation]:
    """SAs in a pcapng Decryption Secrets Block; [] for other secret types."""
    if secrets_type != DSB_ESP_SA:
        return []
    # A capture is untrusted input: its "file /etc/passwd" line was read (and
    # quoted in the error), its "file FIFO" line hung the command.
    return parse_key_text(_decode_text(bytes(data), where), where, files=False)


# Writers ----------------------------------------------------------------------


def _label(sa: SecurityAssociation) -> str:
    spi = "*" if sa.spi is None else f"0x{sa.spi:08x}"
    return f"SA {spi} ({sa.describe()})"


def _unfit(sa: SecurityAssociation, fmt: str, why: str, lossy: bool, out: list[str]) -> None:
    if not lossy:
        raise ValueError(f"{_label(sa)} cannot be written as {fmt}: {why}")
    out.append(f"# {_label(sa)} left out: {why}")


def format_esp_sa(sas: Iterable[SecurityAssociation], *, lossy: bool = False) -> str:
    """Wireshark ``esp_sa`` rows (the file tshark reads from its profile,
    or passes row by row with ``-o uat:esp_sa:ROW``)."""
    out = ["# Wireshark ESP SAs: protocol, source, destination, SPI, encryption, key, "
           "authentication, key"]
    for sa in sas:
        enc = _WS_ENC_OUT.get(sa.encryption)
        if enc is None:
            _unfit(sa, "esp_sa", f"Wireshark has no {sa.encryption}", lossy, out)
            continue
        if ENCRYPTION[sa.encryption].is_aead or sa.integrity == "null":
            auth, akey = "NULL", ""
        elif sa.integrity == "unknown":
            auth = _WS_ANY_OUT.get(sa.icv_len or 0)
            akey = ""
            if auth is None:
                _unfit(sa, "esp_sa", f"no unchecked {sa.icv_len}-byte ICV in Wireshark", lossy, out)
                continue
        else:
            found = _WS_AUTH_OUT.get((sa.integrity, sa.icv_len))
            if found is None:
                if not lossy or sa.icv_len not in _WS_ANY_OUT:
                    _unfit(sa, "esp_sa", f"Wireshark cannot check {sa.integrity}", lossy, out)
                    continue
                found = _WS_ANY_OUT[sa.icv_len or 0]
                out.append(f"# {_label(sa)}: ICV written as unchecked")
                akey = ""
            else:
                akey = "0x" + (sa.auth_key or b"").hex() if sa.auth_key else ""
            auth = found
        addrs = [a for a in (sa.src, sa.dst) if a]
        family = "IPv6" if any(":" in a for a in addrs) else "IPv4"
        fields = [family, sa.src or "*", sa.dst or "*",
                  "*" if sa.spi is None else f"0x{sa.spi:08x}", enc,
                  "0x" + sa.enc_key.hex() if sa.enc_key else "", auth, akey]
        out.append(",".join(f'"{_uat_escape(f)}"' for f in fields))
    return "\n".join(out) + "\n"


_TCPDUMP_OUT = {"des-cbc": "des-cbc", "3des-cbc": "3des-cbc", "blowfish-cbc": "blowfish-cbc",
                "cast5-cbc": "cast-cbc"}


def format_tcpdump_secrets(sas: Iterable[SecurityAssociation], *, lossy: bool = False) -> str:
    """A tcpdump secrets file (``-E file PATH``): ``SPI@DST ALGO:0xKEY``.
    tcpdump knows only CBC ciphers, the destination, and ICV length 12 with
    no key (``-hmac96``); with ``lossy`` sources and 12-byte integrity keys
    are dropped and what does not fit is left out as comments."""
    out = ["# tcpdump ESP secrets: SPI@DST ALGO:SECRET"]
    for sa in sas:
        enc = ENCRYPTION[sa.encryption]
        if sa.encryption == "aes-cbc":
            name = f"aes{8 * len(sa.enc_key)}-cbc"
        elif sa.encryption == "camellia-cbc":
            name = f"camellia{8 * len(sa.enc_key)}-cbc"
        else:
            name = _TCPDUMP_OUT.get(sa.encryption, "")
        if not name or enc.kind != "cbc":
            _unfit(sa, "tcpdump secrets", f"tcpdump cannot decrypt {sa.encryption}", lossy, out)
            continue
        if sa.integrity == "null":
            suffix = ""
        elif sa.icv_len == 12 and (sa.integrity == "unknown" or lossy):
            suffix = "-hmac96"
        else:
            _unfit(sa, "tcpdump secrets", "tcpdump takes no integrity key and only 12-byte ICVs",
                   lossy, out)
            continue
        if (sa.spi is None) != (sa.dst is None):
            _unfit(sa, "tcpdump secrets", "tcpdump needs both SPI and destination, or neither",
                   lossy, out)
            continue
        if sa.src is not None and not lossy:
            _unfit(sa, "tcpdump secrets", "tcpdump has no source address", lossy, out)
            continue
        secret = f"{name}{suffix}:0x{sa.enc_key.hex()}"
        out.append(secret if sa.spi is None else f"0x{sa.spi:08x}@{sa.dst} {secret}")
    return "\n".join(out) + "\n"


def format_xfrm(sas: Iterable[SecurityAssociation], *, lossy: bool = False) -> str:
    """``ip xfrm state`` style text (what ``parse_xfrm`` reads back)."""
    out: list[str] = []
    for sa in sas:
        if sa.spi is None or sa.src is None or sa.dst is None:
            _unfit(sa, "xfrm", "a state needs SPI, source and destination", lossy, out)
            continue
        if sa.integrity == "unknown":
            _unfit(sa, "xfrm", "the integrity key is unknown", lossy, out)
            continue
        enc = ENCRYPTION[sa.encryption]
        if enc.is_aead:
            name = _XFRM_AEAD_OUT.get(sa.encryption)
            if name is None:
                _unfit(sa, "xfrm", f"Linux has no {sa.encryption}", lossy, out)
                continue
            crypto = [f"\taead {name[0]} 0x{sa.enc_key.hex()} {name[1]}"]
        else:
            auth = _XFRM_AUTH_OUT.get(sa.integrity)
            crypto = []
            if auth is not None and sa.integrity != "null":
                crypto.append(f"\tauth-trunc {auth[0]} 0x{(sa.auth_key or b'').hex()} {auth[1]}")
            crypto.append(f"\tenc {_XFRM_ENC_OUT[sa.encryption]} 0x{sa.enc_key.hex()}")
        out.append(f"src {sa.src} dst {sa.dst}")
        mode = f" mode {sa.mode}" if sa.mode else ""
        out.append(f"\tproto esp spi 0x{sa.spi:08x} reqid 0{mode}")
        out.append("\treplay-window 32 flag af-unspec" + (" esn" if sa.esn else ""))
        out.extend(crypto)
        if sa.encap is not None:
            out.append(f"\tencap type espinudp sport {sa.encap[0]} dport {sa.encap[1]} "
                       "addr 0.0.0.0")
        if sa.esn and sa.seq_hi is not None:
            out.append("\tanti-replay esn context:")
            out.append(f"\t seq-hi 0x{sa.seq_hi:x}, seq 0x0, oseq-hi 0x0, oseq 0x0")
    return "\n".join(out) + "\n"
