"""What the replaying commands print besides their result: warnings on
stderr, a progress bar, JSON a piece at a time."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from nhrpscope import api
from nhrpscope.api import Result
from nhrpscope.commands._options import capture_keys_used, force_used
from nhrpscope.errors import UserError
from nhrpscope.pipeline import OnProgress
from nhrpscope.render.safe_text import printable_line


def echo_json(doc: Any, **kw: Any) -> None:
    """``click.echo(json.dumps(doc, indent=2, **kw))``, the same text written
    a piece at a time: the whole text of a day's analysis and the pieces
    json builds it from need not be in memory at once."""
    parts: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, **kw).iterencode(doc):
        parts.append(chunk)
        size += len(chunk)
        if size >= 1 << 16:
            click.echo("".join(parts), nl=False)
            parts.clear()
            size = 0
    click.echo("".join(parts))


def warn(result: Result) -> None:
    for w in result.analysis.capture.warnings:
        click.echo(f"nhrpscope: warning: {printable_line(w)}", err=True)
    for n in result.key_notes:
        click.echo(f"nhrpscope: keys from the capture: {printable_line(n)}", err=True)


@contextmanager
def progress(files: tuple[str, ...]) -> Iterator[OnProgress | None]:
    """A progress bar on stderr, only on a terminal and for regular files of
    4 MiB or more (else None: the replay then goes at full speed)."""
    if not sys.stderr.isatty() or any(f == "-" for f in files):
        yield None
        return
    try:
        total = sum(os.path.getsize(f) for f in files)
    except OSError:
        yield None
        return
    if total < 4 << 20:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replay", total=total)
        yield lambda done: bar.update(task, completed=done)


def replay(files: tuple[str, ...], key_files: tuple[str, ...], esp_specs: tuple[str, ...],
           **options: Any) -> Result:
    """``api.analyze`` with the key options, a progress bar on a terminal,
    and the warnings printed."""
    if options.get("write_merged") == "-":
        raise UserError("--write-merged -: standard output carries the report; give a file name")
    if "-" in files and sys.stdin is None:
        raise UserError("standard input ('-') is closed")
    with progress(files) as on_progress:
        rp = api.analyze(files, keys=key_files, esp=esp_specs, capture_keys=capture_keys_used(),
                         on_progress=on_progress, force=force_used(), **options)
    warn(rp)
    return rp
