"""All a router (and its IPsec daemon) may use of the simulated world.

A router is an actor: it reacts to packets and to its own timers. What it
needs from outside is narrow, and this module names it:

- the clock: ``now``, ``at``/``after`` to set a timer;
- ``transmit``: hand a packet to the network, which carries it to whoever
  has the destination address;
- the truth ledger (``truth.Ledger``): what really happened, written
  through the ledger's methods, never by reaching into another record's dict;
- the directory: read-only facts about the other routers that a real router
  learns from its configuration or the routing protocol (who owns a LAN,
  which name goes with an address for the narrative). It hands out
  ``PeerInfo`` values, never a router.

The simulation implements ``Host``; a router holds its host and nothing else
of the world, so it never sees the ``Simulation`` or another router.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from nhrpscope.sim.clock import Timer
from nhrpscope.sim.truth import Ledger
from nhrpscope.sim.wire import Wire


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """One router as the others may know it."""

    name: str
    nbma: str  # the NBMA address it is configured with
    public: str  # its NBMA address as the provider core sees it (its NAT's, when behind one)
    seen: str  # as the tap sees it: ``nbma`` when the tap is on that router, else ``public``
    tunnel: str
    is_hub: bool
    behind_nat: str | None
    lan: ipaddress.IPv4Network | None


class Directory:
    """Routers by address; rebuilt (``update``) whenever an address changes."""

    def __init__(self) -> None:
        self._peers: list[PeerInfo] = []
        self._by_nbma: dict[str, PeerInfo] = {}
        self._by_public: dict[str, PeerInfo] = {}
        self._by_tunnel: dict[str, PeerInfo] = {}
        self._by_name: dict[str, PeerInfo] = {}

    def update(self, peers: Iterable[PeerInfo]) -> None:
        self._peers = list(peers)
        self._by_nbma = {p.nbma: p for p in self._peers}
        self._by_public = {p.public: p for p in self._peers}
        self._by_tunnel = {p.tunnel: p for p in self._peers}
        self._by_name = {p.name: p for p in self._peers}

    def peers(self) -> list[PeerInfo]:
        """Every router, in the scenario's order."""
        return self._peers

    def named(self, name: str) -> PeerInfo | None:
        return self._by_name.get(name)

    def by_tunnel(self, addr: str | None) -> PeerInfo | None:
        return self._by_tunnel.get(addr or "")

    def at(self, addr: str | None) -> PeerInfo | None:
        """The router with this NBMA address, as claimed or as seen in the core."""
        if not addr:
            return None
        return self._by_nbma.get(addr) or self._by_public.get(addr)

    def reached_at(self, addr: str) -> PeerInfo | None:
        """The router a packet sent to ``addr`` reaches: the core's view first."""
        return self._by_public.get(addr) or self._by_nbma.get(addr)

    def name_of(self, claimed: str | None, outer: str | None) -> str:
        p = self._by_nbma.get(claimed or "") or self.at(outer)
        return p.name if p else (outer or claimed or "?")

    def public_of_claimed(self, claimed: str) -> str:
        p = self._by_nbma.get(claimed)
        return p.public if p else claimed


class Host(Protocol):
    """The world as a router sees it (see the module docstring)."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def now(self) -> float: ...

    def at(self, when: float, fn: Callable[..., Any], *args: Any) -> Timer: ...

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer: ...

    def transmit(self, sender: str, raw: bytes, wire: Wire) -> None:
        """Router ``sender`` puts ``raw`` (an IPv4 packet) on its NBMA interface now."""
        ...
