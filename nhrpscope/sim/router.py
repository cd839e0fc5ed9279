"""A DMVPN router: an NHRP client (NHC) and/or server (NHS) on an mGRE tunnel.

Built in layers, one job each (``node`` -> ``nhc`` -> ``nhs`` -> here): this
last one is the router's life (boot, shutdown), its packet input, and the
data plane that forwards through the tunnel.

Sans-I/O in spirit: a router reacts to ``receive(raw)`` and to its timers,
and reaches the world only through its host (``host.Host``: the clock,
``transmit``, the truth ledger and a read-only directory of the other
routers). The ledger gets a record of each thing it does, citing the packets
(``Wire``) it sent. The state machines are described where they live: the
NHC's in ``nhc``, the NHS's in ``nhs``.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from nhrpscope.dissectors import nhrp as N
from nhrpscope.dissectors.gre import PT_IPV4, PT_NHRP, decode_gre, encode_gre
from nhrpscope.dissectors.transport import encode_icmp_echo
from nhrpscope.sim import packets as P
from nhrpscope.sim.flows import ACK, PSH, acknowledge
from nhrpscope.sim.nhs import NhsRouter
from nhrpscope.sim.node import (
    AUTH_FAILURE,
    PROTO_ESP,
    PROTO_GRE,
    PROTO_ICMP,
    PROTO_TCP,
    PROTO_UDP,
    Registration,
    _gateway,
)
from nhrpscope.sim.wire import Wire


class Router(NhsRouter):
    # -- life ----------------------------------------------------------------------------

    def boot(self) -> None:
        self.up = True
        self.me = self._identity()
        self.ledger.note(self.host.now, f"{self.name} boots ({self.spec.role}, {self.spec.flavor}, "
                         f"NBMA {self.nbma}, tunnel {self.tunnel})")
        for i, nhs in enumerate(self.spec.nhs):
            reg = Registration(nhs, self.spec.nhs_nbma[nhs])
            self.regs[nhs] = reg
            # IOS registers as soon as the tunnel is up; nhrpd resolves the NHS after
            # 1 s and registers 50 ms later (nhrp_nhs.c).
            delay = (0.05 + 0.01 * i) if self.spec.flavor == "cisco" else 1.05 + 0.01 * i
            reg.timer = self.host.after(delay, self._reg_send, reg, "the first registration after boot")

    def shutdown(self, purge: bool) -> None:
        if not self.up:
            return
        if purge:
            for reg in self.regs.values():
                if reg.registered:
                    self._send_purge(reg)
            self.host.after(0.5, self._power_off)
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
        self.ledger.note(self.host.now, f"{self.name} goes down")

    def reconfigure(self, changes: dict[str, Any]) -> None:
        """A ``set`` event: a new password, GRE key or NBMA address (the
        simulation re-indexes the addresses, then ``reregister`` follows)."""
        if "password" in changes:
            self.password = changes["password"] or None
            self.spec.password = self.password
        if "gre_key" in changes:
            self.key = changes["gre_key"]
            self.spec.gre_key = self.key
        if "nbma" in changes:
            self.nbma = self.spec.nbma = changes["nbma"]
            self.gateway = self.spec.gateway or _gateway(self.nbma)
        self.me = self._identity()

    def reregister(self) -> None:
        """A configuration change re-registers at once, with new request ids."""
        for reg in self.regs.values():
            if reg.timer:
                reg.timer.cancel()
            reg.request_id = None
            reg.timer = self.host.after(0.01, self._reg_send, reg, "re-registration after a configuration change")

    def close_registrations(self) -> None:
        """The end of the run: what is still unanswered becomes a finding."""
        for reg in self.regs.values():
            self._close_unanswered(reg)

    # -- receiving -----------------------------------------------------------------------

    def receive(self, raw: bytes, wire: Wire) -> None:
        whole = self.reasm.add(raw)
        if whole is None:
            return
        ip = P.parse_ipv4(whole)
        if ip.proto == PROTO_GRE:
            if self.ipsec is not None and self.ipsec.required(ip.src):
                self.ledger.drop(self.host.now, f"{self.name} drops clear GRE from {ip.src}: IPsec is required", wire)
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
            self._key_mismatch(outer_src, rec.key, wire)
            return
        if rec.protocol_type == PT_NHRP:
            self._on_nhrp(outer_src, d.payload, wire)
        elif rec.protocol_type == PT_IPV4:
            self.route(d.payload, arrived_from=outer_src, wire_in=wire)

    def _key_mismatch(self, outer_src: str, key: int | None, wire: Wire) -> None:
        """GRE with another tunnel key: dropped silently (one finding per sender)."""
        fault = (self.name, outer_src)
        sender = self.host.directory.name_of(None, outer_src)
        mine = "no key" if self.key is None else f"key {self.key}"
        theirs = "no key" if key is None else f"key {key}"
        first = not self.ledger.gathered(fault, "gre-key-mismatch")
        self.ledger.gather(
            fault, "gre-key-mismatch",
            f"{self.name} ({self.nbma}, tunnel {mine}) drops GRE from {sender} ({outer_src}) that "
            f"carries {theirs}: the tunnel keys differ, so nothing {sender} sends reaches NHRP; set the "
            "same 'tunnel key' on both.", [wire], self.host.now)
        if first:
            self.ledger.note(self.host.now, f"{self.name} silently drops GRE from {outer_src}: {theirs}, "
                             f"its own is {mine}", [wire])

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
                self.ledger.note(self.host.now, f"{self.name} learns the path MTU to {quoted.dst} is {mtu}: "
                                 f"the tunnel's MTU toward it drops to {mtu - self.overhead()}", [wire])

    # -- the data plane ------------------------------------------------------------------

    def is_local(self, addr: str) -> bool:
        return self._owns(addr)[0]

    def next_hop(self, dst: str) -> tuple[str | None, str]:
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
        nbma, how = self.next_hop(ip.dst)
        what = describe(ip)
        if nbma is None:
            self.ledger.drop(self.host.now, f"{self.name} has no route for {what}", wire_in)
            return
        resolve_after = how == "nhs" and self.spec.phase == 2 and ipaddress.IPv4Address(ip.dst) in self.subnet
        key = (self.host.directory.name_of(None, arrived_from) if arrived_from else self.name,
               self.host.directory.name_of(None, nbma))
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
        self._track_data(nbma, how, wire, arrived_from)
        df = bool(ip.df and self.spec.tunnel_pmtud)
        pm = self.pmtu.get(nbma)
        if pm is not None and ip.df and len(inner) + self.overhead() > pm:
            self.ledger.note(self.host.now, f"{self.name} cannot send {what} ({len(inner)} bytes, DF): the "
                             f"tunnel MTU toward {nbma} is {pm - self.overhead()} (ping shows 'M')")
            return
        gre = encode_gre(PT_IPV4, inner, key=self.key)
        self.send_gre(nbma, gre, wire, tos=ip.tos, df=df)
        if resolve_after:
            self.resolve(ip.dst, f"{self.name} has data for {ip.dst} and no NHRP mapping (phase 2)")

    def _track_data(self, nbma: str, how: str, wire: Wire, arrived_from: str | None) -> None:
        """Shortcut bookkeeping: the first data that goes spoke to spoke."""
        if self.is_hub:
            return
        other = self.host.directory.reached_at(nbma)
        if other is None or other.is_hub:
            return
        self.ledger.direct_data(self.name, other.name, wire)

    def nhs_nbmas(self) -> set[str]:
        return {r.nhs_nbma for r in self.regs.values()}

    def _local(self, ip: P.Ip, inner: bytes) -> None:
        b = ip.payload
        if ip.proto == PROTO_ICMP and len(b) >= 8 and b[0] == 8:
            ident, seq = struct.unpack_from("!HH", b, 4)
            reply = encode_icmp_echo(ident, seq, b[8:], reply=True)
            out = P.ipv4(ip.dst, ip.src, PROTO_ICMP, reply, ident=self.next_ip_id(), ttl=255, tos=ip.tos)
            self.route(out, comment=f"{self.name} answers the ping")
        elif ip.proto == PROTO_TCP and len(b) >= 20:
            self._tcp_receive(ip)

    def _tcp_receive(self, ip: P.Ip) -> None:
        """A host behind this router: it acknowledges data, and its flows take ACKs."""
        b = ip.payload
        sport, dport = struct.unpack_from("!HH", b)
        ack = struct.unpack_from("!I", b, 8)[0]
        flags = b[13]
        hl = (b[12] >> 4) * 4
        if flags & PSH and len(b) > hl:
            acknowledge(self, ip)
        elif flags & ACK:
            flow = self.flows.get((ip.dst, dport, ip.src, sport))
            if flow is not None:
                flow.on_ack(ack)

    # -- traffic sources -----------------------------------------------------------------

    def source_for(self, dst: str) -> str:
        a = ipaddress.IPv4Address(dst)
        if self.lan_addr and a not in self.subnet:
            return self.lan_addr
        return self.tunnel

    def ping(self, dst: str, count: int, size: int, interval: float, df: bool) -> None:
        self.ping_id = (self.ping_id + 1) & 0xFFFF
        ident = self.ping_id
        for i in range(count):
            self.host.after(i * interval, self._ping_one, dst, ident, i, count, size, df)

    def _ping_one(self, dst: str, ident: int, seq: int, count: int, size: int, df: bool) -> None:
        if not self.up:
            return
        icmp = encode_icmp_echo(ident, seq, P.icmp_echo_data(size))
        inner = P.ipv4(self.source_for(dst), dst, PROTO_ICMP, icmp, ident=self.next_ip_id(), ttl=255, df=df)
        self.route(inner, comment=f"ping {seq + 1} of {count}, {size} bytes{', DF set' if df else ''}")

    def udp(self, dst: str, count: int, size: int, interval: float, sport: int, dport: int) -> None:
        for i in range(count):
            self.host.after(i * interval, self._udp_one, dst, i, size, sport, dport)

    def _udp_one(self, dst: str, i: int, size: int, sport: int, dport: int) -> None:
        if not self.up:
            return
        src = self.source_for(dst)
        body = P.udp(src, dst, sport, dport, bytes((i + j) & 0xFF for j in range(max(size - 28, 0))))
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
