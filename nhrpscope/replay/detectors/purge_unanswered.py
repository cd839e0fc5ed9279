"""A purge request (RFC 2332 5.2.5) that asked for a reply and got none."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import PurgeUnanswered

RULE = Rule("purge-unanswered", "info", "A purge request got no purge reply.")
READS = (PurgeUnanswered,)


def on(ctx: Context, fact: PurgeUnanswered) -> None:
    RULE.raise_(
        ctx, (fact.sender, fact.receiver),
        f"Purge request from {ctx.name(fact.sender)} to "
        f"{ctx.name(fact.receiver)} got no purge reply.",
        fact.frames, time=fact.time, routers=[fact.sender or "", fact.receiver or ""])
