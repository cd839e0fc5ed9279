"""Timelines: a ladder diagram for the terminal, a Mermaid sequenceDiagram.

One column per router (hubs first), one row per event: messages are arrows
labelled with the NHRP message, state changes (registered, shortcut up,
expired, findings) are marks on the router's column.
"""

from __future__ import annotations

import ipaddress
from typing import Any

COL = 26
LEFT = 11  # the time column


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


def ladder(events: list[Any], routers: list[Any], t0: float | None) -> str:
    if not events:
        return "(no events)"
    cols = _order(events, routers)
    info = {r.nbma: r for r in routers}
    width = LEFT + COL * len(cols)
    center = {c: LEFT + COL * i + COL // 2 for i, c in enumerate(cols)}
    out = []

    def head(texts: list[str]) -> str:
        line = [" "] * width
        for c, txt in zip(cols, texts, strict=True):
            txt = txt[:COL - 1]
            start = max(0, center[c] - len(txt) // 2)
            line[start:start + len(txt)] = txt
        return "".join(line).rstrip()

    out.append("time (s)".ljust(LEFT) + head(cols)[LEFT:])
    out.append(head([info[c].role if c in info else "" for c in cols]))
    out.append(head([(info[c].tunnel or "") if c in info else "" for c in cols]))
    base = t0 if t0 is not None else events[0].time
    for e in events:
        line = [" "] * width
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
        txt = f"{e.time - base:9.3f}  "[:LEFT].ljust(LEFT) + "".join(line)[LEFT:]
        tail = f"  #{e.frame}" if e.frame else ""
        out.append((txt.rstrip() + ("  " + note if note else "") + tail).rstrip())
    return "\n".join(out)


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
