"""One tunnel address registered "unique" from two NBMA addresses (RFC 2332
5.2.3, CIE code 14)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.nhrp import UniqueAddressConflict

RULE = Rule("unique-address-conflict", "error",
            "Two NBMA addresses register the same unique tunnel address.")
READS = (UniqueAddressConflict,)


def on(ctx: Context, fact: UniqueAddressConflict) -> None:
    RULE.raise_(
        ctx, (fact.hub, fact.proto),
        f"Hub {ctx.name(fact.hub)} has tunnel address {fact.proto} registered (unique) by "
        f"{fact.holder or '?'} and {fact.claimant or '?'} registers it too: two spokes share a "
        f"tunnel address, or a spoke's NBMA address changed (DHCP/NAT) before its old "
        f"registration expired; check the tunnel addresses or use 'ip nhrp registration "
        f"no-unique'.",
        fact.frames, time=fact.time, routers=[fact.hub, fact.holder or "", fact.claimant or ""])
