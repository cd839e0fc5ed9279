"""`nhrpscope timeline`: the NHRP exchanges and state changes, in order."""

from __future__ import annotations

import json
from typing import Any

import click

from nhrpscope.api import find_router, parse_point
from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import FILES, merge_options
from nhrpscope.commands._output import replay
from nhrpscope.replay.model import Event, jsonable

# what --no-data leaves out
DATA_KINDS = {"data-first", "direct-data", "esp", "nat"}


@click.command(short_help="The NHRP exchanges and state changes, in order.")
@FILES
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "json"]), default="text",
              show_default=True,
              help="text: a ladder diagram; mermaid: a sequenceDiagram; json: the events.")
@click.option("--router", default=None, metavar="NBMA|TUNNEL",
              help="Keep only what this router sent or received.")
@click.option("--from", "from_", default=None, metavar="TIME|+S|frame:N", help="Start here.")
@click.option("--to", "to", default=None, metavar="TIME|+S|frame:N", help="Stop here.")
@click.option("--data/--no-data", default=True, show_default=True,
              help="Show the first data packet of each tunnel, ESP SAs and NAT events.")
@merge_options
def timeline(files: tuple[str, ...], fmt: str, router: str | None, from_: str | None,
             to: str | None, data: bool, no_dedup: bool, write_merged: str | None,
             key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """The NHRP exchanges and state changes of FILE..., in order."""
    from nhrpscope.render import ladder

    with edges():
        start = parse_point(from_, "--from") if from_ else None
        stop = parse_point(to, "--to") if to else None
    events: list[Any] = []

    def keep(ev: Any) -> None:
        if not data and ev.kind in DATA_KINDS:
            return
        if start is not None and start.kind == "frame" and ev.frame < start.value:
            return
        events.append(ev)

    def finding(f: Any) -> None:
        keep(Event(f.time if f.time is not None else (events[-1].time if events else 0.0),
                   f.frames[0] if f.frames else 0, "finding", (f.routers or [None])[0],
                   None, f"{f.severity} {f.code}", {"message": f.message}))

    with edges():
        rp = replay(files, key_files, esp_specs, stop=stop, on_event=keep, on_finding=finding,
                    dedup=not no_dedup, write_merged=write_merged)
        routers = rp.analysis.routers
        if start is not None and start.kind != "frame":
            t_from = start.time(rp.analysis.capture.first)
            if t_from is not None:
                events = [e for e in events if e.time >= t_from]
        if router:
            r = find_router(routers, router)
            mine = {r.nbma, *([r.public_nbma] if r.public_nbma else [])}
            events = [e for e in events if e.src in mine or e.dst in mine]
        t0 = rp.analysis.capture.first
        if fmt == "json":
            click.echo(json.dumps({"capture": jsonable(rp.analysis.capture),
                                   "routers": jsonable(routers),
                                   "events": jsonable(events)}, indent=2))
        elif fmt == "mermaid":
            click.echo(ladder.mermaid(events, routers))
        else:
            click.echo(ladder.ladder(events, routers, t0))
