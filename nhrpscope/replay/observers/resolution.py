"""Resolutions (RFC 2332 5.2.1 Resolution Request, 5.2.2 Resolution Reply):
a spoke asks for the NBMA address behind a tunnel address; the request may
pass several NHSs (each a hop), the reply comes back the same way or
straight from the target. An answer makes a shortcut between the requester
and the target (DMVPN phase 2; phase 3 when a redirect asked for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nhrpscope.replay.cache import DYNAMIC, INCOMPLETE, NEGATIVE
from nhrpscope.replay.facts.nhrp import ResolutionNak, ResolutionUnanswered
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.model import Hop, Resolution, Shortcut
from nhrpscope.replay.nhrp_state import REPLY_TIMEOUT, ResolutionTxn
from nhrpscope.replay.observers.nhrp_fields import (
    host_len,
    net_mask,
    network,
    norm_prefix,
)

if TYPE_CHECKING:  # pragma: no cover
    from nhrpscope.replay.observers.nhrp import Message, NhrpObserver

# How long an incomplete cache entry (resolution sent, no answer) lives (IOS: 3 min).
INCOMPLETE_HOLD = 180


class Resolutions:

    def __init__(self, nhrp: NhrpObserver) -> None:
        self.nhrp = nhrp
        self.records: list[Resolution] = []
        self.open: dict[tuple[str, str], ResolutionTxn] = {}  # by (requester, target)

    def request(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        routers = nhrp.routers
        req = n.src_nbma or m.sender
        if not req:
            return
        osrc, sender, receiver = m.osrc, m.sender, m.receiver
        if nhrp.sent_behind_nat(n, osrc, "resolution request", t, fr, unknown_only=True):
            sender = routers.claimed(osrc)
        rq = routers.seen(req, t, fr)
        rq.bind(n.src_proto)
        rq.password(m.password)
        for c in nhrp.ext.cies(n, "forward-transit-nhs-record"):
            if c.client_nbma:
                routers.seen(c.client_nbma, t, fr).bind(c.client_proto)
        if receiver:
            routers.seen(receiver, t, fr)
        k = ("res", req, n.src_proto, n.request_id)
        txn = nhrp.txns.get(k)
        is_new = txn is None
        if txn is None:
            rq.res_sent += 1
            txn = self._new(m, req, k, rq.tunnels)
        rec = txn.record
        if not is_new and len(rec.frames) < MAX_FRAMES and fr not in rec.frames:
            rec.frames.append(fr)
        if rec.request_time is None:
            rec.request_time = t
        from_origin = sender == req or (osrc is not None and routers.alias.get(osrc) == req)
        new_hop = txn.add_hop(Hop(sender or "?", receiver or "?", n.hop_count, t, fr))
        if from_origin:
            if new_hop and receiver:
                routers.seen(receiver, t, fr).asked_direct += 1
            if not is_new and not new_hop:  # the requester retransmits
                rec.retransmits += 1
                txn.fire("request")
                txn.last_request = t
                txn.deadline = t + REPLY_TIMEOUT
        else:  # 5.2.1: an NHS passes it on
            txn.fire("forwarded")
            if sender and new_hop:
                routers.seen(sender, t, fr).res_forwarded += 1

    def _new(self, m: Message, req: str, k: tuple, req_tunnels: list[str]) -> ResolutionTxn:
        """A new request: its transaction, the redirect it answers, the
        requester's incomplete cache entry."""
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        prev = self.open.get((req, n.dst_proto or "?"))
        if prev is not None and prev.open and prev.fire("retried"):
            self.closed(prev, t)
        cie = n.cies[0] if n.cies else None
        rec = Resolution(req, n.dst_proto, t, None, None, [fr], requester_tunnel=n.src_proto,
                         request_id=n.request_id, state="sent",
                         holding_time=cie.holding_time if cie is not None else None)
        txn = ResolutionTxn(rec, k, t)
        txn.max_hop = n.hop_count
        txn.unreadable_from = nhrp.unreadable_mark(None, nhrp.routers.wire(req))
        nhrp.txns.remember(k, txn)
        self.open[(req, n.dst_proto or "?")] = txn
        self.records.append(rec)
        nhrp.schedule(txn.deadline, txn)
        red = nhrp.indications.resolving(req, n.dst_proto, t)
        if red is not None:
            txn.phase3 = True
            txn.redirect_frames = red.frames[:1]
        if n.dst_proto and n.dst_proto not in req_tunnels:
            nhrp.cache(req).put(t, fr, proto=n.dst_proto, prefix_len=host_len(n.dst_proto),
                                via=None, nbma=None, claimed_nbma=None, type=INCOMPLETE,
                                source="resolution", holding_time=INCOMPLETE_HOLD,
                                state="NHRP", flags={"negative"})
        return txn

    def reply(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        routers = nhrp.routers
        req = n.src_nbma or m.receiver
        if not req:
            return
        k = ("res", req, n.src_proto, n.request_id)
        txn = nhrp.txns.get(k)
        if txn is None:
            rec = Resolution(req, n.dst_proto, None, None, None, [], requester_tunnel=n.src_proto,
                             request_id=n.request_id, state="sent")
            txn = ResolutionTxn(rec, k, None)
            nhrp.txns.remember(k, txn)
            self.records.append(rec)
        rec = txn.record
        if len(rec.frames) < MAX_FRAMES and fr not in rec.frames:
            rec.frames.append(fr)
        txn.add_hop(Hop(m.sender or "?", m.receiver or "?", n.hop_count, t, fr, "reply"))
        cie = n.cies[0] if n.cies else None
        code = cie.code if cie is not None else 0
        resp = nhrp.ext.cies(n, "responder-address")
        responder = (resp[0].client_nbma if resp and resp[0].client_nbma else None) or m.sender
        if responder:
            rr = routers.seen(responder, t, fr)
            rr.password(m.password)
            if resp and resp[0].client_proto:
                rr.bind(resp[0].client_proto)
        for c in nhrp.ext.cies(n, "forward-transit-nhs-record") + nhrp.ext.cies(n, "reverse-transit-nhs-record"):
            if c.client_nbma:
                routers.seen(c.client_nbma, t, fr).bind(c.client_proto)
        if not txn.fire("reply-nak" if code else "reply-ack"):
            return
        # the mark is read only when a request goes unanswered (``closed``): let it go
        txn.unreadable_from = None
        rec.reply_time = t
        rec.code = code
        rec.code_name = getattr(cie, "code_name", None) if cie is not None else "success"
        rec.responder_nbma = responder
        if rec.request_time is not None:
            rec.rtt = t - rec.request_time
        self.open.pop((req, rec.target_tunnel or "?"), None)
        if code:
            nhrp.state(ResolutionNak(req, responder, rec.target_tunnel, code, rec.code_name, t,
                                     tuple(rec.frames)))
            if rec.target_tunnel:
                nhrp.cache(req).put(t, fr, proto=rec.target_tunnel,
                                    prefix_len=host_len(rec.target_tunnel), via=None, nbma=None,
                                    claimed_nbma=None, type=NEGATIVE, source="resolution",
                                    holding_time=cie.holding_time if cie and cie.holding_time else
                                    INCOMPLETE_HOLD, state="NHRP", flags={"negative"})
            nhrp.emit(t, fr, "nak", responder, req, f"resolution NAK for {rec.target_tunnel}")
            return
        if cie is None:
            return
        self._resolved(m, txn, req, responder, cie)

    def _resolved(self, m: Message, txn: ResolutionTxn, req: str, responder: str | None,
                  cie: Any) -> None:
        """A positive reply: the binding in the requester's cache (and in the
        responder's, 5.2.2), and the shortcut it makes."""
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        routers = nhrp.routers
        rec = txn.record
        # the NBMA address the requester will send to: the public one when the
        # target is known to be behind NAT
        rec.resolved_nbma = routers.wire(cie.client_nbma)
        rec.resolved_claimed_nbma = cie.client_nbma
        rec.resolved_tunnel = cie.client_proto
        rec.prefix_len = cie.prefix_len
        if cie.holding_time:
            rec.holding_time = cie.holding_time
        target_r = None
        if cie.client_nbma:
            target_r = routers.seen(cie.client_nbma, t, fr)
            target_r.bind(cie.client_proto)
        if responder and target_r is not None:
            if responder == cie.client_nbma:
                target_r.res_answered_self += 1
            else:
                routers.seen(responder, t, fr).res_answered_other += 1
        target = rec.target_tunnel or cie.client_proto
        if target and cie.client_nbma:
            plen = norm_prefix(target, cie.prefix_len)
            nhrp.cache(req).remove(target, host_len(target))  # the incomplete entry
            nhrp.cache(req).put(t, fr, proto=network(target, plen), prefix_len=plen,
                                via=cie.client_proto, nbma=routers.wire(cie.client_nbma),
                                claimed_nbma=cie.client_nbma, type=DYNAMIC, source="resolution",
                                holding_time=rec.holding_time, flags={"router"},
                                nat=bool(target_r and target_r.nat))
            # the responder learned the requester's binding from the request (5.2.2)
            if responder is not None and responder == cie.client_nbma and n.src_proto:
                nhrp.cache(responder).put(
                    t, fr, proto=n.src_proto, prefix_len=host_len(n.src_proto), via=n.src_proto,
                    nbma=routers.wire(req), claimed_nbma=req, type=DYNAMIC, source="request",
                    holding_time=rec.holding_time, flags={"router", "implicit"},
                    nat=routers.is_nat(req))
        nhrp.emit(t, fr, "resolved", responder, req,
                  f"{target} resolved to {cie.client_nbma}", rtt=rec.rtt)
        self._shortcut(t, fr, txn, cie)

    def _shortcut(self, t: float, fr: int, txn: ResolutionTxn, cie: Any) -> None:
        nhrp = self.nhrp
        routers, tunnel = nhrp.routers, nhrp.tunnel
        rec = txn.record
        a, b = rec.requester_nbma, cie.client_nbma
        if not a or not b or a == b:
            return
        rb = routers.get(b)
        if rb is not None and rb.is_hub():
            return  # resolving the NHS itself is no shortcut
        sc = tunnel.shortcut(a, b)
        first_hop = rec.hops[0].to_nbma if rec.hops and rec.hops[0].kind == "request" else None
        a_addrs, b_addrs = routers.addrs(a), routers.addrs(b)
        if sc is None:
            sc = Shortcut(a, b, t, None, [fr],
                          a_tunnel=rec.requester_tunnel, b_tunnel=cie.client_proto,
                          phase=3 if txn.phase3 else 2,
                          hub_nbma=first_hop if first_hop != b else None)
            tunnel.add_shortcut(sc, a_addrs, b_addrs)
            nhrp.emit(t, fr, "shortcut", a, b, f"shortcut {a} <-> {b} (phase {sc.phase})")
        elif txn.phase3:
            sc.phase = 3
        # watch a's data towards b's networks still going via the hub
        nets = []
        target = rec.target_tunnel
        if target:
            nm = net_mask(target, norm_prefix(target, cie.prefix_len))
            if nm:
                nets.append(nm)
        if cie.client_proto:
            nm = net_mask(cie.client_proto, 32)
            if nm:
                nets.append(nm)
        tunnel.watch(sc, a_addrs, b_addrs, nets)

    def closed(self, txn: ResolutionTxn, t: float) -> None:
        rec = txn.record
        if self._reply_unobservable(rec):
            return
        unreadable = self.nhrp.unreadable_since(txn.unreadable_from)
        if unreadable:
            txn.fire("unreadable")
        self.nhrp.state(ResolutionUnanswered(
            rec.requester_nbma, rec.target_tunnel, rec.hops[0].to_nbma if rec.hops else None,
            rec.request_time, tuple(rec.frames), unreadable))

    def _reply_unobservable(self, rec: Resolution) -> bool:
        """A capture taken on one router's port (every packet to or from it)
        cannot see a reply that goes from the target straight to the
        requester: a hub's port never sees spoke-to-spoke NHRP. Silence is
        then no evidence of an unanswered request."""
        traffic = self.nhrp.tunnel.traffic
        if len(traffic) < 2 or not rec.hops:
            return False
        vantage = set.intersection(*({s, d} for s, d in traffic))
        path = {rec.requester_nbma, rec.hops[-1].to_nbma}
        return bool(vantage) and not (vantage & path)
