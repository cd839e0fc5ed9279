"""Every NHRP Error Indication (RFC 2332 5.2.7), whatever its code."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import about
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import ErrorIndicationSent

RULE = Rule("error-indication", "warning", "A router sent an NHRP error indication.")
READS = (ErrorIndicationSent,)


def on(ctx: Context, fact: ErrorIndicationSent) -> None:
    RULE.raise_(
        ctx, ("ei", fact.src, fact.receiver, fact.error_code),
        f"{ctx.name(fact.src)} sent an NHRP error indication to {ctx.name(fact.receiver)}"
        f"{about(fact)}: {fact.error_name or fact.error_code}; check the NHRP configuration both "
        f"sides agree on (network-id, extensions, MTU).",
        [fact.frame], time=fact.time, routers=[fact.src or "", fact.receiver or ""])
