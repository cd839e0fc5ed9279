"""An NHRP packet that fails its checksum or its length checks (RFC 2332
5.1, 5.2.0.1): its receiver drops it, so the replay moves no state on it."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import MalformedNhrp, title

RULE = Rule("malformed-nhrp", "warning",
            "NHRP packets fail their checksum or length checks; the receiver drops them.")
READS = (MalformedNhrp,)


def on(ctx: Context, fact: MalformedNhrp) -> None:
    failed = " and ".join(w for w, bad in (("checksum", fact.checksum_failed),
                                            ("length checks", fact.length_failed)) if bad)
    RULE.raise_(
        ctx, (fact.sender, fact.receiver, failed),
        f"NHRP {title(fact.type or 'packet')} from {ctx.name(fact.sender)} to "
        f"{ctx.name(fact.receiver)} fails its {failed}: the receiver drops such a packet, so it "
        f"counts for nothing here; check the path for corruption and the sender's NHRP "
        f"implementation.",
        [fact.frame], time=fact.time, routers=[fact.sender or "", fact.receiver or ""])
