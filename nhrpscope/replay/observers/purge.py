"""Purges (RFC 2332 5.2.5 Purge Request, 5.2.6 Purge Reply): a router
withdraws bindings from another's cache; the N bit says no reply is wanted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nhrpscope.replay.facts.nhrp import PurgeUnanswered
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.model import Purge
from nhrpscope.replay.nhrp_state import PurgeTxn
from nhrpscope.replay.observers.nhrp_fields import norm_prefix

if TYPE_CHECKING:  # pragma: no cover
    from nhrpscope.replay.observers.nhrp import Message, NhrpObserver


class Purges:

    def __init__(self, nhrp: NhrpObserver) -> None:
        self.nhrp = nhrp
        self.records: list[Purge] = []

    def request(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        src = n.src_nbma or m.sender
        k = ("purge", src, n.src_proto, n.request_id)
        txn = nhrp.txns.get(k)
        purged = [f"{c.client_proto}/{norm_prefix(c.client_proto, c.prefix_len)}"
                  for c in n.cies if c.client_proto] or ([n.dst_proto] if n.dst_proto else [])
        if src:
            nhrp.routers.seen(src, t, fr).bind(n.src_proto)
        if txn is None:
            rec = Purge(src, n.src_proto, m.receiver, n.request_id, t, None, purged, [fr],
                        state="sent")
            txn = PurgeTxn(rec, k, t)
            nhrp.txns.remember(k, txn)
            self.records.append(rec)
            if "no-reply" in n.flags:
                txn.fire("no-reply")
            else:
                nhrp.schedule(txn.deadline, txn)
        else:
            txn.fire("request")
            if len(txn.record.frames) < MAX_FRAMES:
                txn.record.frames.append(fr)
        if m.receiver:
            c = nhrp.caches.get(m.receiver)
            if c is not None:
                for proto in {c_.client_proto or n.src_proto for c_ in n.cies} or {n.src_proto}:
                    if proto:
                        for e in c.remove(proto):
                            nhrp.emit(t, fr, "purged", src, m.receiver, f"{e.prefix} purged")

    def reply(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        src = n.src_nbma or m.receiver
        k = ("purge", src, n.src_proto, n.request_id)
        txn = nhrp.txns.get(k)
        if txn is None:
            rec = Purge(src, n.src_proto, m.sender, n.request_id, None, None,
                        [f"{c.client_proto}/{c.prefix_len}" for c in n.cies if c.client_proto],
                        [], state="sent")
            txn = PurgeTxn(rec, k, None)
            nhrp.txns.remember(k, txn)
            self.records.append(rec)
        if len(txn.record.frames) < MAX_FRAMES:
            txn.record.frames.append(fr)
        if txn.fire("reply"):
            txn.record.reply_time = t

    def closed(self, txn: PurgeTxn, t: float) -> None:
        rec = txn.record
        self.nhrp.state(PurgeUnanswered(rec.sender_nbma, rec.receiver_nbma, rec.request_time,
                                        tuple(rec.frames)))
