"""An NHRP packet out of hops: seen arriving with hop count 0, or an Error
Indication code 15 (RFC 2332 5.2.7: hop count exceeded)."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import about
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import ErrorIndicationSent, HopCountZero, title

RULE = Rule("hop-count-exceeded", "error", "An NHRP packet ran out of hop count.")
READS = (HopCountZero, ErrorIndicationSent)

HOP_COUNT_EXCEEDED = 15  # RFC 2332 5.2.7's error code


def on(ctx: Context, fact: HopCountZero | ErrorIndicationSent) -> None:
    if isinstance(fact, HopCountZero):
        RULE.raise_(
            ctx, ("zero", fact.sender, fact.src_nbma),
            f"NHRP {title(fact.type)} from {ctx.name(fact.src_nbma)} reached "
            f"{ctx.name(fact.receiver)} with hop count 0: it cannot go further; check for a "
            f"forwarding loop between NHSs or a too small 'ip nhrp max-send'/hop count.",
            [fact.frame], time=fact.time, routers=[fact.src_nbma or "", fact.receiver or ""])
    elif fact.error_code == HOP_COUNT_EXCEEDED:
        RULE.raise_(
            ctx, ("ei", fact.src, fact.receiver),
            f"{ctx.name(fact.src)} dropped an NHRP packet from {ctx.name(fact.receiver)}"
            f"{about(fact)}: hop count exceeded; check for an NHS forwarding loop or raise the "
            f"hop count.",
            [*fact.offending_frames, fact.frame], time=fact.time,
            routers=[fact.src or "", fact.receiver or ""])
