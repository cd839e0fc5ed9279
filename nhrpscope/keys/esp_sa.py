"""Wireshark's ``esp_sa`` UAT file (which strongSwan's save-keys plugin also
writes), parser and writer.

CSV rows ``"IPv4","src","dst","0xSPI","encryption","0xkey","authentication",
"0xkey"`` with Wireshark's algorithm strings ("AES-CBC [RFC3602]",
"HMAC-SHA-1-96 [RFC2404]", "ANY 96 bit authentication [no checking]" ...)
and ``*`` wildcards for addresses and SPI (per-octet wildcards like
``10.*.*.1`` are not supported).
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable

from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.dissectors.esp_algorithms import ENCRYPTION

from .errors import KeyFileError, at_column, guard, known_words, show
from .fields import addr_field, c_ulong, hex_key, label, make_sa, unfit

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


known_words([*WIRESHARK_ENCRYPTION, *_WIRESHARK_ENC_ALIASES, _WIRESHARK_GCM_OLD,
             *WIRESHARK_AUTHENTICATION, *_WIRESHARK_AUTH_ALIASES, "IPv4", "IPv6", "*"])


def _fold(s: str) -> str:
    return " ".join(s.split()).lower()


_WS_ENC = {_fold(k): v for k, v in {**WIRESHARK_ENCRYPTION, **_WIRESHARK_ENC_ALIASES}.items()}
_WS_AUTH = {_fold(k): v for k, v in {**WIRESHARK_AUTHENTICATION, **_WIRESHARK_AUTH_ALIASES}.items()}
_WS_ENC_OUT = {v: k for k, v in WIRESHARK_ENCRYPTION.items()}
_WS_AUTH_OUT = {v: k for k, v in WIRESHARK_AUTHENTICATION.items() if v[0] != "unknown"}
_WS_ANY_OUT = {n: k for k, (a, n) in WIRESHARK_AUTHENTICATION.items() if a == "unknown"}


def _uat_unescape(s: str) -> str:
    """UAT strings escape bytes as \\xHH."""
    if "\\" not in s:
        return s
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def _uat_escape(s: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in s)


def _ws_key(text: str, where: str, line: int, what: str) -> bytes:
    """Wireshark's compute_ascii_key: 0x-hex (odd length gets a leading
    zero nibble), "0x" alone is empty, anything else is the text itself."""
    if len(text) >= 2 and text[0] == "0" and text[1] in "xX":
        return hex_key(text, where, line, what, odd_ok=True)
    return text.encode("utf-8")


def _esp_sa_row(fields: list[str], cols: list[int] | list[None], where: str, line: int
                ) -> SecurityAssociation:
    """One row; ``cols`` are its fields' columns, for errors (None: not
    known yet, see ``_esp_sa_line``)."""
    if len(fields) != 8:
        raise KeyFileError(where, line, f"expected 8 fields, found {len(fields)}", cols[0])
    proto, src, dst, spi_t, enc_t, enc_k, auth_t, auth_k = (_uat_unescape(f).strip() for f in fields)
    family = proto.lower()
    if family not in ("ipv4", "ipv6"):
        raise KeyFileError(where, line, f"protocol {show(proto)} is not IPv4 or IPv6", cols[0])
    with at_column(where, line, cols[1]):
        src_a = addr_field(src, where, line, "source")
    with at_column(where, line, cols[2]):
        dst_a = addr_field(dst, where, line, "destination")
    family_name = "IPv6" if family == "ipv6" else "IPv4"
    for a, which, col in ((src_a, "source", cols[1]), (dst_a, "destination", cols[2])):
        if a is not None and (":" in a) != (family == "ipv6"):
            raise KeyFileError(where, line, f"the {which} address is not {family_name}", col)
    if spi_t == "*":
        spi = None
    else:
        spi = c_ulong(spi_t) if spi_t[:2].lower() == "0x" or spi_t.isdigit() else None
        if spi is None:
            raise KeyFileError(where, line, f"bad SPI {show(spi_t)}", cols[3])
    enc_name = _fold(enc_t)
    auth = _WS_AUTH.get(_fold(auth_t))
    if auth is None:
        raise KeyFileError(where, line, f"unknown authentication algorithm {show(auth_t)}", cols[6])
    if enc_name == _fold(_WIRESHARK_GCM_OLD):
        by_icv = {0: "aes-gcm-16", 8: "aes-gcm-8", 12: "aes-gcm-12", 16: "aes-gcm-16"}
        if auth[0] not in ("null", "unknown") or auth[1] not in by_icv:
            raise KeyFileError(where, line, f"{_WIRESHARK_GCM_OLD} needs NULL or ANY 64/96/128 bit "
                                            "authentication", cols[6])
        encryption = by_icv[auth[1]]
        auth = ("null", 0)
    else:
        found = _WS_ENC.get(enc_name)
        if found is None:
            raise KeyFileError(where, line, f"unsupported encryption algorithm {show(enc_t)}",
                               cols[4])
        encryption = found
    with at_column(where, line, cols[5]):
        key = _ws_key(enc_k, where, line, "the encryption key")
    if ENCRYPTION[encryption].is_aead and auth[0] != "null":
        raise KeyFileError(where, line, f"{_WS_ENC_OUT[encryption]} carries its own ICV: "
                                        "authentication must be NULL", cols[6])
    integrity, icv_len = auth
    if integrity == "unknown":
        akey: bytes | None = None
    elif integrity == "null":
        akey = b""
    else:
        with at_column(where, line, cols[7]):
            akey = _ws_key(auth_k, where, line, "the authentication key")
    with at_column(where, line, cols[0]):
        return make_sa(where, line, {
            "spi": spi, "src": src_a, "dst": dst_a, "encryption": encryption, "enc_key": key,
            "integrity": integrity, "auth_key": akey,
            "icv_len": icv_len if integrity == "unknown" else None,
        }, enc_at=(line, cols[5]), auth_at=(line, cols[7]))


def _field_columns(row: str, first: int) -> list[int]:
    """The column (1-based, ``row`` starting at column ``first``) where each
    CSV field of ``row`` starts, as csv.reader with skipinitialspace cuts it."""
    cols: list[int] = []
    i, n = 0, len(row)
    while True:
        while i < n and row[i] == " ":
            i += 1
        cols.append(first + i)
        quoted = False
        while i < n and (quoted or row[i] != ","):
            if row[i] == '"':
                quoted = not quoted
            i += 1
        if i >= n:
            return cols
        i += 1


def parse_esp_sa(text: str, where: str = "esp_sa") -> list[SecurityAssociation]:
    """Wireshark's (and strongSwan save-keys') ``esp_sa`` rows."""
    out: list[SecurityAssociation] = []
    for i, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        first = len(raw) - len(raw.lstrip()) + 1
        guard(where, i, functools.partial(_esp_sa_line, s, first, where, i, out))
    return out


def _esp_sa_line(s: str, first: int, where: str, line: int, out: list[SecurityAssociation]) -> None:
    fields = next(csv.reader([s], skipinitialspace=True))
    try:
        # the columns, a walk over every character, are found only for an error
        sa = _esp_sa_row(fields, [None] * max(8, len(fields)), where, line)
    except KeyFileError:
        cols = _field_columns(s, first)
        cols += [cols[-1]] * (len(fields) - len(cols))  # a quote left open: later fields point at it
        sa = _esp_sa_row(fields, cols, where, line)  # the same error, with its column
    out.append(sa)


# The writer ---------------------------------------------------------------------


def format_esp_sa(sas: Iterable[SecurityAssociation], *, lossy: bool = False) -> str:
    """Wireshark ``esp_sa`` rows (the file tshark reads from its profile,
    or passes row by row with ``-o uat:esp_sa:ROW``)."""
    out = ["# Wireshark ESP SAs: protocol, source, destination, SPI, encryption, key, "
           "authentication, key"]
    for sa in sas:
        enc = _WS_ENC_OUT.get(sa.encryption)
        if enc is None:
            unfit(sa, "esp_sa", f"Wireshark has no {sa.encryption}", lossy, out)
            continue
        auth: str | None
        if ENCRYPTION[sa.encryption].is_aead or sa.integrity == "null":
            auth, akey = "NULL", ""
        elif sa.integrity == "unknown":
            auth = _WS_ANY_OUT.get(sa.icv_len or 0)
            akey = ""
            if auth is None:
                unfit(sa, "esp_sa", f"no unchecked {sa.icv_len}-byte ICV in Wireshark", lossy, out)
                continue
        else:
            found = _WS_AUTH_OUT.get((sa.integrity, sa.icv_len or 0))
            if found is None:
                if not lossy or sa.icv_len not in _WS_ANY_OUT:
                    unfit(sa, "esp_sa", f"Wireshark cannot check {sa.integrity}", lossy, out)
                    continue
                found = _WS_ANY_OUT[sa.icv_len or 0]
                out.append(f"# {label(sa)}: ICV written as unchecked")
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

