"""The records the IKE observer keeps: one per IKE message, one per
negotiation. Their public fields are the ``ipsec.ike`` entries of
``analyze --format json`` (DESIGN.md): extend them, never rename or reorder
them. Fields starting with ``_`` are the observer's bookkeeping, not shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Caps per negotiation, so memory does not grow with an hour of DPD.
MAX_FRAMES = 200
MAX_MESSAGES = 200
MAX_STEPS = 32


@dataclass(slots=True)
class IkeMessage:
    frame: int
    time: float
    src: str
    dst: str
    sport: int
    dport: int
    exchange: str
    message_id: int
    step: str  # MM1..MM6, AM1..AM3, QM1..QM3, IKE_SA_INIT request, INFO, ...
    response: bool  # sent by the side that did not start this exchange
    retransmit: bool = False
    notifies: list[str] = field(default_factory=list)
    encrypted: bool = False
    length: int = 0


@dataclass(slots=True)
class QuickMode:
    """One IKEv1 quick mode exchange (RFC 2409 5.5), by message id."""

    initiator: str  # who sent its first message
    length: int  # the length of that first message (QM3 is shorter)
    seen: set[str] = field(default_factory=set)  # QM1, QM2, QM3 seen so far


@dataclass(slots=True)
class IkeNegotiation:
    """One IKE SA being set up (and used) between two peers. The first seven
    fields are DESIGN.md's ``ipsec.ike`` entries; the rest extend them."""

    initiator: str
    responder: str
    version: int
    state: str = "incomplete"  # established | failed | unanswered | incomplete
    established: float | None = None
    retransmits: int = 0
    frames: list[int] = field(default_factory=list)
    initiator_spi: str = ""
    responder_spi: str | None = None
    mode: str = ""  # main-mode | aggressive-mode | ike-sa-init (else: set up before the capture)
    setup_seen: bool = True  # False: the capture starts after this IKE SA was set up
    first: float | None = None
    last: float | None = None
    reached: str = ""  # the furthest step: MM5, QM3, IKE_AUTH response ...
    steps: list[str] = field(default_factory=list)  # distinct steps in order
    phase1: float | None = None  # IKEv1 main / aggressive mode done (MM6, AM3)
    failure: str | None = None  # the error notify, or what the wire shows
    proposal: str | None = None  # what the initiator offered
    chosen: str | None = None  # what the responder accepted
    dh_group: int | None = None
    nat: bool | None = None  # None: no NAT-D seen
    nat_detail: str | None = None
    natt: bool = False  # moved to UDP 4500
    initiator_port: int = 500
    responder_port: int = 500
    quick_modes: int = 0  # IKEv1 quick modes / IKEv2 child SAs agreed
    informational: int = 0
    dpd: int = 0  # DPD requests (R-U-THERE, IKEv2 empty INFORMATIONAL, or encrypted guesses)
    dpd_acks: int = 0
    deletes: list[str] = field(default_factory=list)
    ios_state: str = "MM_NO_STATE"
    conn_ids: dict[str, int] = field(default_factory=dict)  # IOS conn-id on each peer (phase 1 up)
    redirect: str | None = None  # IKEv2 REDIRECT (RFC 5685): the gateway it points to
    messages: list[IkeMessage] = field(default_factory=list)
    # the observer's bookkeeping
    _sent: dict[tuple[str, str], IkeMessage] = field(default_factory=dict)  # (side, step) -> first
    _qm: dict[int, QuickMode] = field(default_factory=dict)  # IKEv1 quick modes by message id
    _v2: dict[tuple[str, int, bool, int, int], IkeMessage] = field(
        default_factory=dict)  # (sender, msgid, response, fragment, exchange) -> first message
    _r_flag: bool = False  # an IKEv2 message with the R flag was seen
    _ke_sent: int | None = None  # the DH group of the last IKE_SA_INIT request's KE payload
    _redirect_frame: int = 0
    # IKEv2 INVALID_KE_PAYLOAD: (the group the KE payload used, the group asked for, its frame)
    _invalid_ke: tuple[int | None, int | None, int] | None = None
    # frames of IKE messages that came as IP fragments -> the fragments' frames
    _ip_fragments: dict[int, tuple[int, ...]] = field(default_factory=dict)
    _child: list[float] = field(default_factory=list)  # times child SA pairs were agreed
    _hash: str = "sha1"  # the IKEv1 policy's hash, for NAT-D (RFC 3947 3)
    _abandoned: bool = False
    _natd_frames: list[int] = field(default_factory=list)
    _port4500: list[int] = field(default_factory=list)  # frames on UDP 4500
    _answered4500: bool = False
    _info: list[tuple[float, int, str, str]] = field(
        default_factory=list)  # (time, frame, sender, kind) of informational exchanges

    @property
    def peers(self) -> frozenset[str]:
        return frozenset((self.initiator, self.responder))

    def side(self, src: str) -> str:
        return "i" if src == self.initiator else "r"

    def add_frame(self, fr: int) -> None:
        if len(self.frames) < MAX_FRAMES:
            self.frames.append(fr)

    def add_step(self, step: str) -> None:
        if step not in self.steps and len(self.steps) < MAX_STEPS:
            self.steps.append(step)
        self.reached = step
