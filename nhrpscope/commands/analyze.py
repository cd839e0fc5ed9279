"""`nhrpscope analyze`, `nhrpscope timeline` and `nhrpscope show dmvpn|nhrp`:
replay one or more captures and report what the routers did."""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import click

from nhrpscope.cli import UserError, edges, key_options, load_keys, main, secrets_handler

FILES = click.argument("files", nargs=-1, required=True,
                       type=click.Path(dir_okay=False, allow_dash=True))


def _common(f: Callable) -> Callable:
    f = click.option("--no-dedup", is_flag=True,
                     help="Keep packets seen twice (by default the same IP packet seen again "
                          "within 1 s, TTL and checksum aside, counts once).")(f)
    f = click.option("--write-merged", "write_merged", type=click.Path(dir_okay=False),
                     default=None, metavar="OUT.pcapng",
                     help="Write the merged, de-duplicated stream whose frame numbers "
                          "the output cites.")(f)
    return key_options(f)


# --------------------------------------------------------------------- replay


@dataclass
class Stop:
    """Where to stop the replay: a time (absolute or after the first frame) or a frame."""

    kind: str  # time | rel | frame
    value: float

    def time(self, first: float | None) -> float | None:
        if self.kind == "time":
            return self.value
        if self.kind == "rel":
            return None if first is None else first + self.value
        return None


def parse_point(text: str, opt: str = "--at") -> Stop:
    """TIME (epoch seconds or ISO 8601, UTC if no zone), +SECONDS, or frame:N."""
    s = text.strip()
    try:
        if s.lower().startswith("frame:"):
            n = int(s[6:])
            if n < 1:
                raise ValueError
            return Stop("frame", n)
        if s.startswith("+"):
            return Stop("rel", float(s[1:]))
        try:
            return Stop("time", float(s))
        except ValueError:
            pass
        d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if d.tzinfo is None:
            d = d.replace(tzinfo=_dt.UTC)
        return Stop("time", d.timestamp())
    except ValueError:
        raise UserError(f"{opt} {text!r}: expected TIME (epoch seconds or ISO 8601), "
                        f"+SECONDS or frame:N") from None


@dataclass
class Replay:
    engine: Any
    source: Any
    analysis: Any
    end: float | None
    end_frame: int | None
    files: list[str] = field(default_factory=list)
    key_notes: list[str] = field(default_factory=list)


