"""ESP (RFC 4303) on an SA no key was given for: counted, not decrypted."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd
from nhrpscope.replay.facts.tunnel import EspNoKey

RULE = Rule("esp-no-key", "info", "ESP packets could not be decrypted: no key.")
READS = (EspNoKey, CaptureEnd)


def on(ctx: Context, fact: EspNoKey | CaptureEnd) -> None:
    if isinstance(fact, EspNoKey):
        RULE.raise_(
            ctx, (fact.spi, fact.src, fact.dst),
            f"ESP SA {fact.spi} from {fact.src} to {fact.dst} cannot be decrypted: no key; give it "
            f"with -k FILE or -E 'SPI@DST ALGO:KEY' to see the GRE and NHRP inside.",
            [fact.frame], time=fact.time, routers=[fact.a or "", fact.b or ""])
        return
    # the counts, once known (the hot path counts without a word)
    for sa in fact.view.sas:
        f = ctx.findings.get(RULE.code, (sa.spi, sa.src, sa.dst))
        if f is not None:
            f.message = (f"{sa.no_key} ESP packets on SA {sa.spi} from {sa.src} to {sa.dst} "
                         f"could not be decrypted (no key): give the key with -k FILE or "
                         f"-E 'SPI@DST ALGO:KEY' to see the GRE and NHRP inside.")
            f.frames = [sa.frames[0]] + ([sa.frames[1]] if sa.frames[1] != sa.frames[0] else [])
            f.frames_total = sa.no_key
