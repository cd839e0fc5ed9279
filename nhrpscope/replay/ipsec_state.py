"""IPsec as the capture shows it, without keys: IKE negotiations and ESP SAs.

Sans-I/O, as the NHRP state machines: ``IpsecState.ike(time, frame, record,
src, dst, sport, dport)`` is fed each decoded IKE message (``dissectors.ike``)
in time order; ``finish(end, sas)`` closes the replay, pairs the ESP SAs the
engine counted and raises the findings. Time is the capture's.

IKE negotiations are keyed by the initiator's SPI (the IKEv1 initiator
cookie) and the two addresses. Each message is placed by what the wire shows:

    IKEv1 main mode (RFC 2409 5)        MM1 SA -> MM2 SA -> MM3 KE,Ni,NAT-D -> MM4 KE,Nr,NAT-D
                                        -> MM5 [ID,HASH] -> MM6 [ID,HASH]      ([..]: encrypted)
    IKEv1 aggressive mode (RFC 2409 5)  AM1 SA,KE,Ni,ID -> AM2 SA,KE,Nr,ID,HASH -> AM3 HASH
    IKEv1 quick mode (RFC 2409 5.5)     QM1 -> QM2 -> QM3, per message id, all encrypted
    IKEv2 (RFC 7296 1.2)                IKE_SA_INIT request/response, IKE_AUTH request/response
                                        (SK), CREATE_CHILD_SA, INFORMATIONAL

A message is a retransmission when its sender already sent that step (IKEv1
main/aggressive mode: by content; quick mode: the same side speaking twice;
IKEv2: the same message id, direction and fragment). A negotiation is
``established`` once its first child SA is agreed (QM2/QM3, IKE_AUTH
answered), ``failed`` with an error notify or when it was abandoned after an
answer, ``unanswered`` when abandoned with no answer at all, else
``incomplete``. Abandoned: a newer negotiation between the same peers
followed it, or the capture went on well past its last message
(``ABANDON_AFTER``).

NAT: the NAT-D hashes (RFC 3947 3; IKEv2 NAT_DETECTION_*_IP, RFC 7296
2.23) are recomputed over the addresses and ports seen at the tap; a
mismatch says which side is translated. The move to UDP 4500 is seen.

ESP without keys: the engine counts packets per (SPI, source, destination);
``pair_sas`` pairs them into bidirectional SAs by peer pair and by the IKE
exchange that preceded them (else by timing), and finds rekeys (a new SPI
taking over), one-way SAs and SAs with no IKE before them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dissectors import ike_payloads as K
from nhrpscope.replay import findings as F
from nhrpscope.replay.detectors import Context, Dispatcher
from nhrpscope.replay.facts.ipsec import (
    AuthenticationFailed,
    DpdUnanswered,
    EspOneWay,
    EspRekey,
    EspSaSeen,
    EspSasWithoutIke,
    IkeRetransmissions,
    IkeUnanswered,
    InvalidKePayload,
    NatTUnanswered,
    NoProposalChosen,
)

# Finding codes (issue 7), spelled exactly so; severities in findings.CODES.
IKE_UNANSWERED = F.IKE_UNANSWERED
IKE_RETRANSMITS = F.IKE_RETRANSMITS
IKE_NO_PROPOSAL_CHOSEN = F.IKE_NO_PROPOSAL_CHOSEN
IKE_INVALID_KE = F.IKE_INVALID_KE
IKE_AUTH_FAILED = F.IKE_AUTH_FAILED
NAT_T_BLOCKED = F.NAT_T_BLOCKED
ESP_ONE_WAY = F.ESP_ONE_WAY
ESP_REKEY = F.ESP_REKEY
ESP_WITHOUT_IKE = F.ESP_WITHOUT_IKE
DPD_TIMEOUT = F.DPD_TIMEOUT

# The exchanges that set an IKE SA up: main, aggressive mode, IKE_SA_INIT.
SETUP_EXCHANGES = (2, 4, 34)
# A negotiation silent this long (seconds) before the capture ends was given up.
ABANDON_AFTER = 30.0
# How long before its IKE exchange an SA's first packet may be seen (tap reordering).
SA_SLACK = 0.5
# A new SPI in the same direction within this many seconds of the old one's last packet: a rekey.
REKEY_GAP = 30.0
# An SA with at least this many packets and nothing back is one-way.
ONE_WAY_MIN = 3
MAX_FRAMES = 200
MAX_MESSAGES = 200

# IKE error notifies that end a negotiation (both versions use these numbers).
NO_PROPOSAL = 14
INVALID_KE = 17
AUTH_FAILED = 24
_FATAL_V1 = set(range(1, 31)) - {26, 27}
_FATAL_V2 = {4, 5, 7, 9, 11, 14, 17, 24, 34, 35, 36, 37, 38, 39, 40, 41, 44, 46}
R_U_THERE, R_U_THERE_ACK = 36136, 36137

# IOS `show crypto isakmp sa` states (IKEv1), by how far main / aggressive mode got.
IOS_STATES = {0: "MM_NO_STATE", 1: "MM_NO_STATE", 2: "MM_SA_SETUP", 3: "MM_KEY_EXCH",
              4: "MM_KEY_EXCH", 5: "MM_KEY_EXCH", 6: "QM_IDLE"}
IOS_AM_STATES = {0: "AG_NO_STATE", 1: "AG_NO_STATE", 2: "AG_INIT_EXCH", 3: "QM_IDLE"}


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
    messages: list[IkeMessage] = field(default_factory=list)
    # private bookkeeping
    _sent: dict = field(default_factory=dict)  # (side, step) -> first message
    _qm: dict = field(default_factory=dict)  # IKEv1 quick mode msgid -> [initiator, [sides], len1]
    _v2: dict = field(default_factory=dict)  # (msgid, response, frag) -> message
    _v2_req: dict = field(default_factory=dict)  # msgid -> (exchange, sender)
    _child: list = field(default_factory=list)  # times child SA pairs were agreed
    _hash: str = "sha1"
    _abandoned: bool = False
    _natd_frames: list = field(default_factory=list)
    _port4500: list = field(default_factory=list)  # frames on UDP 4500
    _answered4500: bool = False
    _info: list = field(default_factory=list)  # (time, frame, sender, kind)

    @property
    def peers(self) -> frozenset[str]:
        return frozenset((self.initiator, self.responder))

    def side(self, src: str) -> str:
        return "i" if src == self.initiator else "r"

    def add_frame(self, fr: int) -> None:
        if len(self.frames) < MAX_FRAMES:
            self.frames.append(fr)


def _natd_hash(alg: str, ispi: bytes, rspi: bytes, addr: str, port: int) -> bytes:
    try:
        packed = ipaddress.ip_address(addr).packed
    except ValueError:
        return b""
    return hashlib.new(alg, ispi + rspi + packed + struct.pack("!H", port)).digest()


_V1_HASHES = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}


class IpsecState:
    """IKE negotiations and the ESP SA pairing of one replay."""

    def __init__(self, findings: F.FindingSet, *, emit: Callable[..., None] | None = None,
                 name: Callable[[str | None], str] | None = None) -> None:
        self.findings = findings
        self.emit = emit
        self.name = name or (lambda a: a or "?")
        self._state = Dispatcher(Context(findings, self.name))
        self.negotiations: list[IkeNegotiation] = []
        self._by_key: dict[tuple, IkeNegotiation] = {}
        self._by_pair: dict[frozenset, list[IkeNegotiation]] = {}
        self._conn_ids: dict[str, int] = {}
        self.end: float | None = None

    # ------------------------------------------------------------------ input

    def ike(self, t: float, fr: int, h: Any, src: str | None, dst: str | None, sport: int,
            dport: int) -> IkeNegotiation | None:
        """One IKE message (an ``IkeHeader`` with its payloads)."""
        if not src or not dst or h.version not in (1, 2):
            return None
        pair = frozenset((src, dst))
        key = (h.version, h.initiator_spi, pair)
        neg = self._by_key.get(key)
        if neg is None:
            neg = self._new(t, h, src, dst, sport, dport, pair)
        neg.last = t
        neg.add_frame(fr)
        on4500 = sport == 4500 or dport == 4500
        if on4500 and not neg.natt:
            neg.natt = True
            self._emit(t, fr, "ike-state", src, None, f"IKE with {dst} moves to UDP 4500 (NAT-T)")
        was = neg.established
        if h.responder_spi != "0" * 16 and neg.responder_spi is None:
            neg.responder_spi = h.responder_spi
        if src == neg.initiator:
            neg.initiator_port = sport
            neg.responder_port = dport
        if h.version == 1:
            msg = self._v1(neg, t, fr, h, src, dst, sport, dport)
        else:
            msg = self._v2(neg, t, fr, h, src, dst, sport, dport)
        if msg is not None:
            if len(neg.messages) < MAX_MESSAGES:
                neg.messages.append(msg)
            if on4500:
                neg._port4500.append(fr)
                if {m.src for m in neg.messages if m.frame in neg._port4500} == {src, dst}:
                    neg._answered4500 = True
            label = f"IKEv{h.version} {msg.step}"
            if msg.notifies:
                label += f" ({', '.join(msg.notifies)})"
            if msg.retransmit:
                label += " (retransmission)"
            self._emit(t, fr, "ike", src, dst, label, step=msg.step, version=h.version)
        if was is None and neg.established is not None:
            self._emit(t, fr, "ike-state", neg.initiator, None,
                       f"IKEv{neg.version} SAs with {neg.responder} agreed")
        return neg

    def _emit(self, t: float, fr: int, kind: str, src: str | None, dst: str | None, label: str,
              **detail: Any) -> None:
        if self.emit is not None:
            self.emit(t, fr, kind, src, dst, label, **detail)

    def _new(self, t: float, h: Any, src: str, dst: str, sport: int, dport: int,
             pair: frozenset) -> IkeNegotiation:
        # The initiator is the sender of the first message, unless that message is
        # plainly an answer (IKEv2 R flag).
        initiator, responder = (dst, src) if h.version == 2 and h.flag_bits & 0x20 else (src, dst)
        neg = IkeNegotiation(initiator, responder, h.version, initiator_spi=h.initiator_spi,
                             first=t, last=t)
        if h.exchange_type in SETUP_EXCHANGES:
            neg.mode = h.exchange
        else:
            neg.mode = h.exchange  # the capture started after the IKE SA was set up
            neg.setup_seen = False
        # a newer negotiation between the same peers: the older open ones were given up
        for old in self._by_pair.get(pair, []):
            if old.state not in ("established",) and old.established is None:
                old._abandoned = True
        self.negotiations.append(neg)
        self._by_key[(h.version, h.initiator_spi, pair)] = neg
        self._by_pair.setdefault(pair, []).append(neg)
        return neg

    # -- IKEv1

    def _v1(self, neg: IkeNegotiation, t: float, fr: int, h: Any, src: str, dst: str,
            sport: int, dport: int) -> IkeMessage | None:
        side = neg.side(src)
        pl = h.payloads
        notes = [p for p in pl if isinstance(p, K.NotifyPayload)]
        enc = bool(h.flag_bits & 1)
        x = h.exchange_type
        msg = IkeMessage(fr, t, src, dst, sport, dport, h.exchange, h.message_id, "", side == "r",
                         notifies=[n.name or str(n.notify_type) for n in notes], encrypted=enc,
                         length=h.length)
        if x in (2, 4):  # main / aggressive mode
            am = x == 4
            has = {type(p) for p in pl}
            if am:
                if K.SaPayload in has:
                    n = 1 if side == "i" else 2
                else:
                    n = 3
            elif K.SaPayload in has:
                n = 1 if side == "i" else 2
            elif K.KePayload in has:
                n = 3 if side == "i" else 4
            elif enc:
                n = 5 if side == "i" else 6
            else:
                n = 0
            step = f"{'AM' if am else 'MM'}{n}" if n else ("AM" if am else "MM")
            msg.step = step
            self._mark(neg, msg, side, step)
            if n in (1, 2):
                self._v1_sa(neg, pl, n)
            if n in (3, 4):
                self._natd_v1(neg, msg, h, pl)
            if not msg.retransmit:
                if (not am and n == 6) or (am and n == 3):
                    neg.phase1 = neg.phase1 or t
                    self._phase1_up(neg, t)
            for nt in notes:
                self._notify(neg, msg, nt.notify_type, nt.name, nt.data)
            return msg
        if x == 32:  # quick mode
            q = neg._qm.get(h.message_id)
            if q is None:
                q = neg._qm[h.message_id] = [src, [], h.length]
            qi, seen, len1 = q
            if src != qi:
                n = 2
            elif "QM2" in seen and h.length != len1:
                n = 3
            else:
                n = 1
            msg.step = f"QM{n}"
            msg.response = src != qi
            already = msg.step in seen
            seen.append(msg.step)
            if already:
                msg.retransmit = True
                neg.retransmits += 1
            else:
                self._step(neg, msg.step)
                if n == 2:
                    neg.quick_modes += 1
                    neg._child.append(t)
                    self._established(neg, t)
                elif n == 3:
                    if neg.established is not None and neg._child and neg.established == neg._child[-1]:
                        neg.established = t  # the exchange completes with QM3
                        neg._child[-1] = t
            return msg
        if x == 5:  # informational
            neg.informational += 1
            kind = "info"
            for nt in notes:
                if nt.notify_type == R_U_THERE:
                    kind = "dpd"
                    neg.dpd += 1
                elif nt.notify_type == R_U_THERE_ACK:
                    kind = "dpd-ack"
                    neg.dpd_acks += 1
            for p in pl:
                if isinstance(p, K.DeletePayload):
                    kind = "delete"
                    what = K.PROTOCOLS.get(p.protocol_id, str(p.protocol_id))
                    neg.deletes.append(f"{what} {', '.join('0x' + s.hex() for s in p.spis) or '(IKE SA)'}")
            if enc:
                kind = "encrypted"
            neg._info.append((t, fr, src, kind))
            msg.step = {"dpd": "DPD R-U-THERE", "dpd-ack": "DPD R-U-THERE-ACK", "delete": "DELETE",
                        "encrypted": "INFORMATIONAL (encrypted)"}.get(kind, "INFORMATIONAL")
            for nt in notes:
                self._notify(neg, msg, nt.notify_type, nt.name, nt.data)
            return msg
        msg.step = h.exchange.upper().replace("-", "_")
        return msg

    def _v1_sa(self, neg: IkeNegotiation, pl: tuple, n: int) -> None:
        for p in pl:
            if not isinstance(p, K.SaPayload):
                continue
            ts = [t for pr in p.proposals for t in pr.transforms]
            summary = "; ".join(K.transform_summary(1, t) for t in ts)
            if n == 1:
                neg.proposal = summary
            else:
                neg.chosen = summary
                for t in ts[:1]:
                    for a in t.attributes:
                        if a.name == "hash" and isinstance(a.value, int):
                            neg._hash = _V1_HASHES.get(a.value, "sha1")
                        if a.name == "dh-group" and isinstance(a.value, int):
                            neg.dh_group = a.value
            if n == 1 and neg.chosen is None:
                for t in ts[:1]:
                    for a in t.attributes:
                        if a.name == "hash" and isinstance(a.value, int):
                            neg._hash = _V1_HASHES.get(a.value, "sha1")

    def _natd_v1(self, neg: IkeNegotiation, msg: IkeMessage, h: Any, pl: tuple) -> None:
        hashes = [p.hash for p in pl if isinstance(p, K.NatDPayload)]
        if len(hashes) < 2 or neg.responder_spi is None:
            return
        ispi, rspi = bytes.fromhex(h.initiator_spi), bytes.fromhex(h.responder_spi)
        remote = _natd_hash(neg._hash, ispi, rspi, msg.dst, msg.dport)
        local = _natd_hash(neg._hash, ispi, rspi, msg.src, msg.sport)
        self._natd(neg, msg, remote_ok=hashes[0] == remote, local_ok=local in hashes[1:])

    def _natd(self, neg: IkeNegotiation, msg: IkeMessage, *, remote_ok: bool, local_ok: bool) -> None:
        neg._natd_frames.append(msg.frame)
        found = []
        if not local_ok:
            found.append(f"{msg.src} (the sender of frame {msg.frame}) is translated: its NAT-D "
                         f"hash is not of {msg.src}:{msg.sport} as seen")
        if not remote_ok:
            found.append(f"{msg.dst} is reached through a translation: frame {msg.frame}'s NAT-D "
                         f"hash for it is not of {msg.dst}:{msg.dport}")
        if found:
            neg.nat = True
            neg.nat_detail = "; ".join(found) if neg.nat_detail is None else neg.nat_detail
        elif neg.nat is None:
            neg.nat = False

    # -- IKEv2

    def _v2(self, neg: IkeNegotiation, t: float, fr: int, h: Any, src: str, dst: str,
            sport: int, dport: int) -> IkeMessage | None:
        resp = bool(h.flag_bits & 0x20)
        pl = h.payloads
        frag = next((p.fragment_number for p in pl if isinstance(p, K.EncryptedFragmentPayload)), 0)
        notes = [p for p in pl if isinstance(p, K.NotifyPayload)]
        x = h.exchange_type
        xname = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}.get(
            x, h.exchange.upper().replace("-", "_"))
        step = f"{xname} {'response' if resp else 'request'}"
        msg = IkeMessage(fr, t, src, dst, sport, dport, h.exchange, h.message_id, step, resp,
                         notifies=[n.name or str(n.notify_type) for n in notes],
                         encrypted=h.encrypted, length=h.length)
        key = (h.message_id, resp, frag, x)
        prev = neg._v2.get(key)
        if prev is not None and (x != 34 or not self._v2_new_init(neg, prev, pl)):
            msg.retransmit = True
            neg.retransmits += 1
        else:
            neg._v2[key] = msg
            if prev is not None:  # a new IKE_SA_INIT request (COOKIE / INVALID_KE retry)
                neg._v2.pop((h.message_id, True, frag, x), None)
            self._step(neg, step)
        if x == 34:
            for p in pl:
                if isinstance(p, K.SaPayload):
                    ts = [tr for pr in p.proposals for tr in pr.transforms]
                    s = ", ".join(K.transform_summary(2, tr) for tr in ts)
                    if resp:
                        neg.chosen = s
                    else:
                        neg.proposal = s
                        neg.dh_group = next((tr.transform_id for tr in ts if tr.transform_type == 4),
                                            neg.dh_group)
                if isinstance(p, K.KePayload) and not resp:
                    neg.dh_group = p.dh_group
            src_h = [n.data for n in notes if n.notify_type == 16388]
            dst_h = [n.data for n in notes if n.notify_type == 16389]
            if src_h and dst_h:
                ispi = bytes.fromhex(h.initiator_spi)
                rspi = bytes.fromhex(h.responder_spi)
                local = _natd_hash("sha1", ispi, rspi, src, sport)
                remote = _natd_hash("sha1", ispi, rspi, dst, dport)
                self._natd(neg, msg, remote_ok=dst_h[0] == remote, local_ok=local in src_h)
        elif x == 35 and resp and not msg.retransmit and not notes:
            neg._child.append(t)
            neg.quick_modes += 1
            neg.phase1 = neg.phase1 or t
            self._established(neg, t)
            self._phase1_up(neg, t)
        elif x == 36 and resp and not msg.retransmit and not notes:
            neg._child.append(t)
            neg.quick_modes += 1
        elif x == 37:
            neg.informational += 1
            empty = not notes and all(isinstance(p, (K.EncryptedPayload, K.EncryptedFragmentPayload))
                                      for p in pl)
            if not resp and not msg.retransmit:
                neg._info.append((t, fr, src, "request" if empty else "info"))
                neg.dpd += 1
            elif resp and not msg.retransmit:
                neg._info.append((t, fr, src, "response"))
                neg.dpd_acks += 1
            msg.step = step + (" (encrypted)" if h.encrypted else "")
        for nt in notes:
            self._notify(neg, msg, nt.notify_type, nt.name, nt.data)
        return msg

    @staticmethod
    def _v2_new_init(neg: IkeNegotiation, prev: IkeMessage, pl: tuple) -> bool:
        """An IKE_SA_INIT request after an answer to the previous one: a new
        attempt (with a COOKIE, or the DH group the responder asked for)."""
        if prev.response:
            return False
        return any(m.response and m.exchange == "ike-sa-init" and m.time >= prev.time
                   for m in neg.messages)

    # -- shared

    def _mark(self, neg: IkeNegotiation, msg: IkeMessage, side: str, step: str) -> None:
        k = (side, step)
        first = neg._sent.get(k)
        if first is not None:
            msg.retransmit = True
            neg.retransmits += 1
            return
        neg._sent[k] = msg
        self._step(neg, step)

    @staticmethod
    def _step(neg: IkeNegotiation, step: str) -> None:
        if step not in neg.steps and len(neg.steps) < 32:
            neg.steps.append(step)
        neg.reached = step

    def _phase1_up(self, neg: IkeNegotiation, t: float) -> None:
        if neg.conn_ids:
            return
        for a in (neg.initiator, neg.responder):
            self._conn_ids[a] = self._conn_ids.get(a, 1000) + 1
            neg.conn_ids[a] = self._conn_ids[a]

    def _established(self, neg: IkeNegotiation, t: float) -> None:
        if neg.established is None:
            neg.established = t
            neg.state = "established"

    def _notify(self, neg: IkeNegotiation, msg: IkeMessage, nt: int, name: str, data: bytes) -> None:
        fatal = _FATAL_V2 if neg.version == 2 else _FATAL_V1
        if nt not in fatal:
            return
        neg.failure = name
        if nt == INVALID_KE and neg.version == 2:
            # the responder names the group it wants; the initiator may retry with it
            want = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            had = f"KE had {K.dh_group_name(neg.dh_group)}, " if neg.dh_group is not None else ""
            neg.failure = (f"{name} ({had}wants {K.dh_group_name(want)}, group {want})"
                           if want is not None else name)
        if neg.established is None:
            neg.state = "failed"

    # ------------------------------------------------------------------ the end

    def finish(self, end: float | None, sas: list[Any] | None = None) -> list[IkeNegotiation]:
        """Close the replay at ``end``: decide what was given up, pair the
        SAs (``sas``: the engine's ``SecurityAssociation`` records), raise the
        findings. Idempotent."""
        self.end = end
        for negs in self._by_pair.values():
            for i, neg in enumerate(negs):
                newer = i + 1 < len(negs)
                self._close(neg, end, newer, negs[i + 1] if newer else None, sas or [])
        if sas is not None:
            self.pair_sas(sas)
        self._ike_findings()
        if sas is not None:
            self._sa_findings(sas)
        return self.negotiations

    def _close(self, neg: IkeNegotiation, end: float | None, newer: bool, nxt: IkeNegotiation | None,
               sas: list[Any]) -> None:
        silent = end is not None and neg.last is not None and end - neg.last > ABANDON_AFTER
        abandoned = neg._abandoned or (newer and neg.established is None) or (
            silent and neg.established is None)
        answered = any(m.response or m.src == neg.responder for m in neg.messages)
        if neg.version == 2 and neg.established is not None and nxt is not None:
            # IKE_AUTH answered, yet no ESP between them and a fresh IKE_SA_INIT: the
            # answer was an AUTHENTICATION_FAILED inside SK
            esp = [s for s in sas if frozenset((s.src, s.dst)) == neg.peers and s.last is not None
                   and s.last >= neg.established and (s.first or 0) < (nxt.first or 0)]
            if not esp and nxt.initiator == neg.initiator and neg.dpd == 0:
                neg.state = "failed"
                neg.failure = neg.failure or "AUTHENTICATION_FAILED (inferred: IKE_AUTH answered, " \
                                             "no ESP, a new IKE_SA_INIT)"
                neg.established = None
                neg.quick_modes = 0
                neg._child.clear()
        if neg.established is None and neg.phase1 is not None and abandoned and neg.failure is None:
            # phase 1 up, quick mode never answered: the peer refused it inside encryption
            neg.failure = "quick mode unanswered (phase 2: transform set or proxy identities differ?)"
        if neg.established is not None or (not neg.setup_seen and neg.failure is None):
            neg.state = "established"  # (established None: before the capture started)
        elif neg.failure is not None:
            neg.state = "failed"
        elif abandoned:
            neg.state = "failed" if answered else "unanswered"
        else:
            neg.state = "incomplete"
        neg._abandoned = abandoned
        neg.ios_state = self._ios_state(neg)

    @staticmethod
    def _ios_state(neg: IkeNegotiation) -> str:
        if neg.version == 2:
            if neg.established is not None or not neg.setup_seen:
                return "READY"
            return "IN-NEG" if neg.state == "incomplete" else "DELETE"
        best = 0
        am = neg.mode == "aggressive-mode"
        for s in neg.steps:
            if s[:2] in ("MM", "AM") and s[2:].isdigit():
                best = max(best, int(s[2:]))
        if neg.phase1 is not None or any(s.startswith("QM") for s in neg.steps):
            return "QM_IDLE"
        if neg.mode not in ("main-mode", "aggressive-mode"):
            return "QM_IDLE"  # the capture started after phase 1
        return (IOS_AM_STATES if am else IOS_STATES).get(best, "MM_NO_STATE")

    # -- findings: the facts the detectors word

    def _ike_findings(self) -> None:
        for neg in self.negotiations:
            i, r = neg.initiator, neg.responder
            who = (i, r, neg.version, neg.mode)
            fail = neg.failure or ""
            notify_frames = [m.frame for m in neg.messages if m.notifies and any(
                n in fail for n in m.notifies)]
            first_req = [m.frame for m in neg.messages if not m.response][:1]
            if NO_PROPOSAL_CHOSEN(fail):
                self._state(NoProposalChosen(*who, fail, neg.proposal, neg.first,
                                             tuple(first_req + notify_frames)))
                continue
            if fail.startswith("INVALID_KE_PAYLOAD") or fail == "INVALID-KEY-INFORMATION":
                self._state(InvalidKePayload(*who, fail, neg.dh_group, neg.first,
                                             tuple(first_req + notify_frames)))
                continue
            moved = [m for m in neg.messages if m.frame in neg._port4500]
            if neg.state in ("failed", "unanswered", "incomplete") and moved and neg.established is None \
                    and not neg._answered4500 and len({m.src for m in moved}) == 1 and (
                    neg._abandoned or len(moved) >= 2):
                self._state(NatTUnanswered(*who, neg.nat_detail, moved[0].src, moved[0].dst,
                                           len(moved), moved[0].time,
                                           tuple(neg._natd_frames[:2] + [m.frame for m in moved])))
                continue
            if "AUTHENTICATION" in fail.upper() or self._mm_stall(neg):
                stall = [m for m in neg.messages if m.step in ("MM5", "MM6", "AM2", "AM3")
                         or (neg.version == 2 and m.exchange == "ike-auth")]
                self._state(AuthenticationFailed(*who, neg.failure, neg.reached, neg.first,
                                                 tuple([m.frame for m in stall] or neg.frames[-3:])))
                continue
            if neg.state == "unanswered" or (neg.state == "incomplete" and neg.retransmits >= 2
                                             and not any(m.response for m in neg.messages)):
                self._state(IkeUnanswered(*who, len(neg.messages), neg.responder_port, neg.first,
                                          tuple(m.frame for m in neg.messages)))
                continue
            rt = [m for m in neg.messages if m.retransmit and neg.established is not None
                  and m.time <= neg.established]  # setting up, not DPD or rekeys later
            if neg.state == "established" and rt:
                self._state(IkeRetransmissions(*who, rt[0].time, tuple(m.frame for m in rt)))
            self._dpd(neg)

    @staticmethod
    def _mm_stall(neg: IkeNegotiation) -> bool:
        """IKEv1 main mode that got to message 5 or 6 and no further, given up
        or retried: the pre-shared key (or certificate) does not match."""
        if neg.version != 1 or neg.mode != "main-mode" or neg.phase1 is not None and \
                any(s.startswith("QM") for s in neg.steps):
            return False
        if neg.reached not in ("MM5", "MM6"):
            return False
        rtx = sum(1 for m in neg.messages if m.retransmit and m.step in ("MM5", "MM6"))
        return neg.state in ("failed", "unanswered") or rtx >= 2

    def _dpd(self, neg: IkeNegotiation) -> None:
        """DPD requests from one side with no answer: three or more in a row."""
        run: list = []
        sender = None
        for t, fr, src, kind in neg._info:
            if kind in ("dpd", "request", "encrypted"):
                if sender not in (None, src):
                    run = []
                sender = src
                run.append((t, fr))
            elif kind in ("dpd-ack", "response") or (kind == "encrypted" and src != sender):
                run = []
        rtx = [m for m in neg.messages if m.retransmit and m.exchange == "informational"]
        if len(run) + len(rtx) >= 3 and sender is not None:
            other = neg.responder if sender == neg.initiator else neg.initiator
            frames = [fr for _, fr in run] + [m.frame for m in rtx]
            self._state(DpdUnanswered(sender, other, neg.responder_port,
                                      run[0][0] if run else neg.first, tuple(sorted(frames))))

    # ------------------------------------------------------------------ ESP

    def child_times(self, pair: frozenset) -> list[float]:
        """When child SA pairs were agreed between two peers (QM2/QM3, IKE_AUTH)."""
        out = []
        for neg in self._by_pair.get(pair, []):
            out.extend(neg._child)
        return sorted(out)

    def ike_before(self, pair: frozenset, t: float) -> bool:
        return any(n.setup_seen and (n.first or 0.0) <= t + SA_SLACK for n in self._by_pair.get(pair, []))

    def pair_sas(self, sas: list[Any]) -> None:
        """Pair SAs (``paired_spi``), mark rekeys and the IKE exchange that made them."""
        by_pair: dict[frozenset, list[Any]] = {}
        for sa in sas:
            sa.paired_spi = None
            by_pair.setdefault(frozenset((sa.src, sa.dst)), []).append(sa)
        for pair, group in by_pair.items():
            times = self.child_times(pair)
            epochs: dict[int, list[Any]] = {}
            for sa in group:
                first = sa.first or 0.0
                k = -1
                for j, ct in enumerate(times):
                    if ct <= first + SA_SLACK:
                        k = j
                sa.ike = k >= 0
                epochs.setdefault(k, []).append(sa)
            for _k, members in epochs.items():
                a = [s for s in members if s.src == min(pair)]
                b = [s for s in members if s.src != min(pair)]
                used: set[int] = set()
                for s in sorted(a, key=lambda x: x.first or 0.0):
                    cands = [x for x in b if id(x) not in used]
                    if not cands:
                        break
                    best = min(cands, key=lambda x: abs((x.first or 0.0) - (s.first or 0.0)))
                    used.add(id(best))
                    s.paired_spi, best.paired_spi = best.spi, s.spi
            # rekeys: a new SPI in one direction taking over from the previous one
            for direction in {(s.src, s.dst) for s in group}:
                seq = sorted((s for s in group if (s.src, s.dst) == direction),
                             key=lambda x: (x.first or 0.0, x.spi))
                for old, new in zip(seq, seq[1:], strict=False):
                    if (new.first or 0.0) - (old.last or 0.0) <= REKEY_GAP and \
                            (old.last or 0.0) <= (new.last or 0.0):
                        new.rekey_of = old.spi
                        new.overlap = round((old.last or 0.0) - (new.first or 0.0), 6)

    def _sa_findings(self, sas: list[Any]) -> None:
        late = [s for s in sas if not self.ike_before(frozenset((s.src, s.dst)), s.first or 0.0)]
        self._state(EspSasWithoutIke(tuple(EspSaSeen(s.spi, s.src, s.dst, s.first, s.frames[0])
                                           for s in late)))
        by_dir: dict[tuple[str, str], list[Any]] = {}
        for s in sas:
            by_dir.setdefault((s.src, s.dst), []).append(s)
        for s in sas:
            if s.paired_spi is None and s.packets >= ONE_WAY_MIN:
                back = [x for x in by_dir.get((s.dst, s.src), [])
                        if (x.last or 0.0) >= (s.first or 0.0) - SA_SLACK
                        and (x.first or 0.0) <= (s.last or 0.0) + SA_SLACK]
                if back:
                    continue
                s.one_way = True
                known = self.ike_before(frozenset((s.src, s.dst)), s.first or 0.0)
                frames = (s.frames[0], s.frames[1]) if s.frames[1] != s.frames[0] else tuple(s.frames[:1])
                self._state(EspOneWay(s.spi, s.src, s.dst, s.packets, known, s.first, frames))
            if getattr(s, "rekey_of", None):
                self._state(EspRekey(s.spi, s.rekey_of, s.src, s.dst,
                                     getattr(s, "overlap", 0.0) or 0.0, s.first,
                                     tuple(s.frames[:1])))


def NO_PROPOSAL_CHOSEN(fail: str) -> bool:  # noqa: N802 - reads as the notify it tests for
    return fail.startswith("NO-PROPOSAL-CHOSEN") or fail.startswith("NO_PROPOSAL_CHOSEN")
