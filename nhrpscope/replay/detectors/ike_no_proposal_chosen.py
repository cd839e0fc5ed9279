"""The responder refused every proposal (RFC 2408 3.14.1, RFC 7296 3.10.1)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import NoProposalChosen

RULE = Rule("ike-no-proposal-chosen", "error",
            "IKE failed: the peers' ISAKMP policies / IKEv2 proposals share no transform set.")
READS = (NoProposalChosen,)


def on(ctx: Context, fact: NoProposalChosen) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{ctx.name(r)} refused {ctx.name(i)}'s {what} proposal with "
        f"{fact.failure}: {ctx.name(i)} offered [{fact.proposal or '?'}]; make the ISAKMP "
        f"policies / IKEv2 proposals (encryption, hash/integrity, DH group, "
        f"authentication) match on both.",
        fact.frames, time=fact.time, routers=[i, r])
