"""A DMVPN router: an NHRP client (NHC) and/or server (NHS) on an mGRE tunnel.

Sans-I/O in spirit: a router reacts to ``receive(raw)`` and to its timers,
and sends through ``Network.transmit``; the ledger (``truth.Ledger``) gets a
record of each thing it does, citing the packets (``Wire``) it sent.

State machines (RFC 2332 sections; flavor differences in ``messages``):

NHC registration (5.2.3), one per NHS::

    idle --boot--> waiting --reply code 0--> registered --interval--> waiting
    waiting --timeout--> waiting (retry: cisco 1, 2, 4 .. 64 s with a new id;
                                   frr 1 (2 once registered), 4 .. 64, then 2,
                                   with the same id, nhrp_nhs.c)
    waiting --reply code != 0 / error indication--> waiting (the retry timer runs on)

NHS registrations (5.2.3/5.2.4)::

    request --unique and bound to another NBMA--> reply CIE code 14
    request --otherwise--> cache entry (expires after the holding time), reply code 0

Resolution (5.2.1/5.2.2)::

    spoke: unresolved destination (phase 2) or traffic indication (phase 3)
           --> request to its NHS; data meanwhile goes through the hub
    NHS:   target registered --> forward (hop count - 1, forward transit record)
           target is itself --> reply;   no binding --> NAK (CIE code 12)
    target: reply straight to the requester (and caches the requester)
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dissectors import nhrp as N
from dissectors.gre import PT_IPV4, PT_NHRP, decode_gre, encode_gre
from dissectors.transport import encode_icmp_echo
from nhrpscope.sim import messages as M
from nhrpscope.sim import packets as P
from nhrpscope.sim.clock import Timer
from nhrpscope.sim.net import Wire
from nhrpscope.sim.scenario import RouterSpec
from nhrpscope.sim.truth import RegistrationTxn, ResolutionTxn, ShortcutRec

if TYPE_CHECKING:  # pragma: no cover
    from nhrpscope.sim.run import Simulation

PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_GRE, PROTO_ESP = 1, 6, 17, 47, 50
NAK_CODE = 12  # RFC 2332 5.2.2: no interworking layer address to NBMA address binding exists
UNIQUE_CONFLICT = 14  # RFC 2332 5.2.4: unique internetworking layer address already registered
AUTH_FAILURE = 11  # RFC 2332 5.2.7 error code
ADMIN_PROHIBITED = 4  # RFC 2332 5.2.4 CIE codes
NON_UNIQUE = 13
HOP_COUNT_EXCEEDED = 15
REDIRECT_HOLDDOWN = 10.0  # seconds between traffic indications for one (source, destination)


@dataclass(eq=False)
class Registration:
    """The NHC side of one NHS."""

    nhs_tunnel: str
    nhs_nbma: str
    timeout: float = 1.0
    request_id: int | None = None
    txn: RegistrationTxn | None = None
    timer: Timer | None = None
    registered: bool = False
    ever_registered: bool = False
    unanswered: list[Wire] = field(default_factory=list)
    unanswered_since: float = 0.0


@dataclass(eq=False)
class Client:
    """The NHS side: one registered address."""

    tunnel: str
    nbma: str  # where packets for it go (the outer source: public when NATed)
    claimed: str  # the NBMA address it claimed in the request
    holding_time: int
    unique: bool
    expires: float
    timer: Timer | None = None
    last: list[Wire] = field(default_factory=list)
    router: str = ""


@dataclass(eq=False)
class CacheEntry:
    tunnel: str
    nbma: str
    expires: float
    prefix: str | None = None  # phase 3: the prefix the reply covered


def _gateway(nbma: str) -> str:
    net = ipaddress.IPv4Network(f"{nbma}/24", strict=False)
    gw = str(net.network_address + 1)
    return gw if gw != nbma else str(net.network_address + 254)


class Router:
    def __init__(self, spec: RouterSpec, sim: Simulation) -> None:
        self.spec = spec
        self.name = spec.name
        self.sim = sim
        self.clock = sim.clock
        self.net = sim.net
        self.ledger = sim.ledger
        self.rng = random.Random(f"{sim.seed}:{spec.name}")
        self.nbma = spec.nbma
        self.tunnel = spec.tunnel
        self.gateway = spec.gateway or _gateway(spec.nbma)
        self.subnet = ipaddress.IPv4Network(f"{spec.tunnel}/{spec.prefix_len}", strict=False)
        self.lan = ipaddress.IPv4Network(spec.lan) if spec.lan else None
        self.lan_addr = str(self.lan.network_address + 1) if self.lan else None
        self.up = False
        self.link_down = False
        self.key = spec.gre_key
        self.password = spec.password
        self.ip_id = self.rng.randrange(1, 0x4000)
        self.next_reqid = 1
        self.regs: dict[str, Registration] = {}
        self.clients: dict[str, Client] = {}
        self.cache: dict[str, CacheEntry] = {}
        self.routes: list[tuple[ipaddress.IPv4Network, str]] = []
        self.pending: dict[str, ResolutionTxn] = {}
        self.negative: dict[str, float] = {}
        self.nat_nbma: str | None = None
        self.pmtu: dict[str, int] = {}
        self.redirected: dict[tuple[str, str], float] = {}
        self.ping_id = self.rng.randrange(1, 0x100)
        self.ipsec = None  # set by the simulation when IPsec is on
        self.reasm = P.Reassembly()
        self.last_tx = 0.0
        self.me = self._identity()

    # -- identity -----------------------------------------------------------------

    def _identity(self) -> M.Identity:
        s = self.spec
        if s.mtu is not None:
            mtu = s.mtu
        elif s.flavor == "cisco":
            mtu = 17912 if s.gre_key is not None else 17916
        else:  # nhrp_interface.c: the NBMA MTU when below 1500, else 0
            mtu = s.link_mtu if s.link_mtu < 1500 else 0
        plen = s.cie_prefix_len if s.cie_prefix_len is not None else (32 if s.flavor == "cisco" else 255)
        nat = s.nat_extension if s.nat_extension is not None else True
        return M.Identity(s.flavor, self.nbma, self.tunnel, s.holding_time, mtu, plen, nat, self.password)

    @property
    def is_hub(self) -> bool:
        return self.spec.role == "hub"

    @property
    def redirect(self) -> bool:
        return self.spec.redirect if self.spec.redirect is not None else (self.is_hub and self.spec.phase == 3)

    @property
    def shortcut(self) -> bool:
        return self.spec.shortcut if self.spec.shortcut is not None else (self.spec.phase == 3)

    def rel(self, t: float | None = None) -> str:
        return f"+{(self.clock.now if t is None else t):.3f} s"

    # -- life -----------------------------------------------------------------

    def boot(self) -> None:
        self.up = True
        self.me = self._identity()
        self.ledger.note(self.clock.now, f"{self.name} boots ({self.spec.role}, {self.spec.flavor}, "
                         f"NBMA {self.nbma}, tunnel {self.tunnel})")
        for i, nhs in enumerate(self.spec.nhs):
            reg = Registration(nhs, self.spec.nhs_nbma[nhs])
            self.regs[nhs] = reg
            # IOS registers as soon as the tunnel is up; nhrpd resolves the NHS after
            # 1 s and registers 50 ms later (nhrp_nhs.c).
            delay = (0.05 + 0.01 * i) if self.spec.flavor == "cisco" else 1.05 + 0.01 * i
            reg.timer = self.clock.after(delay, self._reg_send, reg, "the first registration after boot")

    def shutdown(self, purge: bool) -> None:
        if not self.up:
            return
        if purge:
            for reg in self.regs.values():
                if reg.registered:
                    self._send_purge(reg)
            self.clock.after(0.5, self._power_off)
        else:
            self._power_off()

    def _power_off(self) -> None:
        self.up = False
        for reg in self.regs.values():
            if reg.timer:
                reg.timer.cancel()
            self._close_unanswered(reg)
        for c in self.clients.values():
            if c.timer:
                c.timer.cancel()
        self.regs.clear()
        self.clients.clear()
        self.cache.clear()
        self.routes.clear()
        self.pending.clear()
        self.negative.clear()
        self.nat_nbma = None
        if self.ipsec:
            self.ipsec.reset()
        self.ledger.note(self.clock.now, f"{self.name} goes down")

    # -- sending --------------------------------------------------------------

    def next_ip_id(self) -> int:
        self.ip_id = (self.ip_id + 1) & 0xFFFF or 1
        return self.ip_id

    def _reqid(self) -> int:
        rid = self.next_reqid
        self.next_reqid = (self.next_reqid + 1) & 0xFFFFFFFF or 1
        return rid

    def send_gre(self, dst: str, gre: bytes, wire: Wire, *, tos: int = 0, df: bool = False) -> None:
        if not self.up:
            return
        if self.ipsec is not None:
            self.ipsec.send(dst, gre, wire, tos=tos, df=df)
            return
        raw = P.ipv4(self.nbma, dst, PROTO_GRE, gre, ident=self.next_ip_id(), tos=tos, df=df)
        self.emit(raw, wire)

    def emit(self, raw: bytes, wire: Wire) -> None:
        """Put a packet on the wire after a little processing time (in order)."""
        t = max(self.clock.now + self.rng.uniform(0.0002, 0.0012), self.last_tx + 0.00002)
        self.last_tx = t
        self.clock.at(t, self.net.transmit, self, raw, wire)

    def send_nhrp(self, dst_nbma: str, pkt: N.NhrpPacket, comment: str) -> Wire:
        raw = N.encode_nhrp(pkt)
        wire = Wire("nhrp", comment, self.name, meta={"type": pkt.type, "request_id": pkt.request_id})
        gre = encode_gre(PT_NHRP, raw, key=self.key)
        self.send_gre(dst_nbma, gre, wire, tos=0xC0 if self.spec.flavor == "cisco" else 0)
        return wire

    # -- NHC: registration ------------------------------------------------------

    def _interval(self) -> float:
        return self.spec.registration_interval or self.spec.holding_time / 3

    def _reg_send(self, reg: Registration, why: str) -> None:
        if not self.up:
            return
        keep = self.spec.flavor == "frr" and reg.request_id is not None
        if not keep:
            reg.request_id = self._reqid()
            nhs_router = self.sim.router_by_tunnel(reg.nhs_tunnel)
            reg.txn = RegistrationTxn(self.name, self.nbma, self.tunnel,
                                      nhs_router.name if nhs_router else reg.nhs_tunnel, reg.nhs_nbma,
                                      reg.nhs_tunnel, reg.request_id, self.spec.holding_time)
            self.ledger.registrations.append(reg.txn)
            self.sim.reg_txns[(self.tunnel, reg.request_id)] = reg.txn
        assert reg.txn is not None and reg.request_id is not None
        pkt = M.registration_request(self.me, reg.nhs_tunnel, reg.nhs_nbma, reg.request_id)
        comment = (f"NHRP Registration Request {self.name} -> NHS {reg.nhs_tunnel} (id {reg.request_id}): "
                   f"{self.name} registers {self.tunnel} at NBMA {self.nbma}, holding time "
                   f"{self.spec.holding_time} s; {why}")
        wire = self.send_nhrp(reg.nhs_nbma, pkt, comment)
        reg.txn.requests.append(wire)
        reg.timer = self.clock.after(reg.timeout, self._reg_timeout, reg, wire)

    def _reg_timeout(self, reg: Registration, last: Wire) -> None:
        if not self.up:
            return
        waited = reg.timeout
        # answered, with a code != 0 (a code-0 reply that timed out here was lost on the way)
        refused = reg.txn is not None and reg.txn.reply is not None and (reg.txn.code or 0) != 0
        if not refused:
            if not reg.unanswered:
                reg.unanswered_since = self.clock.now - waited
            reg.unanswered.append(last)
        if reg.registered:
            reg.registered = False
            self.ledger.note(self.clock.now, f"{self.name}: NHS {reg.nhs_tunnel} does not answer; "
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
        reg.timer = self.clock.after(delay, self._reg_send, reg,
                                     f"retry: no reply in {waited:g} s; {kept}, next wait {reg.timeout:g} s")

    def _close_unanswered(self, reg: Registration) -> None:
        if not reg.unanswered:
            return
        ws = reg.unanswered
        reg.unanswered = []
        nhs = self.sim.router_by_tunnel(reg.nhs_tunnel)
        who = f"{nhs.name} " if nhs else ""
        self.ledger.finding(
            "registration-unanswered",
            f"{self.name} ({self.nbma}) got no reply to {len(ws)} registration request(s) sent to NHS "
            f"{who}({reg.nhs_tunnel}, NBMA {reg.nhs_nbma}) from {self.rel(reg.unanswered_since)}; check that the "
            "NHS is up and reachable, and that GRE key, NHRP authentication and IPsec match.",
            ws, reg.unanswered_since)

    def _on_registration_reply(self, pkt: N.NhrpPacket, wire: Wire) -> None:
        reg = next((r for r in self.regs.values() if r.request_id == pkt.request_id), None)
        txn = self.sim.reg_txns.get((self.tunnel, pkt.request_id or 0))
        if txn is not None:
            txn.reply = wire
            txn.code = pkt.cies[0].code if pkt.cies else 0
        if reg is None:
            return
        code = pkt.cies[0].code if pkt.cies else 0
        if code != 0:
            self.ledger.note(self.clock.now, f"{self.name}: registration with {reg.nhs_tunnel} refused, "
                             f"CIE code {code} ({N.cie_code_name(code)}); the retry timer runs on", [wire])
            return
        if reg.timer:
            reg.timer.cancel()
        self._close_unanswered(reg)
        reg.registered = True
        reg.ever_registered = True
        reg.request_id = None  # the reply frees the id (reqid.c); the next one is new
        reg.timeout = 2.0 if self.spec.flavor == "frr" else 1.0
        for ext in pkt.extensions:
            if ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
                if len(ext.cies) >= 2 and ext.cies[1].client_nbma:
                    if self.nat_nbma != ext.cies[1].client_nbma:
                        self.ledger.note(self.clock.now, f"{self.name} learns from the NAT extension that "
                                         f"the NHS sees it as {ext.cies[1].client_nbma}", [wire])
                    self.nat_nbma = ext.cies[1].client_nbma
        self.cache[reg.nhs_tunnel] = CacheEntry(reg.nhs_tunnel, reg.nhs_nbma, float("inf"))
        interval = self._interval()
        reg.timer = self.clock.after(interval, self._reg_send, reg,
                                     f"periodic refresh every {interval:g} s (holding time "
                                     f"{self.spec.holding_time} s / 3)")

    def _send_purge(self, reg: Registration) -> None:
        rid = self._reqid()
        pkt = M.purge_request(self.me, reg.nhs_tunnel, rid)
        w = self.send_nhrp(reg.nhs_nbma, pkt, f"NHRP Purge Request {self.name} -> NHS {reg.nhs_tunnel} "
                           f"(id {rid}): {self.name} shuts its tunnel down and withdraws {self.tunnel}")
        rec = {"requester_nbma": self.nbma, "tunnel": self.tunnel, "nhs_nbma": reg.nhs_nbma,
               "request_id": rid, "_wires": [w]}
        self.ledger.purges.append(rec)
        self.sim.purge_recs[(self.tunnel, rid)] = rec

    # -- NHS: registrations -----------------------------------------------------

    def _on_registration_request(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        txn = self.sim.reg_txns.get((pkt.src_proto or "", pkt.request_id or 0))
        natted = outer_src != pkt.src_nbma
        codes = []
        for cie in pkt.cies:
            proto = cie.client_proto or pkt.src_proto or ""
            old = self.clients.get(proto)
            now = self.clock.now
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
                       router=self.sim.name_of(pkt.src_nbma, outer_src))
            c.timer = self.clock.after(ht, self._expire_client, c)
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
        if txn is not None:
            txn.reply = rwire
            txn.code = codes[0] if codes else 0
        if natted:
            who = self.sim.name_of(pkt.src_nbma, outer_src)
            if pkt.src_proto not in self.sim.nat_reported:
                self.sim.nat_reported.add(pkt.src_proto or "")
                self.ledger.gather((who,), "nat-detected",
                                   f"{who} claims NBMA {pkt.src_nbma} but its packets reach NHS {self.name} "
                                   f"from {outer_src}: it is behind NAT (the NHS's NAT extension says so).",
                                   [wire, rwire], self.clock.now)
        if not ok and codes[0] != UNIQUE_CONFLICT:
            self.ledger.finding(
                "registration-rejected",
                f"NHS {self.name} refuses the registration of {pkt.src_proto} from {outer_src} with CIE code "
                f"{codes[0]} ({N.cie_code_name(codes[0])}); check what the spoke registers (prefix length, "
                "unique flag) against what the NHS accepts.", [wire, rwire], self.clock.now)
        if not ok and codes[0] == UNIQUE_CONFLICT:
            # One finding per conflict: the registration that holds the address, then
            # every refused request and its reply.
            held = self.clients[pkt.src_proto or ""]
            key = (self.name, pkt.src_proto or "", held.nbma)
            f = self.sim.conflicts.get(key)
            if f is None:
                f = self.sim.conflicts[key] = self.ledger.finding(
                    "unique-address-conflict",
                    f"NHS {self.name} refuses {pkt.src_proto} from {outer_src} (CIE code 14): it is "
                    f"registered unique to NBMA {held.nbma} until {self.rel(held.expires)}; the spoke's NBMA "
                    "address changed (DHCP?) - wait for expiry, clear the entry, or use 'ip nhrp "
                    "registration no-unique'.", held.last[-1:], self.clock.now)
            f.wires += [wire, rwire]

    def _expire_client(self, c: Client) -> None:
        if self.clients.get(c.tunnel) is not c:
            return
        del self.clients[c.tunnel]
        self.ledger.note(self.clock.now, f"{self.name}: the registration of {c.tunnel} ({c.nbma}) expires "
                         f"after {c.holding_time} s without a refresh", c.last)
        self.ledger.finding(
            "registration-expired",
            f"NHS {self.name} drops {c.router or c.tunnel}'s registration of {c.tunnel} -> {c.nbma} at "
            f"{self.rel()}: its {c.holding_time} s holding time ran out with no refresh; the spoke is down "
            "or cannot reach the hub.", c.last, self.clock.now)

    def _on_purge_request(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        for cie in pkt.cies:
            c = self.clients.pop(cie.client_proto or pkt.src_proto or "", None)
            if c and c.timer:
                c.timer.cancel()
        rec = self.sim.purge_recs.get((pkt.src_proto or "", pkt.request_id or 0))
        if "no-reply" in pkt.flags:
            return
        w = self.send_nhrp(outer_src, M.purge_reply(self.me, pkt),
                           f"NHRP Purge Reply NHS {self.name} -> {pkt.src_proto} (id {pkt.request_id}): "
                           "entry removed")
        if rec is not None:
            rec["_wires"].append(w)

    # -- resolution -------------------------------------------------------------

    def primary_nhs(self) -> Registration | None:
        for reg in self.regs.values():
            if reg.registered:
                return reg
        return next(iter(self.regs.values()), None)

    def resolve(self, target: str, why: str, trigger: list[Wire] | None = None) -> None:
        if target in self.pending or target in self.cache:
            return
        if self.negative.get(target, -1.0) > self.clock.now:
            return
        nhs = self.primary_nhs()
        if nhs is None:
            return
        rid = self._reqid()
        txn = ResolutionTxn(self.name, self.nbma, self.tunnel, target, rid, trigger=why)
        self.pending[target] = txn
        self.ledger.resolutions.append(txn)
        self.sim.res_txns[(self.tunnel, rid)] = txn
        pkt = M.resolution_request(self.me, target, rid, self.nat_nbma)
        txn.request = self.send_nhrp(
            nhs.nhs_nbma, pkt, f"NHRP Resolution Request {self.name} -> NHS {nhs.nhs_tunnel} (id {rid}): "
            f"who has {target}? {why}")
        self.clock.after(30.0, self._resolution_timeout, target, txn)

    def _resolution_timeout(self, target: str, txn: ResolutionTxn) -> None:
        if self.pending.get(target) is txn:
            del self.pending[target]
            if txn.reply is None:
                self.ledger.finding(
                    "resolution-unanswered",
                    f"{self.name} ({self.nbma}) got no reply to its resolution request for {target}; the "
                    "target spoke or the hub in between did not answer.", [txn.request, *txn.forwards],
                    self.clock.now)

    def _requester_nbma(self, pkt: N.NhrpPacket) -> str:
        for ext in pkt.extensions:
            if ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
                for cie in ext.cies:
                    if cie.client_proto == pkt.src_proto and cie.client_nbma:
                        return cie.client_nbma
        return pkt.src_nbma or ""

    def _owns(self, addr: str) -> tuple[bool, int]:
        if addr == self.tunnel:
            return True, 32
        if self.lan is not None and ipaddress.IPv4Address(addr) in self.lan:
            return True, self.lan.prefixlen
        return False, 0

    def _on_resolution_request(self, pkt: N.NhrpPacket, outer_src: str, raw: bytes, wire: Wire) -> None:
        target = pkt.dst_proto or ""
        txn = self.sim.res_txns.get((pkt.src_proto or "", pkt.request_id or 0))
        mine, plen = self._owns(target)
        requester = self._requester_nbma(pkt)
        if pkt.src_nbma == requester and outer_src != requester and outer_src == self.sim.public_of_claimed(requester):
            requester = outer_src
        if mine:
            # Answer straight to the requester, and remember it: we will talk to it directly.
            if pkt.src_proto and pkt.src_proto not in self.cache:
                self.cache[pkt.src_proto] = CacheEntry(pkt.src_proto, requester,
                                                       self.clock.now + (pkt.cies[0].holding_time if pkt.cies else
                                                                         self.spec.holding_time))
            reply = M.resolution_reply(self.me, pkt, prefix_len=plen, nat_nbma=self.nat_nbma)
            via = "" if outer_src == requester else " directly, not back through the hub"
            w = self.send_nhrp(requester, reply, f"NHRP Resolution Reply {self.name} -> {pkt.src_proto} "
                               f"(id {pkt.request_id}): {target}/{plen} is at NBMA {self.nbma}, answered{via}")
            # A spoke-to-spoke reply that crosses a NAT is more evidence of it (and what matters
            # for the shortcut): cite it with the NAT finding of the router behind it.
            for r in (self, self.sim.router_at(requester)):
                if r is not None and r.spec.behind_nat and r.tunnel in self.sim.nat_reported:
                    self.ledger.gather((r.name,), "nat-detected", "", [w], self.clock.now)
            if txn is not None:
                txn.reply = w
                txn.responder = self.name
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
            if txn is not None:
                txn.forwards.append(w)
            return
        # No binding: a negative reply (RFC 2332 5.2.2, CIE code 12).
        reply = M.resolution_reply(self.me, pkt, code=NAK_CODE, prefix_len=32, negative_holding=60)
        w = self.send_nhrp(outer_src, reply, f"NHRP Resolution Reply (NAK) NHS {self.name} -> {pkt.src_proto} "
                           f"(id {pkt.request_id}): no binding for {target}, CIE code 12")
        if txn is not None:
            txn.reply = w
            txn.responder = self.name

    def _hub_next_hop(self, addr: str) -> str | None:
        """The tunnel address of the registered client that owns ``addr``."""
        if addr in self.clients:
            return addr
        a = ipaddress.IPv4Address(addr)
        for r in self.sim.routers.values():  # the routing protocol's knowledge, taken as given
            if r.lan is not None and a in r.lan and r.tunnel in self.clients:
                return r.tunnel
        return None

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
            self.negative[target] = self.clock.now + min(ht, 60)
            self.ledger.finding(
                "resolution-nak",
                f"{self.name} ({self.nbma}) asked for {target} and NHS answered with a negative reply "
                f"(CIE code {code}, {N.cie_code_name(code)}): no spoke has registered {target}; check the "
                "address, or that the spoke owning it is up and registered.",
                [txn.request, *txn.forwards, wire], self.clock.now)
            return
        proto = cie.client_proto or target
        nbma = cie.client_nbma or pkt.src_nbma or outer_src
        for ext in pkt.extensions:
            if ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
                for c in ext.cies:
                    if c.client_proto == proto and c.client_nbma:
                        nbma = c.client_nbma
        if nbma != outer_src and self.sim.router_by_tunnel(proto) is not None and outer_src not in (
                r.nhs_nbma for r in self.regs.values()):
            nbma = outer_src  # FRR: the sender is NATed and said nothing (nhrp_shortcut.c)
        txn.resolved_nbma = nbma
        txn.resolved_tunnel = proto
        txn.prefix_len = cie.prefix_len
        txn.responder = self.sim.name_of(cie.client_nbma, nbma)
        self.cache[proto] = CacheEntry(proto, nbma, self.clock.now + (cie.holding_time or self.spec.holding_time))
        if cie.prefix_len < 32 and target != proto:
            net = ipaddress.IPv4Network(f"{target}/{cie.prefix_len}", strict=False)
            self.routes.append((net, proto))
        other = self.sim.router_by_tunnel(proto)
        if other is not None:
            key = frozenset((self.name, other.name))
            if key not in self.ledger.shortcuts:
                self.ledger.shortcuts[key] = ShortcutRec(self.name, other.name, self.nbma, nbma, wire,
                                                         phase=self.spec.phase)
        self.ledger.note(self.clock.now, f"{self.name} installs {target}"
                         f"{'/' + str(cie.prefix_len) if cie.prefix_len < 32 else ''} via {proto} at NBMA "
                         f"{nbma}: traffic now goes spoke to spoke", [wire])

    def _on_traffic_indication(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        raw = pkt.offending_raw
        if len(raw) < 20:
            return
        dst = P.parse_ipv4(raw[:20] + b"\0" * 0).dst if raw[0] >> 4 == 4 else ""
        rec = self.sim.redirect_recs.get(id(wire))
        if not self.shortcut:
            self.ledger.finding(
                "redirect-ignored",
                f"{self.name} ({self.nbma}) got a traffic indication from {outer_src} for {dst} but does not "
                "act on it ('ip nhrp shortcut' / 'nhrp shortcut' missing): traffic keeps going through the hub.",
                [wire], self.clock.now)
            return
        if rec is not None:
            rec["acted"] = True
        self.resolve(dst, f"the hub's traffic indication says {dst} is reachable directly", [wire])

    def _on_error_indication(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        self.ledger.note(self.clock.now, f"{self.name} receives an error indication from {outer_src}: code "
                         f"{pkt.error_code} ({pkt.error_name})", [wire])

    def _send_error(self, pkt: N.NhrpPacket, raw: bytes, outer_src: str, code: int, bad: Wire) -> None:
        err = M.error_indication(self.me, raw, pkt, code)
        w = self.send_nhrp(outer_src, err, f"NHRP Error Indication {self.name} -> {pkt.src_proto}: code {code} "
                           f"({N.error_name(code)}), carrying the {pkt.type} (id {pkt.request_id}) in error")
        self.ledger.errors.append({"from_nbma": self.nbma, "to_nbma": outer_src, "code": code,
                                   "name": N.error_name(code), "offending_type": pkt.type,
                                   "_wires": [w]})
        who = self.sim.name_of(pkt.src_nbma, outer_src)
        key = (self.nbma, outer_src)
        if code == AUTH_FAILURE:
            self.ledger.gather(
                key, "authentication-failure",
                f"{self.name} ({self.nbma}) rejects NHRP from {who} ({outer_src}): the authentication "
                "password differs (error indication code 11); set the same 'ip nhrp authentication' on both.",
                [bad, w], self.clock.now)
        if code == HOP_COUNT_EXCEEDED:
            self.ledger.gather(
                key, "hop-count-exceeded",
                f"{self.name} could not forward {who}'s {pkt.type}: its hop count ran out (error code 15); "
                "look for an NHS forwarding loop.", [bad, w], self.clock.now)
        self.ledger.gather(
            (*key, code), "error-indication",
            f"{self.name} ({self.nbma}) sent {who} ({outer_src}) an NHRP error indication, code {code} "
            f"({N.error_name(code)}).", [w], self.clock.now)

    # -- receiving ----------------------------------------------------------------

    def receive(self, raw: bytes, wire: Wire) -> None:
        whole = self.reasm.add(raw)
        if whole is None:
            return
        ip = P.parse_ipv4(whole)
        if ip.proto == PROTO_GRE:
            if self.ipsec is not None and self.ipsec.required(ip.src):
                self.sim.drop(f"{self.name} drops clear GRE from {ip.src}: IPsec is required", wire)
                return
            self.on_gre(ip.src, ip.payload, wire)
        elif ip.proto in (PROTO_ESP, PROTO_UDP):
            if self.ipsec is not None:
                self.ipsec.receive(ip, wire)
        elif ip.proto == PROTO_ICMP:
            self._on_icmp(ip, wire)

    def on_gre(self, outer_src: str, gre: bytes, wire: Wire) -> None:
        d = decode_gre(gre)
        rec = d.record
        if rec is None:
            return
        if rec.key != self.key:
            self.sim.key_mismatch(self, outer_src, rec.key, wire)
            return
        if rec.protocol_type == PT_NHRP:
            self._on_nhrp(outer_src, d.payload, wire)
        elif rec.protocol_type == PT_IPV4:
            self.route(d.payload, arrived_from=outer_src, wire_in=wire)

    def _on_nhrp(self, outer_src: str, raw: bytes, wire: Wire) -> None:
        pkt = N.decode_nhrp(raw).record
        if pkt is None or not pkt.checksum_ok:
            return
        if self.password is not None and pkt.type_code != N.ERROR_INDICATION:
            auth = next((e for e in pkt.extensions if isinstance(e, N.AuthenticationExtension)), None)
            if auth is None or auth.data.rstrip(b"\0") != self.password.encode():
                # IOS answers with an error indication, code 11 (and logs
                # %NHRP-3-PAKERROR at the sender); the packet is dropped.
                if pkt.type_code in (N.REGISTRATION_REQUEST, N.RESOLUTION_REQUEST, N.PURGE_REQUEST):
                    self._send_error(pkt, raw, outer_src, AUTH_FAILURE, wire)
                return
        t = pkt.type_code
        if t == N.REGISTRATION_REQUEST and self.is_hub:
            self._on_registration_request(pkt, outer_src, wire)
        elif t == N.REGISTRATION_REPLY:
            self._on_registration_reply(pkt, wire)
        elif t == N.RESOLUTION_REQUEST:
            self._on_resolution_request(pkt, outer_src, raw, wire)
        elif t == N.RESOLUTION_REPLY:
            self._on_resolution_reply(pkt, outer_src, wire)
        elif t == N.PURGE_REQUEST and self.is_hub:
            self._on_purge_request(pkt, outer_src, wire)
        elif t == N.TRAFFIC_INDICATION:
            self._on_traffic_indication(pkt, outer_src, wire)
        elif t == N.ERROR_INDICATION:
            self._on_error_indication(pkt, outer_src, wire)

    def _on_icmp(self, ip: P.Ip, wire: Wire) -> None:
        b = ip.payload
        if len(b) >= 8 + 20 and b[0] == 3 and b[1] == 4:
            mtu = struct.unpack_from("!H", b, 6)[0]
            quoted = P.parse_ipv4(b[8:28] + b"\0" * 0)
            if self.spec.tunnel_pmtud:
                self.pmtu[quoted.dst] = mtu
                self.ledger.note(self.clock.now, f"{self.name} learns the path MTU to {quoted.dst} is {mtu}: "
                                 f"the tunnel's MTU toward it drops to {mtu - self.overhead()}", [wire])

    # -- the data plane -------------------------------------------------------------

    def overhead(self) -> int:
        return 20 + 4 + (4 if self.key is not None else 0) + (self.ipsec.overhead() if self.ipsec else 0)

    def is_local(self, addr: str) -> bool:
        return self._owns(addr)[0]

    def _next_hop(self, dst: str) -> tuple[str | None, str]:
        """(NBMA address, how) for a packet to ``dst`` leaving through the tunnel."""
        if self.is_hub:
            nxt = self._hub_next_hop(dst)
            if nxt is None:
                return None, "no-route"
            return self.clients[nxt].nbma, "client"
        a = ipaddress.IPv4Address(dst)
        for net, via in self.routes:
            if a in net and via in self.cache:
                return self.cache[via].nbma, "shortcut"
        e = self.cache.get(dst)
        if e is not None:
            return e.nbma, "cache"
        nhs = self.primary_nhs()
        if nhs is None:
            return None, "no-route"
        return nhs.nhs_nbma, "nhs"

    def route(self, inner: bytes, *, arrived_from: str | None = None, wire_in: Wire | None = None,
              comment: str = "") -> None:
        if not self.up:
            return
        ip = P.parse_ipv4(inner)
        if self.is_local(ip.dst):
            self._local(ip, inner)
            return
        if arrived_from is not None:
            if ip.ttl <= 1:
                return
            inner = P.rewrite(inner, ttl=ip.ttl - 1)
        nbma, how = self._next_hop(ip.dst)
        what = describe(ip)
        if nbma is None:
            self.sim.drop(f"{self.name} has no route for {what}", wire_in)
            return
        resolve_after = how == "nhs" and self.spec.phase == 2 and ipaddress.IPv4Address(ip.dst) in self.subnet
        key = (self.sim.name_of(None, arrived_from) if arrived_from else self.name,
               self.sim.name_of(None, nbma))
        if how == "client" and arrived_from is not None:
            text = (f"{what}: NHS {self.name} relays it from {key[0]} to {key[1]} ({nbma}), "
                    "the hub-and-spoke path")
            if self.redirect:
                self._redirect(ip, inner, arrived_from)
        elif how == "nhs":
            text = f"{what}: {self.name} sends it to its NHS ({nbma}): no direct mapping yet"
        elif how in ("cache", "shortcut") and not self.is_hub and nbma not in self.nhs_nbmas():
            text = f"{what}: {self.name} sends it straight to {key[1]} ({nbma}) over the dynamic spoke-spoke tunnel"
        else:
            text = f"{what}: {self.name} -> {key[1]} ({nbma})"
        if comment:
            text += f"; {comment}"
        wire = Wire("data", text, self.name, meta={"from": self.name, "to_nbma": nbma, "how": how})
        self.sim.track_data(self, nbma, how, wire, arrived_from)
        df = bool(ip.df and self.spec.tunnel_pmtud)
        pm = self.pmtu.get(nbma)
        if pm is not None and ip.df and len(inner) + self.overhead() > pm:
            self.ledger.note(self.clock.now, f"{self.name} cannot send {what} ({len(inner)} bytes, DF): the "
                             f"tunnel MTU toward {nbma} is {pm - self.overhead()} (ping shows 'M')")
            return
        gre = encode_gre(PT_IPV4, inner, key=self.key)
        self.send_gre(nbma, gre, wire, tos=ip.tos, df=df)
        if resolve_after:
            self.resolve(ip.dst, f"{self.name} has data for {ip.dst} and no NHRP mapping (phase 2)")

    def nhs_nbmas(self) -> set[str]:
        return {r.nhs_nbma for r in self.regs.values()}

    def _redirect(self, ip: P.Ip, inner: bytes, to_nbma: str) -> None:
        k = (ip.src, ip.dst)
        if self.redirected.get(k, -1e9) + REDIRECT_HOLDDOWN > self.clock.now:
            return
        self.redirected[k] = self.clock.now
        ti = M.traffic_indication(self.me, ip.src, inner)
        spoke = self.sim.name_of(None, to_nbma)
        w = self.send_nhrp(to_nbma, ti, f"NHRP Traffic Indication (redirect) NHS {self.name} -> {spoke}: "
                           f"'{ip.src} -> {ip.dst} entered and left my tunnel; resolve {ip.dst} and go direct' "
                           "(phase 3)")
        rec = {"hub_nbma": self.nbma, "spoke_nbma": to_nbma, "source": ip.src, "target": ip.dst,
               "_wires": [w]}
        self.ledger.redirects.append(rec)
        self.sim.redirect_recs[id(w)] = rec

    def _local(self, ip: P.Ip, inner: bytes) -> None:
        b = ip.payload
        if ip.proto == PROTO_ICMP and len(b) >= 8 and b[0] == 8:
            ident, seq = struct.unpack_from("!HH", b, 4)
            reply = encode_icmp_echo(ident, seq, b[8:], reply=True)
            out = P.ipv4(ip.dst, ip.src, PROTO_ICMP, reply, ident=self.next_ip_id(), ttl=255, tos=ip.tos)
            self.route(out, comment=f"{self.name} answers the ping")
        elif ip.proto == PROTO_TCP and len(b) >= 20:
            self.sim.tcp_receive(self, ip)

    # -- traffic sources -----------------------------------------------------------

    def source_for(self, dst: str) -> str:
        a = ipaddress.IPv4Address(dst)
        if self.lan_addr and a not in self.subnet:
            return self.lan_addr
        return self.tunnel

    def ping(self, dst: str, count: int, size: int, interval: float, df: bool) -> None:
        self.ping_id = (self.ping_id + 1) & 0xFFFF
        ident = self.ping_id
        for i in range(count):
            self.clock.after(i * interval, self._ping_one, dst, ident, i, count, size, df)

    def _ping_one(self, dst: str, ident: int, seq: int, count: int, size: int, df: bool) -> None:
        if not self.up:
            return
        icmp = encode_icmp_echo(ident, seq, P.icmp_echo_data(size))
        inner = P.ipv4(self.source_for(dst), dst, PROTO_ICMP, icmp, ident=self.next_ip_id(), ttl=255, df=df)
        self.route(inner, comment=f"ping {seq + 1} of {count}, {size} bytes{', DF set' if df else ''}")

    def udp(self, dst: str, count: int, size: int, interval: float, sport: int, dport: int) -> None:
        for i in range(count):
            self.clock.after(i * interval, self._udp_one, dst, i, size, sport, dport)

    def _udp_one(self, dst: str, i: int, size: int, sport: int, dport: int) -> None:
        if not self.up:
            return
        from nhrpscope.sim.net import udp as udp_pkt

        src = self.source_for(dst)
        body = udp_pkt(src, dst, sport, dport, bytes((i + j) & 0xFF for j in range(max(size - 28, 0))))
        inner = P.ipv4(src, dst, PROTO_UDP, body, ident=self.next_ip_id(), ttl=64)
        self.route(inner, comment=f"UDP flow packet {i + 1}")


def describe(ip: P.Ip) -> str:
    b = ip.payload
    if ip.proto == PROTO_ICMP and len(b) >= 8:
        kind = {8: "ICMP echo request", 0: "ICMP echo reply"}.get(b[0], f"ICMP type {b[0]}")
        seq = struct.unpack_from("!H", b, 6)[0] if b[0] in (0, 8) else None
        return f"{kind} {ip.src} -> {ip.dst}" + (f" seq {seq}" if seq is not None else "")
    if ip.proto == PROTO_UDP and len(b) >= 8:
        sp, dp = struct.unpack_from("!HH", b)
        return f"UDP {ip.src}:{sp} -> {ip.dst}:{dp}"
    if ip.proto == PROTO_TCP and len(b) >= 20:
        sp, dp, seq = struct.unpack_from("!HHI", b)
        return f"TCP {ip.src}:{sp} -> {ip.dst}:{dp} seq {seq}"
    return f"IP proto {ip.proto} {ip.src} -> {ip.dst}"
