"""A hub's registration binding that ran out of holding time unrefreshed."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import RegistrationExpired

RULE = Rule("registration-expired", "warning",
            "A spoke's registration on its hub expired without a refresh.")
READS = (RegistrationExpired,)


def on(ctx: Context, fact: RegistrationExpired) -> None:
    RULE.raise_(
        ctx, (fact.spoke, fact.hub),
        f"The registration of spoke {ctx.name(fact.spoke)} on hub {ctx.name(fact.hub)} expired "
        f"(holding time {fact.holding_time} s) with no refresh: check the spoke's NHRP "
        f"registration timer and whether it is down or cut off from the hub.",
        fact.frames, time=fact.time, routers=[fact.spoke, fact.hub])
