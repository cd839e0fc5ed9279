"""The NHRP control plane (RFC 2332): each message moves its transaction's
state machine (``nhrp_state``), the routers' roles and the per-router
caches; what went wrong is stated as facts.

``NhrpObserver.message`` routes a message by type through ``HANDLERS`` to
the observer of its transaction kind: registrations (5.2.3/5.2.4),
resolutions (5.2.1/5.2.2), purges (5.2.5/5.2.6), error and traffic
indications (5.2.7, DMVPN redirects). They share what this module holds:
the routers, the caches, the transactions by RFC key, the deadlines.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import islice
from typing import Any, NamedTuple

from nhrpscope.dissectors.nhrp import NhrpPacket
from nhrpscope.replay.cache import NhrpCache
from nhrpscope.replay.facts.nhrp import (
    CUT,
    HopCountZero,
    NatDetected,
    UnreadableFrames,
    UnreadableMark,
    title,
)
from nhrpscope.replay.nhrp_state import (
    Machine,
    PurgeTxn,
    RedirectTxn,
    RegistrationTxn,
    ResolutionTxn,
)
from nhrpscope.replay.observers.indication import Indications
from nhrpscope.replay.observers.nhrp_fields import ext_cies, password
from nhrpscope.replay.observers.purge import Purges
from nhrpscope.replay.observers.registration import Registrations
from nhrpscope.replay.observers.resolution import Resolutions
from nhrpscope.replay.observers.routers import Routers
from nhrpscope.replay.observers.tunnel import TunnelObserver

# How many closed transactions stay findable by key for late duplicates.
RECENT_KEYS = 4096


class Message(NamedTuple):
    """One NHRP message as a handler sees it: ``osrc``/``odst`` the outer
    (wire) addresses, ``sender``/``receiver`` the NBMA addresses their
    routers claim. (A tuple: one is made per NHRP frame.)"""

    t: float
    fr: int
    n: NhrpPacket
    osrc: str | None
    odst: str | None
    sender: str | None
    receiver: str | None
    password: str | None = None  # its authentication extension's (nhrp_fields.password)


# Message((t, fr, ...)) every field given, made in C (a NamedTuple's __new__ is
# a Python function, a third of the cost of the tuple it makes)
_new_message: Callable[[tuple], Message] = partial(tuple.__new__, Message)


class Transactions:
    """Transactions by what RFC 2332 matches on: (kind, source NBMA, source
    protocol address, request id). The closed ones stay a while, so a late
    duplicate finds its transaction."""

    __slots__ = ("by_key",)

    def __init__(self) -> None:
        self.by_key: dict[tuple, Any] = {}

    def get(self, key: tuple) -> Any:
        return self.by_key.get(key)

    def remember(self, key: tuple, txn: Machine) -> None:
        self.by_key[key] = txn
        if len(self.by_key) > RECENT_KEYS:
            # drop the oldest closed transaction (dicts keep insertion order)
            for k in list(islice(self.by_key, len(self.by_key) - RECENT_KEYS)):
                if not self.by_key[k].open:
                    del self.by_key[k]


# How many of the latest cut NHRP packets towards one address are kept to cite
_CUT_KEPT = 16
# How many extensions tuples ``Extensions`` keeps read
EXTENSION_SETS = 4096


class Extensions:
    """What the handlers read of a packet's extensions (RFC 2332 5.3), by
    extensions tuple: each name's CIEs (``nhrp_fields.ext_cies``) and the
    authentication password (``nhrp_fields.password``). A message is asked
    for three or four of them, and the shape memo's repeats share their
    extensions tuple, so each tuple is read once. Keyed by the tuple's id,
    the tuple held with its entry so that id stays its own; bounded."""

    __slots__ = ("by_id",)

    def __init__(self) -> None:
        self.by_id: dict[int, tuple[tuple, dict[str, tuple], str | None]] = {}

    def _read(self, n: NhrpPacket) -> tuple[tuple, dict[str, tuple], str | None]:
        exts = n.extensions
        got = self.by_id.get(id(exts))
        if got is None:
            if len(self.by_id) >= EXTENSION_SETS:
                self.by_id.clear()
            names = {e.name for e in exts}
            got = self.by_id[id(exts)] = (exts, {k: ext_cies(n, k) for k in names}, password(n))
        return got

    def cies(self, n: NhrpPacket, name: str) -> tuple:
        """``ext_cies(n, name)``."""
        return self._read(n)[1].get(name, ())

    def password(self, n: NhrpPacket) -> str | None:
        """``password(n)``."""
        return self._read(n)[2]


class NhrpObserver:
    """``schedule(when, txn)``: fire ``txn``'s timeout at ``when``;
    ``expire_at(when, hub, key, spoke)``: look at a hub's binding then."""

    def __init__(self, routers: Routers, tunnel: TunnelObserver, caches: dict[str, NhrpCache], *,
                 emit: Callable[..., None], state: Callable[[Any], None],
                 schedule: Callable[[float, Any], None],
                 expire_at: Callable[[float, str, tuple[str, int], str], None],
                 events: bool = True) -> None:
        self.routers = routers
        # whether ``emit`` goes anywhere: when not, no event's label is worded
        self.events = events
        self.tunnel = tunnel
        self.caches = caches
        self.emit = emit
        self.state = state
        self.schedule = schedule
        self.expire_at = expire_at
        self.txns = Transactions()
        self.ext = Extensions()
        self.registrations = Registrations(self)
        self.resolutions = Resolutions(self)
        self.purges = Purges(self)
        self.indications = Indications(self)
        # the authentication passwords each sender used towards each receiver
        self.pair_pw: dict[tuple[str, str], set[str | None]] = {}
        self.pair_pw_frame: dict[tuple[str, str], int] = {}
        # NHRP packets the snap length cut, by the wire address they went to:
        # how many, and the latest (frame, sender) of them
        self.cut_towards: dict[str, tuple[int, list[tuple[int, str | None]]]] = {}
        self.handlers: dict[str, Callable[[Message], None]] = {
            "registration-request": self.registrations.request,
            "registration-reply": self.registrations.reply,
            "resolution-request": self.resolutions.request,
            "resolution-reply": self.resolutions.reply,
            "purge-request": self.purges.request,
            "purge-reply": self.purges.reply,
            "error-indication": self.indications.error,
            "traffic-indication": self.indications.traffic,
        }

    def message(self, t: float, fr: int, n: NhrpPacket, osrc: str | None, odst: str | None) -> None:
        typ = n.type
        alias = self.routers.alias  # Routers.claimed, inline: once per NHRP frame
        sender = None if osrc is None else alias.get(osrc, osrc)
        receiver = None if odst is None else alias.get(odst, odst)
        pw = self.ext.password(n)  # once: the handlers read it too
        if sender and receiver and sender != receiver:
            pr = (sender, receiver)
            s = self.pair_pw.get(pr)
            if s is None:
                s = self.pair_pw[pr] = set()
                self.pair_pw_frame[pr] = fr
            if len(s) < 4:
                s.add(pw)
        if n.hop_count == 0:
            self.state(HopCountZero(typ, n.src_nbma, sender, receiver, t, fr))
        if self.events:
            label = title(typ)
            if n.request_id is not None:
                label += f" id={n.request_id}"
            self.emit(t, fr, "nhrp", sender, receiver, label, type=typ, request_id=n.request_id,
                      src_nbma=n.src_nbma, src_proto=n.src_proto, dst_proto=n.dst_proto,
                      hop_count=n.hop_count)
        handler = self.handlers.get(typ)
        if handler is not None:
            handler(_new_message((t, fr, n, osrc, odst, sender, receiver, pw)))

    # ------------------------------------------------------------------ shared

    def cache(self, nbma: str) -> NhrpCache:
        c = self.caches.get(nbma)
        if c is None:
            added = self.tunnel.cache_entry_added
            c = self.caches[nbma] = NhrpCache(lambda to: added(nbma, to))
        return c

    def sent_behind_nat(self, n: NhrpPacket, osrc: str | None, what: str, t: float, fr: int,
                        *, unknown_only: bool = False) -> bool:
        """A request that came from an outer address other than the NBMA it
        claims (and was not passed on by an NHS): its sender is behind NAT
        (``nat``). ``unknown_only``: not when that address is a router's own
        (a resolution request may arrive from one). True when inferred."""
        claimed = n.src_nbma
        if not osrc or not claimed or osrc == claimed or self.forwarded(n, osrc) \
                or self.routers.alias.get(osrc) == claimed \
                or (unknown_only and osrc in self.routers):
            return False
        self.nat(claimed, osrc, f"it claims NBMA {claimed} but its {what} came from {osrc}",
                 t, fr)
        return True

    def nat(self, nbma: str, public: str, why: str, t: float, fr: int) -> None:
        """NAT inference: ``nbma`` shows on the wire as ``public``. The
        router record, the hot path's lookups and every cache learn it."""
        if not nbma or not public or nbma == public:
            return
        first, changed = self.routers.behind_nat(nbma, public, why, t, fr)
        self.tunnel.behind_nat(nbma, public, changed, first)
        if first:
            self.state(NatDetected(nbma, public, why, t, fr))
            if self.events:
                self.emit(t, fr, "nat", nbma, None, f"NAT: {nbma} seen as {public}")
            for c in self.caches.values():
                c.rekey(nbma, public)

    def forwarded(self, n: NhrpPacket, outer_src: str | None) -> bool:
        """Was this request passed on by an NHS (rather than sent by its originator)?"""
        if self.ext.cies(n, "forward-transit-nhs-record"):
            return True
        if outer_src is None or outer_src == n.src_nbma:
            return False
        if self.routers.alias.get(outer_src) == n.src_nbma:
            return False
        r = self.routers.get(self.routers.claimed(outer_src))
        return bool(r is not None and r.tunnels and n.src_proto not in r.tunnels)

    # ------------------------------------------------------------------ unreadable answers

    def cut(self, fr: int, src: str | None, dst: str | None) -> None:
        """An NHRP packet from ``src`` to ``dst`` (wire addresses) that the
        snap length cut: it moves no state, but an answer may be in it."""
        if not dst:
            return
        n, last = self.cut_towards.get(dst, (0, []))
        last.append((fr, src))
        if len(last) > _CUT_KEPT:
            del last[0]
        self.cut_towards[dst] = (n + 1, last)

    def unreadable_mark(self, src: str | None, dst: str | None) -> UnreadableMark | None:
        """At a request: what could not be read so far towards its sender
        ``dst`` (a wire address), from ``src`` (None: from anyone)."""
        if not dst:
            return None
        cut = self.cut_towards.get(dst, (0,))[0]
        esp = self.tunnel.esp
        if dst not in esp.by_dst:  # no SA towards it: the mark esp.mark would make, at once
            return UnreadableMark(src, dst, {}, cut)
        m = esp.mark(src, dst)  # made anew (NamedTuple._replace is slow)
        return UnreadableMark(m.src, m.dst, m.seen, cut)

    def unreadable_since(self, mark: UnreadableMark | None) -> tuple[UnreadableFrames, ...]:
        """When a request went unanswered: the frames towards its sender that
        could not be read since it asked, where its answer may be: ESP
        without a working key, and NHRP packets the snap length cut."""
        if mark is None:
            return ()
        out = list(self.tunnel.esp.unreadable_since(mark))
        n, last = self.cut_towards.get(mark.dst, (0, []))
        new = n - mark.cut
        frames = tuple(fr for fr, src in last[-new:] if mark.src is None or src == mark.src) \
            if new > 0 else ()
        if frames:  # cited as ESP's are: the first and the last
            out.append(UnreadableFrames(f"NHRP packets to {mark.dst}", CUT, len(frames),
                                        tuple(dict.fromkeys((frames[0], frames[-1])))))
        return tuple(out)

    # ------------------------------------------------------------------ time

    def closed(self, txn: Any, t: float) -> None:
        """A transaction went unanswered / ignored: its kind says so."""
        if isinstance(txn, RegistrationTxn):
            self.registrations.closed(txn, t)
        elif isinstance(txn, ResolutionTxn):
            self.resolutions.closed(txn, t)
        elif isinstance(txn, RedirectTxn):
            self.indications.closed(txn, t)
        elif isinstance(txn, PurgeTxn):
            self.purges.closed(txn, t)

    def finish(self) -> None:
        """The capture ended: what is still open is pending."""
        for txn in self.txns.by_key.values():
            if txn.open:
                txn.fire("capture-end")
        self.indications.finish()

    def sync_states(self) -> None:
        """The records' states, for the report."""
        for txn in self.txns.by_key.values():
            txn.record.state = txn.state
        for recs in (self.registrations.records, self.resolutions.records, self.purges.records):
            for rec in recs:
                if rec.state == "sent":
                    rec.state = "pending"
        self.indications.sync_states()
