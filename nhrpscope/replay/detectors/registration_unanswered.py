"""A spoke's registration requests (RFC 2332 5.2.3) that got no reply."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import cite_last
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd
from nhrpscope.replay.facts.nhrp import RegistrationUnanswered

RULE = Rule("registration-unanswered", "error",
            "A spoke's registration requests to its NHS got no reply.")
READS = (RegistrationUnanswered, CaptureEnd)


def on(ctx: Context, fact: RegistrationUnanswered | CaptureEnd) -> None:
    if isinstance(fact, CaptureEnd):
        # a later registration succeeded: loss, not a dead NHS
        for spoke, hub in fact.view.recovered_registrations:
            f = ctx.findings.get(RULE.code, (spoke, hub))
            if f is not None:
                f.message = (f"Spoke {ctx.name(spoke)} got no reply to {f.frames_total} "
                             f"registration request(s) to NHS {ctx.name(hub)} before a "
                             f"later one succeeded: check that the NHS stays up and reachable "
                             f"and for loss on the NBMA path between them.")
        return
    if fact.unreadable:
        return  # the reply may be in frames the replay could not read: answer-unreadable
    f = RULE.raise_(
        ctx, (fact.spoke, fact.hub),
        f"Spoke {ctx.name(fact.spoke)} sent registration requests to NHS "
        f"{ctx.name(fact.hub)} that got no reply: check that the NHS is reachable "
        f"over the NBMA network and that tunnel key, NHRP network-id, authentication "
        f"and IPsec match on both.",
        fact.frames, time=fact.time, routers=[fact.spoke or "", fact.hub or ""])
    cite_last(f, fact.frames)
