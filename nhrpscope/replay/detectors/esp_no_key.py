"""ESP (RFC 4303) on SAs no key was given for: counted, not decrypted.

One finding per capture, not one per SA: a hub with 200 spokes has 400 SAs,
and the advice is the same for each (give the keys)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd
from nhrpscope.replay.facts.tunnel import EspNoKey

RULE = Rule("esp-no-key", "info",
            "ESP packets could not be decrypted (no key given for their SAs): the GRE and NHRP "
            "inside are not analysed; give the keys with -k FILE or -E 'SPI@DST ALGO:KEY'.")
READS = (EspNoKey, CaptureEnd)
_SUBJECT = ("capture",)
_ADVICE = "give the keys with -k FILE or -E 'SPI@DST ALGO:KEY' to see the GRE and NHRP inside."


def on(ctx: Context, fact: EspNoKey | CaptureEnd) -> None:
    if isinstance(fact, EspNoKey):
        RULE.raise_(ctx, _SUBJECT, f"ESP could not be decrypted (no key): {_ADVICE}",
                    [fact.frame], time=fact.time, routers=[fact.a or "", fact.b or ""])
        return
    f = ctx.findings.get(RULE.code, _SUBJECT)
    if f is None:
        return
    # the counts, once known (the hot path counts without a word): cite each SA's first frame
    sas = sorted((sa for sa in fact.view.sas if sa.no_key),
                 key=lambda sa: (sa.frames[0] if sa.frames else 0))
    if not sas:
        return
    packets = sum(sa.no_key for sa in sas)
    what = (f"SA {sas[0].spi} from {sas[0].src} to {sas[0].dst}" if len(sas) == 1
            else f"{len(sas)} SAs")
    f.message = (f"{packets} ESP packet{'s' if packets != 1 else ''} on {what} could not be "
                 f"decrypted (no key): {_ADVICE}")
    f.frames = []
    f.frames_total = 0
    f.add_frames(sa.frames[0] for sa in sas if sa.frames)
    f.frames_total = packets
    claimed = fact.view.claimed
    f.routers = sorted({claimed(x) or x for sa in sas for x in (sa.src, sa.dst)} - {""})
