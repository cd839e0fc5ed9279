"""ESP (RFC 4303) that a given key did not decrypt."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.tunnel import EspDecryptionFailed

RULE = Rule("esp-decryption-failed", "error", "ESP packets did not decrypt with the key given.")
READS = (EspDecryptionFailed,)


def on(ctx: Context, fact: EspDecryptionFailed) -> None:
    RULE.raise_(
        ctx, (fact.spi, fact.src, fact.dst),
        f"ESP SA {fact.spi} from {fact.src} to {fact.dst} did not decrypt with the key given: "
        f"check the key and algorithm for this SPI.", [fact.frame], time=fact.time,
        routers=[fact.a or "", fact.b or ""])
