"""tcpdump's ESP secrets: the ``-E`` argument and ``-E file PATH`` secrets
files, parser and writer.

Items ``SPI@DST ALGO:SECRET``; ``ALGO:SECRET`` alone is the default SA for
any SPI; ``file PATH`` reads a secrets file of such lines (``#`` comments).
ALGO as tcpdump spells it (OpenSSL cipher names with ``-cbc``), suffix
``-hmac96`` for a 12-byte ICV whose key tcpdump does not take (so it is
skipped, not checked). SECRET is ``0x`` + hex, or the text itself (one pair
of surrounding quotes is removed). ``ikev2 ...`` lines are not ESP keys and
are skipped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.dissectors.esp_algorithms import ENCRYPTION

from .errors import KeyFileError, at_column, guard, is_known, known_words, show
from .fields import addr_field, c_ulong, hex_key, make_sa, unfit
from .files import MAX_INCLUDE_DEPTH, include_budget, read_text

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


known_words([*_TCPDUMP_CIPHERS, *(f"{k}-cbc" for k in _TCPDUMP_CIPHERS),
             *(f"{k}-cbc-hmac96" for k in _TCPDUMP_CIPHERS), "file", "ikev2"])


def _unknown_algorithm(text: str) -> str:
    """The error for an algorithm tcpdump does not know. ``text`` is not
    quoted (a line with the secret and the algorithm swapped must not print
    the secret, nor one that looks like an algorithm name); a typo gets the
    nearest of tcpdump's names."""
    import difflib

    if is_known(text):  # another format's name, say cbc(aes)
        return f"tcpdump has no ESP algorithm {text!r}"
    known = sorted({f"{k}-cbc" for k in _TCPDUMP_CIPHERS if k not in ("none", "null")})
    t = text[:-7] if text.endswith("-hmac96") else text
    near = difflib.get_close_matches(t if t.endswith("-cbc") else f"{t}-cbc", known, n=1,
                                     cutoff=0.75)
    if near and len(text) <= 24:
        return f"unknown tcpdump ESP algorithm (not shown: it may be a secret); did you mean {near[0]!r}?"
    return ("unknown tcpdump ESP algorithm (not shown: it may be a secret); expected ALGO:SECRET, "
            "ALGO as aes128-cbc, aes256-cbc, 3des-cbc, des-cbc, blowfish-cbc (-hmac96 for an ICV)")


def _tcpdump_algo(decode: str, where: str, line: int | None,
                  col: int) -> tuple[dict[str, object], int]:
    """``ALGO:SECRET`` starting at column ``col``: the SA's fields, and the
    secret's column."""
    if ":" not in decode:
        raise KeyFileError(where, line, "expected ALGO:SECRET", col)
    name, secret = decode.split(":", 1)
    secret_col = col + len(name) + 1 + len(secret) - len(secret.lstrip())
    name = given = name.strip().lower()
    integrity: dict[str, object] = {"integrity": "null", "auth_key": b""}
    if len(name) > 7 and name.endswith("-hmac96"):
        name = name[:-7]
        integrity = {"integrity": "unknown", "auth_key": None, "icv_len": 12}
    if len(name) > 4 and name.endswith("-cbc"):
        name = name[:-4]
    found = _TCPDUMP_CIPHERS.get(name)
    if found is None:
        raise KeyFileError(where, line, _unknown_algorithm(given), col)
    algo, size = found
    secret = secret.strip()
    if len(secret) >= 2 and secret[0] == secret[-1] and secret[0] in "\"'":
        secret = secret[1:-1]
    if secret[:2] in ("0x", "0X"):
        with at_column(where, line, secret_col):
            key = hex_key(secret, where, line, "the secret")
    else:
        key = secret.encode("utf-8")
    if size is not None and len(key) != size:
        raise KeyFileError(where, line, f"{name}-cbc needs a {size}-byte key, got {len(key)}",
                           secret_col)
    return {"encryption": algo, "enc_key": key, **integrity}, secret_col


