"""A new ESP SA took over one direction from the previous one: a rekey."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import EspRekey

RULE = Rule("esp-rekey", "info", "An ESP SA was replaced by a new one (a rekey).")
READS = (EspRekey,)


def on(ctx: Context, fact: EspRekey) -> None:
    ov = fact.overlap
    how = (f"both in use for {ov:.3f} s" if ov > 0 else f"{-ov:.3f} s after the old one's "
           "last packet")
    RULE.raise_(
        ctx, (fact.src, fact.dst, fact.spi),
        f"ESP from {ctx.name(fact.src)} to {ctx.name(fact.dst)} moved from SA "
        f"{fact.old_spi} to {fact.spi} (a rekey; {how}).",
        fact.frames, time=fact.time, routers=[fact.src, fact.dst])
