"""A spoke-to-spoke shortcut that resolved but carried no data: the data
kept going via the hub."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd

RULE = Rule("shortcut-unused", "warning", "A shortcut formed but its data still goes via the hub.")
READS = (CaptureEnd,)


def on(ctx: Context, fact: CaptureEnd) -> None:
    for sc in fact.view.shortcuts:
        if sc.direct_packets == 0 and sc.via_hub_packets > 0:
            RULE.raise_(
                ctx, (sc.a_nbma, sc.b_nbma),
                f"{ctx.name(sc.a_nbma)} resolved {ctx.name(sc.b_nbma)} but its data "
                f"still goes via the hub ({sc.via_hub_packets} packets after the shortcut, "
                f"none direct): check the NHRP route/shortcut installation, that GRE/IPsec "
                f"between the two spokes comes up, and any ACL/NAT on the direct path.",
                sc.frames, time=sc.established, routers=[sc.a_nbma, sc.b_nbma])
