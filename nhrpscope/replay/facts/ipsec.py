"""Facts of IPsec as the capture shows it without keys: how an IKE
negotiation ended (RFC 2409 for IKEv1, RFC 7296 for IKEv2), dead peer
detection (RFC 3706) and the ESP SAs (RFC 4303) counted per SPI.

Peers are named by the addresses at the tap; ``mode`` is the exchange that
set the IKE SA up (``main-mode``, ``aggressive-mode``, ``ike-sa-init``, or
the first exchange seen when the capture started later). Each fact cites
its frames in the order the finding lists them.
"""

from __future__ import annotations

from typing import NamedTuple


class NoProposalChosen(NamedTuple):
    """The responder accepted none of the initiator's proposals (RFC 2408
    3.14.1 NO-PROPOSAL-CHOSEN, RFC 7296 3.10.1 NO_PROPOSAL_CHOSEN)."""

    initiator: str
    responder: str
    version: int
    mode: str
    failure: str  # the notify as named, with what the wire adds
    proposal: str | None  # the initiator's offer, transform by transform
    time: float | None
    frames: tuple[int, ...]  # the first request, then the notify


class InvalidKePayload(NamedTuple):
    """The responder refused the initiator's Diffie-Hellman group (RFC 7296
    1.2 and 3.10.1 INVALID_KE_PAYLOAD; IKEv1 INVALID-KEY-INFORMATION)."""

    initiator: str
    responder: str
    version: int
    mode: str
    failure: str
    dh_group: int | None  # the group the initiator's KE payload used
    time: float | None
    frames: tuple[int, ...]
    wanted: int | None = None  # the group the responder asked for (IKEv2: the notify's data)
    recovered: bool = False  # the initiator retried with it and the IKE SA came up
    retried: bool = False  # the initiator sent IKE_SA_INIT again after the refusal


class NatTUnanswered(NamedTuple):
    """A negotiation moved to UDP 4500 (RFC 3947 4, RFC 7296 2.23) and only
    one side speaks there."""

    initiator: str
    responder: str
    version: int
    mode: str
    nat_detail: str | None  # what the NAT-D hashes showed, if any
    sender: str  # the side speaking on UDP 4500
    receiver: str
    messages: int  # messages on UDP 4500
    time: float | None
    frames: tuple[int, ...]  # NAT-D messages, then those on UDP 4500


class AuthenticationFailed(NamedTuple):
    """The peers did not authenticate each other: an AUTHENTICATION-FAILED
    notify (RFC 2408 3.14.1, RFC 7296 3.10.1), an IKEv2 IKE_AUTH answered and
    followed by a fresh IKE_SA_INIT, or IKEv1 main mode stalled at its
    encrypted messages 5/6 (RFC 2409 5: ID and HASH)."""

    initiator: str
    responder: str
    version: int
    mode: str
    failure: str | None  # None: the stall is all the wire shows
    reached: str  # the furthest step: MM5, MM6, IKE_AUTH response ...
    time: float | None
    frames: tuple[int, ...]


class IkeUnanswered(NamedTuple):
    """The initiator's messages got no answer at all."""

    initiator: str
    responder: str
    version: int
    mode: str
    messages: int  # messages the initiator sent
    responder_port: int  # the UDP port they went to
    time: float | None
    frames: tuple[int, ...]


class IkeFragmentsDropped(NamedTuple):
    """IKE messages sent as IP fragments and never answered, retried or given
    up: the classic path that drops fragments (RFC 7383 1)."""

    initiator: str
    responder: str
    version: int
    mode: str
    sender: str
    step: str  # the message that went unanswered: MM5, IKE_AUTH request ...
    messages: int  # how many times it was sent
    answered_before: bool  # the peer answered the earlier, unfragmented messages
    time: float | None
    frames: tuple[int, ...]  # every fragment of those messages
    asked_again: int = 0  # the peer then re-sent what it had sent before, this many times


class IkeRedirected(NamedTuple):
    """An IKEv2 gateway answered IKE_SA_INIT with REDIRECT (RFC 5685 3.5)."""

    initiator: str
    responder: str
    target: str  # the gateway it named ("?" when unreadable)
    time: float | None
    frames: tuple[int, ...]  # the request, the redirect


class IkeRetransmissions(NamedTuple):
    """A negotiation that completed after retransmitting some messages while
    it was being set up (not DPD or rekeys later)."""

    initiator: str
    responder: str
    version: int
    mode: str
    time: float | None  # of the first retransmission
    frames: tuple[int, ...]  # the retransmissions
    state: str = "established"  # the negotiation's end: established, or failed by a notify


class DpdUnanswered(NamedTuple):
    """Dead peer detection requests (RFC 3706 R-U-THERE, IKEv2 empty
    INFORMATIONAL, RFC 7296 1.4) from one side, three or more unanswered."""

    sender: str
    peer: str
    responder_port: int  # the negotiation's IKE port on the responder
    time: float | None
    frames: tuple[int, ...]  # the requests, sorted


class EspSaSeen(NamedTuple):
    """One ESP SA (one SPI, one direction) as counted: when and where it first showed."""

    spi: str
    src: str
    dst: str
    first: float | None
    frame: int  # its first frame


class EspSasWithoutIke(NamedTuple):
    """At the end of the capture: the ESP SAs with no IKE exchange between
    their peers before them (the capture started after IKE set them up)."""

    sas: tuple[EspSaSeen, ...]


class EspOneWay(NamedTuple):
    """An unpaired ESP SA carrying packets with nothing coming back while it
    was in use."""

    spi: str
    src: str
    dst: str
    packets: int
    ike_seen: bool  # the IKE exchange that agreed it is in the capture
    time: float | None
    frames: tuple[int, ...]  # its first and last
    last: float | None = None  # its last packet's time (== time: no span to judge by)


class EspRekey(NamedTuple):
    """A new SPI took over one direction from the previous one (RFC 4301 4.4.2
    lifetimes: IKE agrees the next SA before the old one expires)."""

    spi: str
    old_spi: str
    src: str
    dst: str
    overlap: float  # seconds both were in use (negative: the gap between them)
    time: float | None
    frames: tuple[int, ...]
