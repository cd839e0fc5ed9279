"""An IKE negotiation completed only after retransmissions (loss or a slow peer)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import IkeRetransmissions

RULE = Rule("ike-retransmits", "warning",
            "IKE needed retransmissions to complete: loss on the path or a slow peer.")
READS = (IkeRetransmissions,)


def on(ctx: Context, fact: IkeRetransmissions) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{what} between {ctx.name(i)} and {ctx.name(r)} needed "
        f"{len(fact.frames)} retransmission(s) before it "
        f"{'completed' if fact.state == 'established' else 'was refused'}: packet loss "
        f"on the path or a slow peer; check the path between them.",
        fact.frames, time=fact.time, routers=[i, r])
