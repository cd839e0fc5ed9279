"""`nhrpscope analyze`: replay captures and report what the routers did."""

from __future__ import annotations

import sys
from typing import Any

import click

from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import FILES, merge_options
from nhrpscope.commands._output import echo_json, replay
from nhrpscope.render.safe_text import printable_line
from nhrpscope.replay.findings import at_or_above


@click.command(short_help="Routers, registrations, shortcuts, IPsec SAs and findings.")
@FILES
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: a report; json: DESIGN.md's analyze document.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default=None,
              help="Exit 1 when a finding of this severity (or worse) exists.")
@click.option("--follow", is_flag=True,
              help="Print findings as they happen (for a live capture on standard input).")
@click.option("--verify-all", is_flag=True,
              help="Check the ICV of every ESP packet. By default it is checked on NHRP and "
                   "other control packets and on each SA's first packet; data packets are "
                   "opened only at their ends (GRE header, ESP trailer) and counted.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Read and classify the files on a local Dask cluster of N processes (a "
                   "big file is cut into byte ranges); the replay stays here, the result the "
                   "same. Needs: pip install 'nhrpscope[dask]'.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:8786",
              help="As --workers, on an existing dask.distributed cluster (its workers must "
                   "read the files and key files by the same paths).")
@merge_options
def analyze(files: tuple[str, ...], fmt: str, fail_on: str | None, follow: bool,
            verify_all: bool, workers: int | None, scheduler: str | None, no_dedup: bool,
            write_merged: str | None, key_files: tuple[str, ...],
            esp_specs: tuple[str, ...]) -> None:
    """Replay FILE... (merged by time; - for stdin): routers, registrations,
    resolutions, shortcuts, IPsec SAs and findings, each citing its frames."""

    def live(f: Any) -> None:
        click.echo(printable_line(f"[{f.severity}] {f.code}: {f.message} (frames "
                                  f"{', '.join(map(str, f.frames))})"), err=fmt == "json")
        sys.stdout.flush()

    # only when asked for: the options' absence keeps every other call as it was
    cluster = {k: v for k, v in (("workers", workers), ("scheduler", scheduler)) if v is not None}
    with edges():
        rp = replay(files, key_files, esp_specs, on_finding=live if follow else None,
                    dedup=not no_dedup, write_merged=write_merged, follow=follow,
                    verify_all=verify_all, **cluster)
        if fmt == "json":
            echo_json(rp.analysis.json(), ensure_ascii=False)
        else:
            from nhrpscope.render.report import print_report

            print_report(rp.analysis)
    if fail_on and at_or_above(rp.analysis.findings, fail_on):
        sys.exit(1)
