"""A capture whose snap length cut frames (tcpdump -s, an embedded capture's
default limit): what was past the cut is unknown, so nothing is inferred
from it, and NHRP packets cut short are not replayed at all."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd

RULE = Rule("capture-truncated", "warning",
            "The capture's snap length cut frames: fields past the cut are unknown and nothing "
            "is inferred from them; capture again with a full snap length (tcpdump -s 0).")
READS = (CaptureEnd,)


def on(ctx: Context, fact: CaptureEnd) -> None:
    cut = fact.view.truncation
    if not cut.frames:
        return
    count = f"{cut.frames} of {cut.total}" if cut.exact else f"at least {cut.frames} of {cut.total}"
    snap = f" (each kept to {cut.snap} bytes: the snap length)" if cut.snap is not None else ""
    nhrp = ""
    if cut.nhrp:
        nhrp = (f"; {cut.nhrp} NHRP packet{'s were' if cut.nhrp != 1 else ' was'} cut short and "
                f"not replayed, so registrations, resolutions and roles rest only on the NHRP "
                f"packets captured whole")
    if cut.ike:
        nhrp += (f"; {cut.ike} IKE message{'s were' if cut.ike != 1 else ' was'} cut short and "
                 f"not replayed, so the IKE negotiations rest only on the messages captured whole")
    RULE.raise_(
        ctx, ("capture",),
        f"{count} frames are cut short by the capture's snap length{snap}: what was past the "
        f"cut is unknown, so nothing is inferred from it{nhrp}. Capture again with a full snap "
        f"length (tcpdump -s 0).",
        cut.first, time=None)
