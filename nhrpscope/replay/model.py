"""What the replay engine hands out: plain dataclasses, JSON by field name.

``Analysis.json()`` is the public ``analyze --format json`` document of
DESIGN.md. Every key of DESIGN.md's shape is always present; the records
carry more keys than DESIGN.md lists (extend, never rename).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from nhrpscope.replay.findings import Finding


def jsonable(obj: Any) -> Any:
    """Dataclasses by field name (fields starting with ``_`` are private),
    floats rounded to the microsecond, tuples as lists."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return round(obj, 6) if math.isfinite(obj) else None
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, Finding):
        return jsonable(obj.json())
    if is_dataclass(obj):
        names = _PUBLIC.get(type(obj))
        if names is None:  # once per class: fields() builds its tuple on every call
            names = _PUBLIC[type(obj)] = tuple(f.name for f in fields(obj)
                                               if not f.name.startswith("_"))
        return {name: jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, bytes):
        return obj.hex()
    return str(obj)


_PUBLIC: dict[type, tuple[str, ...]] = {}  # per dataclass, its public field names


@dataclass(slots=True)
class Router:
    nbma: str
    tunnel: str | None = None
    role: str = "unknown"  # hub | spoke | unknown
    tunnels: list[str] = field(default_factory=list)
    nat: bool = False
    public_nbma: str | None = None  # the address seen on the wire when NATed
    nat_evidence: str | None = None
    gre_key: int | None = None
    gre_keys: list[int | None] = field(default_factory=list)
    password: str | None = None
    nhs: list[str] = field(default_factory=list)  # NBMAs of the NHSs it registers with
    first_seen: float | None = None
    last_seen: float | None = None
    frames: list[int] = field(default_factory=list)  # first frames that show it


@dataclass(slots=True)
class Registration:
    spoke_nbma: str | None
    spoke_tunnel: str | None
    hub_nbma: str | None
    request_time: float | None
    reply_time: float | None
    request_id: int | None
    holding_time: int | None
    code: int | None
    frames: list[int]
    state: str = "pending"  # registered | rejected | error | unanswered | pending
    hub_tunnel: str | None = None
    code_name: str | None = None
    rtt: float | None = None
    retransmits: int = 0
    unique: bool = False
    public_nbma: str | None = None
    interval: float | None = None  # since this spoke's previous request to this NHS


@dataclass(slots=True)
class Hop:
    from_nbma: str
    to_nbma: str
    hop_count: int
    time: float
    frame: int
    kind: str = "request"  # request | reply


@dataclass(slots=True)
class Resolution:
    requester_nbma: str | None
    target_tunnel: str | None
    request_time: float | None
    reply_time: float | None
    resolved_nbma: str | None
    frames: list[int]
    requester_tunnel: str | None = None
    request_id: int | None = None
    state: str = "pending"  # resolved | nak | error | unanswered | pending
    resolved_tunnel: str | None = None
    resolved_claimed_nbma: str | None = None  # the NBMA in the reply's CIE
    prefix_len: int | None = None
    holding_time: int | None = None
    responder_nbma: str | None = None
    code: int | None = None
    code_name: str | None = None
    rtt: float | None = None
    retransmits: int = 0
    hops: list[Hop] = field(default_factory=list)


@dataclass(slots=True)
class Shortcut:
    a_nbma: str
    b_nbma: str
    established: float
    first_direct_data: float | None
    frames: list[int]
    a_tunnel: str | None = None
    b_tunnel: str | None = None
    phase: int = 2
    hub_nbma: str | None = None
    direct_packets: int = 0
    direct_bytes: int = 0
    via_hub_packets: int = 0  # spoke-to-spoke data still sent via the hub after `established`
    first_direct_frame: int | None = None


@dataclass(slots=True)
class Redirect:
    hub_nbma: str | None
    hub_tunnel: str | None
    spoke_nbma: str | None
    orig_src: str | None
    orig_dst: str | None
    time: float
    frames: list[int]
    count: int = 1
    state: str = "pending"  # resolved | ignored | pending
    resolution_time: float | None = None


