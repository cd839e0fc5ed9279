"""An NHRP request (RFC 2332 5.2.1, 5.2.3) with no visible answer while
frames that could carry it were unreadable: absence is then no evidence."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import cite_last, unreadable
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import (
    CUT,
    RegistrationUnanswered,
    ResolutionUnanswered,
    UnreadableFrames,
)

RULE = Rule("answer-unreadable", "warning",
            "An NHRP request shows no answer, but frames towards its sender that could carry "
            "it could not be read (ESP without a working key, or cut packets): give the "
            "missing ESP key or capture whole packets before blaming the responder.")
READS = (RegistrationUnanswered, ResolutionUnanswered)


def _advice(what: tuple[UnreadableFrames, ...]) -> str:
    cut = any(u.why == CUT for u in what)
    esp = any(u.why != CUT for u in what)
    if cut and not esp:
        return "Capture whole packets (a larger snap length) to see whether it was answered."
    if esp and not cut:
        return "Give the key of that SA (or check it) to see whether it was answered."
    return ("Give the key of that SA and capture whole packets to see whether it was "
            "answered.")


def on(ctx: Context, fact: RegistrationUnanswered | ResolutionUnanswered) -> None:
    if not fact.unreadable:
        return
    frames = [*fact.frames, *(x for u in fact.unreadable for x in u.frames)]
    if isinstance(fact, RegistrationUnanswered):
        who, asked = fact.spoke, f"registration request(s) to NHS {ctx.name(fact.hub)}"
        subject: tuple = ("reg", fact.spoke, fact.hub)
    else:
        who, asked = fact.requester, f"resolution request(s) for {fact.target}"
        subject = ("res", fact.requester, fact.target)
    f = RULE.raise_(
        ctx, subject,
        f"{ctx.name(who)}'s {asked} show no reply, but the reply may be in what could not be "
        f"read towards it: {unreadable(fact.unreadable)}. {_advice(fact.unreadable)}",
        frames, time=fact.time, routers=[who or ""])
    cite_last(f, fact.frames)
