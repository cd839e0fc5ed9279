"""One small sans-I/O state machine per NHRP transaction kind.

Each machine is keyed by what RFC 2332 matches on (the request id plus the
source NBMA and protocol addresses, which a reply copies from its request),
is fed inputs named after what the capture showed, and moves along a table
written beside the RFC section it implements. No clock of its own: the
engine passes the capture's time and decides when a timeout has passed.

An input a table does not list for the current state changes nothing (a
duplicate reply, a late retransmission): the machine never raises.
"""

from __future__ import annotations

from typing import ClassVar

from nhrpscope.replay.facts.nhrp import UnreadableFrames, UnreadableMark
from nhrpscope.replay.model import Hop, Purge, Redirect, Registration, Resolution

# How long a request may wait for its reply before, the capture going on,
# it counts as unanswered. Routers retransmit NHRP requests after a few
# seconds (IOS and FRR start around 1-2 s and back off), so by 5 s a reply
# or a retry would have shown.
REPLY_TIMEOUT = 5.0


class Machine:
    """A state and a transition table: ``TABLE[(state, input)] -> state``."""

    INITIAL: ClassVar[str] = ""
    TABLE: ClassVar[dict[tuple[str, str], str]] = {}
    OPEN: ClassVar[frozenset[str]] = frozenset()

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = self.INITIAL

    def fire(self, inp: str) -> bool:
        """Apply ``inp``; True when it changed the state."""
        new = self.TABLE.get((self.state, inp))
        if new is None or new == self.state:
            return False
        self.state = new
        rec = getattr(self, "record", None)
        if rec is not None:
            rec.state = new
        return True

    @property
    def open(self) -> bool:
        return self.state in self.OPEN


class RegistrationTxn(Machine):
    """RFC 2332 5.2.3 (Registration Request) and 5.2.4 (Registration Reply).

    A request is retransmitted with the same request id (5.2.3's retransmission)
    or retried with a new one (IOS does both, and may have several requests
    outstanding); the reply with its id answers it, and its CIE code says
    success (0) or why not (4, 5, 14). An Error Indication (5.2.7) quoting
    the request is no reply: it is reported on its own, and the request stays
    unanswered (the spoke is not registered).
    """

    INITIAL = "sent"
    OPEN = frozenset({"sent"})
    TABLE = {
        # state         input            new state
        ("sent", "request"): "sent",  # retransmission, same request id
        ("sent", "reply-ack"): "registered",  # 5.2.4, CIE code 0
        ("sent", "reply-nak"): "rejected",  # 5.2.4, CIE code != 0
        ("sent", "timeout"): "unanswered",  # REPLY_TIMEOUT passed, capture went on
        ("sent", "capture-end"): "pending",  # capture ended before the timeout
        ("unanswered", "reply-ack"): "registered",  # a late reply still counts
        ("unanswered", "reply-nak"): "rejected",
        # frames towards the spoke could not be read: the reply may be among them
        ("unanswered", "unreadable"): "unreadable",
        ("unreadable", "reply-ack"): "registered",
        ("unreadable", "reply-nak"): "rejected",
        ("pending", "reply-ack"): "registered",
        ("pending", "reply-nak"): "rejected",
    }

    __slots__ = ("record", "key", "last_request", "deadline", "reply_seen_by", "answered",
                 "requests", "unreadable_from", "unreadable")

    def __init__(self, record: Registration, key: tuple, time: float | None) -> None:
        super().__init__()
        self.record = record
        self.key = key
        self.last_request = time
        self.deadline = (time or 0.0) + REPLY_TIMEOUT
        self.reply_seen_by: str | None = None
        # a reply came: a later request with the same id is a new registration
        self.answered = False
        self.requests: list[int] = []  # every request's frame (the record keeps the first few)
        # what could not be read towards the spoke when it asked, and since then
        self.unreadable_from: UnreadableMark | None = None
        self.unreadable: tuple[UnreadableFrames, ...] = ()


