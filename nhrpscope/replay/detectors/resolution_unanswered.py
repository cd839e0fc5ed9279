"""A resolution request (RFC 2332 5.2.1) whose reply the capture should show but does not."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import cite_last
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import ResolutionUnanswered

RULE = Rule("resolution-unanswered", "warning", "A resolution request got no reply.")
READS = (ResolutionUnanswered,)


def on(ctx: Context, fact: ResolutionUnanswered) -> None:
    if fact.unreadable:
        return  # the reply may be in frames the replay could not read: answer-unreadable
    f = RULE.raise_(
        ctx, (fact.requester, fact.target),
        f"Resolution request from {ctx.name(fact.requester)} for "
        f"{fact.target} got no reply: check that the NHS "
        f"{ctx.name(fact.nhs)} can reach the "
        f"target's spoke and that the target is registered.",
        fact.frames, time=fact.time, routers=[fact.requester or ""])
    cite_last(f, fact.frames)