def _key_store(key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> Any:
    try:
        return load_keys(key_files, esp_specs)
    except ModuleNotFoundError as e:  # pragma: no cover - keys.py ships with the package
        if key_files or esp_specs:
            raise UserError(f"ESP keys cannot be read: {e}") from None
        return None


def _progress(files: list[str]) -> Any:
    """A progress bar on stderr, only on a terminal and for regular files."""
    if not sys.stderr.isatty() or any(f == "-" for f in files):
        return None
    try:
        total = sum(os.path.getsize(f) for f in files)
    except OSError:
        return None
    if total < 4 << 20:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                 TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    return p, total


def replay(files: tuple[str, ...], key_files: tuple[str, ...], esp_specs: tuple[str, ...], *,
           stop: Stop | None = None, on_event: Callable | None = None,
           on_finding: Callable | None = None, dedup: bool = True,
           write_merged: str | None = None, follow: bool = False, fast: bool = True,
           verify_all: bool = False) -> Replay:
    """Read, merge, decode and replay ``files``; stop at ``stop`` if given.
    ``fast`` False decodes every frame (no header-byte fast path);
    ``verify_all`` checks the ICV of every ESP packet, data too."""
    from nhrpscope.capture import PcapngWriter
    from nhrpscope.replay.source import CaptureSource

    if sum(1 for f in files if f == "-") > 1:
        raise UserError("standard input ('-') can be read only once")
    store = _key_store(key_files, esp_specs)
    on_secrets = None
    if store is not None:
        try:
            on_secrets = secrets_handler(store)
        except ModuleNotFoundError:  # pragma: no cover
            on_secrets = None
    lookup = store.db.lookup if store is not None else None
    with ExitStack() as stack:
        writer = None
        if write_merged:
            try:
                fh = stack.enter_context(open(write_merged, "wb"))  # noqa: SIM115
            except OSError as e:
                raise UserError(f"{write_merged}: cannot write: {e.strerror or e}") from None
            writer = PcapngWriter(fh)
        window = 0.0 if follow else 0.5
        src = CaptureSource(list(files), on_secrets=on_secrets, dedup=dedup, writer=writer,
                            reorder_window=window, reorder_max=0 if follow else 4096)
        stack.enter_context(src)
        prog = _progress(list(files))
        staged = None
        if stop is None and prog is None and fast and not follow and src.stageable():
            # a big file is read and classified by a second process while this one
            # replays; it starts now, while the engine is loaded
            from nhrpscope.cli import capture_keys_used

            staged = src.staged(key_files, esp_specs, verify_all=verify_all,
                                capture_keys=capture_keys_used())
        from nhrpscope.replay.engine import Engine

        eng = Engine(lookup, on_event=on_event, on_finding=on_finding, fast=fast,
                     verify_all=verify_all)
        task = None
        if prog is not None:
            bar, total = prog
            stack.enter_context(bar)
            task = bar.add_task("replay", total=total)
        end = None
        end_frame = None
        done_bytes = 0
        first = None
        records = src.records()
        if stop is None and task is None:
            # the whole stream in one call: the engine's loop reads the tuples itself
            if staged is not None:
                eng.feed_items(staged)
            else:
                eng.feed_batches(src.record_batches())
            end_frame = eng.last_frame if eng.frames else None
            records = iter(())
        for rec in records:
            number, t = rec[0], rec[1]
            if first is None:
                first = t
            if stop is not None:
                if stop.kind == "frame":
                    if number > stop.value:
                        break  # frame N itself was dropped as a duplicate
                else:
                    t_stop = stop.time(first)
                    if t_stop is not None and t > t_stop:
                        end = t_stop
                        break
            eng.feed_record(rec)
            end_frame = number
            if stop is not None and stop.kind == "frame" and number == stop.value:
                break
            if task is not None:
                done_bytes += len(rec[3]) + 16
                if number % 2048 == 0:
                    prog[0].update(task, completed=done_bytes)
        if stop is not None and stop.kind == "frame":
            end = eng.now if eng.now != float("-inf") else None
        elif stop is not None and end is None:
            end = stop.time(first)
            if end is not None and end < eng.now:
                end = eng.now
        eng.finish(end)
        warnings = list(src.warnings)
        warnings += eng.decoder.finish()
        analysis = eng.analysis(src.names, frames=src.frames, duplicates=src.duplicates,
                                warnings=warnings)
        notes = list(getattr(store, "from_capture", []) or [])
        return Replay(eng, src, analysis, end if end is not None else eng.now, end_frame,
                      src.names, notes)


def _echo_json(doc: Any, **kw: Any) -> None:
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


def _warn(rp: Replay) -> None:
    for w in rp.analysis.capture.warnings:
        click.echo(f"nhrpscope: warning: {w}", err=True)
    for n in rp.key_notes:
        click.echo(f"nhrpscope: keys from the capture: {n}", err=True)


# --------------------------------------------------------------------- analyze


@main.command()
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
@_common
def analyze(files: tuple[str, ...], fmt: str, fail_on: str | None, follow: bool,
            verify_all: bool, no_dedup: bool, write_merged: str | None,
            key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """Replay FILE... (merged by time; - for stdin): routers, registrations,
    resolutions, shortcuts, IPsec SAs and findings, each citing its frames."""
    from nhrpscope.replay.findings import at_or_above

    def live(f: Any) -> None:
        click.echo(f"[{f.severity}] {f.code}: {f.message} (frames "
                   f"{', '.join(map(str, f.frames))})", err=fmt == "json")
        sys.stdout.flush()

    with edges():
        rp = replay(files, key_files, esp_specs, on_finding=live if follow else None,
                    dedup=not no_dedup, write_merged=write_merged, follow=follow,
                    verify_all=verify_all)
        _warn(rp)
        if fmt == "json":
            _echo_json(rp.analysis.json(), ensure_ascii=False)
        else:
            from nhrpscope.render.report import print_report

            print_report(rp.analysis)
    if fail_on and at_or_above(rp.analysis.findings, fail_on):
        sys.exit(1)


# --------------------------------------------------------------------- timeline


def _router_match(rp_or_routers: Any, text: str) -> Any:
    routers = rp_or_routers
    for r in routers:
        if text == r.nbma or text == r.public_nbma or text in r.tunnels:
            return r
    names = ", ".join(f"{r.nbma} ({r.tunnel or '?'})" for r in routers) or "none"
    raise UserError(f"no router {text} in the capture (routers seen: {names})")


@main.command()
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
@_common
def timeline(files: tuple[str, ...], fmt: str, router: str | None, from_: str | None,
             to: str | None, data: bool, no_dedup: bool, write_merged: str | None,
             key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """The NHRP exchanges and state changes of FILE..., in order."""
    from nhrpscope.render import ladder

    start = parse_point(from_, "--from") if from_ else None
    stop = parse_point(to, "--to") if to else None
    events: list[Any] = []
    data_kinds = {"data-first", "direct-data", "esp", "nat"}

    def keep(ev: Any) -> None:
        if not data and ev.kind in data_kinds:
            return
        if start is not None and start.kind == "frame" and ev.frame < start.value:
            return
        events.append(ev)

    def finding(f: Any) -> None:
        from nhrpscope.replay.model import Event

        keep(Event(f.time if f.time is not None else (events[-1].time if events else 0.0),
                   f.frames[0] if f.frames else 0, "finding", (f.routers or [None])[0],
                   None, f"{f.severity} {f.code}", {"message": f.message}))

    with edges():
        rp = replay(files, key_files, esp_specs, stop=stop, on_event=keep, on_finding=finding,
                    dedup=not no_dedup, write_merged=write_merged)
        _warn(rp)
        routers = rp.analysis.routers
        if start is not None and start.kind != "frame":
            t_from = start.time(rp.analysis.capture.first)
            if t_from is not None:
                events = [e for e in events if e.time >= t_from]
        if router:
            r = _router_match(routers, router)
            mine = {r.nbma, *([r.public_nbma] if r.public_nbma else [])}
            events = [e for e in events if e.src in mine or e.dst in mine]
        t0 = rp.analysis.capture.first
        if fmt == "json":
            from nhrpscope.replay.model import jsonable

            click.echo(json.dumps({"capture": jsonable(rp.analysis.capture),
                                   "routers": jsonable(routers),
                                   "events": jsonable(events)}, indent=2))
        elif fmt == "mermaid":
            click.echo(ladder.mermaid(events, routers))
        else:
            click.echo(ladder.ladder(events, routers, t0))


# --------------------------------------------------------------------- show


@main.group()
def show() -> None:
    """What the routers would have printed, inferred from a capture."""


def _views(rp: Replay, router: str | None, interface: str) -> list[Any]:
    from nhrpscope.render.show import RouterView

    eng = rp.engine
    routers = rp.analysis.routers
    t = rp.end if rp.end is not None else eng.now
    if router:
        chosen = [_router_match(routers, router)]
    else:
        chosen = [r for r in routers if r.role != "unknown" or eng.caches.get(r.nbma)]
    views = []
    for r in chosen:
        c = eng.caches.get(r.nbma)
        entries = c.at(t) if c is not None else []
        nhs = {}
        for e in entries:
            if e.type == "static":
                nhs[e.proto] = "RE" if e.state == "UP" else "E"
        views.append(RouterView(r, t, entries, interface, rp.end_frame,
                                ", ".join(os.path.basename(f) for f in rp.files),
                                rp.analysis.capture.first, nhs))
    return views


def _show_options(f: Callable) -> Callable:
    f = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     show_default=True)(f)
    f = click.option("--interface", default="Tunnel0", show_default=True,
                     help="The tunnel interface name to print (not visible on the wire).")(f)
    f = click.option("--at", "at", default=None, metavar="TIME|+SECONDS|frame:N",
                     help="The instant to show (default: the end of the capture).")(f)
    f = click.option("--router", default=None, metavar="NBMA|TUNNEL",
                     help="One router (default: every router).")(f)
    return f


@show.command("dmvpn")
@FILES
@_show_options
@click.option("--detail", is_flag=True, help="show dmvpn detail.")
@key_options
def show_dmvpn(files: tuple[str, ...], router: str | None, at: str | None, interface: str,
               fmt: str, detail: bool, key_files: tuple[str, ...],
               esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show dmvpn` for each router, as the capture shows it."""
    from nhrpscope.render import show as S

    with edges():
        rp = replay(files, key_files, esp_specs, stop=parse_point(at) if at else None)
        _warn(rp)
        views = _views(rp, router, interface)
        if fmt == "json":
            click.echo(json.dumps([S.dmvpn_json(v) for v in views], indent=2))
        elif not views:
            click.echo("% nhrpscope: no NHRP router in this capture")
        else:
            click.echo("\n\n".join(S.show_dmvpn(v, detail=detail) for v in views))


@show.command("nhrp")
@FILES
@_show_options
@click.option("--style", type=click.Choice(["cisco", "frr"]), default="cisco", show_default=True,
              help="cisco: show ip nhrp; frr: show ip nhrp cache and show ip nhrp nhs.")
@key_options
def show_nhrp(files: tuple[str, ...], router: str | None, at: str | None, interface: str,
              fmt: str, style: str, key_files: tuple[str, ...],
              esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show ip nhrp` (or FRR's cache and NHS tables) for each router."""
    from nhrpscope.render import show as S

    with edges():
        rp = replay(files, key_files, esp_specs, stop=parse_point(at) if at else None)
        _warn(rp)
        views = _views(rp, router, interface)
        if fmt == "json":
            if style == "frr":
                doc: Any = [{"cache": S.frr_cache_json(v), "nhs": S.frr_nhs_json(v)} for v in views]
            else:
                doc = [S.nhrp_json(v) for v in views]
            click.echo(json.dumps(doc, indent=2))
        elif not views:
            click.echo("% nhrpscope: no NHRP router in this capture")
        elif style == "frr":
            click.echo("\n\n".join(S.show_frr_cache(v) + "\n\n" + S.show_frr_nhs(v) for v in views))
        else:
            click.echo("\n\n".join(S.show_ip_nhrp(v) for v in views))


# --------------------------------------------------------------------- show crypto (issue 7)


@show.group("crypto")
def show_crypto() -> None:
    """Cisco IOS `show crypto ...`: IKE and IPsec SAs, inferred from a capture."""


@show_crypto.group("isakmp")
def show_crypto_isakmp() -> None:
    """IKEv1 (ISAKMP) state."""


@show_crypto.group("ipsec")
def show_crypto_ipsec() -> None:
    """IPsec (ESP) state."""


def _crypto_views(rp: Replay, router: str | None, interface: str) -> list[Any]:
    from nhrpscope.render.show import crypto_views

    a = rp.analysis
    addrs = {x for n in a.ike for x in (n.initiator, n.responder)} | \
        {x for s in a.sas for x in (s.src, s.dst)}
    names = {}
    for r in a.routers:
        for addr in (r.nbma, r.public_nbma):
            if addr:
                names[addr] = f"{addr} ({r.tunnel or '?'}, {r.role})"
    address = None
    if router:
        if router in addrs:
            address = router
        else:
            r = next((r for r in a.routers if router in r.tunnels or router == r.nbma), None)
            if r is not None:
                address = r.public_nbma if r.public_nbma in addrs else r.nbma
            else:
                seen = ", ".join(sorted(addrs)) or "none"
                raise UserError(f"no IPsec peer {router} in the capture (IKE/ESP addresses seen: {seen})")
    t = rp.end if rp.end is not None else rp.engine.now
    return crypto_views(address, list(a.ike), list(a.sas), t,
                        source=", ".join(os.path.basename(f) for f in rp.files),
                        first=a.capture.first, frame=rp.end_frame, names=names, interface=interface)


def _crypto_options(f: Callable) -> Callable:
    f = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     show_default=True)(f)
    f = click.option("--interface", default="Tunnel0", show_default=True,
                     help="The tunnel interface name to print (not visible on the wire).")(f)
    f = click.option("--at", "at", default=None, metavar="TIME|+SECONDS|frame:N",
                     help="The instant to show (default: the end of the capture).")(f)
    f = click.option("--router", default=None, metavar="ADDRESS|TUNNEL",
                     help="One IPsec peer (default: every address in IKE or ESP).")(f)
    return key_options(f)


@show_crypto_isakmp.command("sa")
@FILES
@_crypto_options
def show_crypto_isakmp_sa(files: tuple[str, ...], router: str | None, at: str | None,
                          interface: str, fmt: str, key_files: tuple[str, ...],
                          esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show crypto isakmp sa` for each IKE peer: dst, src, state
    (MM_NO_STATE ... QM_IDLE), conn-id, status, from the IKEv1 exchanges seen."""
    from nhrpscope.render import show as S

    _show_crypto(files, router, at, interface, fmt, key_files, esp_specs, S.isakmp_json,
                 S.show_crypto_isakmp_sa)


@show_crypto_ipsec.command("sa")
@FILES
@_crypto_options
def show_crypto_ipsec_sa(files: tuple[str, ...], router: str | None, at: str | None,
                         interface: str, fmt: str, key_files: tuple[str, ...],
                         esp_specs: tuple[str, ...]) -> None:
    """Cisco IOS `show crypto ipsec sa` for each IPsec peer: per remote peer the
    inbound and outbound SPIs and #pkts encaps / decaps as seen at the tap."""
    from nhrpscope.render import show as S

    _show_crypto(files, router, at, interface, fmt, key_files, esp_specs, S.ipsec_json,
                 S.show_crypto_ipsec_sa)


def _show_crypto(files: tuple[str, ...], router: str | None, at: str | None, interface: str,
                 fmt: str, key_files: tuple[str, ...], esp_specs: tuple[str, ...],
                 as_json: Callable, as_text: Callable) -> None:
    """The body of the ``show crypto`` commands: one view per router, as
    JSON or in the router's layout."""
    with edges():
        rp = replay(files, key_files, esp_specs, stop=parse_point(at) if at else None)
        _warn(rp)
        views = _crypto_views(rp, router, interface)
        if fmt == "json":
            click.echo(json.dumps([as_json(v) for v in views], indent=2))
        elif not views:
            click.echo("% nhrpscope: no IKE or ESP in this capture")
        else:
            click.echo("\n\n".join(as_text(v) for v in views))
