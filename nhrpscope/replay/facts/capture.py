"""The end of the capture: a read-only view of what the replay saw, for the
rules that judge the capture as a whole (a key or password that differs
between two routers, a shortcut never used, counts to put in messages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from nhrpscope.replay.model import SecurityAssociation, Shortcut, Traffic


class NatTraversal(NamedTuple):
    """ESP over UDP 4500 (RFC 3948) between two routers, first seen at ``frame``."""

    a: str | None  # claimed NBMA of the sender
    b: str | None
    sport: int
    frame: int
    time: float
    nat_known: tuple[str, ...]  # which of a, b were known to be NATed then


class Truncation(NamedTuple):
    """Frames the capture holds less of than went on the wire (its snap
    length cut them): what was past the cut is unknown."""

    frames: int = 0  # frames cut
    total: int = 0  # frames replayed
    first: tuple[int, ...] = ()  # the first frames cut, in order
    snap: int | None = None  # the bytes kept of each cut frame, when the same for all
    exact: bool = True  # False: only the frames decoded in full were looked at
    nhrp: int = 0  # NHRP packets cut, so not replayed
    ike: int = 0  # IKE messages cut, so not replayed


class CaptureView(NamedTuple):
    """What the replay saw, in the order it first saw it. Records are the
    replay's own: read them, never change them."""

    claimed: Callable[[str | None], str | None]  # wire NBMA -> claimed NBMA
    routers: frozenset[str]  # claimed NBMA of every router seen
    traffic: Mapping[tuple[str, str], Traffic]  # by outer (source, destination)
    # NHRP authentication passwords each sender used towards each receiver,
    # and the first frame that showed the pair
    passwords: Mapping[tuple[str, str], frozenset[str | None]]
    password_frames: Mapping[tuple[str, str], int]
    unanswered_registrations: frozenset[tuple[str | None, str | None]]  # (spoke, hub)
    recovered_registrations: tuple[tuple[str, str], ...]  # unanswered, then a success
    nat_traversal: tuple[NatTraversal, ...]
    shortcuts: Sequence[Shortcut]
    sas: Sequence[SecurityAssociation]
    fragments: Mapping[tuple[str, str], int]  # fragmented tunnel packets by (src, dst)
    truncation: Truncation = Truncation()


class CaptureEnd(NamedTuple):
    time: float
    view: CaptureView
