"""Text from a capture made safe for a terminal (issue 13, "Other").

A pcapng comment, an NHRP authentication password, an IKE vendor id: any
string a capture carries may hold escape sequences that set a window's
title, clear the screen or recolour what follows. Every such string is
passed through ``printable`` before it reaches a terminal: C0 and C1
controls, DEL and ESC become ``\\xNN``, the backslash itself ``\\\\`` (so
an escaped text cannot pass for another). JSON escapes by construction.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from dataclasses import replace
from typing import Any

from rich.console import Console as _RichConsole
from rich.console import ConsoleOptions, RenderResult
from rich.table import Table as _RichTable
from rich.text import Text

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


# The columns a narrow table gives up first, least important first (by
# header, lower case): frame numbers and round-trip times before anything
# that names a router or says what went wrong.
DROP_FIRST = ("frames", "rtt", "every", "rtx", "seq gaps", "paired", "bytes", "holding",
              "last refresh", "up at", "got to", "forwarded by", "via hub after",
              "direct packets", "answered", "requests", "count", "seen", "decrypted", "gre key")


class Table(_RichTable):
    """rich's Table whose string cells are made ``printable``, and which
    never cuts a word (an address) to fit: when its columns cannot all get
    their longest word, it leaves out the least important ones (DROP_FIRST)
    and says so in its caption, the rest wrapping between words; when even
    that is too wide, each row is printed as a block of ``column: value``
    lines."""

    def add_row(self, *cells: Any, **kw: Any) -> None:
        super().add_row(*map(clean, cells), **kw)

    def _min_width(self, console: _RichConsole, options: ConsoleOptions,
                   columns: list[Any]) -> int:
        """The narrowest the table can be with ``columns`` and no word cut."""
        borders = (2 if self.box and self.show_edge else 0) + (len(columns) - 1 if self.box else 0)
        return borders + sum(self._measure_column(console, options, c).minimum for c in columns)

    def __rich_console__(self, console: _RichConsole, options: ConsoleOptions) -> RenderResult:
        width = options.max_width if self.width is None else self.width
        columns = list(self.columns)
        dropped: list[str] = []
        for name in DROP_FIRST:
            if self._min_width(console, options, columns) <= width:
                break
            hit = [c for c in columns if str(c.header).strip().lower() == name]
            columns = [c for c in columns if c not in hit]
            dropped += [str(c.header) for c in hit]
        if self._min_width(console, options, columns) > width:
            yield from self._records()
            return
        if not dropped:
            yield from super().__rich_console__(console, options)
            return
        narrow = copy.copy(self)
        narrow.columns = [replace(c, _index=i) for i, c in enumerate(columns)]
        note = f"(not shown at {width} columns: {', '.join(dropped)})"
        narrow.caption = f"{self.caption} {note}" if self.caption else note
        narrow.caption_justify = "left"
        yield from _RichTable.__rich_console__(narrow, console, options)

    def _records(self) -> RenderResult:
        """Every row as ``column: value`` lines, for a width no table fits."""
        if self.title:
            yield Text.from_markup(self.title) if isinstance(self.title, str) else self.title
        for i in range(self.row_count):
            for c in self.columns:
                cell = c._cells[i]
                value = Text.from_markup(cell) if isinstance(cell, str) else cell
                yield Text.assemble(f"  {c.header}: ", value) if isinstance(value, Text) else value
            if i + 1 < self.row_count:
                yield Text("")
        if self.caption:
            yield Text.from_markup(self.caption) if isinstance(self.caption, str) else self.caption

    def _calculate_column_widths(self, console: _RichConsole,
                                 options: ConsoleOptions) -> list[int]:
        """rich's widths, unless they would cut a word: then every column
        gets its longest word and the room left goes to the columns with
        the most still to show, in proportion."""
        widths = super()._calculate_column_widths(console, options)
        ranges = [self._measure_column(console, options, c) for c in self.columns]
        lows = [r.minimum or 1 for r in ranges]
        room = options.max_width - sum(lows)
        if all(w >= lo for w, lo in zip(widths, lows, strict=True)) or room < 0:
            return widths
        gaps = [max((r.maximum or 1) - lo, 0) for r, lo in zip(ranges, lows, strict=True)]
        total = sum(gaps) or 1
        out = [lo + g * room // total for lo, g in zip(lows, gaps, strict=True)]
        spare = options.max_width - sum(out)
        for i in sorted(range(len(out)), key=lambda i: -gaps[i])[:max(spare, 0)]:
            if out[i] < lows[i] + gaps[i]:
                out[i] += 1
        return out
