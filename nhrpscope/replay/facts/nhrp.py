"""Facts of the NHRP control plane (RFC 2332 section 5): what a transaction
or a message showed. Routers are named by their claimed NBMA address."""

from __future__ import annotations

from typing import NamedTuple

# RFC 2332 5.2's message titles (and DMVPN's Traffic Indication), by the
# dissector's type name: the vocabulary events and findings both use.
MESSAGE_TITLES = {
    "resolution-request": "Resolution Request", "resolution-reply": "Resolution Reply",
    "registration-request": "Registration Request", "registration-reply": "Registration Reply",
    "purge-request": "Purge Request", "purge-reply": "Purge Reply",
    "error-indication": "Error Indication", "traffic-indication": "Traffic Indication",
}


def title(typ: str) -> str:
    return MESSAGE_TITLES.get(typ, typ)


class UnreadableMark(NamedTuple):
    """What could not be read towards a requester when it sent its request:
    per ESP SA (SPI, source, destination), its packets without a key, that
    failed to decrypt, that failed their ICV, and its last frame then."""

    src: str | None  # only frames from this wire address (None: from anyone)
    dst: str
    seen: dict[tuple[int, str, str], tuple[int, int, int, int]]
    cut: int = 0  # NHRP packets towards ``dst`` the snap length had cut by then


# UnreadableFrames.why of NHRP packets the snap length cut
CUT = "cut by the snap length"


class UnreadableFrames(NamedTuple):
    """Frames towards a requester, while its answer was due, that the replay
    could not read: the answer may be among them."""

    what: str  # "ESP SA 0x1234abcd 172.16.15.2 -> 172.16.25.2"
    why: str  # "no key for that SA", "decryption failed", "ICV check failed"
    packets: int
    frames: tuple[int, ...]  # the first (when known) and the last of them


class RegistrationUnanswered(NamedTuple):
    """A registration request (5.2.3) got no reply in time. ``unreadable``:
    frames towards the spoke that could not be read may hold the reply."""

    spoke: str | None
    hub: str | None
    time: float | None  # of the first request
    frames: tuple[int, ...]
    unreadable: tuple[UnreadableFrames, ...] = ()


class RegistrationRejected(NamedTuple):
    """A registration reply (5.2.4) whose CIE code is neither 0 nor 14."""

    spoke: str
    hub: str | None
    code: int
    code_name: str | None
    time: float
    frames: tuple[int, ...]


class UniqueAddressConflict(NamedTuple):
    """A protocol address registered "unique" (5.2.3) by two NBMA addresses,
    or a reply with CIE code 14 (unique address already registered)."""

    hub: str
    proto: str
    holder: str | None  # None: the NAK says so, the first registration is unseen
    claimant: str | None
    time: float
    frames: tuple[int, ...]


class RegistrationExpired(NamedTuple):
    """A hub's registration binding outlived its holding time unrefreshed."""

    spoke: str
    hub: str
    holding_time: int | None
    time: float
    frames: tuple[int, ...]


class ResolutionUnanswered(NamedTuple):
    """A resolution request (5.2.1) got no reply where the capture would show it."""

    requester: str | None
    target: str | None  # the tunnel address asked for
    nhs: str | None  # the first hop's receiver
    time: float | None
    frames: tuple[int, ...]
    unreadable: tuple[UnreadableFrames, ...] = ()


class ResolutionNak(NamedTuple):
    """A resolution reply (5.2.2) whose CIE code is not 0."""

    requester: str
    responder: str | None
    target: str | None
    code: int
    code_name: str | None
    time: float
    frames: tuple[int, ...]


class HopCountZero(NamedTuple):
    """An NHRP packet arrived with hop count 0 (5.1: it goes no further)."""

    type: str
    src_nbma: str | None
    sender: str | None
    receiver: str | None
    time: float
    frame: int


class ErrorIndicationSent(NamedTuple):
    """An Error Indication (5.2.7) from ``src`` to ``receiver``, and what it
    quoted (the offending packet's type and request id, when readable)."""

    src: str | None
    receiver: str | None
    error_code: int | None
    error_name: str | None
    about_type: str | None
    about_request_id: int | None
    time: float
    frame: int
    offending_frames: tuple[int, ...]  # the quoted request's last frame, when seen


class RedirectIgnored(NamedTuple):
    """A Traffic Indication no resolution request followed in time."""

    hub: str | None
    spoke: str | None
    orig_src: str | None
    orig_dst: str | None
    time: float
    frames: tuple[int, ...]


class PurgeUnanswered(NamedTuple):
    """A purge request (5.2.5) without the N bit got no purge reply (5.2.6)."""

    sender: str | None
    receiver: str | None
    time: float | None
    frames: tuple[int, ...]


class NatDetected(NamedTuple):
    """A router shows another NBMA address on the wire than it claims."""

    nbma: str
    public: str
    evidence: str  # what showed it, as the router record keeps it
    time: float
    frame: int


class MalformedNhrp(NamedTuple):
    """An NHRP packet whose checksum or lengths fail (RFC 2332 5.1): its
    receiver drops it, so it moved no state."""

    type: str | None
    sender: str | None
    receiver: str | None
    checksum_failed: bool
    length_failed: bool
    time: float
    frame: int
