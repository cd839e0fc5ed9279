"""The one exception of key parsing, and the rule for what of a key line an
error may quote."""

from __future__ import annotations

import re
from collections.abc import Callable


class KeyFileError(Exception):
    """A key source that cannot be used: where (file, or "-E #n"), which
    line (or item), and why. Never carries key material."""

    def __init__(self, where: str, line: int | None, reason: str) -> None:
        self.where = where
        self.line = line
        self.reason = reason
        super().__init__(f"{where}:{line}: {reason}" if line is not None else f"{where}: {reason}")


_HEXISH = re.compile(r"[0-9A-Fa-f]{12,}")


def show(text: str) -> str:
    """A field's text for an error message, unless it could be key
    material (long, or a long run of hex digits): then only its length."""
    if len(text) > 40 or _HEXISH.search(text):
        return f"({len(text)} characters, not shown)"
    return repr(text)


def guard(where: str, line: int | None, fn: Callable[[], object]) -> None:
    """Run one line's parser; anything but KeyFileError becomes one (and
    loses its text, which might quote a key)."""
    try:
        fn()
    except KeyFileError:
        raise
    except Exception as e:  # noqa: BLE001
        raise KeyFileError(where, line, f"cannot parse this line ({type(e).__name__})") from None
