"""Text from a capture made safe for a terminal (issue 13, "Other").

A pcapng comment, an NHRP authentication password, an IKE vendor id: any
string a capture carries may hold escape sequences that set a window's
title, clear the screen or recolour what follows. Every such string is
passed through ``printable`` before it reaches a terminal: C0 and C1
controls, DEL and ESC become ``\\xNN``, the backslash itself ``\\\\`` (so
an escaped text cannot pass for another). JSON escapes by construction.

This module holds that escaping and the width text is laid out to, with
no import of rich: the commands whose output is JSON or plain lines use it
and never load rich (``terminal`` builds rich's Console and Table on it).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

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


# Without a terminal or COLUMNS (a file, a CI log) text is laid out this wide.
NO_TERMINAL_WIDTH = 140


def output_width() -> int:
    """How wide text may be: COLUMNS when set, else the width of the
    terminal the user sits at (stdout's; when it is piped to ``head`` or a
    file, stderr's, else stdin's: the one typed at), else
    ``NO_TERMINAL_WIDTH``."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            continue  # a stream replaced by a buffer (tests) or closed
    return NO_TERMINAL_WIDTH


def fit_line(line: str, width: int) -> str:
    """``line`` cut to ``width`` characters at a space, an ellipsis after
    the last whole word: no word (an address) is ever cut in two."""
    if len(line) <= width:
        return line
    cut = line.rfind(" ", 0, max(width - 1, 0))
    if cut <= 0:  # one word wider than the line: nothing whole to keep
        return line[:max(width - 1, 0)] + "…"
    return line[:cut].rstrip() + " …"
