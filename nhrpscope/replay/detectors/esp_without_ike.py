"""ESP SAs with no IKE exchange before them in the capture (it started later)."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import EspSasWithoutIke

RULE = Rule("esp-without-ike", "info",
            "ESP SAs set up before the capture started: paired by timing, algorithms unseen.")
READS = (EspSasWithoutIke,)


def on(ctx: Context, fact: EspSasWithoutIke) -> None:
    if not fact.sas:
        return
    late = sorted(fact.sas, key=lambda s: s.first or 0.0)
    pairs = {frozenset((s.src, s.dst)) for s in late}
    RULE.raise_(
        ctx, (),
        f"{len(late)} ESP SA(s) between {len(pairs)} peer pair(s) carry traffic with no "
        f"IKE exchange before them in the capture (it started after IKE set them "
        f"up): they are paired by timing only, and their algorithms are not visible.",
        [s.frame for s in late], time=late[0].first, routers=[])
