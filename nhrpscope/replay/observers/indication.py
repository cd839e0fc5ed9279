"""Indications: the Error Indication (RFC 2332 5.2.7), which quotes the
packet in error, and the Traffic Indication (NHRP type 8, DMVPN phase 3's
redirect), which quotes the data packet that could go direct; the spoke is
expected to resolve its destination (``RedirectTxn``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nhrpscope.replay.facts.nhrp import ErrorIndicationSent, RedirectIgnored
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.model import ErrorIndication, Redirect
from nhrpscope.replay.nhrp_state import RedirectTxn
from nhrpscope.replay.observers.nhrp_fields import offending_summary

if TYPE_CHECKING:  # pragma: no cover
    from nhrpscope.replay.observers.nhrp import Message, NhrpObserver

# the request kinds an error indication may quote, as transactions are keyed
_QUOTED = {"registration-request": "reg", "resolution-request": "res", "purge-request": "purge"}


class Indications:

    def __init__(self, nhrp: NhrpObserver) -> None:
        self.nhrp = nhrp
        self.errors: list[ErrorIndication] = []
        self.redirects: list[Redirect] = []
        self.open: dict[tuple[str, str], RedirectTxn] = {}  # by (spoke, quoted destination)

    def error(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        src = m.sender or n.src_nbma
        summary = offending_summary(n.offending)
        offending_frames: list[int] = []
        self.errors.append(ErrorIndication(src, n.src_proto, m.receiver, t, n.error_code,
                                           n.error_name, summary, [fr]))
        if src:
            nhrp.routers.seen(src, t, fr).bind(n.src_proto)
        kind = _QUOTED.get(summary.get("type") or "") if summary else None
        if summary and kind:
            txn = nhrp.txns.get((kind, summary["src_nbma"], summary["src_proto"],
                                 summary["request_id"]))
            if txn is not None:
                txn.fire("error")  # no transition: an error indication is no reply
                offending_frames = txn.record.frames[-1:]
        nhrp.state(ErrorIndicationSent(
            src, m.receiver, n.error_code, n.error_name, summary.get("type") if summary else None,
            summary.get("request_id") if summary else None, t, fr, tuple(offending_frames)))

    def traffic(self, m: Message) -> None:
        nhrp, n, t, fr = self.nhrp, m.n, m.t, m.fr
        hub = n.src_nbma or m.sender
        spoke = m.receiver
        if hub:
            rh = nhrp.routers.seen(hub, t, fr)
            rh.bind(n.src_proto)
            rh.ti_sent += 1
        if spoke:
            nhrp.routers.seen(spoke, t, fr)
        s = offending_summary(n.offending) or {}
        osrc_ip, odst_ip = s.get("src"), s.get("dst")
        k = (spoke or "?", odst_ip or "?")
        txn = self.open.get(k)
        if txn is not None and txn.open:  # the hub repeats it
            txn.fire("indication")
            txn.record.count += 1
            if len(txn.record.frames) < MAX_FRAMES:
                txn.record.frames.append(fr)
            return
        rec = Redirect(hub, n.src_proto, spoke, osrc_ip, odst_ip, t, [fr], state="indicated")
        txn = RedirectTxn(rec, k, t)
        self.open[k] = txn
        self.redirects.append(rec)
        nhrp.schedule(txn.deadline, txn)

    def resolving(self, spoke: str, target: str | None, t: float) -> Redirect | None:
        """``spoke`` asks to resolve ``target``: the redirect that asked for it, answered."""
        txn = self.open.pop((spoke, target or "?"), None)
        if txn is None:
            return None
        if txn.fire("resolution"):
            txn.record.resolution_time = t
        return txn.record

    def closed(self, txn: RedirectTxn, t: float) -> None:
        rec = txn.record
        self.nhrp.state(RedirectIgnored(rec.hub_nbma, rec.spoke_nbma, rec.orig_src, rec.orig_dst,
                                        rec.time, tuple(rec.frames)))

    def finish(self) -> None:
        for txn in self.open.values():
            if txn.open:
                txn.fire("capture-end")

    def sync_states(self) -> None:
        for txn in self.open.values():
            txn.record.state = txn.state
        for rec in self.redirects:
            if rec.state == "indicated":
                rec.state = "pending"
