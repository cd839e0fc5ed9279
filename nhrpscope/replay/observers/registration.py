"""Registrations (RFC 2332 5.2.3 Registration Request, 5.2.4 Registration
Reply): a spoke binds its tunnel address to its NBMA address on its NHS.

A request opens a ``RegistrationTxn``, keyed as RFC 2332 matches (request
id, source NBMA and protocol addresses); a reply closes the transaction
with its own id (its CIE code says success or why not), whichever request
came later: several may be outstanding at once (IOS sends a new id before
the previous one is answered). A same-id request while no reply came is a
retransmission; a same-id request after the reply is a new registration
(FRR nhrpd keeps one id for every refresh and retry: ``nhrp_reqid_alloc``
returns the id it holds while the callback is the same). Only the timeout
leaves a request unanswered. A success puts the binding in the hub's cache
(until its holding time runs out) and the NHS's static entry in the spoke's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nhrpscope.replay.cache import DYNAMIC, STATIC, CacheEntry
from nhrpscope.replay.facts.nhrp import (
    RegistrationExpired,
    RegistrationRejected,
    RegistrationUnanswered,
    UniqueAddressConflict,
)
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.model import Registration
from nhrpscope.replay.nhrp_state import REPLY_TIMEOUT, RegistrationTxn
from nhrpscope.replay.observers.nhrp_fields import (
    host_len,
    network,
    norm_prefix,
)

if TYPE_CHECKING:  # pragma: no cover
    from nhrpscope.replay.observers.nhrp import Message, NhrpObserver

UNIQUE_ALREADY_REGISTERED = 14  # 5.2.4's CIE code


@dataclass(slots=True)
class PairHistory:
    """A spoke's registrations to one NHS: how many went unanswered, and
    whether one succeeded after them (loss, not a dead NHS)."""

    unanswered: int = 0
    ok_after: bool = False


class Registrations:

    def __init__(self, nhrp: NhrpObserver) -> None:
        self.nhrp = nhrp
        self.records: list[Registration] = []
        self.history: dict[tuple[str, str], PairHistory] = {}
        self.last_request: dict[tuple[str, str], float] = {}
        # the frames of the registration behind a hub's binding, by (hub, prefix)
        self.binding_frames: dict[tuple[str, str, int], list[int]] = {}

    def request(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        routers = nhrp.routers
        spoke = n.src_nbma or m.sender
        if not spoke:
            return
        osrc = m.osrc
        nhrp.sent_behind_nat(n, osrc, "registration", t, fr)
        hub = m.receiver
        rs = routers.seen(spoke, t, fr)
        rs.bind(n.src_proto)
        rs.reg_sent += 1
        rs.password(m.password)
        if hub:
            if hub not in rs.nhs and len(rs.nhs) < 8:
                rs.nhs.append(hub)
            rh = routers.seen(hub, t, fr)
            rh.reg_received += 1
            if n.dst_proto and n.dst_proto != n.src_proto and not rh.tunnels:
                rh.bind(n.dst_proto)
        cie = n.cies[0] if n.cies else None
        holding = cie.holding_time if cie is not None else None
        k = ("reg", spoke, n.src_proto, n.request_id)
        txn = nhrp.txns.get(k)
        previous = self.last_request.get((spoke, hub or "?"))
        if hub:
            self.last_request[(spoke, hub)] = t
        if txn is not None and not txn.answered:  # 5.2.3's retransmission: same id, no reply yet
            self._retransmit(txn, t, fr)
            return
        rec = Registration(spoke, n.src_proto, hub, t, None, n.request_id, holding, None, [fr],
                           state="sent", hub_tunnel=n.dst_proto if n.dst_proto != n.src_proto else None,
                           unique="unique" in n.flags,
                           public_nbma=osrc if osrc and osrc != spoke else None,
                           interval=None if previous is None else t - previous)
        txn = RegistrationTxn(rec, k, t)
        txn.requests.append(fr)
        txn.unreadable_from = nhrp.unreadable_mark(hub, m.osrc)
        nhrp.txns.remember(k, txn)
        self.records.append(rec)
        nhrp.schedule(txn.deadline, txn)
        # unique address already bound to another NBMA on this hub?
        if hub and n.src_proto:
            hc = nhrp.caches.get(hub)
            if hc is not None:
                for e in hc.with_proto(n.src_proto):
                    if e.alive(t) and e.claimed_nbma not in (None, spoke) \
                            and ("unique" in e.flags or "unique" in n.flags):
                        nhrp.state(UniqueAddressConflict(hub, n.src_proto, e.claimed_nbma, spoke,
                                                         t, (*e.frames[-1:], fr)))
        # the spoke's static entry for its NHS
        if hub and rec.hub_tunnel:
            sc = nhrp.cache(spoke)
            if sc.get(rec.hub_tunnel, host_len(rec.hub_tunnel)) is None:
                sc.put(t, fr, proto=rec.hub_tunnel, prefix_len=host_len(rec.hub_tunnel),
                       via=rec.hub_tunnel, nbma=m.odst, claimed_nbma=hub, type=STATIC,
                       source="nhs", holding_time=None, state="NHRP")

    def reply(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        routers = nhrp.routers
        spoke = n.src_nbma or m.receiver
        if not spoke:
            return
        hub = m.sender
        k = ("reg", spoke, n.src_proto, n.request_id)
        txn = nhrp.txns.get(k)
        if txn is None:  # the request was not captured
            rec = Registration(spoke, n.src_proto, hub, None, None, n.request_id, None, None, [],
                               state="sent", unique="unique" in n.flags,
                               hub_tunnel=n.dst_proto if n.dst_proto != n.src_proto else None)
            txn = RegistrationTxn(rec, k, None)
            nhrp.txns.remember(k, txn)
            self.records.append(rec)
        rec = txn.record
        if len(rec.frames) < MAX_FRAMES:
            rec.frames.append(fr)
        cie = n.cies[0] if n.cies else None
        code = cie.code if cie is not None else 0
        resp = nhrp.ext.cies(n, "responder-address")
        rs = routers.seen(spoke, t, fr)
        rs.bind(n.src_proto)
        if hub:
            rh = routers.seen(hub, t, fr)
            rh.reg_answered += 1
            rh.password(m.password)
            if resp and resp[0].client_proto:
                rh.bind(resp[0].client_proto)
                rec.hub_tunnel = rec.hub_tunnel or resp[0].client_proto
            elif rec.hub_tunnel:
                rh.bind(rec.hub_tunnel)
        if not txn.fire("reply-nak" if code else "reply-ack"):
            return  # a duplicate or late reply
        txn.answered = True
        # the mark is read only when a request goes unanswered (``closed``): let it go
        txn.unreadable_from = None
        rec.reply_time = t
        rec.hub_nbma = rec.hub_nbma or hub
        rec.code = code
        rec.code_name = getattr(cie, "code_name", None) if cie is not None else "success"
        if rec.request_time is not None:
            rec.rtt = t - rec.request_time
        if cie is not None and cie.holding_time:
            rec.holding_time = cie.holding_time
        self._nat(m, spoke, hub)
        pair = (spoke, hub or "?")
        if code:
            if code == UNIQUE_ALREADY_REGISTERED:
                nhrp.state(UniqueAddressConflict(hub or "?", n.src_proto or "?", None, spoke, t,
                                                 tuple(rec.frames)))
            else:
                nhrp.state(RegistrationRejected(spoke, hub, code, rec.code_name, t,
                                                tuple(rec.frames)))
            if nhrp.events:
                nhrp.emit(t, fr, "rejected", hub, spoke, f"registration rejected ({rec.code_name})")
            return
        st = self.history.get(pair)
        if st is None:
            st = self.history[pair] = PairHistory()
        if st.unanswered:
            st.ok_after = True
        if not hub:
            return
        plen = norm_prefix(n.src_proto, cie.prefix_len if cie is not None else None)
        proto = n.src_proto or spoke
        flags = {"registered", "unique"} if rec.unique else {"registered"}
        nat = rs.nat  # routers.is_nat(spoke): rs is its record (_nat may have set it)
        if nat:
            flags.add("nat")
        e = nhrp.cache(hub).put(t, fr, proto=network(proto, plen), prefix_len=plen,
                                via=n.src_proto, nbma=rs.public or spoke, claimed_nbma=spoke,
                                type=DYNAMIC, source="registration",
                                holding_time=rec.holding_time, flags=flags, nat=nat)
        self.binding_frames[(hub, e.proto, e.prefix_len)] = list(rec.frames[-2:])
        if e.expires is not None:
            nhrp.expire_at(e.expires, hub, (e.proto, e.prefix_len), spoke)
        tun = rec.hub_tunnel or rh.tunnel  # rh: routers.get(hub), seen above
        if tun:
            nhrp.cache(spoke).put(t, fr, proto=tun, prefix_len=host_len(tun), via=tun,
                                  nbma=rh.public or hub, claimed_nbma=hub, type=STATIC,
                                  source="nhs", holding_time=None, state="UP")
        if nhrp.events:
            nhrp.emit(t, fr, "registered", hub, spoke, f"{proto} registered", rtt=rec.rtt)

    def _nat(self, m: Message, spoke: str, hub: str | None) -> None:
        """NAT: the NHS's NAT extension reports another NBMA than the claimed
        one, or the NHS answered to another address than the claimed one."""
        nhrp, n = self.nhrp, m.n
        for c in nhrp.ext.cies(n, "cisco-nat-address"):
            if c.client_nbma and c.client_proto in (None, n.src_proto) \
                    and c.client_nbma not in (spoke, hub, m.osrc):
                nhrp.nat(spoke, c.client_nbma, f"hub {hub} reports it at {c.client_nbma} in "
                         f"the NAT address extension while it claims {spoke}", m.t, m.fr)
        odst = m.odst
        if odst and odst != spoke and nhrp.routers.alias.get(odst) != spoke \
                and not nhrp.ext.cies(n, "reverse-transit-nhs-record") and odst not in nhrp.routers:
            nhrp.nat(spoke, odst, f"it claims NBMA {spoke} but hub {hub} answers it at {odst}",
                     m.t, m.fr)

    def _retransmit(self, txn: RegistrationTxn, t: float, fr: int) -> None:
        """The same request again, no reply in between: the deadline moves;
        once unanswered, the finding cites this request too."""
        txn.fire("request")
        rec = txn.record
        if rec.request_time is None:
            rec.request_time = t
        else:
            rec.retransmits += 1
        txn.last_request = t
        txn.deadline = t + REPLY_TIMEOUT
        txn.requests.append(fr)
        if len(rec.frames) < MAX_FRAMES:
            rec.frames.append(fr)
        if txn.state in ("unanswered", "unreadable"):
            self.nhrp.state(RegistrationUnanswered(rec.spoke_nbma, rec.hub_nbma,
                                                   rec.request_time, (fr,), txn.unreadable))

    def closed(self, txn: RegistrationTxn, t: float) -> None:
        """Unanswered (timed out): the spoke's NHS entry waits again. Frames
        towards the spoke that could not be read may hold the reply."""
        rec = txn.record
        txn.unreadable = self.nhrp.unreadable_since(txn.unreadable_from)
        self.nhrp.state(RegistrationUnanswered(rec.spoke_nbma, rec.hub_nbma, rec.request_time,
                                               tuple(txn.requests), txn.unreadable))
        if txn.unreadable:
            txn.fire("unreadable")
            return  # whether the spoke is registered, the capture cannot tell
        st = self.history.setdefault((rec.spoke_nbma or "?", rec.hub_nbma or "?"), PairHistory())
        st.unanswered += 1
        st.ok_after = False
        c = self.nhrp.caches.get(rec.spoke_nbma or "")
        if c is not None and rec.hub_tunnel:
            e = c.get(rec.hub_tunnel, host_len(rec.hub_tunnel))
            if e is not None and e.state == "UP" and not self._hub_entry_alive(rec, t):
                c.set_state(t, rec.hub_tunnel, host_len(rec.hub_tunnel), "NHRP")

    def _hub_entry_alive(self, rec: Registration, t: float) -> bool:
        c = self.nhrp.caches.get(rec.hub_nbma or "")
        if c is None or not rec.spoke_tunnel:
            return False
        return any(e.alive(t) and e.claimed_nbma == rec.spoke_nbma
                   for e in c.entries.values() if e.proto == rec.spoke_tunnel)

    def expired(self, when: float, fr: int, hub: str, key: tuple[str, int], spoke: str) -> None:
        """A hub's binding may have run out of holding time at ``when`` (the
        replay is at frame ``fr``)."""
        nhrp = self.nhrp
        c = nhrp.caches.get(hub)
        e = c.get(*key) if c is not None else None
        if c is None or e is None or e.expires is None or e.expires > when \
                or e.source != "registration":
            return  # refreshed, replaced or purged meanwhile
        c.remove(*key)
        self._expired(when, fr, hub, spoke, e)

    def _expired(self, when: float, fr: int, hub: str, spoke: str, e: CacheEntry) -> None:
        nhrp = self.nhrp
        if nhrp.events:
            nhrp.emit(when, fr, "expired", hub, spoke,
                      f"registration of {e.proto} expired", spoke=spoke, hub=hub)
        sc = nhrp.caches.get(spoke)
        r = nhrp.routers.get(hub)
        if sc is not None and r is not None:
            for tun in r.tunnels:
                sc.set_state(when, tun, host_len(tun), "NHRP")
        refreshed = (e.expires or 0.0) - (e.holding_time or 0)
        if self.last_request.get((spoke, hub), float("-inf")) > refreshed:
            return  # the spoke kept trying: registration-unanswered says why
        frames = self.binding_frames.get((hub, e.proto, e.prefix_len), e.frames[-1:])
        nhrp.state(RegistrationExpired(spoke, hub, e.holding_time, when, tuple(frames)))

    def recovered(self) -> tuple[tuple[str, str], ...]:
        """The (spoke, hub) pairs whose unanswered registrations a success followed."""
        return tuple(p for p, st in self.history.items() if st.ok_after)
