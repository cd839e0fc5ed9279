"""Field readers and writer helpers shared by the key formats: addresses,
SPIs, hex keys, and building the SecurityAssociation itself."""

from __future__ import annotations

import functools
import ipaddress
import re

from nhrpscope.dissectors.base import addr_str
from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.dissectors.esp_algorithms import ENCRYPTION, INTEGRITY, check_key_length

from .errors import KeyFileError, known_words, show

# Our own algorithm names, which any format's error may repeat.
known_words([*ENCRYPTION, *INTEGRITY])


@functools.lru_cache(maxsize=4096)
def canon(s: str) -> str | None:
    """An address in its one canonical spelling, or None if it is none."""
    try:
        return addr_str(ipaddress.ip_address(s).packed)
    except ValueError:
        return None


# Where a key is: (line, column).
Position = tuple[int | None, int | None]


def make_sa(where: str, line: int | None, fields: dict[str, object], *,
            enc_at: Position | None = None, auth_at: Position | None = None) -> SecurityAssociation:
    """The SA of ``fields``, or its complaint as a KeyFileError; a key of the
    wrong length points at that key when the caller says where it is."""
    kw = {"origin": f"{where}:{line}" if line is not None else where, **fields}
    try:
        return SecurityAssociation(**kw)  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        # SecurityAssociation's messages name algorithms and lengths, never keys.
        why = str(e)
        for kind, algo, key, at in (("encryption", "encryption", "enc_key", enc_at),
                                    ("integrity", "integrity", "auth_key", auth_at)):
            name, value = kw.get(algo), kw.get(key)
            if (at is not None and isinstance(name, str) and isinstance(value, bytes)
                    and why == check_key_length(kind, name, len(value))):
                raise KeyFileError(where, at[0], why, at[1]) from None
        raise KeyFileError(where, line, why) from None


def hex_key(text: str, where: str, line: int | None, what: str, *, odd_ok: bool = False) -> bytes:
    """``0x``-prefixed hex → bytes (the caller checked the prefix)."""
    digits = text[2:]
    if odd_ok and len(digits) % 2:
        digits = "0" + digits
    if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise KeyFileError(where, line, f"{what} is not valid hex")
    return bytes.fromhex(digits)


def addr_field(text: str, where: str, line: int | None, what: str) -> str | None:
    t = text.strip()
    if t in ("", "*"):
        return None
    if "*" in t:
        raise KeyFileError(where, line, f"{what} {show(t)}: per-octet wildcards are not supported")
    a = canon(t)
    if a is None:
        raise KeyFileError(where, line, f"{what} {show(t)} is not an IPv4 or IPv6 address")
    return a


def c_ulong(text: str) -> int | None:
    """strtoul(text, 0) on the whole string: 0x hex, leading-0 octal, decimal."""
    t = text.strip()
    v: int | None
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


def label(sa: SecurityAssociation) -> str:
    spi = "*" if sa.spi is None else f"0x{sa.spi:08x}"
    return f"SA {spi} ({sa.describe()})"


def unfit(sa: SecurityAssociation, fmt: str, why: str, lossy: bool, out: list[str]) -> None:
    """What a writer does with an SA its format cannot say: raise, or
    (``lossy``) leave it out as a comment."""
    if not lossy:
        raise ValueError(f"{label(sa)} cannot be written as {fmt}: {why}")
    out.append(f"# {label(sa)} left out: {why}")
