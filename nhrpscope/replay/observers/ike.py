"""IKE negotiations as the capture shows them, without keys.

Sans-I/O: ``IkeObserver.ike(time, frame, header, src, dst, sport, dport)``
is fed each decoded IKE message (``dissectors.ike``) in time order. Time is
the capture's. Negotiations are keyed by the initiator's SPI (the IKEv1
initiator cookie) and the two addresses.

Each message is placed by what the wire shows, along the tables below,
written beside the RFC sections they follow:

    IKEv1 main mode (RFC 2409 5)        MM1 SA -> MM2 SA -> MM3 KE,Ni,NAT-D -> MM4 KE,Nr,NAT-D
                                        -> MM5 [ID,HASH] -> MM6 [ID,HASH]      ([..]: encrypted)
    IKEv1 aggressive mode (RFC 2409 5)  AM1 SA,KE,Ni,ID -> AM2 SA,KE,Nr,ID,HASH -> AM3 HASH
    IKEv1 quick mode (RFC 2409 5.5)     QM1 -> QM2 -> QM3, per message id, all encrypted
    IKEv2 (RFC 7296 1.2)                IKE_SA_INIT request/response, IKE_AUTH request/response
                                        (SK), CREATE_CHILD_SA, INFORMATIONAL

A message is a retransmission when its sender already sent that step (IKEv1
main/aggressive mode: by content; quick mode: the same side speaking twice;
IKEv2: the same sender, message id, direction and fragment). A negotiation is
established once its first child SA is agreed (QM2/QM3, IKE_AUTH answered)
and failed by an error notify before that; what became of it when the
capture ends is ``ike_verdict``'s to say.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.replay.observers import ike_natd
from nhrpscope.replay.observers.ike_records import (
    MAX_MESSAGES,
    IkeMessage,
    IkeNegotiation,
    QuickMode,
)

# Exchange types: IKEv1 (RFC 2408 4.1, RFC 2409 5.5) and IKEv2 (RFC 7296 3.1).
MAIN_MODE, AGGRESSIVE_MODE, INFORMATIONAL_V1, QUICK_MODE = 2, 4, 5, 32
IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37
# The exchanges that set an IKE SA up.
SETUP_EXCHANGES = (MAIN_MODE, AGGRESSIVE_MODE, IKE_SA_INIT)
# IKEv2 header flags (RFC 7296 3.1); IKEv1's encryption bit (RFC 2408 3.1).
V2_RESPONSE = 0x20
V2_INITIATOR = 0x08
V1_ENCRYPTED = 0x01

# ---------------------------------------------------------------- IKEv1 phase 1
# RFC 2409 5: which message a main / aggressive mode packet is, by what it
# carries and who sends it (i: the initiator, r: the responder).
#   main mode        HDR,SA -> HDR,SA -> HDR,KE,Ni -> HDR,KE,Nr -> HDR*,IDii,HASH_I -> HDR*,IDir,HASH_R
#   aggressive mode  HDR,SA,KE,Ni,IDii -> HDR,SA,KE,Nr,IDir,HASH_R -> HDR,HASH_I
PHASE1: dict[tuple[int, str, str], str] = {
    # exchange         carries     sender   message
    (MAIN_MODE, "sa", "i"): "MM1",
    (MAIN_MODE, "sa", "r"): "MM2",
    (MAIN_MODE, "ke", "i"): "MM3",
    (MAIN_MODE, "ke", "r"): "MM4",
    (MAIN_MODE, "encrypted", "i"): "MM5",
    (MAIN_MODE, "encrypted", "r"): "MM6",
    (AGGRESSIVE_MODE, "sa", "i"): "AM1",
    (AGGRESSIVE_MODE, "sa", "r"): "AM2",
}
# Any other packet: aggressive mode's third message; main mode's unplaced.
PHASE1_OTHERWISE = {MAIN_MODE: "MM", AGGRESSIVE_MODE: "AM3"}
# What a message tells beyond its place: the offer and the choice (SA payload),
# the NAT-D hashes (RFC 3947 3: with KE in main mode, the last message in
# aggressive mode), and phase 1 done.
PHASE1_SA = {"MM1": "offer", "MM2": "choice", "AM1": "offer", "AM2": "choice"}
PHASE1_NAT_D = frozenset({"MM3", "MM4", "AM3"})
PHASE1_DONE = frozenset({"MM6", "AM3"})

# ---------------------------------------------------------------- IKEv1 quick mode
# RFC 2409 5.5: HDR*,HASH(1),SA,Ni -> HDR*,HASH(2),SA,Nr -> HDR*,HASH(3), all
# encrypted; placed by who speaks: the responder answers (QM2), the initiator
# speaks again after that with a shorter message (QM3: only a hash).
QUICK: dict[str, str] = {
    "initiator": "QM1",
    "responder": "QM2",
    "initiator-after-qm2": "QM3",
}

# ---------------------------------------------------------------- IKEv1 informational
# RFC 2408 4.8 (notify, delete), RFC 3706 (dead peer detection).
R_U_THERE, R_U_THERE_ACK = 36136, 36137
INFO_STEPS = {"dpd": "DPD R-U-THERE", "dpd-ack": "DPD R-U-THERE-ACK", "delete": "DELETE",
              "encrypted": "INFORMATIONAL (encrypted)"}

# ---------------------------------------------------------------- IKEv2
# RFC 7296 1.2-1.5: an exchange is a request and its response.
V2_EXCHANGES = {IKE_SA_INIT: "IKE_SA_INIT", IKE_AUTH: "IKE_AUTH",
                CREATE_CHILD_SA: "CREATE_CHILD_SA", INFORMATIONAL: "INFORMATIONAL"}
# What an answered exchange agrees, when the answer carries no error notify:
# IKE_AUTH the IKE SA and the first child SA (1.2), CREATE_CHILD_SA another (1.3).
V2_AGREES: dict[int, tuple[str, ...]] = {
    IKE_AUTH: ("child-sa", "ike-sa"),
    CREATE_CHILD_SA: ("child-sa",),
}

# ---------------------------------------------------------------- error notifies
# Notify types that end a negotiation (both versions use these numbers):
# RFC 2408 3.14.1 (1-30 bar the two status codes), RFC 7296 3.10.1.
INVALID_KE = 17  # INVALID_KE_PAYLOAD: its data names the group wanted
REDIRECT = 16407  # RFC 5685 3.5: go to another gateway
FATAL_V1 = frozenset(range(1, 31)) - {26, 27}
FATAL_V2 = frozenset({4, 5, 7, 9, 11, 14, 17, 24, 34, 35, 36, 37, 38, 39, 40, 41, 44, 46})

Emit = Callable[..., None]


def _carries(payloads: tuple, encrypted: bool) -> str:
    """What places a phase 1 message: its SA, else its KE, else its encryption."""
    has = {type(p) for p in payloads}
    if K.SaPayload in has:
        return "sa"
    if K.KePayload in has:
        return "ke"
    return "encrypted" if encrypted else "other"


class IkeObserver:
    """The IKE negotiations of one replay, fed message by message. ``emit``
    receives the timeline events (the engine's ``_emit``)."""

    def __init__(self, emit: Emit | None = None) -> None:
        self.emit = emit
        self.negotiations: list[IkeNegotiation] = []
        self.by_pair: dict[frozenset[str], list[IkeNegotiation]] = {}
        self._by_key: dict[tuple[int, str, frozenset[str]], IkeNegotiation] = {}
        self._conn_ids: dict[str, int] = {}  # the last IOS conn-id given on each peer

    def ike(self, t: float, fr: int, h: Any, src: str | None, dst: str | None, sport: int,
            dport: int, fragments: tuple[int, ...] = ()) -> IkeNegotiation | None:
        """One IKE message (an ``IkeHeader`` with its payloads); ``fragments``:
        the frames of the IP fragments it was reassembled from, if it came so."""
        if not src or not dst or h.version not in (1, 2):
            return None
        pair = frozenset((src, dst))
        neg = self._by_key.get((h.version, h.initiator_spi, pair))
        if neg is None:
            neg = self._new(t, h, src, dst, pair)
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
        if fragments:
            neg._ip_fragments[fr] = fragments
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

    def _new(self, t: float, h: Any, src: str, dst: str, pair: frozenset[str]) -> IkeNegotiation:
        # The initiator is the sender of the first message, unless that message is
        # plainly an answer (IKEv2 R flag) or comes from the original responder
        # (IKEv2 I flag clear, RFC 7296 3.1; an IKE_SA_INIT request is always the
        # initiator's).
        answer = h.version == 2 and bool(h.flag_bits & V2_RESPONSE or (
            not h.flag_bits & V2_INITIATOR and h.exchange_type != IKE_SA_INIT))
        initiator, responder = (dst, src) if answer else (src, dst)
        neg = IkeNegotiation(initiator, responder, h.version, initiator_spi=h.initiator_spi,
                             first=t, last=t, mode=h.exchange)
        # else the capture started after the IKE SA was set up
        neg.setup_seen = h.exchange_type in SETUP_EXCHANGES
        # a newer negotiation between the same peers: the older open ones were given up
        for old in self.by_pair.get(pair, []):
            if old.state != "established" and old.established is None:
                old._abandoned = True
        self.negotiations.append(neg)
        self._by_key[(h.version, h.initiator_spi, pair)] = neg
        self.by_pair.setdefault(pair, []).append(neg)
        return neg

    # ------------------------------------------------------------ IKEv1

    def _v1(self, neg: IkeNegotiation, t: float, fr: int, h: Any, src: str, dst: str,
            sport: int, dport: int) -> IkeMessage:
        side = neg.side(src)
        notes = [p for p in h.payloads if isinstance(p, K.NotifyPayload)]
        msg = IkeMessage(fr, t, src, dst, sport, dport, h.exchange, h.message_id, "", side == "r",
                         notifies=[n.name or str(n.notify_type) for n in notes],
                         encrypted=bool(h.flag_bits & V1_ENCRYPTED), length=h.length)
        x = h.exchange_type
        if x in (MAIN_MODE, AGGRESSIVE_MODE):
            self._phase1(neg, msg, h, side, notes)
        elif x == QUICK_MODE:
            self._quick_mode(neg, msg, h)
        elif x == INFORMATIONAL_V1:
            self._informational_v1(neg, msg, h, notes)
        else:
            msg.step = h.exchange.upper().replace("-", "_")
        return msg

    def _phase1(self, neg: IkeNegotiation, msg: IkeMessage, h: Any, side: str,
                notes: list[Any]) -> None:
        x = h.exchange_type
        step = PHASE1.get((x, _carries(h.payloads, msg.encrypted), side), PHASE1_OTHERWISE[x])
        msg.step = step
        self._mark(neg, msg, side, step)
        if step in PHASE1_SA:
            self._v1_sa(neg, h.payloads, offer=PHASE1_SA[step] == "offer")
        if step in PHASE1_NAT_D:
            ike_natd.check_v1(neg, msg, h, h.payloads)
        if not msg.retransmit and step in PHASE1_DONE:
            neg.phase1 = neg.phase1 or msg.time
            self._phase1_up(neg)
        for nt in notes:
            self._notify(neg, nt.notify_type, nt.name, nt.data)

    def _quick_mode(self, neg: IkeNegotiation, msg: IkeMessage, h: Any) -> None:
        q = neg._qm.get(h.message_id)
        if q is None:
            q = neg._qm[h.message_id] = QuickMode(msg.src, h.length)
        if msg.src != q.initiator:
            who = "responder"
        elif "QM2" in q.seen and h.length != q.length:
            who = "initiator-after-qm2"
        else:
            who = "initiator"
        msg.step = QUICK[who]
        msg.response = who == "responder"
        if msg.step in q.seen:  # the same side speaking twice
            msg.retransmit = True
            neg.retransmits += 1
            return
        q.seen.add(msg.step)
        neg.add_step(msg.step)
        if msg.step == "QM2":
            neg.quick_modes += 1
            neg._child.append(msg.time)
            self._established(neg, msg.time)
        elif msg.step == "QM3":
            if neg.established is not None and neg._child and neg.established == neg._child[-1]:
                neg.established = msg.time  # the exchange completes with QM3
                neg._child[-1] = msg.time

    def _informational_v1(self, neg: IkeNegotiation, msg: IkeMessage, h: Any,
                          notes: list[Any]) -> None:
        neg.informational += 1
        kind = "info"
        for nt in notes:
            if nt.notify_type == R_U_THERE:
                kind = "dpd"
                neg.dpd += 1
            elif nt.notify_type == R_U_THERE_ACK:
                kind = "dpd-ack"
                neg.dpd_acks += 1
        for p in h.payloads:
            if isinstance(p, K.DeletePayload):
                kind = "delete"
                what = K.PROTOCOLS.get(p.protocol_id, str(p.protocol_id))
                neg.deletes.append(f"{what} {', '.join('0x' + s.hex() for s in p.spis) or '(IKE SA)'}")
        if msg.encrypted:
            kind = "encrypted"
        neg._info.append((msg.time, msg.frame, msg.src, kind))
        msg.step = INFO_STEPS.get(kind, "INFORMATIONAL")
        for nt in notes:
            self._notify(neg, nt.notify_type, nt.name, nt.data)

    @staticmethod
    def _v1_sa(neg: IkeNegotiation, payloads: tuple, *, offer: bool) -> None:
        """The initiator's offer, the responder's choice (its hash and DH group win)."""
        for p in payloads:
            if not isinstance(p, K.SaPayload):
                continue
            ts = [t for pr in p.proposals for t in pr.transforms]
            summary = "; ".join(K.transform_summary(1, t) for t in ts)
            if offer:
                neg.proposal = summary
            else:
                neg.chosen = summary
            if offer and neg.chosen is not None:
                continue
            for t in ts[:1]:
                for a in t.attributes:
                    if a.name == "hash" and isinstance(a.value, int):
                        neg._hash = ike_natd.V1_HASHES.get(a.value, "sha1")
                    if not offer and a.name == "dh-group" and isinstance(a.value, int):
                        neg.dh_group = a.value

    # ------------------------------------------------------------ IKEv2

    def _v2(self, neg: IkeNegotiation, t: float, fr: int, h: Any, src: str, dst: str,
            sport: int, dport: int) -> IkeMessage:
        pl = h.payloads
        frag = next((p.fragment_number for p in pl if isinstance(p, K.EncryptedFragmentPayload)), 0)
        notes = [p for p in pl if isinstance(p, K.NotifyPayload)]
        x = h.exchange_type
        resp = self._v2_response(neg, h, src, dst, frag)
        xname = V2_EXCHANGES.get(x, h.exchange.upper().replace("-", "_"))
        step = f"{xname} {'response' if resp else 'request'}"
        msg = IkeMessage(fr, t, src, dst, sport, dport, h.exchange, h.message_id, step, resp,
                         notifies=[n.name or str(n.notify_type) for n in notes],
                         encrypted=h.encrypted, length=h.length)
        # RFC 7296 2.1: a retransmission repeats the message id; each side numbers
        # the requests it starts on its own (2.2), so the id counts per sender;
        # 2.5 (RFC 7383): fragments of one message share it and differ by number
        key = (src, h.message_id, resp, frag, x)
        prev = neg._v2.get(key)
        if prev is not None and (x != IKE_SA_INIT or not self._v2_new_init(neg, prev)):
            msg.retransmit = True
            neg.retransmits += 1
        else:
            neg._v2[key] = msg
            if prev is not None:  # a new IKE_SA_INIT request (COOKIE / INVALID_KE retry)
                neg._v2.pop((dst, h.message_id, True, frag, x), None)
                self._v2_retry(neg)
            neg.add_step(step)
        if x == IKE_SA_INIT:
            self._sa_init(neg, msg, h, notes)
        elif x in V2_AGREES and resp and not msg.retransmit and not any(
                n.notify_type in FATAL_V2 for n in notes):
            # answered without an error notify: IKE_AUTH sets up the IKE SA and
            # its first child SA (1.2), CREATE_CHILD_SA another child SA or a rekey (1.3)
            neg._child.append(t)
            neg.quick_modes += 1
            if "ike-sa" in V2_AGREES[x]:
                neg.phase1 = neg.phase1 or t
                self._established(neg, t)
                self._phase1_up(neg)
        elif x == INFORMATIONAL:
            # RFC 7296 1.4: an empty INFORMATIONAL request is a liveness check
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
            if nt.notify_type == REDIRECT and resp:
                neg.redirect = ike_redirect_target(nt.data)
                neg._redirect_frame = fr
            self._notify(neg, nt.notify_type, nt.name, nt.data, fr)
        return msg

    @staticmethod
    def _v2_response(neg: IkeNegotiation, h: Any, src: str, dst: str, frag: int) -> bool:
        """The R flag says a message is a response (RFC 7296 3.1). Some early
        implementations (Openswan's first IKEv2) never set it: while no message
        of the IKE SA has, a message answering the other side's request with
        that id and exchange is its response."""
        if h.flag_bits & V2_RESPONSE:
            neg._r_flag = True
            return True
        if neg._r_flag:
            return False
        asked = neg._v2.get((dst, h.message_id, False, frag, h.exchange_type))
        return asked is not None and (src, h.message_id, False, frag, h.exchange_type) \
            not in neg._v2

    @staticmethod
    def _v2_retry(neg: IkeNegotiation) -> None:
        """The initiator retried IKE_SA_INIT with what the responder asked for
        (RFC 7296 1.2 INVALID_KE_PAYLOAD, 2.6 COOKIE): the same negotiation
        goes on; the refusal is kept, not the failure."""
        if neg.failure is not None and neg.failure.startswith("INVALID_KE_PAYLOAD"):
            neg.failure = None
            neg.state = "incomplete"

    @staticmethod
    def _sa_init(neg: IkeNegotiation, msg: IkeMessage, h: Any, notes: list[Any]) -> None:
        """RFC 7296 1.2: SAi1 and KEi offer, SAr1 chooses; NAT-D rides along (2.23)."""
        for p in h.payloads:
            if isinstance(p, K.SaPayload):
                ts = [tr for pr in p.proposals for tr in pr.transforms]
                s = ", ".join(K.transform_summary(2, tr) for tr in ts)
                if msg.response:
                    neg.chosen = s
                else:
                    neg.proposal = s
                    neg.dh_group = next((tr.transform_id for tr in ts if tr.transform_type == 4),
                                        neg.dh_group)
            if isinstance(p, K.KePayload) and not msg.response:
                neg.dh_group = p.dh_group
                neg._ke_sent = p.dh_group
        ike_natd.check_v2(neg, msg, h, notes)

    @staticmethod
    def _v2_new_init(neg: IkeNegotiation, prev: IkeMessage) -> bool:
        """An IKE_SA_INIT request after an answer to the previous one: a new
        attempt (with a COOKIE, or the DH group the responder asked for, 1.2)."""
        if prev.response:
            return False
        return any(m.response and m.exchange == "ike-sa-init" and m.time >= prev.time
                   for m in neg.messages)

    # ------------------------------------------------------------ shared

    @staticmethod
    def _mark(neg: IkeNegotiation, msg: IkeMessage, side: str, step: str) -> None:
        """A phase 1 step its sender already sent is a retransmission."""
        k = (side, step)
        if k in neg._sent:
            msg.retransmit = True
            neg.retransmits += 1
            return
        neg._sent[k] = msg
        neg.add_step(step)

    def _phase1_up(self, neg: IkeNegotiation) -> None:
        """IOS numbers each IKE SA per router from 1001 (`show crypto isakmp sa` conn-id)."""
        if neg.conn_ids:
            return
        for a in (neg.initiator, neg.responder):
            self._conn_ids[a] = self._conn_ids.get(a, 1000) + 1
            neg.conn_ids[a] = self._conn_ids[a]

    @staticmethod
    def _established(neg: IkeNegotiation, t: float) -> None:
        if neg.established is None:
            neg.established = t
            neg.state = "established"

    @staticmethod
    def _notify(neg: IkeNegotiation, nt: int, name: str, data: bytes, fr: int = 0) -> None:
        """An error notify fails the negotiation unless its SAs are already up."""
        fatal = FATAL_V2 if neg.version == 2 else FATAL_V1
        if nt not in fatal:
            return
        neg.failure = name
        if nt == INVALID_KE and neg.version == 2:
            # RFC 7296 1.2, 3.10.1: the data names the group the responder wants,
            # the group refused is the one the request's KE payload used
            want = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            neg._invalid_ke = (neg._ke_sent, want, fr)
            had = f"KE had {K.dh_group_name(neg._ke_sent)}, " if neg._ke_sent is not None else ""
            neg.failure = (f"{name} ({had}wants {K.dh_group_name(want)}, group {want})"
                           if want is not None else name)
        if neg.established is None:
            neg.state = "failed"


def ike_redirect_target(data: bytes) -> str:
    """RFC 5685 3.5: GW Ident Type (1 IPv4, 2 IPv6, 3 FQDN), its length, the identity."""
    if len(data) < 2 or len(data) < 2 + data[1]:
        return "?"
    kind, ident = data[0], data[2:2 + data[1]]
    try:
        if kind == 1 and len(ident) == 4:
            return str(ipaddress.IPv4Address(ident))
        if kind == 2 and len(ident) == 16:
            return str(ipaddress.IPv6Address(ident))
        if kind == 3:
            return ident.decode("ascii")
    except UnicodeDecodeError:
        pass
    return "?"
