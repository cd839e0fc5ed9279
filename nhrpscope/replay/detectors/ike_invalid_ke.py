"""The responder refused the initiator's Diffie-Hellman group (RFC 7296 1.2
INVALID_KE_PAYLOAD, IKEv1 INVALID-KEY-INFORMATION)."""

from __future__ import annotations

from nhrpscope.dissectors.ike_payloads import dh_group_name
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import InvalidKePayload

RULE = Rule("ike-invalid-ke", "warning",
            "The IKE responder asked for another DH group: the peers' groups differ.")
READS = (InvalidKePayload,)


def _group(g: int | None) -> str:
    return f"{dh_group_name(g)} (group {g})" if g is not None else "?"


def on(ctx: Context, fact: InvalidKePayload) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    asked = (f"; {ctx.name(r)} asks for {_group(fact.wanted)}" if fact.wanted is not None
             else "; the notify does not name the group wanted")
    if fact.recovered:
        # RFC 7296 1.2: a wrong guess costs a round trip, and the retry came up
        end = (f". {ctx.name(i)} retried with it and the IKE SA came up: one extra round trip "
               f"each time; list that group first on {ctx.name(i)} to save it.")
    elif fact.retried:
        end = (f"; {ctx.name(i)} retried, and the IKE SA is not up by the end of the capture - "
               f"configure the same DH group ('group' in the policy / proposal) on both.")
    else:
        end = ("; the initiator must retry with the group asked for - configure the same DH "
               "group ('group' in the policy / proposal) on both.")
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{ctx.name(r)} answered {ctx.name(i)}'s {what} with {fact.failure}: the KE payload "
        f"used DH group {_group(fact.dh_group)}{asked}{end}",
        fact.frames, time=fact.time, routers=[i, r],
        severity="info" if fact.recovered else None)