def _tcpdump_item(item: str, where: str, line: int | None, depth: int,
                  out: list[SecurityAssociation], base: Path | None, files: bool = True) -> None:
    text = item.strip()
    if not text or text.startswith("#"):
        return
    col = len(item) - len(item.lstrip()) + 1  # of the item's first token: errors point there
    parts = text.split(None, 1)
    if len(parts) == 1:
        spikey, decode = None, parts[0]
        decode_col = col
    else:
        spikey, decode = parts
        decode_col = col + len(text) - len(decode)
    if spikey is not None and spikey.lower() == "file":
        if not files:  # text from a capture must not make us read (or block on) local files
            raise KeyFileError(where, line, "'file' includes are not followed in a capture's keys",
                               col)
        with at_column(where, line, decode_col):
            out.extend(_tcpdump_file(decode.strip(), where, line, depth + 1, base))
        return
    if spikey is not None and spikey.lower() == "ikev2":
        return  # IKEv2 SA secrets: not ESP keys
    spi = dst = None
    if spikey is not None:
        if "@" not in spikey:
            raise KeyFileError(where, line, "expected SPI@ADDRESS before the algorithm", col)
        spi_text, addr = spikey.split("@", 1)
        spi = c_ulong(spi_text)
        if spi is None:
            raise KeyFileError(where, line, f"bad SPI {show(spi_text)}", col)
        addr_col = col + len(spi_text) + 1
        with at_column(where, line, addr_col):
            dst = addr_field(addr, where, line, "address")
        if dst is None:
            raise KeyFileError(where, line, "SPI@ needs an address", addr_col)
    fields, secret_col = _tcpdump_algo(decode, where, line, decode_col)
    with at_column(where, line, col):
        out.append(make_sa(where, line, {"spi": spi, "src": None, "dst": dst, **fields},
                           enc_at=(line, secret_col)))


def _tcpdump_file(name: str, where: str, line: int | None, depth: int,
                  base: Path | None) -> list[SecurityAssociation]:
    if depth > MAX_INCLUDE_DEPTH:
        raise KeyFileError(where, line, "secrets files include each other too deeply")
    path = Path(name)
    if not path.is_absolute() and not path.exists() and base is not None:
        path = base / path
    text = read_text(path, where, line)
    return parse_tcpdump_secrets(text, str(path), _depth=depth)


def parse_tcpdump_spec(text: str, where: str = "-E") -> list[SecurityAssociation]:
    """Parse a tcpdump ``-E`` argument: items separated by commas or
    newlines; errors name ``where`` and the item number."""
    out: list[SecurityAssociation] = []
    with include_budget():
        for i, item in enumerate(re.split(r"[,\n]", text), 1):
            guard(where, i, functools.partial(_tcpdump_item, item, where, i, 0, out, None))
    return out


def parse_tcpdump_secrets(text: str, where: str = "secrets", *, _depth: int = 0,
                          files: bool = True) -> list[SecurityAssociation]:
    """A tcpdump secrets file: one item per line, ``#`` comment lines.
    ``files`` False: a ``file PATH`` line is an error, not an include."""
    out: list[SecurityAssociation] = []
    base = Path(where).parent if where else None
    with include_budget():
        for i, line in enumerate(text.splitlines(), 1):
            guard(where, i, functools.partial(_tcpdump_item, line, where, i, _depth, out, base, files))
    return out


# The writer ---------------------------------------------------------------------

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
            unfit(sa, "tcpdump secrets", f"tcpdump cannot decrypt {sa.encryption}", lossy, out)
            continue
        if sa.integrity == "null":
            suffix = ""
        elif sa.icv_len == 12 and (sa.integrity == "unknown" or lossy):
            suffix = "-hmac96"
        else:
            unfit(sa, "tcpdump secrets", "tcpdump takes no integrity key and only 12-byte ICVs",
                   lossy, out)
            continue
        if (sa.spi is None) != (sa.dst is None):
            unfit(sa, "tcpdump secrets", "tcpdump needs both SPI and destination, or neither",
                   lossy, out)
            continue
        if sa.src is not None and not lossy:
            unfit(sa, "tcpdump secrets", "tcpdump has no source address", lossy, out)
            continue
        secret = f"{name}{suffix}:0x{sa.enc_key.hex()}"
        out.append(secret if sa.spi is None else f"0x{sa.spi:08x}@{sa.dst} {secret}")
    return "\n".join(out) + "\n"

