"""Tunnel packets bigger than the path MTU: IP fragments of GRE/ESP, or an
ICMP fragmentation-needed about them."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.capture import CaptureEnd
from nhrpscope.replay.facts.tunnel import FragmentationNeeded, Fragmented

RULE = Rule("mtu-fragmentation", "warning", "Tunnel packets exceed the path MTU.")
READS = (Fragmented, FragmentationNeeded, CaptureEnd)

_CARRIED = {47: "GRE", 50: "ESP", 17: "NAT-T ESP"}


def on(ctx: Context, fact: Fragmented | FragmentationNeeded | CaptureEnd) -> None:
    if isinstance(fact, Fragmented):
        RULE.raise_(
            ctx, ("frag", fact.src, fact.dst),
            f"{_CARRIED.get(fact.ip_proto, 'tunnel')} packets from {ctx.name(fact.a)} to "
            f"{ctx.name(fact.b)} are IP-fragmented: the tunnel MTU exceeds "
            f"the path MTU; check 'ip mtu' (e.g. 1400) and 'ip tcp adjust-mss' on the tunnel.",
            [fact.frame], time=fact.time, routers=[fact.a or "", fact.b or ""])
    elif isinstance(fact, FragmentationNeeded):
        RULE.raise_(
            ctx, ("icmp", fact.src, fact.orig_dst),
            f"ICMP fragmentation-needed from {fact.src} to {fact.dst}"
            + (f" (next-hop MTU {fact.mtu})" if fact.mtu else "")
            + (f" about {fact.orig_src} -> {fact.orig_dst}" if fact.orig_src else "")
            + ": packets with DF set are too big for the path; lower the tunnel 'ip mtu' "
              "or clear DF.",
            [fact.frame], time=fact.time, routers=fact.routers)
    else:  # the count of fragments, beyond the frames kept
        for (s, d), count in fact.view.fragments.items():
            f = ctx.findings.get(RULE.code, ("frag", s, d))
            if f is not None:
                f.frames_total = max(f.frames_total, count)
