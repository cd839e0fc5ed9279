"""The `analyze` report: rich tables on a terminal, the same as plain text in a pipe."""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape

from nhrpscope.render.safe_text import output_width
from nhrpscope.render.terminal import Console, Table
from nhrpscope.render.timefmt import utc
from nhrpscope.replay.model import Analysis

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _rel(t: float | None, t0: float | None) -> str:
    if t is None:
        return "-"
    if t0 is None:
        return f"{t:.3f}"
    return f"+{t - t0:.3f}"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f} ms"


def _frames(frames: list[int], total: int | None = None) -> str:
    s = ", ".join(map(str, frames))
    if total and total > len(frames):
        s += f" (+{total - len(frames)} more)"
    return s


MAX_ROWS = 40


def _ranges(steps: list[str]) -> list[str]:
    """MM1 MM2 ... MM6 QM1 QM2 QM3 -> MM1-6 QM1-3."""
    out: list[str] = []
    for st in steps:
        head, num = st.rstrip("0123456789"), st[len(st.rstrip("0123456789")):]
        if out and num and out[-1].startswith(head) and out[-1][len(head):].replace("-", "").isdigit():
            first = out[-1][len(head):].split("-")[0]
            out[-1] = f"{head}{first}-{num}"
        else:
            out.append(st.replace(" request", " req").replace(" response", " resp"))
    return out


def _some(items: list, console: Console, what: str) -> list:
    """At most MAX_ROWS rows: the first and the last; says how many were left out."""
    if len(items) <= MAX_ROWS:
        return items
    half = MAX_ROWS // 2
    console.print(f"({len(items) - MAX_ROWS} {what} not shown; --format json has them all)")
    return items[:half] + items[-half:]


