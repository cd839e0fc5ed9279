"""rich's Console and Table for capture text: every string they print made
``printable`` (``safe_text``, issue 13, "Other"), and tables that never cut
a word to fit a narrow terminal."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from rich.console import Console as _RichConsole
from rich.console import ConsoleOptions, RenderResult
from rich.table import Table as _RichTable
from rich.text import Text

from nhrpscope.render.safe_text import clean


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
