"""An IKE initiator's messages got no answer at all."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import IkeUnanswered

RULE = Rule("ike-unanswered", "error",
            "IKE got no answer: the peer is down, unreachable, or has no crypto policy for it.")
READS = (IkeUnanswered,)


def on(ctx: Context, fact: IkeUnanswered) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{ctx.name(i)} sent {fact.messages} {what} message(s) to "
        f"{ctx.name(r)} and got no answer: check that {ctx.name(r)} is up and "
        f"reachable on UDP {fact.responder_port}, that no ACL/firewall drops IKE, "
        f"and that it has a crypto policy (tunnel protection) for this peer.",
        fact.frames, time=fact.time, routers=[i, r])
