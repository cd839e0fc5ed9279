"""ESP whose integrity check value fails (RFC 4303 3.4.4)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.tunnel import EspIcvFailed

RULE = Rule("esp-icv-failed", "error", "ESP packets failed their integrity check.")
READS = (EspIcvFailed,)


def on(ctx: Context, fact: EspIcvFailed) -> None:
    RULE.raise_(
        ctx, (fact.spi, fact.src, fact.dst),
        f"ESP SA {fact.spi} from {fact.src} to {fact.dst}: integrity check (ICV) failed: the "
        f"packets were altered on the way or the integrity key is wrong.", [fact.frame],
        time=fact.time, routers=[fact.a or "", fact.b or ""])
