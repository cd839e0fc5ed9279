"""NHRP Error Indications (RFC 2332 5.2.7) whose code has no finding of its
own: one that a specific finding explains (authentication failure, hop
count exceeded) is reported there, not twice."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import about
from nhrpscope.replay.detectors.authentication_failure import AUTHENTICATION_FAILURE
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.detectors.hop_count_exceeded import HOP_COUNT_EXCEEDED
from nhrpscope.replay.facts.nhrp import ErrorIndicationSent

RULE = Rule("error-indication", "warning", "A router sent an NHRP error indication.")
READS = (ErrorIndicationSent,)


# the codes a specific detector words (it cites the error indication itself)
EXPLAINED = frozenset({AUTHENTICATION_FAILURE, HOP_COUNT_EXCEEDED})


def on(ctx: Context, fact: ErrorIndicationSent) -> None:
    if fact.error_code in EXPLAINED:
        return
    RULE.raise_(
        ctx, ("ei", fact.src, fact.receiver, fact.error_code),
        f"{ctx.name(fact.src)} sent an NHRP error indication to {ctx.name(fact.receiver)}"
        f"{about(fact)}: {fact.error_name or fact.error_code}; check the NHRP configuration both "
        f"sides agree on (network-id, extensions, MTU).",
        [fact.frame], time=fact.time, routers=[fact.src or "", fact.receiver or ""])
