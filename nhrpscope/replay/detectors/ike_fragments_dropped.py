"""An IKE message sent as IP fragments never got an answer: the path drops
fragments (RFC 7383 1: the reason IKEv2 fragmentation exists)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import IkeFragmentsDropped

RULE = Rule("ike-fragments-dropped", "error",
            "An IKE message sent as IP fragments was never answered: the path drops fragments; "
            "check the path MTU and fragment filtering, or enable IKE fragmentation (RFC 7383).")
READS = (IkeFragmentsDropped,)


def on(ctx: Context, fact: IkeFragmentsDropped) -> None:
    i, r = fact.initiator, fact.responder
    to = r if fact.sender == i else i
    what = f"IKEv{fact.version} {fact.mode}"
    # The peer answered the smaller messages before: it is up and reachable,
    # so only the fragmented one is lost. Without that, it may just be down.
    if fact.asked_again:
        # the peer re-sent its earlier message: it never got this one
        why = (f"{ctx.name(to)} re-sent its earlier message {fact.asked_again} time(s) after it, "
               f"so it never got it: the fragments are lost on the path")
    elif fact.answered_before:
        why = (f"{ctx.name(to)} answered the earlier, unfragmented messages, so the fragments are "
               f"lost on the path")
    else:
        why = (f"nothing of this negotiation was answered, so {ctx.name(to)} may also be down or "
               f"unreachable")
    got = "it never arrived" if fact.asked_again else "got no answer"
    fix = ("enable IKEv2 fragmentation (RFC 7383: 'crypto ikev2 fragmentation', strongSwan "
           "fragmentation=yes)" if fact.version == 2 else
           "enable IKEv1 fragmentation ('crypto isakmp fragmentation', strongSwan fragmentation=yes)")
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{what} between {ctx.name(i)} and {ctx.name(r)}: {ctx.name(fact.sender)} sent its "
        f"{fact.step} as IP fragments {fact.messages} time(s) and {got}; {why}. Check "
        f"the path MTU and that firewalls/NAT on the path pass IP fragments, or {fix}.",
        fact.frames, time=fact.time, routers=[i, r],
        severity=None if fact.answered_before else "warning")
