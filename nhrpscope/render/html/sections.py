"""The report's tables: the capture, findings, routers, IKE, IPsec SAs and
each router's ``show dmvpn`` at the end of the capture."""

from __future__ import annotations

import os

from nhrpscope.api import Result
from nhrpscope.render.html.common import Frames, esc, stamp, table
from nhrpscope.render.show import router_views, show_dmvpn
from nhrpscope.replay.detectors import RULES
from nhrpscope.replay.findings import SEVERITY_ORDER, SUMMARIES


def capture(result: Result) -> str:
    c = result.analysis.capture
    files = "".join(f"<li>{esc(os.path.basename(f))}</li>" for f in (c.files or result.files))
    span = ""
    if c.first is not None and c.last is not None:
        span = f"{esc(stamp(c.first, None))} to {esc(stamp(c.last, c.first))} UTC"
    rows = [["frames", f"{c.frames}"], ["time span", span],
            ["duplicates dropped", f"{c.duplicates}"]]
    unread = "".join(f"<li>{esc(w)}</li>" for w in c.warnings) or "<li>nothing</li>"
    notes = "".join(f"<li>{esc(n)}</li>" for n in result.key_notes)
    merged = ""
    if len(result.files) > 1:
        merged = ("<p class=muted>The captures are merged by time: frame numbers are "
                  "the merged stream's (<code>--write-merged</code> writes it); each names "
                  "its file and its number there where known.</p>")
    return (f"<h2 id=capture>Capture</h2><ul>{files}</ul>{merged}"
            + table(None, rows)
            + f"<h3>What could not be read</h3><ul>{unread}</ul>"
            + (f"<h3>Keys found in the capture</h3><ul>{notes}</ul>" if notes else ""))


def _what_to_check(code: str) -> str:
    rule = RULES.get(code)
    return rule.summary if rule is not None else SUMMARIES.get(code, "")


def findings(result: Result, frames: Frames) -> str:
    fs = sorted(result.analysis.findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 9))
    if not fs:
        return "<h2 id=findings>Findings</h2><p>No findings: nothing went wrong that the " \
               "capture shows.</p>"
    rows = [[f"<span class=sev-{esc(f.severity)}>{esc(f.severity)}</span>", esc(f.code),
             esc(f.message), esc(_what_to_check(f.code)),
             frames.html(f.frames, f.frames_total)] for f in fs]
    return ("<h2 id=findings>Findings</h2>"
            + table(["severity", "code", "message", "what it means", "frames"], rows,
                    " id=findings-table"))


def routers(result: Result, frames: Frames) -> str:
    a = result.analysis
    ike_state: dict[str, list[str]] = {}
    for n in a.ike:
        for me, peer in ((n.initiator, n.responder), (n.responder, n.initiator)):
            ike_state.setdefault(me, []).append(f"{peer}: {n.state}")
    rows = []
    for r in a.routers:
        nat = "yes" + (f" (public {r.public_nbma})" if r.public_nbma else "") if r.nat else "no"
        keys = ", ".join("none" if k is None else str(k) for k in r.gre_keys) or (
            "none" if r.gre_key is None else str(r.gre_key))
        rows.append([esc(r.role), esc(r.nbma), esc(", ".join(r.tunnels) or r.tunnel or "?"),
                     esc(nat), esc(keys), esc("; ".join(ike_state.get(r.nbma, [])) or "-"),
                     esc(", ".join(r.nhs) or "-"), frames.html(r.frames[:3])])
    return ("<h2 id=routers>Routers</h2>"
            + table(["role", "NBMA", "tunnel", "NAT", "GRE key", "IKE peers", "NHS",
                     "first seen in"], rows))


def ike(result: Result, frames: Frames) -> str:
    a = result.analysis
    if not a.ike:
        return ""
    t0 = a.capture.first
    rows = [[esc(n.initiator), esc(n.responder), f"IKEv{n.version}", esc(n.state),
             esc(n.reached), esc(stamp(n.established, t0)), f"{n.retransmits}",
             esc(n.failure or ""), frames.html(n.frames[:6], len(n.frames))] for n in a.ike]
    return ("<h2 id=ike>IKE</h2>"
            + table(["initiator", "responder", "version", "state", "reached", "established",
                     "retransmits", "failure", "frames"], rows))


def sas(result: Result, frames: Frames) -> str:
    a = result.analysis
    if not a.sas:
        return "<h2 id=sas>IPsec SAs</h2><p>No ESP in the capture.</p>"
    t0 = a.capture.first
    rows = [[esc(s.spi), esc(s.src), esc(s.dst), f"{s.packets}", f"{s.bytes}",
             f"{s.decrypted}", esc(s.paired_spi or "-"), esc(stamp(s.first, t0)),
             esc(stamp(s.last, t0)), frames.html(s.frames)] for s in a.sas]
    return ("<h2 id=sas>IPsec SAs</h2>"
            + table(["SPI", "source", "destination", "packets", "bytes", "decrypted",
                     "paired SPI", "first", "last", "frames (first, last)"], rows))


def show_at_end(result: Result) -> str:
    views = router_views(result)
    if not views:
        return ""
    text = "\n\n".join(show_dmvpn(v) for v in views)
    return ("<h2 id=show-end><code>show dmvpn</code> at the end of the capture</h2>"
            f"<pre>{esc(text)}</pre>")
