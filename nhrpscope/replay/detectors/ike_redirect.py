"""An IKEv2 gateway sent the initiator elsewhere (RFC 5685 REDIRECT): load
balancing or maintenance, not a fault."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import IkeRedirected

RULE = Rule("ike-redirect", "info",
            "An IKEv2 gateway redirected the initiator to another gateway (RFC 5685); "
            "its IKE SA is set up there, if anywhere.")
READS = (IkeRedirected,)


def on(ctx: Context, fact: IkeRedirected) -> None:
    i, r = fact.initiator, fact.responder
    to = "another gateway (its identity unreadable)" if fact.target == "?" else ctx.name(fact.target)
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{ctx.name(r)} answered {ctx.name(i)}'s IKE_SA_INIT with REDIRECT (RFC 5685) to {to}: "
        f"no IKE SA with {ctx.name(r)}; look for the negotiation with {to}.",
        fact.frames, time=fact.time, routers=[i, r])