class ResolutionTxn(Machine):
    """RFC 2332 5.2.1 (Resolution Request) and 5.2.2 (Resolution Reply).

    The request may travel several hops (each NHS on the way forwards it,
    decrementing the hop count and adding a Forward Transit NHS Record,
    5.3.2); every hop seen is kept. A reply whose CIE code is not 0 is a
    negative acknowledgement (NAK).
    """

    INITIAL = "sent"
    OPEN = frozenset({"sent"})
    TABLE = {
        ("sent", "request"): "sent",  # retransmission by the requester
        ("sent", "forwarded"): "sent",  # 5.2.1: an NHS passes it on
        ("sent", "reply-ack"): "resolved",  # 5.2.2, CIE code 0
        ("sent", "reply-nak"): "nak",  # 5.2.2, CIE code != 0 (e.g. 12 no binding)
        ("sent", "retried"): "unanswered",
        ("sent", "timeout"): "unanswered",
        ("sent", "capture-end"): "pending",
        ("unanswered", "reply-ack"): "resolved",
        ("unanswered", "reply-nak"): "nak",
        ("unanswered", "unreadable"): "unreadable",
        ("unreadable", "reply-ack"): "resolved",
        ("unreadable", "reply-nak"): "nak",
        ("pending", "reply-ack"): "resolved",
        ("pending", "reply-nak"): "nak",
    }

    __slots__ = ("record", "key", "last_request", "deadline", "requester_outer", "max_hop",
                 "hop_pairs", "phase3", "redirect_frames", "unreadable_from")

    def __init__(self, record: Resolution, key: tuple, time: float | None) -> None:
        super().__init__()
        self.record = record
        self.key = key
        self.last_request = time
        self.deadline = (time or 0.0) + REPLY_TIMEOUT
        self.requester_outer: str | None = None
        self.max_hop = 0
        self.hop_pairs: set[tuple[str, str, str]] = set()
        self.phase3 = False
        self.redirect_frames: list[int] = []
        self.unreadable_from: UnreadableMark | None = None

    def add_hop(self, hop: Hop, max_hops: int = 16) -> bool:
        """Record a hop; False when the same hop was seen before (a retransmission)."""
        k = (hop.kind, hop.from_nbma, hop.to_nbma)
        if k in self.hop_pairs:
            return False
        self.hop_pairs.add(k)
        if len(self.record.hops) < max_hops:
            self.record.hops.append(hop)
        return True


class PurgeTxn(Machine):
    """RFC 2332 5.2.5 (Purge Request) and 5.2.6 (Purge Reply).

    A request with the N bit ("no-reply") expects no reply."""

    INITIAL = "sent"
    OPEN = frozenset({"sent"})
    TABLE = {
        ("sent", "request"): "sent",
        ("sent", "no-reply"): "no-reply-requested",
        ("sent", "reply"): "acknowledged",
        ("sent", "timeout"): "unanswered",
        ("sent", "capture-end"): "pending",
        ("unanswered", "reply"): "acknowledged",
        ("pending", "reply"): "acknowledged",
        ("no-reply-requested", "reply"): "acknowledged",
    }

    __slots__ = ("record", "key", "deadline")

    def __init__(self, record: Purge, key: tuple, time: float | None) -> None:
        super().__init__()
        self.record = record
        self.key = key
        self.deadline = (time or 0.0) + REPLY_TIMEOUT


class RedirectTxn(Machine):
    """Traffic Indication (NHRP type 8, draft-detienne-dmvpn, the shortcut
    switching of DMVPN phase 3): the hub tells a spoke that the packet it
    quotes could go direct; the spoke is expected to send a Resolution
    Request for the quoted destination."""

    INITIAL = "indicated"
    OPEN = frozenset({"indicated"})
    TABLE = {
        ("indicated", "indication"): "indicated",  # the hub repeats it
        ("indicated", "resolution"): "resolved",  # the spoke asked
        ("indicated", "timeout"): "ignored",
        ("indicated", "capture-end"): "pending",
        ("ignored", "resolution"): "resolved",
    }

    __slots__ = ("record", "key", "deadline")

    def __init__(self, record: Redirect, key: tuple, time: float) -> None:
        super().__init__()
        self.record = record
        self.key = key
        self.deadline = time + REPLY_TIMEOUT


def transitions_table(machine: type[Machine]) -> list[tuple[str, str, str]]:
    """(state, input, new state) rows, for documentation and tests."""
    return [(s, i, n) for (s, i), n in machine.TABLE.items()]
