"""A resolution reply (RFC 2332 5.2.2) with a CIE code other than 0."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import ResolutionNak

RULE = Rule("resolution-nak", "warning", "A resolution request was answered with a NAK.")
READS = (ResolutionNak,)


def on(ctx: Context, fact: ResolutionNak) -> None:
    RULE.raise_(
        ctx, (fact.requester, fact.target),
        f"{ctx.name(fact.responder)} answered {ctx.name(fact.requester)}'s resolution of "
        f"{fact.target} with a NAK (code {fact.code} {fact.code_name}): the target is "
        f"not registered or not reachable through NHRP; check that its spoke is "
        f"registered with the hub.",
        fact.frames, time=fact.time, routers=[fact.requester, fact.responder or ""])