def registration_summary(a: Analysis) -> list[dict[str, Any]]:
    """One row per spoke and NHS: state, requests, last refresh, holding time, RTT, cadence."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in a.registrations:
        k = (r.spoke_nbma, r.hub_nbma)
        row = rows.setdefault(k, {"spoke_nbma": r.spoke_nbma, "spoke_tunnel": r.spoke_tunnel,
                                  "hub_nbma": r.hub_nbma, "requests": 0, "answered": 0,
                                  "unanswered": 0, "rejected": 0, "state": r.state,
                                  "last_refresh": None, "holding_time": r.holding_time,
                                  "rtts": [], "times": []})
        row["requests"] += 1 + r.retransmits
        if r.state == "registered":
            row["answered"] += 1
            row["last_refresh"] = r.reply_time
        elif r.state == "unanswered":
            row["unanswered"] += 1
        elif r.state in ("rejected", "error"):
            row["rejected"] += 1
        row["state"] = r.state
        if r.holding_time:
            row["holding_time"] = r.holding_time
        if r.rtt is not None:
            row["rtts"].append(r.rtt)
        if r.request_time is not None:
            row["times"].append(r.request_time)
    out = []
    for row in rows.values():
        rtts, times = row.pop("rtts"), row.pop("times")
        row["rtt"] = sum(rtts) / len(rtts) if rtts else None
        gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
        row["cadence"] = sum(gaps) / len(gaps) if gaps else None
        out.append(row)
    return out


def print_report(a: Analysis, console: Console | None = None) -> None:
    if console is None:
        tty = sys.stdout.isatty()
        console = Console(highlight=False, width=None if tty else output_width(), soft_wrap=not tty)
    t0 = a.capture.first
    cap = a.capture
    when = "-"
    if cap.first is not None:
        when = utc(cap.first)
    dur = (cap.last - cap.first) if cap.first is not None and cap.last is not None else 0.0
    console.print(f"[bold]Capture[/] {cap.file}: {cap.frames} frames from {when}, {dur:.3f} s"
                  + (f", {cap.duplicates} duplicates dropped" if cap.duplicates else ""))
    console.print("Times are seconds after the first frame; frames are the numbers to open in "
                  "Wireshark.")

    if a.routers:
        t = Table(title="Routers", title_justify="left")
        for c in ("role", "NBMA", "tunnel", "NAT", "GRE key", "NHRP auth", "registers with",
                  "frames"):
            t.add_column(c)
        for r in a.routers:
            nat = "no"
            if r.nat:
                nat = f"yes ({r.public_nbma})" if r.public_nbma else "yes"
            keys = "/".join("none" if k is None else str(k) for k in r.gre_keys) or "-"
            t.add_row(r.role, r.nbma, ", ".join(r.tunnels) or "?", nat, keys,
                      escape(r.password) if r.password is not None else "-", ", ".join(r.nhs) or "-",
                      _frames(r.frames[:4]))
        console.print(t)
    else:
        console.print("No NHRP seen: no router's NHRP state can be told from this capture.")

    regs = registration_summary(a)
    if regs:
        t = Table(title="Registrations (per spoke and NHS)", title_justify="left")
        for c in ("spoke", "tunnel", "NHS", "state", "requests", "answered", "last refresh",
                  "holding", "RTT", "every"):
            t.add_column(c)
        for g in regs:
            style = {"registered": "green", "unanswered": "red", "rejected": "red",
                     "error": "red"}.get(g["state"])
            t.add_row(g["spoke_nbma"] or "?", g["spoke_tunnel"] or "?", g["hub_nbma"] or "?",
                      f"[{style}]{g['state']}[/]" if style else g["state"], str(g["requests"]),
                      str(g["answered"]), _rel(g["last_refresh"], t0),
                      f"{g['holding_time']} s" if g["holding_time"] else "-", _ms(g["rtt"]),
                      f"{g['cadence']:.1f} s" if g["cadence"] else "-")
        console.print(t)

    if a.resolutions:
        t = Table(title="Resolutions", title_justify="left")
        for c in ("time", "requester", "target", "state", "resolved NBMA", "answered by",
                  "forwarded by", "RTT", "frames"):
            t.add_column(c)
        for r in _some(a.resolutions, console, "resolutions"):
            # The NHSes the request passed through (requester and answerer have columns).
            via = [h.to_nbma for h in r.hops if h.kind == "request"][:-1] if r.hops else []
            resolved = r.resolved_nbma or "-"
            if r.resolved_nbma and r.resolved_tunnel and r.resolved_tunnel != r.target_tunnel:
                resolved += f" ({r.resolved_tunnel})"
            t.add_row(_rel(r.request_time or r.reply_time, t0), r.requester_nbma or "?",
                      r.target_tunnel or "?", r.state, resolved,
                      r.responder_nbma or "-", ", ".join(via) or "-", _ms(r.rtt),
                      _frames(r.frames))
        console.print(t)

    if a.shortcuts:
        t = Table(title="Shortcuts (spoke to spoke)", title_justify="left")
        for c in ("spokes", "phase", "established", "first direct data", "direct packets",
                  "via hub after", "frames"):
            t.add_column(c)
        for s in _some(a.shortcuts, console, "shortcuts"):
            fd = _rel(s.first_direct_data, t0)
            if s.first_direct_data is not None:
                fd += f" ({(s.first_direct_data - s.established) * 1000:.0f} ms later)"
            t.add_row(f"{s.a_nbma} <-> {s.b_nbma}", str(s.phase), _rel(s.established, t0), fd,
                      str(s.direct_packets), str(s.via_hub_packets), _frames(s.frames))
        console.print(t)

    if a.redirects:
        t = Table(title="Traffic indications (redirects)", title_justify="left")
        for c in ("time", "hub", "to spoke", "packet", "count", "state", "frames"):
            t.add_column(c)
        for r in _some(a.redirects, console, "traffic indications"):
            t.add_row(_rel(r.time, t0), r.hub_nbma or "?", r.spoke_nbma or "?",
                      f"{r.orig_src} -> {r.orig_dst}", str(r.count), r.state, _frames(r.frames))
        console.print(t)

    if a.purges:
        t = Table(title="Purges", title_justify="left")
        for c in ("time", "from", "to", "purged", "state", "frames"):
            t.add_column(c)
        for p in _some(a.purges, console, "purges"):
            t.add_row(_rel(p.request_time or p.reply_time, t0), p.sender_nbma or "?",
                      p.receiver_nbma or "?", ", ".join(p.purged) or "-", p.state, _frames(p.frames))
        console.print(t)

    if a.errors:
        t = Table(title="Error indications", title_justify="left")
        for c in ("time", "from", "to", "error", "about", "frames"):
            t.add_column(c)
        for e in _some(a.errors, console, "error indications"):
            about = "-"
            if e.offending:
                about = " ".join(f"{k}={v}" for k, v in e.offending.items() if v is not None)
            t.add_row(_rel(e.time, t0), e.sender_nbma or "?", e.receiver_nbma or "?",
                      f"{e.error_code} {e.error_name}", about, _frames(e.frames))
        console.print(t)

    if a.ike:
        t = Table(title="IPsec: IKE negotiations", title_justify="left")
        for c in ("start", "initiator -> responder", "IKE", "state", "got to", "up at", "rtx", "NAT",
                  "why", "frames"):
            t.add_column(c)
        for n in _some(a.ike, console, "IKE negotiations"):
            style = {"established": "green", "failed": "red", "unanswered": "red"}.get(n.state)
            nat = "-" if n.nat is None else ("yes" if n.nat else "no")
            if n.natt:
                nat += ", UDP 4500"
            why = n.failure or ""
            if not why and n.state != "established" and n.reached:
                why = f"stopped at {n.reached}"
            mode = {"main-mode": "MM", "aggressive-mode": "AM"}.get(n.mode, "")
            t.add_row(_rel(n.first, t0), f"{n.initiator} -> {n.responder}",
                      f"v{n.version} {mode}".strip(), f"[{style}]{n.state}[/]" if style else n.state,
                      " ".join(_ranges(n.steps)) or "-", _rel(n.established, t0),
                      str(n.retransmits), nat, escape(why) or "-",
                      _frames(n.frames[:3], len(n.frames)))
        console.print(t)

    if a.sas:
        t = Table(title="IPsec: ESP SAs (by SPI and direction)", title_justify="left")
        for c in ("SPI", "from -> to", "packets", "bytes", "seen", "decrypted", "paired", "seq gaps",
                  "notes", "frames"):
            t.add_column(c)
        for s in _some(a.sas, console, "SAs"):
            notes = []
            if s.one_way:
                notes.append("[red]one-way[/]")
            if s.rekey_of:
                notes.append(f"rekey of {s.rekey_of}")
            if not s.ike:
                notes.append("no IKE seen")
            if s.resets:
                notes.append(f"{s.resets} seq reset(s)")
            if s.replays:
                notes.append(f"{s.replays} replay(s)")
            t.add_row(s.spi + (" (NAT-T)" if s.natt else ""), f"{s.src} -> {s.dst}", str(s.packets),
                      str(s.bytes), f"{_rel(s.first, t0)} .. {_rel(s.last, t0)}",
                      f"{s.decrypted}/{s.packets}", s.paired_spi or "-", str(s.gaps),
                      ", ".join(notes) or "-", _frames(s.frames))
        console.print(t)

    if a.findings:
        console.print("[bold]Findings[/]")
        for f in a.findings:
            style = SEVERITY_STYLE.get(f.severity, "")
            console.print(f"[{style}]{f.severity.upper():8}[/] [bold]{f.code}[/] "
                          f"({_rel(f.time, t0)}): {escape(f.message)}", markup=True)
            console.print(f"         frames: {_frames(sorted(f.frames), f.frames_total)}")
    else:
        console.print("[green]No findings.[/]")
