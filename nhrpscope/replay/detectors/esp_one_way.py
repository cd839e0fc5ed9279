"""ESP one way only (RFC 4303): an SA carries packets and nothing comes back."""

from __future__ import annotations

from nhrpscope.replay.detectors.base import Context, Rule
from nhrpscope.replay.facts.ipsec import EspOneWay

RULE = Rule("esp-one-way", "error",
            "ESP flows one way only: the peer drops it or its answers are lost.")
READS = (EspOneWay,)


def on(ctx: Context, fact: EspOneWay) -> None:
    src, dst = ctx.name(fact.src), ctx.name(fact.dst)
    if fact.ike_seen and fact.time is not None and fact.time == fact.last:
        # every packet at one instant (a test artefact, a rewritten capture):
        # no time passed in which an answer was due, so the capture cannot tell
        # it is a fault (without IKE the warning below says as much already)
        RULE.raise_(
            ctx, (fact.spi, fact.src, fact.dst),
            f"ESP SA {fact.spi} from {src} to {dst} carries {fact.packets} packet(s) and the "
            f"capture shows nothing back; its packets all carry the same timestamp, so it "
            f"cannot tell whether an answer was due (not judged a fault).",
            fact.frames, time=fact.time, routers=[fact.src, fact.dst], severity="info")
        return
    # With the IKE exchange in the capture both SAs were agreed: the missing
    # direction is a fault. Without it the tap may see one direction only.
    RULE.raise_(
        ctx, (fact.spi, fact.src, fact.dst),
        f"ESP SA {fact.spi} from {src} to {dst} carries "
        f"{fact.packets} packet(s) and nothing comes back ('#pkts encaps' but no "
        f"'#pkts decaps' on {src}): {dst} drops them or its "
        f"answers are lost; check ESP (IP protocol 50 / UDP 4500) on the path "
        f"from {dst} to {src}, ACLs, and that "
        f"{dst} holds this SA ('clear crypto session')"
        + ("." if fact.ike_seen else "; no IKE for this pair is in the capture, so check "
           "too that the tap sees both directions."),
        fact.frames, time=fact.time, routers=[fact.src, fact.dst],
        severity=None if fact.ike_seen else "warning")
