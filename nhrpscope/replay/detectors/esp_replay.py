"""ESP sequence numbers the receiver's anti-replay window (RFC 4303 3.4.3) drops."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.tunnel import EspReplay

RULE = Rule("esp-replay", "error", "ESP sequence numbers were reused.")
READS = (EspReplay,)


def on(ctx: Context, fact: EspReplay) -> None:
    RULE.raise_(
        ctx, (fact.spi, fact.src, fact.dst),
        f"ESP SA {fact.spi} from {fact.src} to {fact.dst} reused sequence numbers (a replay "
        f"or a duplicated path): the receiver's anti-replay check drops these.",
        [fact.frame], time=fact.time, routers=[fact.a or "", fact.b or ""])
