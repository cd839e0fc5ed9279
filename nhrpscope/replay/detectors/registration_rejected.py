"""A registration reply (RFC 2332 5.2.4) with a CIE code other than 0 and 14."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import RegistrationRejected

RULE = Rule("registration-rejected", "error", "The NHS rejected a spoke's registration.")
READS = (RegistrationRejected,)


def on(ctx: Context, fact: RegistrationRejected) -> None:
    RULE.raise_(
        ctx, (fact.spoke, fact.hub or "?"),
        f"Hub {ctx.name(fact.hub)} rejected the registration of spoke "
        f"{ctx.name(fact.spoke)} (code {fact.code} {fact.code_name}): check the hub's NHRP "
        f"configuration (network-id, authorisation, resources) for this spoke.",
        fact.frames, time=fact.time, routers=[fact.spoke, fact.hub or ""])
