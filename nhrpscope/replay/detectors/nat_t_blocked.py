"""IKE moved to UDP 4500 for NAT traversal (RFC 3947 4, RFC 7296 2.23) and
nothing answers there."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import NatTUnanswered

RULE = Rule("nat-t-blocked", "error",
            "IKE behind NAT moved to UDP 4500 and got no answer there: UDP 4500 is blocked.")
READS = (NatTUnanswered,)


def on(ctx: Context, fact: NatTUnanswered) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    nat = fact.nat_detail or "the negotiation moved to UDP 4500 (NAT-T)"
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{what} between {ctx.name(i)} and {ctx.name(r)}: NAT detected ({nat}), "
        f"the negotiation moved to UDP 4500 and nothing answers there "
        f"({fact.messages} message(s) from {ctx.name(fact.sender)}): check that "
        f"UDP 4500 passes between them (firewalls, ACLs on the path and on "
        f"{ctx.name(fact.receiver)}).",
        fact.frames, time=fact.time, routers=[i, r])
