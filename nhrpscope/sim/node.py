"""What every simulated router is, whatever it does: its state, its identity,
and how it puts NHRP and GRE on its NBMA interface.

``Router`` (``router.py``) is built in layers, one job each: this base, the
NHRP client (``nhc.py``), the NHRP server (``nhs.py``), and the data plane
and packet input (``router.py``). All of them reach the world only through
the ``Host`` they are given (``host.py``).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from nhrpscope.dissectors import nhrp as N
from nhrpscope.dissectors.gre import PT_NHRP, encode_gre
from nhrpscope.sim import messages as M
from nhrpscope.sim import packets as P
from nhrpscope.sim.clock import Timer
from nhrpscope.sim.flows import TcpFlow
from nhrpscope.sim.host import Host
from nhrpscope.sim.ipsec import Endpoint
from nhrpscope.sim.scenario import RouterSpec
from nhrpscope.sim.truth import RegistrationTxn, ResolutionTxn
from nhrpscope.sim.wire import Wire

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


class RouterBase:
    # -- state and identity --------------------------------------------------------------

    def __init__(self, spec: RouterSpec, host: Host, seed: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.host = host
        self.ledger = host.ledger
        self.rng = random.Random(f"{seed}:{spec.name}")
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
        self.ipsec: Endpoint | None = None  # set by the simulation when IPsec is on
        self.reasm = P.Reassembly()
        self.last_tx = 0.0
        self.flows: dict[tuple[str, int, str, int], TcpFlow] = {}  # the TCP-like flows its hosts opened
        self.me = self._identity()

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
        return f"+{(self.host.now if t is None else t):.3f} s"

    # -- sending -------------------------------------------------------------------------

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
        t = max(self.host.now + self.rng.uniform(0.0002, 0.0012), self.last_tx + 0.00002)
        self.last_tx = t
        self.host.at(t, self.host.transmit, self.name, raw, wire)

    def send_nhrp(self, dst_nbma: str, pkt: N.NhrpPacket, comment: str) -> Wire:
        raw = N.encode_nhrp(pkt)
        wire = Wire("nhrp", comment, self.name, meta={"type": pkt.type, "request_id": pkt.request_id})
        gre = encode_gre(PT_NHRP, raw, key=self.key)
        self.send_gre(dst_nbma, gre, wire, tos=0xC0 if self.spec.flavor == "cisco" else 0)
        return wire

    # -- what the router is --------------------------------------------------------------

    def _owns(self, addr: str) -> tuple[bool, int]:
        if addr == self.tunnel:
            return True, 32
        if self.lan is not None and ipaddress.IPv4Address(addr) in self.lan:
            return True, self.lan.prefixlen
        return False, 0

    def overhead(self) -> int:
        return 20 + 4 + (4 if self.key is not None else 0) + (self.ipsec.overhead() if self.ipsec else 0)

    # -- error indications (RFC 2332 5.2.7) ----------------------------------------------

    def _on_error_indication(self, pkt: N.NhrpPacket, outer_src: str, wire: Wire) -> None:
        self.ledger.note(self.host.now, f"{self.name} receives an error indication from {outer_src}: code "
                         f"{pkt.error_code} ({pkt.error_name})", [wire])

    def _send_error(self, pkt: N.NhrpPacket, raw: bytes, outer_src: str, code: int, bad: Wire) -> None:
        err = M.error_indication(self.me, raw, pkt, code)
        w = self.send_nhrp(outer_src, err, f"NHRP Error Indication {self.name} -> {pkt.src_proto}: code {code} "
                           f"({N.error_name(code)}), carrying the {pkt.type} (id {pkt.request_id}) in error")
        self.ledger.error_sent({"from_nbma": self.nbma, "to_nbma": outer_src, "code": code,
                                   "name": N.error_name(code), "offending_type": pkt.type,
                                   "_wires": [w]})
        who = self.host.directory.name_of(pkt.src_nbma, outer_src)
        key = (self.nbma, outer_src)
        if code == AUTH_FAILURE:
            self.ledger.gather(
                key, "authentication-failure",
                f"{self.name} ({self.nbma}) rejects NHRP from {who} ({outer_src}): the authentication "
                "password differs (error indication code 11); set the same 'ip nhrp authentication' on both.",
                [bad, w], self.host.now)
        elif code == HOP_COUNT_EXCEEDED:
            self.ledger.gather(
                key, "hop-count-exceeded",
                f"{self.name} could not forward {who}'s {pkt.type}: its hop count ran out (error code 15); "
                "look for an NHS forwarding loop.", [bad, w], self.host.now)
        else:  # a code with no finding of its own
            self.ledger.gather(
                (*key, code), "error-indication",
                f"{self.name} ({self.nbma}) sent {who} ({outer_src}) an NHRP error indication, code "
                f"{code} ({N.error_name(code)}).", [w], self.host.now)
