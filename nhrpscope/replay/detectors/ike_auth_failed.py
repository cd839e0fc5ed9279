"""The IKE peers did not authenticate each other: pre-shared key or
certificates (RFC 2409 5 messages 5/6, RFC 7296 IKE_AUTH)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import AuthenticationFailed

RULE = Rule("ike-auth-failed", "error",
            "IKE authentication failed: the pre-shared keys or certificates do not match.")
READS = (AuthenticationFailed,)


def on(ctx: Context, fact: AuthenticationFailed) -> None:
    i, r = fact.initiator, fact.responder
    what = f"IKEv{fact.version} {fact.mode}"
    why = fact.failure or (f"main mode stalls at message {fact.reached[2:]}"
                           if fact.reached[:2] == "MM" else "authentication failed")
    RULE.raise_(
        ctx, tuple(sorted((i, r))),
        f"{what} from {ctx.name(i)} to {ctx.name(r)} fails authentication "
        f"({why}): check the pre-shared key ('crypto isakmp key ... address', "
        f"keyring / IKEv2 profile) or the certificates on both.",
        fact.frames, time=fact.time, routers=[i, r])
