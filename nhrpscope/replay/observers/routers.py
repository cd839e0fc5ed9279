"""The routers a capture shows: who claims which NBMA and tunnel addresses,
what each did (its NHRP role follows from it), and which are behind NAT.

NHRP names a router by the NBMA address it claims (RFC 2332 5.2.0.1's
source NBMA address); behind NAT its packets come from another, public one.
``alias`` maps the public address back, so every record names the router
by its claim, and ``wire`` gives the address packets to it really go to.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable

from nhrpscope.replay.model import Router, Traffic

MAX_ROUTER_FRAMES = 8


class RouterState:
    __slots__ = ("nbma", "tunnels", "reg_sent", "reg_answered", "reg_received", "res_sent",
                 "res_forwarded", "res_answered_self", "res_answered_other", "ti_sent",
                 "asked_direct", "nat", "public", "nat_evidence", "passwords", "nhs",
                 "first", "last", "frames")

    def __init__(self, nbma: str, t: float) -> None:
        self.nbma = nbma
        self.tunnels: list[str] = []
        self.reg_sent = self.reg_answered = self.reg_received = 0
        self.res_sent = self.res_forwarded = self.res_answered_self = 0
        self.res_answered_other = self.ti_sent = 0
        self.asked_direct = 0  # resolution requests received from their originator
        self.nat = False
        self.public: str | None = None
        self.nat_evidence: str | None = None
        self.passwords: set[str | None] = set()
        self.nhs: list[str] = []
        self.first = t
        self.last = t
        self.frames: list[int] = []

    def bind(self, tunnel: str | None) -> None:
        if tunnel and tunnel not in self.tunnels and len(self.tunnels) < 8:
            self.tunnels.append(tunnel)

    def password(self, pw: str | None) -> None:
        if len(self.passwords) < 4:
            self.passwords.add(pw)

    @property
    def tunnel(self) -> str | None:
        return self.tunnels[0] if self.tunnels else None

    def is_hub(self) -> bool:
        """An NHS answers registrations, forwards resolutions, redirects,
        answers for others, or is asked directly."""
        return bool(self.reg_answered or self.res_forwarded or self.ti_sent or self.reg_received
                    or self.res_answered_other or self.asked_direct)

    @property
    def role(self) -> str:
        if self.is_hub():
            return "hub"
        if self.reg_sent or self.res_sent or self.res_answered_self:
            return "spoke"
        return "unknown"


class Routers:
    """Router records by claimed NBMA, and the NAT aliases."""

    __slots__ = ("by_nbma", "alias")

    def __init__(self) -> None:
        self.by_nbma: dict[str, RouterState] = {}
        self.alias: dict[str, str] = {}  # public (outer) NBMA -> claimed NBMA

    def __contains__(self, nbma: object) -> bool:
        return nbma in self.by_nbma

    def get(self, nbma: str | None) -> RouterState | None:
        return self.by_nbma.get(nbma or "")

    def seen(self, nbma: str, t: float, fr: int) -> RouterState:
        """The router ``nbma``, created on first sight; ``fr`` shows it at ``t``."""
        r = self.by_nbma.get(nbma)
        if r is None:
            r = self.by_nbma[nbma] = RouterState(nbma, t)
        r.last = t
        if len(r.frames) < MAX_ROUTER_FRAMES and fr not in r.frames:
            r.frames.append(fr)
        return r

    def claimed(self, addr: str | None) -> str | None:
        if addr is None:
            return None
        return self.alias.get(addr, addr)

    def name(self, nbma: str | None) -> str:
        """"NBMA (TUNNEL)" once the tunnel address is known."""
        if not nbma:
            return "?"
        r = self.by_nbma.get(nbma)
        if r is not None and r.tunnel:
            return f"{nbma} ({r.tunnel})"
        return nbma

    def addrs(self, nbma: str) -> list[str]:
        """A router's claimed NBMA plus its public address when NATed."""
        r = self.by_nbma.get(nbma)
        if r is not None and r.public and r.public != nbma:
            return [nbma, r.public]
        return [nbma]

    def wire(self, nbma: str | None) -> str | None:
        """The address packets to ``nbma`` are sent to (public when NATed)."""
        if nbma is None:
            return None
        r = self.by_nbma.get(nbma)
        return r.public if r is not None and r.public else nbma

    def is_nat(self, nbma: str | None) -> bool:
        r = self.by_nbma.get(nbma or "")
        return bool(r is not None and r.nat)

    def behind_nat(self, nbma: str, public: str, evidence: str, t: float, fr: int) -> tuple[bool, bool]:
        """``nbma`` is seen at ``public``: (first time it shows NAT, alias changed)."""
        r = self.seen(nbma, t, fr)
        first = not r.nat
        changed = first or r.public != public or self.alias.get(public) != nbma
        r.nat = True
        r.public = public
        r.nat_evidence = r.nat_evidence or evidence
        self.alias[public] = nbma
        return first, changed

    def records(self, traffic: Iterable[tuple[tuple[str, str], Traffic]]) -> list[Router]:
        """The routers for the report, hubs first; GRE keys by how much each sent with them."""
        sent: dict[str, Counter] = {}
        for (src, _dst), tr in traffic:
            c = sent.setdefault(self.alias.get(src, src), Counter())
            for k in tr.gre_keys:
                c[k] += tr.packets + tr.nhrp + tr.keepalives
        out = []
        for r in self.by_nbma.values():
            keys = [k for k, _ in sent.get(r.nbma, Counter()).most_common()]
            out.append(Router(r.nbma, r.tunnel, r.role, list(r.tunnels), r.nat, r.public,
                              r.nat_evidence, keys[0] if keys else None, keys,
                              next(iter(sorted(p for p in r.passwords if p is not None)), None),
                              list(r.nhs), r.first, r.last, list(r.frames)))
        out.sort(key=lambda x: (0 if x.role == "hub" else 1 if x.role == "spoke" else 2,
                                _sort_addr(x.nbma)))
        return out


def _sort_addr(a: str) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(a)))
    except ValueError:
        return (1, a)
