"""Timelines: a ladder diagram for the terminal, a Mermaid sequenceDiagram.

One column per router (hubs first), one row per event: messages are arrows
labelled with the NHRP message, state changes (registered, shortcut up,
expired, findings) are marks on the router's column. More routers than fit
side by side (or than a handful) fold into one lane per conversation; no
line is wider than the width given.
"""

from __future__ import annotations

import ipaddress
import textwrap
from typing import Any

from nhrpscope.render.safe_text import NO_TERMINAL_WIDTH, fit_line

COL = 26  # the widest a router's column gets
LEFT = 11  # the time column
MAX_COLUMNS = 6  # more routers than this: one lane per conversation


def _order(events: list[Any], routers: list[Any]) -> list[str]:
    cols: list[str] = []
    for r in routers:  # routers come hubs first, then spokes
        if any(e.src == r.nbma or e.dst == r.nbma for e in events):
            cols.append(r.nbma)
    extra = {x for e in events for x in (e.src, e.dst) if x and x not in cols}
    cols += sorted(extra, key=_addr_key)
    return cols


def _addr_key(a: str) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(a)))
    except ValueError:
        return (1, a)


def _is_message(e: Any) -> bool:
    return e.kind in ("nhrp", "data-first", "direct-data", "esp", "ike") and bool(e.src) and \
        bool(e.dst) and e.src != e.dst


