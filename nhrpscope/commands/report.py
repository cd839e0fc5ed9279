"""`nhrpscope report`: one self-contained HTML page of a capture's story."""

from __future__ import annotations

import os
import tempfile

import click

from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import FILES, key_options
from nhrpscope.commands._output import replay
from nhrpscope.errors import UserError
from nhrpscope.replay.model import Event

SHORT = "One self-contained HTML page: findings, charts, ladder, show dmvpn over time."


@click.command(short_help=SHORT)
@FILES
@click.option("-o", "--output", "outfile", required=True, metavar="REPORT.html",
              help="Where to write the page (refused if it exists, unless --force; never "
                   "an input; written whole or not at all).")
@click.option("--force", is_flag=True, help="Replace REPORT.html if it exists.")
@click.option("--no-dedup", is_flag=True, help="Keep packets seen twice (see analyze).")
@key_options
def report(files: tuple[str, ...], outfile: str, force: bool, no_dedup: bool,
           key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """Write one HTML page (inline CSS, SVG and script; it makes no request)
    about FILE...: findings, routers, a registration chart, a ladder of the
    NHRP and IKE exchanges, each router's show dmvpn at any instant, IPsec SAs."""
    from nhrpscope.output import OutputFile, check
    from nhrpscope.render.html.common import Frames
    from nhrpscope.render.html.origin import origins
    from nhrpscope.render.html.page import build
    from nhrpscope.snapshots import take_snapshots

    inputs = (*files, *key_files)
    with edges(stdout=outfile == "-"):
        if "-" in files:
            raise UserError("report: standard input cannot be replayed twice (the time slider "
                            "needs a second replay); save the capture to a file")
        check(outfile, force=force, inputs=inputs)  # refuse before the replay, not after
        events: list[Event] = []
        with tempfile.TemporaryDirectory(prefix="nhrpscope-report-") as tmp:
            # several files: the merged stream says which file each frame is in
            merged = os.path.join(tmp, "merged.pcapng") if len(files) > 1 else None
            rp = replay(files, key_files, esp_specs, on_event=events.append,
                        dedup=not no_dedup, write_merged=merged)
            origin = origins(merged) if merged else {}
        snaps = take_snapshots(rp, events)
        page = build(rp, events, snaps, Frames(rp.files, origin))
        with OutputFile(outfile, force=force, inputs=inputs) as fh:
            fh.write(page.encode("utf-8"))
    click.echo(f"{outfile}: {len(page) // 1024} KiB, {len(rp.analysis.findings)} findings, "
               f"{len(snaps.times)} instants", err=True)
