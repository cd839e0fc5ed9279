"""The NHRP client (NHC): registration with each NHS, purge on shutdown, and
resolution of the addresses it has traffic for (RFC 2332 5.2.1-5.2.3, 5.2.5).

State machines (flavor differences in ``messages``)::

    registration, one per NHS:
    idle --boot--> waiting --reply code 0--> registered --interval--> waiting
    waiting --timeout--> waiting (retry: cisco 1, 2, 4 .. 64 s with a new id;
                                   frr 1 (2 once registered), 4 .. 64, then 2,
                                   with the same id, nhrp_nhs.c)
    refresh: cisco a new id; frr the same id as before (until a 16 s wait frees it)
    waiting --reply code != 0 / error indication--> waiting (the retry timer runs on)

    resolution: unresolved destination (phase 2) or traffic indication (phase 3)
    --> request to its NHS; data meanwhile goes through the hub
"""

from __future__ import annotations

import ipaddress

from nhrpscope.dissectors import nhrp as N
from nhrpscope.sim import messages as M
from nhrpscope.sim import packets as P
from nhrpscope.sim.node import CacheEntry, Registration, RouterBase
from nhrpscope.sim.truth import RegistrationTxn, ResolutionTxn, ShortcutRec
from nhrpscope.sim.wire import Wire


