"""`nhrpscope timeline`: the NHRP exchanges and state changes, in order."""

from __future__ import annotations

import json
from typing import Any

import click

from nhrpscope.api import Stop, UserError, find_router, parse_point
from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import FILES, merge_options
from nhrpscope.commands._output import replay
from nhrpscope.points import stamp
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
        _in_order(start, stop)
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
        cap = rp.analysis.capture
        if start is not None:
            _check_start(start, stop, cap.first, cap.last, rp.end_frame)
        if start is not None and start.kind != "frame":
            t_from = start.time(cap.first)
            if t_from is not None:
                events = [e for e in events if e.time >= t_from]
        # a finding is raised when its rule can tell (a timeout, the capture's
        # end) but belongs at its first frame's time: in time order, stably
        events.sort(key=lambda e: e.time)
        if rp.past_end is not None:
            click.echo(f"nhrpscope: note: {_past_end_note(rp, stop)}", err=True)
        if router:
            r = find_router(routers, router)
            mine = {r.nbma, *([r.public_nbma] if r.public_nbma else [])}
            events = [e for e in events if e.src in mine or e.dst in mine]
        t0 = cap.first
        if fmt == "json":
            click.echo(json.dumps({"capture": jsonable(rp.analysis.capture),
                                   "routers": jsonable(routers),
                                   "events": jsonable(events)}, indent=2))
        elif fmt == "mermaid":
            click.echo(ladder.mermaid(events, routers))
        else:
            from nhrpscope.render.safe_text import output_width

            click.echo(ladder.ladder(events, routers, t0, output_width()))


def _in_order(start: Stop | None, stop: Stop | None) -> None:
    """--from after --to, when both are the same kind of point, is an error."""
    if start is None or stop is None or (start.kind == "frame") != (stop.kind == "frame"):
        return
    if start.kind == stop.kind and start.value > stop.value:
        raise UserError(f"{start.name()} is after {stop.name()}")


def _check_start(start: Stop, stop: Stop | None, first: float | None, last: float | None,
                 last_frame: int | None) -> None:
    """--from past the last frame replayed (the capture's, or --to's) is an error."""
    until = f"{stop.name()}" if stop is not None else "the capture's last frame"
    if start.kind == "frame":
        if last_frame is not None and start.value > last_frame:
            raise UserError(f"{start.name()}: after {until} (frame {last_frame})")
        return
    t = start.time(first)
    if t is not None and last is not None and t > last:
        raise UserError(f"{start.name()}: after {until} (frame {last_frame}, {stamp(last)})")


def _past_end_note(rp: Any, stop: Stop | None) -> str:
    where = stop.name() if stop is not None else "the stop"
    return (f"{where} is past the capture's last frame (frame {rp.end_frame}, "
            f"{stamp(rp.end)}): nothing after it is known, so the timeline ends there")