@dataclass(slots=True)
class Purge:
    sender_nbma: str | None
    sender_tunnel: str | None
    receiver_nbma: str | None
    request_id: int | None
    request_time: float | None
    reply_time: float | None
    purged: list[str]
    frames: list[int]
    state: str = "pending"  # acknowledged | no-reply-requested | unanswered | pending


@dataclass(slots=True)
class ErrorIndication:
    sender_nbma: str | None
    sender_tunnel: str | None
    receiver_nbma: str | None
    time: float
    error_code: int | None
    error_name: str | None
    offending: dict | None
    frames: list[int]


@dataclass(slots=True)
class SecurityAssociation:
    spi: str
    src: str
    dst: str
    packets: int = 0
    bytes: int = 0
    first: float | None = None
    last: float | None = None
    decrypted: int = 0
    paired_spi: str | None = None
    frames: list[int] = field(default_factory=list)  # [first, last]
    undecrypted: int = 0
    no_key: int = 0
    decryption_failed: int = 0
    icv_failed: int = 0
    replays: int = 0
    natt: bool = False
    gaps: int = 0  # sequence numbers skipped (lost before the tap)
    resets: int = 0  # the sequence number started again at 1
    ike: bool = False  # an IKE exchange between the peers preceded it in the capture
    rekey_of: str | None = None  # the SPI (same direction) it took over from
    overlap: float | None = None  # seconds both were in use (negative: the gap between them)
    one_way: bool = False  # traffic this way only, nothing back


@dataclass(slots=True)
class SasNotTracked:
    """ESP on SAs past the number tracked one by one, counted together."""

    sas: int = 0  # distinct SAs (a lower bound when ``sas_exact`` is false)
    packets: int = 0
    bytes: int = 0
    sas_exact: bool = True
    frames: list[int] = field(default_factory=list)  # [first, last]


@dataclass(slots=True)
class Traffic:
    """GRE between two NBMA addresses, one direction, counted not kept."""

    src_nbma: str
    dst_nbma: str
    packets: int = 0
    bytes: int = 0
    keepalives: int = 0
    nhrp: int = 0
    first: float | None = None
    last: float | None = None
    gre_keys: list[int | None] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # [first, last]


@dataclass(slots=True)
class CaptureInfo:
    file: str
    frames: int = 0
    first: float | None = None
    last: float | None = None
    files: list[str] = field(default_factory=list)
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Event:
    """One line of the timeline: a message between routers or a state change."""

    time: float
    frame: int
    kind: str  # nhrp | registered | expired | shortcut | direct-data | finding | esp | mtu
    src: str | None
    dst: str | None
    label: str
    detail: dict = field(default_factory=dict)


@dataclass(slots=True)
class Analysis:
    capture: CaptureInfo
    routers: list[Router]
    registrations: list[Registration]
    resolutions: list[Resolution]
    shortcuts: list[Shortcut]
    redirects: list[Redirect]
    purges: list[Purge]
    errors: list[ErrorIndication]
    sas: list[SecurityAssociation]
    findings: list[Finding]
    traffic: list[Traffic] = field(default_factory=list)
    ike: list[Any] = field(default_factory=list)  # ipsec_state.IkeNegotiation
    sas_not_tracked: SasNotTracked | None = None  # None: every SA is in ``sas``

    def json(self) -> dict:
        return {
            "capture": jsonable(self.capture),
            "routers": jsonable(self.routers),
            "registrations": jsonable(self.registrations),
            "resolutions": jsonable(self.resolutions),
            "shortcuts": jsonable(self.shortcuts),
            "redirects": jsonable(self.redirects),
            "purges": jsonable(self.purges),
            "errors": jsonable(self.errors),
            "ipsec": {"ike": jsonable(self.ike), "sas": jsonable(self.sas),
                      "sas_not_tracked": jsonable(self.sas_not_tracked)},
            "findings": [jsonable(f) for f in self.findings],
            "traffic": jsonable(self.traffic),
        }
