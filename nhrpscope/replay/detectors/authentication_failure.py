"""NHRP authentication (RFC 2332 5.3.4) that differs between two routers:
an Error Indication code 11, or the passwords seen on the wire."""

from __future__ import annotations

from nhrpscope.replay.detectors._words import about, passwords
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd
from nhrpscope.replay.facts.nhrp import ErrorIndicationSent

RULE = Rule("authentication-failure", "error",
            "Two routers use different NHRP authentication.")
READS = (ErrorIndicationSent, CaptureEnd)

AUTHENTICATION_FAILURE = 11  # RFC 2332 5.2.7's error code


def on(ctx: Context, fact: ErrorIndicationSent | CaptureEnd) -> None:
    if isinstance(fact, ErrorIndicationSent):
        if fact.error_code == AUTHENTICATION_FAILURE:
            RULE.raise_(
                ctx, tuple(sorted((fact.src or "", fact.receiver or ""))),
                f"{ctx.name(fact.src)} rejects NHRP from {ctx.name(fact.receiver)}{about(fact)}: "
                f"authentication failure (error indication code 11); set the same 'ip nhrp "
                f"authentication' on both.",
                [*fact.offending_frames, fact.frame], time=fact.time,
                routers=[fact.src or "", fact.receiver or ""])
        return
    # seen passively: what one sends is nothing the other sends
    view = fact.view
    sent: dict[str, set[str | None]] = {}
    for (s, _d), pws in view.passwords.items():
        sent.setdefault(s, set()).update(pws)
    for (s, d), pws in view.passwords.items():
        back = view.passwords.get((d, s))
        theirs = set(back) if back is not None else sent.get(d, set())
        if not theirs or pws & theirs:
            continue
        if back is None and (s, d) not in view.unanswered_registrations:
            continue  # one side only, and nothing says the other refused it
        frames = [view.password_frames[(s, d)]]
        if back is not None:
            frames.append(view.password_frames[(d, s)])
        subject = tuple(sorted((s, d)))
        if ctx.findings.get(RULE.code, subject) is not None:
            continue  # the error indications already say it
        RULE.raise_(
            ctx, subject,
            f"{ctx.name(s)} and {ctx.name(d)} use different NHRP authentication "
            f"({passwords(pws)} vs {passwords(theirs)}): set the same 'ip nhrp authentication' "
            f"on both.",
            frames, routers=[s, d])