def ladder(events: list[Any], routers: list[Any], t0: float | None,
           width: int = NO_TERMINAL_WIDTH) -> str:
    """The ladder, no line wider than ``width``: one column per router while
    a handful fit side by side with their addresses whole, else one lane per
    conversation (``lanes``)."""
    if not events:
        return "(no events)"
    cols = _order(events, routers)
    col = min(COL, (width - LEFT) // max(len(cols), 1))
    if len(cols) > MAX_COLUMNS or col < max((len(c) for c in cols), default=0) + 2:
        return lanes(events, routers, t0, width)
    info = {r.nbma: r for r in routers}
    base = t0 if t0 is not None else events[0].time
    return "\n".join(_grid(events, cols, info, base, col, width))


def lanes(events: list[Any], routers: list[Any], t0: float | None,
          width: int = NO_TERMINAL_WIDTH) -> str:
    """The ladder folded for many routers: one lane per conversation (the
    pair of routers a message goes between, or the one router a state change
    is on), lanes in the order of their first event, each a two-column
    ladder of its own events in time order."""
    order = _order(events, routers)
    rank = {c: i for i, c in enumerate(order)}
    info = {r.nbma: r for r in routers}
    groups: dict[tuple[str, ...], list[Any]] = {}
    for e in events:
        ends = tuple(sorted({x for x in (e.src, e.dst) if x}, key=lambda a: rank.get(a, 0)))
        groups.setdefault(ends, []).append(e)
    base = t0 if t0 is not None else events[0].time
    col = min(COL, (width - LEFT) // 2)
    out = [fit_line(f"{len(order)} routers, {len(groups)} conversations, a lane each "
                    f"(time: seconds after the first frame)", width)]
    for ends, evs in groups.items():
        names = " <-> ".join(_name(c, info) for c in ends) or "no router"
        out += ["", fit_line(f"== {names} ==", width)]
        out += _grid(evs, list(ends), info, base, col, width, header=False)
    return "\n".join(out)


def _name(addr: str, info: dict[str, Any]) -> str:
    r = info.get(addr)
    if r is None:
        return addr
    return f"{addr} ({r.role}" + (f" {r.tunnel})" if r.tunnel else ")")


def _grid(events: list[Any], cols: list[str], info: dict[str, Any], base: float, col: int,
          width: int, *, header: bool = True) -> list[str]:
    """A ladder of ``col``-wide router columns: a header (address, role,
    tunnel address) and one row per event, each cut to ``width``."""
    span_width = LEFT + col * len(cols)
    center = {c: LEFT + col * i + col // 2 for i, c in enumerate(cols)}
    out = []

    def head(texts: list[str]) -> str:
        line = [" "] * span_width
        for c, txt in zip(cols, texts, strict=True):
            txt = txt[:col - 1]
            start = max(0, center[c] - len(txt) // 2)
            line[start:start + len(txt)] = txt
        return "".join(line).rstrip()

    if header:
        out.append(("time (s)".ljust(LEFT) + head(cols)[LEFT:]).rstrip())
        out.append(head([info[c].role if c in info else "" for c in cols]))
        out.append(head([(info[c].tunnel or "") if c in info else "" for c in cols]))
    for e in events:
        line = [" "] * span_width
        for c in cols:
            line[center[c]] = "|"
        note = ""
        if _is_message(e) and e.src in center and e.dst in center:
            a, b = center[e.src], center[e.dst]
            lo, hi = min(a, b), max(a, b)
            for x in range(lo + 1, hi):
                line[x] = "-"
            if b > a:
                line[hi - 1] = ">"
            else:
                line[lo + 1] = "<"
            label = f" {_short(e.label)} "
            span = hi - lo - 3
            if len(label) <= span:
                start = lo + 2 + (span - len(label)) // 2
                line[start:start + len(label)] = label
            else:
                note = e.label
        else:
            who = _who(e)
            who = who if who in center else (e.src if e.src in center else e.dst)
            if who in center:
                line[center[who]] = "*"
            note = e.label
        when = f"{e.time - base:9.3f}  "[:LEFT].ljust(LEFT)
        row = (when + "".join(line)[LEFT:]).rstrip() + (f"  #{e.frame}" if e.frame else "")
        if note and len(row) + 2 + len(note) <= width:
            row, note = f"{row}  {note}", ""
        out.append(fit_line(row, width))
        # a note too long for its row follows on lines of its own (the time
        # repeated: every line still says when), wrapped between words
        for part in textwrap.wrap(note, max(width - LEFT - 2, 20), break_long_words=False,
                                  break_on_hyphens=False):
            out.append(fit_line(f"{when}> {part}", width))
    return out


_SHORT = (("Registration Request", "Reg Request"), ("Registration Reply", "Reg Reply"),
          ("Resolution Request", "Res Request"), ("Resolution Reply", "Res Reply"),
          ("Traffic Indication", "Traffic Ind."), ("Error Indication", "Error Ind."),
          ("first data direct (shortcut in use)", "first direct data"))


def _short(label: str) -> str:
    for long, short in _SHORT:
        label = label.replace(long, short)
    return label


def _who(e: Any) -> str | None:
    """The router a state change belongs to."""
    if e.kind in ("resolved", "nak", "rejected") and e.dst:
        return e.dst
    return e.src or e.dst


def _pid(addr: str) -> str:
    return "n" + "".join(ch if ch.isalnum() else "_" for ch in addr)


def _esc(text: str) -> str:
    return text.replace(";", ",").replace("#", "no. ").replace(":", " ")


def mermaid(events: list[Any], routers: list[Any]) -> str:
    cols = _order(events, routers)
    info = {r.nbma: r for r in routers}
    out = ["sequenceDiagram"]
    for c in cols:
        r = info.get(c)
        desc = c if r is None else f"{c} {r.role}" + (f" {r.tunnel}" if r.tunnel else "")
        out.append(f"    participant {_pid(c)} as {_esc(desc)}")
    for e in events:
        label = _esc(f"{e.label} (frame {e.frame})" if e.frame else e.label)
        if _is_message(e):
            arrow = "-->>" if e.kind in ("data-first", "direct-data", "esp") else "->>"
            out.append(f"    {_pid(e.src)}{arrow}{_pid(e.dst)}: {label}")
        else:
            who = _who(e)
            if who:
                out.append(f"    Note over {_pid(who)}: {label}")
    return "\n".join(out)
