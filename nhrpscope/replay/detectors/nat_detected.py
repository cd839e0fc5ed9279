"""A router behind NAT: its NHRP claims another NBMA address than the wire
shows, or its tunnel runs over UDP 4500 (NAT-T, RFC 3948)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd
from nhrpscope.replay.facts.nhrp import NatDetected

RULE = Rule("nat-detected", "info", "A router sits behind NAT.")
READS = (NatDetected, CaptureEnd)


def on(ctx: Context, fact: NatDetected | CaptureEnd) -> None:
    if isinstance(fact, NatDetected):
        RULE.raise_(
            ctx, (fact.nbma,),
            f"Router {ctx.name(fact.nbma)} is behind NAT: {fact.evidence}; its peers must reach "
            f"it at {fact.public} (check 'ip nhrp nat' support / NAT-T and that spoke-to-spoke "
            f"tunnels can cross this NAT).",
            [fact.frame], time=fact.time, routers=[fact.nbma])
        return
    for nt in fact.view.nat_traversal:
        said = ctx.findings.get(RULE.code, (nt.nat_known[0],)) if nt.nat_known else None
        if said is not None:
            said.add_frames([nt.frame])  # the NHRP evidence already says it
            continue
        RULE.raise_(
            ctx, ("natt", *sorted((nt.a or "", nt.b or ""))),
            f"The tunnel between {ctx.name(nt.a)} and {ctx.name(nt.b)} runs over UDP 4500 "
            f"(NAT-T): a NAT sits between them; spoke-to-spoke shortcuts must cross it.",
            [nt.frame], time=nt.time, routers=[nt.a or "", nt.b or ""])
