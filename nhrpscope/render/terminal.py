"""Text from a capture made safe for a terminal (issue 13, "Other").

A pcapng comment, an NHRP authentication password, an IKE vendor id: any
string a capture carries may hold escape sequences that set a window's
title, clear the screen or recolour what follows. Every such string is
passed through ``printable`` before it reaches a terminal: C0 and C1
controls, DEL and ESC become ``\\xNN``, the backslash itself ``\\\\`` (so
an escaped text cannot pass for another). JSON escapes by construction.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console as _RichConsole
from rich.table import Table as _RichTable

# C0 (tab and newline included: one string is one line), DEL, C1; and the
# Unicode line/paragraph separators and bidirectional overrides, which
# reorder or break what a terminal shows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\\\\\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c == "\\":
        return "\\\\"
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def printable(text: str) -> str:
    """``text`` with every control character escaped: safe on a terminal."""
    return _UNSAFE.sub(_escape, text)


def printable_line(line: str) -> str:
    """A line of ours that embeds capture text: the same escaping, except
    that backslashes of our own formatting are left alone."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() == "\\" else _escape(m), line)


def clean(value: Any) -> Any:
    """``printable_line`` for strings; anything else as it is."""
    return printable_line(value) if isinstance(value, str) else value


class Console(_RichConsole):
    """rich's Console with every string printed made ``printable``; and a
    reader who left (``| head``) is a ``BrokenPipeError`` for the command's
    edge to handle (exit 0), where rich would exit 1, the code
    ``--fail-on`` reserves for findings."""

    def print(self, *objects: Any, **kw: Any) -> None:
        super().print(*map(clean, objects), **kw)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


class Table(_RichTable):
    """rich's Table whose string cells are made ``printable``."""

    def add_row(self, *cells: Any, **kw: Any) -> None:
        super().add_row(*map(clean, cells), **kw)
