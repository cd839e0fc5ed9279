"""The responder refused the initiator's Diffie-Hellman group (RFC 7296 1.2
INVALID_KE_PAYLOAD, IKEv1 INVALID-KEY-INFORMATION)."""

from __future__ import annotations

from nhrpscope.dissectors.ike_payloads import dh_group_name
from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import InvalidKePayload

RULE = Rule("ike-invalid-ke", "warning",
            "The IKE responder asked for another DH group: the peers' groups differ.")
READS = (InvalidKePayload,)


def on(ctx: Context, fact: InvalidKePayload) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{ctx.name(r)} answered {ctx.name(i)}'s {what} with {fact.failure}: the KE "
        f"payload used DH group {dh_group_name(fact.dh_group) or '?'}; the "
        f"initiator must retry with the group asked for - configure the same DH "
        f"group ('group' in the policy / proposal) on both.",
        fact.frames, time=fact.time, routers=[i, r])
