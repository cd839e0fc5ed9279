"""A router's NHRP cache as the capture shows it, at any instant.

Only what the wire shows goes in: a hub's entries come from the registrations
it answered; a spoke's static entry for its NHS from the registrations it
sent (UP once one was answered); its dynamic entries from the resolutions it
received an answer to, and from the requests it answered (the responder
learns the requester's binding, RFC 2332 5.2.2). Entries leave when their
holding time runs out or a purge removes them.

``at(t)`` gives the entries alive at ``t``: the engine is simply stopped at
``t`` and the cache asked (time only moves forward in a replay).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

STATIC = "static"  # the NHS a spoke registers with (Cisco 'S', FRR 'nhs')
DYNAMIC = "dynamic"  # learned from a registration or a resolution (Cisco 'D')
INCOMPLETE = "incomplete"  # a resolution request sent, no answer yet (Cisco 'I')
NEGATIVE = "negative"  # a NAK received


@dataclass(slots=True)
class CacheEntry:
    proto: str  # the protocol (tunnel-side) address or network
    prefix_len: int
    via: str | None  # next hop protocol address (the peer's tunnel address)
    nbma: str | None  # the NBMA address packets go to (public address when NATed)
    claimed_nbma: str | None  # the NBMA address the peer claimed in NHRP
    type: str
    source: str  # nhs | registration | resolution | request
    created: float
    expires: float | None  # None: never (static)
    state: str = "UP"  # UP | NHRP (registration/resolution outstanding) | DOWN
    state_since: float = 0.0
    flags: set[str] = field(default_factory=set)
    holding_time: int | None = None
    frames: list[int] = field(default_factory=list)
    nat: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.proto}/{self.prefix_len}"

    def alive(self, t: float) -> bool:
        return self.expires is None or self.expires > t

    def json(self, t: float) -> dict:
        return {
            "prefix": self.prefix, "via": self.via, "nbma": self.nbma,
            "claimed_nbma": self.claimed_nbma, "type": self.type, "source": self.source,
            "state": self.state, "created": round(self.created, 6),
            "expires": None if self.expires is None else round(self.expires, 6),
            "up_for": round(t - self.state_since, 6),
            "expires_in": None if self.expires is None else round(self.expires - t, 6),
            "flags": sorted(self.flags), "holding_time": self.holding_time,
            "nat": self.nat, "frames": list(self.frames),
        }


class NhrpCache:
    """One router's cache: entries keyed by (protocol address, prefix length).

    ``on_new(nbma)`` is told when an entry pointing at ``nbma`` appears (the
    replay's hot path then looks at that destination again)."""

    __slots__ = ("entries", "_by_nbma", "_plens", "on_new")

    def __init__(self, on_new: Callable[[str], None] | None = None) -> None:
        self.entries: dict[tuple[str, int], CacheEntry] = {}
        self._by_nbma: dict[str, list[CacheEntry]] = {}
        self._plens: set[int] = set()  # every prefix length an entry ever had
        self.on_new = on_new

    def put(self, t: float, frame: int, *, proto: str, prefix_len: int = 32, via: str | None,
            nbma: str | None, claimed_nbma: str | None, type: str, source: str,
            holding_time: int | None, flags: set[str] | None = None, state: str = "UP",
            nat: bool = False) -> CacheEntry:
        """Create or refresh an entry. A refresh keeps the creation time (as
        IOS does) unless the entry had expired or changed its NBMA."""
        key = (proto, prefix_len)
        expires = None if holding_time is None else t + holding_time
        e = self.entries.get(key)
        created = t
        if e is not None:
            was_placeholder = e.type in (INCOMPLETE, NEGATIVE)
            alive = e.expires is None or e.expires > t  # e.alive(t), inline: twice a reply
            if not alive or was_placeholder or (e.nbma != nbma and nbma is not None):
                if was_placeholder and alive:
                    created = e.created  # the same entry, now complete
                self._drop(e)
                e = None
        if e is None:
            e = CacheEntry(proto, prefix_len, via, nbma, claimed_nbma, type, source, created,
                           expires, state, t, set(flags or ()), holding_time, [frame], nat)
            self.entries[key] = e
            self._plens.add(prefix_len)
            if nbma:
                self._by_nbma.setdefault(nbma, []).append(e)
                if self.on_new is not None:
                    self.on_new(nbma)
        else:
            if e.state != state:
                e.state, e.state_since = state, t
            e.expires = expires
            e.via = via or e.via
            e.claimed_nbma = claimed_nbma or e.claimed_nbma
            e.type = type if not (e.type == STATIC and type == DYNAMIC) else e.type
            e.holding_time = holding_time
            if flags:
                e.flags |= flags
            e.nat = e.nat or nat
            if len(e.frames) < 8 and frame not in e.frames:
                e.frames.append(frame)
        return e

    def set_state(self, t: float, proto: str, prefix_len: int, state: str) -> None:
        e = self.entries.get((proto, prefix_len))
        if e is not None and e.state != state:
            e.state, e.state_since = state, t

    def get(self, proto: str, prefix_len: int = 32) -> CacheEntry | None:
        return self.entries.get((proto, prefix_len))

    def with_proto(self, proto: str) -> list[CacheEntry]:
        """The entries for ``proto`` (any prefix length), in the cache's order:
        a lookup when one prefix length is all there is (a hub's registered
        hosts), not a walk over thousands of entries."""
        if len(self._plens) == 1:
            e = self.entries.get((proto, next(iter(self._plens))))
            return [e] if e is not None else []
        return [e for e in self.entries.values() if e.proto == proto]

    def rekey(self, nbma: str, public: str) -> None:
        """The router claiming ``nbma`` is reached at ``public`` (it is behind
        NAT): the entries it claimed now point there."""
        for e in list(self.entries.values()):
            if e.nbma == nbma and e.claimed_nbma == nbma:
                self._drop(e)
                e.nbma = public
                e.nat = True
                self.entries[(e.proto, e.prefix_len)] = e
                self._by_nbma.setdefault(public, []).append(e)

    def remove(self, proto: str, prefix_len: int | None = None) -> list[CacheEntry]:
        """Remove entries for ``proto`` (any prefix length when None, or the
        entry whose network contains it)."""
        gone = [e for (p, pl), e in self.entries.items()
                if p == proto and (prefix_len is None or pl == prefix_len)]
        for e in gone:
            self._drop(e)
        return gone

    def _drop(self, e: CacheEntry) -> None:
        self.entries.pop((e.proto, e.prefix_len), None)
        lst = self._by_nbma.get(e.nbma or "")
        if lst is not None:
            try:
                lst.remove(e)
            except ValueError:
                pass
            if not lst:
                del self._by_nbma[e.nbma or ""]

    def mark_used(self, nbma: str) -> None:
        for e in self._by_nbma.get(nbma, ()):
            e.flags.add("used")

    def has_nbma(self, nbma: str) -> bool:
        return nbma in self._by_nbma

    def at(self, t: float) -> list[CacheEntry]:
        return sorted((e for e in self.entries.values() if e.alive(t)),
                      key=lambda e: (_addr_key(e.nbma), _addr_key(e.proto), e.prefix_len))

    def __len__(self) -> int:
        return len(self.entries)


def _addr_key(a: str | None) -> tuple:
    if not a:
        return (2, ())
    if "." in a:
        try:
            return (0, tuple(int(x) for x in a.split(".")))
        except ValueError:
            pass
    return (1, (a,))


def ios_duration(seconds: float | None) -> str:
    """A duration as IOS prints it: hh:mm:ss under a day, then 1d02h, then 2w3d."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 86400:
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    days = s // 86400
    if days < 7:
        return f"{days}d{s % 86400 // 3600:02d}h"
    return f"{days // 7}w{days % 7}d"
