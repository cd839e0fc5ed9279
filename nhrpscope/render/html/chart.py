"""The registration chart: one lane per spoke and NHS on the capture's time
axis, with registered intervals, refreshes, unanswered (or refused)
requests and expiries. Lanes come in pages of ``PAGE``: thousands of spokes
stay a page at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

from nhrpscope.render.html.common import Frames, esc
from nhrpscope.replay.model import Registration

PAGE = 200
WIDTH = 900  # the time axis, px
LABEL = 260  # the lane names, px
LANE = 14


@dataclass
class Lane:
    spoke: str
    hub: str
    intervals: list[tuple[float, float, int]] = field(default_factory=list)  # from, to, frame
    refreshes: list[tuple[float, int]] = field(default_factory=list)
    failed: list[tuple[float, str, int]] = field(default_factory=list)  # time, state, frame
    expiries: list[float] = field(default_factory=list)


def lanes(registrations: list[Registration], end: float) -> list[Lane]:
    """Each (spoke, NHS) pair's history, from its registration records."""
    by: dict[tuple[str, str], list[Registration]] = {}
    for g in registrations:
        by.setdefault((g.spoke_tunnel or g.spoke_nbma or "?", g.hub_nbma or "?"), []).append(g)
    out = []
    for (spoke, hub), regs in sorted(by.items()):
        lane = Lane(spoke, hub)
        regs.sort(key=lambda g: g.request_time or 0.0)
        for g in regs:
            first = g.frames[0] if g.frames else 0
            if g.state == "registered" and g.reply_time is not None:
                until = g.reply_time + (g.holding_time or 0)
                frame = g.frames[-1] if g.frames else 0
                if lane.intervals and lane.intervals[-1][1] >= g.reply_time:
                    lane.refreshes.append((g.reply_time, frame))
                    start, _, f0 = lane.intervals[-1]
                    lane.intervals[-1] = (start, until, f0)
                else:
                    lane.intervals.append((g.reply_time, until, frame))
            elif g.state not in ("pending", "registered") and g.request_time is not None:
                lane.failed.append((g.request_time, g.state, first))
        lane.expiries = [b for _, b, _ in lane.intervals if b <= end]
        out.append(lane)
    return out


def _page(page: list[Lane], t0: float, span: float, frames: Frames) -> str:
    def x(t: float) -> float:
        return LABEL + (t - t0) / span * WIDTH

    h = LANE * len(page) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL + WIDTH + 40}" '
             f'height="{h}">']
    for s in range(0, 11):
        tx = LABEL + WIDTH * s / 10
        parts.append(f'<line x1="{tx:.1f}" y1="0" x2="{tx:.1f}" y2="{h - 14}" stroke="#eee"/>'
                     f'<text x="{tx:.1f}" y="{h - 2}" text-anchor="middle">'
                     f'+{span * s / 10:.0f}s</text>')
    for i, ln in enumerate(page):
        y = i * LANE
        parts.append(f'<g class=lane><text x="2" y="{y + 11}">{esc(ln.spoke)} → '
                     f'{esc(ln.hub)}</text>')
        for a, b, fr in ln.intervals:
            w = max(1.0, x(min(b, t0 + span)) - x(a))
            parts.append(f'<rect class=lane-reg x="{x(a):.1f}" y="{y + 3}" width="{w:.1f}" '
                         f'height="8"><title>registered ({esc(frames.name(fr))})</title></rect>')
        for t, fr in ln.refreshes:
            parts.append(f'<line class=lane-refresh x1="{x(t):.1f}" y1="{y + 2}" '
                         f'x2="{x(t):.1f}" y2="{y + 12}"><title>refresh '
                         f'({esc(frames.name(fr))})</title></line>')
        for t, st, fr in ln.failed:
            parts.append(f'<rect class=lane-unans x="{x(t) - 2:.1f}" y="{y + 2}" width="4" '
                         f'height="10"><title>{esc(st)} request ({esc(frames.name(fr))})'
                         f'</title></rect>')
        for t in ln.expiries:
            parts.append(f'<line class=lane-exp x1="{x(t):.1f}" y1="{y}" x2="{x(t):.1f}" '
                         f'y2="{y + 14}"><title>expired</title></line>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def chart(registrations: list[Registration], first: float | None, last: float | None,
          frames: Frames) -> str:
    head = "<h2 id=chart>Registrations</h2>"
    if not registrations or first is None or last is None:
        return head + "<p>No registration in the capture.</p>"
    all_lanes = lanes(registrations, last)
    span = max(last - first, 1e-6)
    pages = [all_lanes[i:i + PAGE] for i in range(0, len(all_lanes), PAGE)]
    legend = ("<p class=muted>Green: registered (holding time running); light ticks: "
              "refreshes; red: requests unanswered, refused or in error; black: the "
              f"registration expired. {len(all_lanes)} lanes (spoke tunnel → NHS NBMA).</p>")
    pick = ""
    if len(pages) > 1:
        opts = "".join(f'<option value="chart-p{i}">lanes {i * PAGE + 1}–'
                       f'{i * PAGE + len(p)}</option>' for i, p in enumerate(pages))
        pick = f'<div class=controls><label>Page <select id=chart-page>{opts}</select></label></div>'
    body = "".join(f'<div class="chart-page scroll" id="chart-p{i}"'
                   f'{"" if i == 0 else " style=display:none"}>'
                   f"{_page(p, first, span, frames)}</div>" for i, p in enumerate(pages))
    return head + legend + pick + body
