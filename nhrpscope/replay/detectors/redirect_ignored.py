"""A hub's Traffic Indication (DMVPN phase 3 redirect) that no resolution
request followed."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import RedirectIgnored

RULE = Rule("redirect-ignored", "warning", "A spoke ignored the hub's redirect.")
READS = (RedirectIgnored,)


def on(ctx: Context, fact: RedirectIgnored) -> None:
    RULE.raise_(
        ctx, (fact.hub, fact.spoke, fact.orig_dst),
        f"Hub {ctx.name(fact.hub)} sent a traffic indication (redirect) to "
        f"{ctx.name(fact.spoke)} for {fact.orig_src} -> {fact.orig_dst}, but no "
        f"resolution request followed: check 'ip nhrp shortcut' (or FRR 'nhrp "
        f"shortcut') on the spoke.",
        fact.frames, time=fact.time, routers=[fact.hub or "", fact.spoke or ""])
