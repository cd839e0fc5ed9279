"""The report page: one self-contained HTML file. Its content security
policy forbids every request (no font, stylesheet, script or image by URL):
it opens the same from a ticket attachment on an air-gapped laptop."""

from __future__ import annotations

import json
import os

from nhrpscope.api import Result
from nhrpscope.render.html import sections
from nhrpscope.render.html.assets import CSS, JS
from nhrpscope.render.html.chart import chart
from nhrpscope.render.html.common import Frames, esc
from nhrpscope.render.html.ladder import ladder
from nhrpscope.replay.model import Event
from nhrpscope.snapshots import Snapshots

POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
          "img-src data:; base-uri 'none'; form-action 'none'")


def _json_script(doc: object) -> str:
    # "<" escaped: no string from the capture can close the script element
    return json.dumps(doc, separators=(",", ":")).replace("<", "\\u003c")


def slider(snaps: Snapshots, first: float | None) -> str:
    head = "<h2 id=slider-h><code>show dmvpn</code> at any instant</h2>"
    if not snaps.routers:
        return head + "<p>No NHRP router in the capture.</p>"
    opts = "".join(f'<option value="{i}">{esc(r.nbma)} ({esc(r.role)}, '
                   f'{esc(r.tunnel or "?")})</option>' for i, r in enumerate(snaps.routers))
    last = len(snaps.times) - 1
    return (head + "<p class=muted>Each router's NHRP peers as the replay left them at the "
            "instants NHRP changed something (at most 500, evenly chosen): the engine's "
            "snapshots, not the page's guess.</p>"
            f'<div class=controls><label>Router <select id=snap-router>{opts}</select></label>'
            f'<input id=slider type=range min="0" max="{last}" value="{last}" step="1" '
            f'data-first="{first if first is not None else snaps.times[0]!r}">'
            '</div><p id=snap-when class=muted></p>'
            "<table id=snap-table><thead><tr><th># Ent</th><th>Peer NBMA Addr</th>"
            "<th>Peer Tunnel Add</th><th>State</th><th>UpDn Tm</th><th>Attrb</th></tr>"
            "</thead><tbody id=snap-body></tbody></table>")


def build(result: Result, events: list[Event], snaps: Snapshots, frames: Frames) -> str:
    """The whole page."""
    a = result.analysis
    title = "nhrpscope report: " + ", ".join(os.path.basename(f) for f in result.files)
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in (
        ("findings", "Findings"), ("capture", "Capture"), ("routers", "Routers"),
        ("chart", "Registrations"), ("ladder-h", "Ladder"), ("slider-h", "show dmvpn"),
        ("sas", "IPsec SAs")))
    body = [
        sections.findings(result, frames),
        sections.capture(result),
        sections.routers(result, frames),
        chart(a.registrations, a.capture.first, a.capture.last, frames),
        ladder(events, a.routers, a.capture.first, frames),
        slider(snaps, a.capture.first),
        sections.show_at_end(result),
        sections.ike(result, frames),
        sections.sas(result, frames),
    ]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><nav>{nav}</nav></header><main>"
            + "".join(f"<section>{s}</section>" for s in body if s)
            + f'</main><script type="application/json" id=snapshots>'
            f"{_json_script(snaps.json())}</script><script>{JS}</script></body></html>\n")
