"""The NHRP server (NHS) side, and answering resolution requests.

NHS registrations (RFC 2332 5.2.3/5.2.4)::

    request --unique and bound to another NBMA--> reply CIE code 14
    request --otherwise--> cache entry (expires after the holding time), reply code 0

Resolution (5.2.1/5.2.2)::

    NHS:    target registered --> forward (hop count - 1, forward transit record)
            target is itself --> reply;   no binding --> NAK (CIE code 12)
    target: reply straight to the requester (and caches the requester)

Phase 3: a packet that enters and leaves the hub's tunnel earns its sender a
traffic indication (redirect).
"""

from __future__ import annotations

import ipaddress

from nhrpscope.dissectors import nhrp as N
from nhrpscope.sim import messages as M
from nhrpscope.sim import packets as P
from nhrpscope.sim.nhc import NhcRouter
from nhrpscope.sim.node import (
    ADMIN_PROHIBITED,
    HOP_COUNT_EXCEEDED,
    NAK_CODE,
    NON_UNIQUE,
    REDIRECT_HOLDDOWN,
    UNIQUE_CONFLICT,
    CacheEntry,
    Client,
)
from nhrpscope.sim.wire import Wire


class NhsRouter(NhcRouter):
    # -- registrations -------------------------------------------------------------------

    def _on_registration_request(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        natted = outer_src != pkt.src_nbma
        codes = []
        for cie in pkt.cies:
            proto = cie.client_proto or pkt.src_proto or ""
            old = self.clients.get(proto)
            now = self.host.now
            plen = cie.prefix_len if 0 < cie.prefix_len < 32 else 32
            if plen != 32 and self.spec.flavor == "frr":
                # nhrp_peer.c: nhrpd registers host addresses only (code 13 without the
                # unique flag, 4 "administratively prohibited" with it)
                codes.append(ADMIN_PROHIBITED if "unique" in pkt.flags else NON_UNIQUE)
                continue
            if old is not None and old.unique and old.nbma != outer_src and old.expires > now:
                codes.append(UNIQUE_CONFLICT)
                continue
            ht = cie.holding_time or self.spec.holding_time
            if old and old.timer:
                old.timer.cancel()
            c = Client(proto, outer_src, pkt.src_nbma or outer_src, ht, "unique" in pkt.flags, now + ht,
                       router=self.host.directory.name_of(pkt.src_nbma, outer_src))
            c.timer = self.host.after(ht, self._expire_client, c)
            self.clients[proto] = c
            codes.append(0)
        reply = M.registration_reply(self.me, pkt, codes, outer_src if natted else None)
        ok = all(code == 0 for code in codes)
        what = "accepted" if ok else f"refused with CIE code {codes[0]} ({N.cie_code_name(codes[0])})"
        comment = (f"NHRP Registration Reply NHS {self.name} -> {pkt.src_proto} (id {pkt.request_id}): "
                   f"{what}")
        if natted:
            comment += f"; NAT extension tells the spoke it is seen at {outer_src}, not {pkt.src_nbma}"
        if not ok and codes[0] == UNIQUE_CONFLICT:
            held = self.clients[pkt.src_proto or ""]
            comment += f" because {pkt.src_proto} is registered unique to NBMA {held.nbma}"
        rwire = self.send_nhrp(outer_src, reply, comment)
        if ok:
            c = self.clients[pkt.src_proto or ""]
            c.last = [wire, rwire]
        self.ledger.registration_answered(pkt.src_proto or "", pkt.request_id or 0, rwire,
                                          codes[0] if codes else 0)
        if natted:
            who = self.host.directory.name_of(pkt.src_nbma, outer_src)
            if not self.ledger.nat_reported(pkt.src_proto):
                self.ledger.report_nat(pkt.src_proto or "")
                self.ledger.gather((who,), "nat-detected",
                                   f"{who} claims NBMA {pkt.src_nbma} but its packets reach NHS {self.name} "
                                   f"from {outer_src}: it is behind NAT (the NHS's NAT extension says so).",
                                   [wire, rwire], self.host.now)
        if not ok and codes[0] != UNIQUE_CONFLICT:
            self.ledger.finding(
                "registration-rejected",
                f"NHS {self.name} refuses the registration of {pkt.src_proto} from {outer_src} with CIE code "
                f"{codes[0]} ({N.cie_code_name(codes[0])}); check what the spoke registers (prefix length, "
                "unique flag) against what the NHS accepts.", [wire, rwire], self.host.now)
        if not ok and codes[0] == UNIQUE_CONFLICT:
            # One finding per conflict: the registration that holds the address, then
            # every refused request and its reply.
            held = self.clients[pkt.src_proto or ""]
            fault = (self.name, pkt.src_proto or "", held.nbma)
            first = [] if self.ledger.gathered(fault, "unique-address-conflict") else held.last[-1:]
            self.ledger.gather(
                fault, "unique-address-conflict",
                f"NHS {self.name} refuses {pkt.src_proto} from {outer_src} (CIE code 14): it is "
                f"registered unique to NBMA {held.nbma} until {self.rel(held.expires)}; the spoke's NBMA "
                "address changed (DHCP?) - wait for expiry, clear the entry, or use 'ip nhrp "
                "registration no-unique'.", [*first, wire, rwire], self.host.now)

    def _expire_client(self, c: Client) -> None:
        if self.clients.get(c.tunnel) is not c:
            return
        del self.clients[c.tunnel]
        self.ledger.note(self.host.now, f"{self.name}: the registration of {c.tunnel} ({c.nbma}) expires "
                         f"after {c.holding_time} s without a refresh", c.last)
        self.ledger.finding(
            "registration-expired",
            f"NHS {self.name} drops {c.router or c.tunnel}'s registration of {c.tunnel} -> {c.nbma} at "
            f"{self.rel()}: its {c.holding_time} s holding time ran out with no refresh; the spoke is down "
            "or cannot reach the hub.", c.last, self.host.now)

    def _on_purge_request(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        for cie in pkt.cies:
            c = self.clients.pop(cie.client_proto or pkt.src_proto or "", None)
            if c and c.timer:
                c.timer.cancel()
        if "no-reply" in pkt.flags:
            return
        w = self.send_nhrp(outer_src, M.purge_reply(self.me, pkt),
                           f"NHRP Purge Reply NHS {self.name} -> {pkt.src_proto} (id {pkt.request_id}): "
                           "entry removed")
        self.ledger.purge_answered(pkt.src_proto or "", pkt.request_id or 0, w)

    # -- resolution ----------------------------------------------------------------------

    def _requester_nbma(self, pkt: N.NhrpPacket) -> str:
        for ext in pkt.extensions:
            if ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
                for cie in ext.cies:
                    if cie.client_proto == pkt.src_proto and cie.client_nbma:
                        return cie.client_nbma
        return pkt.src_nbma or ""

    def _on_resolution_request(self, pkt: N.NhrpPacket, outer_src: str, raw: bytes, wire: Wire) -> None:
        target = pkt.dst_proto or ""
        mine, plen = self._owns(target)
        requester = self._requester_nbma(pkt)
        if pkt.src_nbma == requester and outer_src != requester and outer_src == self.host.directory.public_of_claimed(requester):
            requester = outer_src
        if mine:
            # Answer straight to the requester, and remember it: we will talk to it directly.
            if pkt.src_proto and pkt.src_proto not in self.cache:
                self.cache[pkt.src_proto] = CacheEntry(pkt.src_proto, requester,
                                                       self.host.now + (pkt.cies[0].holding_time if pkt.cies else
                                                                         self.spec.holding_time))
            reply = M.resolution_reply(self.me, pkt, prefix_len=plen, nat_nbma=self.nat_nbma)
            via = "" if outer_src == requester else " directly, not back through the hub"
            w = self.send_nhrp(requester, reply, f"NHRP Resolution Reply {self.name} -> {pkt.src_proto} "
                               f"(id {pkt.request_id}): {target}/{plen} is at NBMA {self.nbma}, answered{via}")
            # A spoke-to-spoke reply that crosses a NAT is more evidence of it (and what matters
            # for the shortcut): cite it with the NAT finding of the router behind it.
            natted = [(self.name, self.tunnel)] if self.spec.behind_nat else []
            peer = self.host.directory.at(requester)
            if peer is not None and peer.behind_nat:
                natted.append((peer.name, peer.tunnel))
            for name, tunnel in natted:
                if self.ledger.nat_reported(tunnel):
                    self.ledger.gather((name,), "nat-detected", "", [w], self.host.now)
            self.ledger.resolution_answered(pkt.src_proto or "", pkt.request_id or 0, w, self.name)
            return
        if not self.is_hub:
            return
        nxt = self._hub_next_hop(target)
        if nxt is not None:
            if pkt.hop_count <= 1:
                self._send_error(pkt, raw, outer_src, HOP_COUNT_EXCEEDED, wire)
                return
            client = self.clients[nxt]
            req_nat = None
            src_client = self.clients.get(pkt.src_proto or "")
            if src_client and src_client.nbma != src_client.claimed:
                req_nat = src_client.nbma
            fwd = M.forwarded(self.me, pkt, requester_nat=req_nat)
            w = self.send_nhrp(client.nbma, fwd, f"NHRP Resolution Request forwarded by NHS {self.name} to "
                               f"{nxt} ({client.nbma}), hop count {fwd.hop_count}, {self.name} added to the "
                               f"forward transit NHS record (id {pkt.request_id}, from {pkt.src_proto})")
            self.ledger.resolution_forwarded(pkt.src_proto or "", pkt.request_id or 0, w)
            return
        # No binding: a negative reply (RFC 2332 5.2.2, CIE code 12).
        reply = M.resolution_reply(self.me, pkt, code=NAK_CODE, prefix_len=32, negative_holding=60)
        w = self.send_nhrp(outer_src, reply, f"NHRP Resolution Reply (NAK) NHS {self.name} -> {pkt.src_proto} "
                           f"(id {pkt.request_id}): no binding for {target}, CIE code 12")
        self.ledger.resolution_answered(pkt.src_proto or "", pkt.request_id or 0, w, self.name)

    def _hub_next_hop(self, addr: str) -> str | None:
        """The tunnel address of the registered client that owns ``addr``."""
        if addr in self.clients:
            return addr
        a = ipaddress.IPv4Address(addr)
        for r in self.host.directory.peers():  # the routing protocol's knowledge, taken as given
            if r.lan is not None and a in r.lan and r.tunnel in self.clients:
                return r.tunnel
        return None

    # -- phase 3 -------------------------------------------------------------------------

    def _redirect(self, ip: P.Ip, inner: bytes, to_nbma: str) -> None:
        k = (ip.src, ip.dst)
        if self.redirected.get(k, -1e9) + REDIRECT_HOLDDOWN > self.host.now:
            return
        self.redirected[k] = self.host.now
        ti = M.traffic_indication(self.me, ip.src, inner)
        spoke = self.host.directory.name_of(None, to_nbma)
        w = self.send_nhrp(to_nbma, ti, f"NHRP Traffic Indication (redirect) NHS {self.name} -> {spoke}: "
                           f"'{ip.src} -> {ip.dst} entered and left my tunnel; resolve {ip.dst} and go direct' "
                           "(phase 3)")
        rec = {"hub_nbma": self.nbma, "spoke_nbma": to_nbma, "source": ip.src, "target": ip.dst,
               "_wires": [w]}
        self.ledger.redirect_sent(rec, w)
