"""Dead peer detection requests (RFC 3706, RFC 7296 1.4) go unanswered."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import DpdUnanswered

RULE = Rule("dpd-timeout", "warning",
            "Dead peer detection got no answer: the IPsec peer is down or the path drops IKE.")
READS = (DpdUnanswered,)


def on(ctx: Context, fact: DpdUnanswered) -> None:
    s, p = fact.sender, fact.peer
    RULE.raise_(
        ctx, tuple(sorted((s, p))),
        f"{ctx.name(s)} sent {len(fact.frames)} dead peer detection request(s) "
        f"(R-U-THERE / IKE informational) to {ctx.name(p)} with no answer: the peer "
        f"is down or the path drops IKE; it will tear the SAs down (check "
        f"{ctx.name(p)} and UDP {fact.responder_port} between them).",
        fact.frames, time=fact.time, routers=[s, p])