class NhcRouter(RouterBase):
    # -- registration --------------------------------------------------------------------

    def _interval(self) -> float:
        return self.spec.registration_interval or self.spec.holding_time / 3

    def _reg_send(self, reg: Registration, why: str) -> None:
        if not self.up:
            return
        # FRR keeps its request id for every refresh and retry (nhrp_reqid_alloc returns the
        # id it holds while the callback is the same); IOS takes a new one each time
        keep = self.spec.flavor == "frr" and reg.request_id is not None
        if not keep:
            reg.request_id = self._reqid()
        assert reg.request_id is not None
        if not keep or reg.txn is None or reg.txn.reply is not None:
            # a request after the reply to its id is a new registration, whatever the id
            nhs_router = self.host.directory.by_tunnel(reg.nhs_tunnel)
            reg.txn = RegistrationTxn(self.name, self.nbma, self.tunnel,
                                      nhs_router.name if nhs_router else reg.nhs_tunnel, reg.nhs_nbma,
                                      reg.nhs_tunnel, reg.request_id, self.spec.holding_time)
            self.ledger.open_registration(reg.txn)
        assert reg.txn is not None and reg.request_id is not None
        pkt = M.registration_request(self.me, reg.nhs_tunnel, reg.nhs_nbma, reg.request_id)
        comment = (f"NHRP Registration Request {self.name} -> NHS {reg.nhs_tunnel} (id {reg.request_id}): "
                   f"{self.name} registers {self.tunnel} at NBMA {self.nbma}, holding time "
                   f"{self.spec.holding_time} s; {why}")
        wire = self.send_nhrp(reg.nhs_nbma, pkt, comment)
        reg.txn.requests.append(wire)
        reg.timer = self.host.after(reg.timeout, self._reg_timeout, reg, wire)

    def _reg_timeout(self, reg: Registration, last: Wire) -> None:
        if not self.up:
            return
        waited = reg.timeout
        # answered, with a code != 0 (a code-0 reply that timed out here was lost on the way)
        refused = reg.txn is not None and reg.txn.reply is not None and (reg.txn.code or 0) != 0
        if not refused:
            if not reg.unanswered:
                reg.unanswered_since = self.host.now - waited
            reg.unanswered.append(last)
        if reg.registered:
            reg.registered = False
            self.ledger.note(self.host.now, f"{self.name}: NHS {reg.nhs_tunnel} does not answer; "
                             "marked down, retrying", [last])
        if self.spec.flavor == "frr":
            # nhrp_nhs.c nhrp_reg_timeout(): after a 16 s wait without a reply the request
            # id is freed (a new one follows); the wait doubles, and past 64 s starts again at 2.
            if reg.timeout >= 16 and reg.ever_registered:
                reg.request_id = None
            reg.timeout *= 2
            if reg.timeout > 64:
                reg.timeout = 2
            delay = 0.010
            kept = "same request id" if reg.request_id is not None else "a new request id"
        else:
            # IOS: each retransmission is a new request with a new id; the wait doubles up to 64 s.
            reg.timeout = min(reg.timeout * 2, 64)
            delay = 0.0
            kept = "a new request id"
        reg.timer = self.host.after(delay, self._reg_send, reg,
                                     f"retry: no reply in {waited:g} s; {kept}, next wait {reg.timeout:g} s")

    def _close_unanswered(self, reg: Registration) -> None:
        if not reg.unanswered:
            return
        ws = reg.unanswered
        reg.unanswered = []
        nhs = self.host.directory.by_tunnel(reg.nhs_tunnel)
        who = f"{nhs.name} " if nhs else ""
        self.ledger.finding(
            "registration-unanswered",
            f"{self.name} ({self.nbma}) got no reply to {len(ws)} registration request(s) sent to NHS "
            f"{who}({reg.nhs_tunnel}, NBMA {reg.nhs_nbma}) from {self.rel(reg.unanswered_since)}; check that the "
            "NHS is up and reachable, and that GRE key, NHRP authentication and IPsec match.",
            ws, reg.unanswered_since)

    def _on_registration_reply(self, pkt: N.NhrpPacket, wire: Wire) -> None:
        reg = next((r for r in self.regs.values() if r.request_id == pkt.request_id), None)
        self.ledger.registration_answered(self.tunnel, pkt.request_id or 0, wire,
                                          pkt.cies[0].code if pkt.cies else 0)
        if reg is None:
            return
        code = pkt.cies[0].code if pkt.cies else 0
        if code != 0:
            self.ledger.note(self.host.now, f"{self.name}: registration with {reg.nhs_tunnel} refused, "
                             f"CIE code {code} ({N.cie_code_name(code)}); the retry timer runs on", [wire])
            return
        if reg.timer:
            reg.timer.cancel()
        self._close_unanswered(reg)
        reg.registered = True
        reg.ever_registered = True
        if self.spec.flavor != "frr":
            reg.request_id = None  # IOS: the next request (refresh) takes a new id
        reg.timeout = 2.0 if self.spec.flavor == "frr" else 1.0
        for ext in pkt.extensions:
            if ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
                if len(ext.cies) >= 2 and ext.cies[1].client_nbma:
                    if self.nat_nbma != ext.cies[1].client_nbma:
                        self.ledger.note(self.host.now, f"{self.name} learns from the NAT extension that "
                                         f"the NHS sees it as {ext.cies[1].client_nbma}", [wire])
                    self.nat_nbma = ext.cies[1].client_nbma
        self.cache[reg.nhs_tunnel] = CacheEntry(reg.nhs_tunnel, reg.nhs_nbma, float("inf"))
        interval = self._interval()
        reg.timer = self.host.after(interval, self._reg_send, reg,
                                     f"periodic refresh every {interval:g} s (holding time "
                                     f"{self.spec.holding_time} s / 3)")

    def _send_purge(self, reg: Registration) -> None:
        rid = self._reqid()
        pkt = M.purge_request(self.me, reg.nhs_tunnel, rid)
        w = self.send_nhrp(reg.nhs_nbma, pkt, f"NHRP Purge Request {self.name} -> NHS {reg.nhs_tunnel} "
                           f"(id {rid}): {self.name} shuts its tunnel down and withdraws {self.tunnel}")
        rec = {"requester_nbma": self.nbma, "tunnel": self.tunnel, "nhs_nbma": reg.nhs_nbma,
               "request_id": rid, "_wires": [w]}
        self.ledger.purge_sent(rec, self.tunnel, rid)

    # -- resolution ----------------------------------------------------------------------

    def primary_nhs(self) -> Registration | None:
        for reg in self.regs.values():
            if reg.registered:
                return reg
        return next(iter(self.regs.values()), None)

    def resolve(self, target: str, why: str) -> None:
        if target in self.pending or target in self.cache:
            return
        if self.negative.get(target, -1.0) > self.host.now:
            return
        nhs = self.primary_nhs()
        if nhs is None:
            return
        rid = self._reqid()
        txn = ResolutionTxn(self.name, self.nbma, self.tunnel, target, rid, trigger=why)
        self.pending[target] = txn
        self.ledger.open_resolution(txn)
        pkt = M.resolution_request(self.me, target, rid, self.nat_nbma)
        txn.request = self.send_nhrp(
            nhs.nhs_nbma, pkt, f"NHRP Resolution Request {self.name} -> NHS {nhs.nhs_tunnel} (id {rid}): "
            f"who has {target}? {why}")
        self.host.after(30.0, self._resolution_timeout, target, txn)

    def _resolution_timeout(self, target: str, txn: ResolutionTxn) -> None:
        if self.pending.get(target) is txn:
            del self.pending[target]
            if txn.reply is None:
                self.ledger.finding(
                    "resolution-unanswered",
                    f"{self.name} ({self.nbma}) got no reply to its resolution request for {target}; the "
                    "target spoke or the hub in between did not answer.", [txn.request, *txn.forwards],
                    self.host.now)

    def _on_resolution_reply(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        target = pkt.dst_proto or ""
        txn = self.pending.get(target)
        if txn is None or txn.request_id != pkt.request_id:
            return
        del self.pending[target]
        cie = pkt.cies[0] if pkt.cies else None
        txn.reply = wire
        txn.code = cie.code if cie else None
        if cie is None or cie.code != 0:
            code = cie.code if cie else -1
            ht = cie.holding_time if cie else 60
            self.negative[target] = self.host.now + min(ht, 60)
            self.ledger.finding(
                "resolution-nak",
                f"{self.name} ({self.nbma}) asked for {target} and NHS answered with a negative reply "
                f"(CIE code {code}, {N.cie_code_name(code)}): no spoke has registered {target}; check the "
                "address, or that the spoke owning it is up and registered.",
                [txn.request, *txn.forwards, wire], self.host.now)
            return
        proto = cie.client_proto or target
        nbma = cie.client_nbma or pkt.src_nbma or outer_src
        for ext in pkt.extensions:
            if ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
                for c in ext.cies:
                    if c.client_proto == proto and c.client_nbma:
                        nbma = c.client_nbma
        if nbma != outer_src and self.host.directory.by_tunnel(proto) is not None and outer_src not in (
                r.nhs_nbma for r in self.regs.values()):
            nbma = outer_src  # FRR: the sender is NATed and said nothing (nhrp_shortcut.c)
        txn.resolved_nbma = nbma
        txn.resolved_tunnel = proto
        txn.prefix_len = cie.prefix_len
        txn.responder = self.host.directory.name_of(cie.client_nbma, nbma)
        self.cache[proto] = CacheEntry(proto, nbma, self.host.now + (cie.holding_time or self.spec.holding_time))
        if cie.prefix_len < 32 and target != proto:
            net = ipaddress.IPv4Network(f"{target}/{cie.prefix_len}", strict=False)
            self.routes.append((net, proto))
        other = self.host.directory.by_tunnel(proto)
        if other is not None:
            self.ledger.shortcut_installed(ShortcutRec(self.name, other.name, self.nbma, nbma, wire,
                                                       phase=self.spec.phase))
        self.ledger.note(self.host.now, f"{self.name} installs {target}"
                         f"{'/' + str(cie.prefix_len) if cie.prefix_len < 32 else ''} via {proto} at NBMA "
                         f"{nbma}: traffic now goes spoke to spoke", [wire])

    def _on_traffic_indication(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        raw = pkt.offending_raw
        if len(raw) < 20:
            return
        dst = P.parse_ipv4(raw[:20] + b"\0" * 0).dst if raw[0] >> 4 == 4 else ""
        if not self.shortcut:
            self.ledger.finding(
                "redirect-ignored",
                f"{self.name} ({self.nbma}) got a traffic indication from {outer_src} for {dst} but does not "
                "act on it ('ip nhrp shortcut' / 'nhrp shortcut' missing): traffic keeps going through the hub.",
                [wire], self.host.now)
            return
        self.ledger.redirect_acted(wire)
        self.resolve(dst, f"the hub's traffic indication says {dst} is reachable directly")
