"""The ladder diagram in SVG: one column per router, one arrow per NHRP or
IKE message, labelled with the message and its frame; a select box keeps
one router's messages. Past ``MAX_ARROWS`` messages the first are drawn and
the rest counted (the timeline command lists them all)."""

from __future__ import annotations

from nhrpscope.render.html.common import Frames, esc
from nhrpscope.replay.model import Event, Router

MAX_ARROWS = 3000
MESSAGE_KINDS = ("nhrp", "ike")
ROW = 20
TOP = 44
LEFT = 90  # the time column


def messages(events: list[Event]) -> list[Event]:
    """The events the ladder draws as arrows: NHRP and IKE messages between two routers."""
    return [e for e in events if e.kind in MESSAGE_KINDS and e.src and e.dst and e.src != e.dst]


def columns(msgs: list[Event], routers: list[Router]) -> list[str]:
    """Routers in the analysis' order (hubs first), then other addresses."""
    seen = {x for e in msgs for x in (e.src, e.dst) if x}
    cols = [r.nbma for r in routers if r.nbma in seen]
    cols += sorted(seen - set(cols))
    return cols


def ladder(events: list[Event], routers: list[Router], t0: float | None,
           frames: Frames) -> str:
    head = "<h2 id=ladder-h>NHRP and IKE exchanges</h2>"
    msgs = messages(events)
    if not msgs:
        return head + "<p>No NHRP or IKE message in the capture.</p>"
    drawn = msgs[:MAX_ARROWS]
    cols = columns(drawn, routers)
    colw = 230 if len(cols) <= 6 else 170 if len(cols) <= 10 else 110
    x = {c: LEFT + colw * i + colw // 2 for i, c in enumerate(cols)}
    width = LEFT + colw * len(cols) + 20
    height = TOP + ROW * len(drawn) + 10
    role = {r.nbma: f"{r.role} {r.tunnel or ''}" for r in routers}
    base = t0 if t0 is not None else drawn[0].time
    p = [f'<svg id=ladder xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
         '<defs><marker id=ah markerWidth="8" markerHeight="8" refX="8" refY="4" '
         'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#333"/></marker></defs>']
    for c in cols:
        p.append(f'<text x="{x[c]}" y="14" text-anchor="middle" font-weight="bold">{esc(c)}'
                 f'</text><text x="{x[c]}" y="28" text-anchor="middle">{esc(role.get(c, ""))}'
                 f'</text><line x1="{x[c]}" y1="34" x2="{x[c]}" y2="{height}" stroke="#bbb"/>')
    for i, e in enumerate(drawn):
        y = TOP + ROW * i + 10
        a, b = x[e.src or ""], x[e.dst or ""]
        mid = (a + b) / 2
        label = f"{e.label} · {frames.name(e.frame)}"
        p.append(f'<g class="msg" data-src="{esc(e.src)}" data-dst="{esc(e.dst)}">'
                 f'<text x="4" y="{y + 4}">+{e.time - base:.3f}</text>'
                 f'<line class="arrow-{esc(e.kind)}" x1="{a}" y1="{y}" x2="{b}" y2="{y}" '
                 f'stroke-width="1.3" marker-end="url(#ah)"/>'
                 f'<text x="{mid:.0f}" y="{y - 3}" text-anchor="middle">{esc(label)}</text></g>')
    p.append("</svg>")
    opts = "".join(f'<option value="{esc(c)}">{esc(c)} {esc(role.get(c, ""))}</option>'
                   for c in cols)
    pick = (f'<div class=controls><label>Router <select id=ladder-router><option value="">'
            f'every router</option>{opts}</select></label></div>')
    more = ""
    if len(msgs) > len(drawn):
        more = (f"<p class=muted>The first {len(drawn)} of {len(msgs)} messages are drawn; "
                "<code>nhrpscope timeline --router</code> lists every one.</p>")
    return head + pick + more + f"<div class=scroll>{''.join(p)}</div>"
