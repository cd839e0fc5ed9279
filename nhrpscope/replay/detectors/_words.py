"""Wording shared by several detectors."""

from __future__ import annotations

from collections.abc import Iterable

from nhrpscope.replay.facts.nhrp import ErrorIndicationSent, UnreadableFrames, title
from nhrpscope.replay.findings import Finding


def about(f: ErrorIndicationSent) -> str:
    """' about its Registration Request id=7': what an error indication quoted."""
    if not f.about_type:
        return ""
    what = f" about its {title(f.about_type)}"
    if f.about_request_id is not None:
        what += f" id={f.about_request_id}"
    return what


def keys(ks: Iterable[int | None]) -> str:
    return "/".join("none" if k is None else str(k) for k in ks)


def passwords(pws: Iterable[str | None]) -> str:
    return "/".join("none" if p is None else repr(p) for p in sorted(pws, key=str))


def cite_last(f: Finding, frames: Iterable[int]) -> None:
    """Make sure the last of ``frames`` is cited: a finding keeps its first
    frames and the total, and the last request of an unanswered transaction
    is the one that shows it was still unanswered (it was counted in the
    total when added, so only the list changes)."""
    last = max(frames, default=None)
    if last is not None and f.frames and last not in f.frames:
        f.frames[-1] = last


def unreadable(us: Iterable[UnreadableFrames]) -> str:
    """'3 packets on ESP SA 0x.. A -> B (no key for that SA), frames 12-40'."""
    parts = []
    for u in us:
        where = "frame" if len(u.frames) == 1 else "frames"
        span = "-".join(str(x) for x in u.frames)
        parts.append(f"{u.packets} packet(s) on {u.what} ({u.why}), {where} {span}")
    return "; ".join(parts)
