"""Two routers' GRE keys (RFC 2890) that never match: their tunnels drop
each other's packets."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import keys
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd

RULE = Rule("gre-key-mismatch", "error", "Two routers use different GRE tunnel keys.")
READS = (CaptureEnd,)


def on(ctx: Context, fact: CaptureEnd) -> None:
    view = fact.view
    sent: dict[str, set[int | None]] = {}
    for (s, _d), tr in view.traffic.items():
        sent.setdefault(s, set()).update(tr.gre_keys)
    done = set()
    for (s, d), tr in view.traffic.items():
        if (d, s) in done or not tr.gre_keys:
            continue
        back = view.traffic.get((d, s))
        theirs = set(back.gre_keys) if back is not None else sent.get(d, set())
        if not theirs or set(tr.gre_keys) & theirs:
            continue
        if back is None and view.claimed(d) not in view.routers:
            continue  # nothing comes back, and the far end is no router we saw
        done.add((s, d))
        frames = [tr.frames[0]] + ([back.frames[0]] if back is not None else [])
        a, b = view.claimed(s), view.claimed(d)
        RULE.raise_(
            ctx, tuple(sorted((a or "", b or ""))),
            f"{ctx.name(a)} sends GRE to {ctx.name(b)} with key "
            f"{keys(tr.gre_keys)} but {ctx.name(b)} uses key {keys(sorted(theirs, key=str))}: "
            f"set the same 'tunnel key' on both tunnel interfaces.",
            frames, time=tr.first, routers=[a or "", b or ""])
