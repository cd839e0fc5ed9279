"""The tunnels' data plane: GRE data counted per directed NBMA pair and GRE
key (RFC 2784/2890), shortcut use, ESP SAs (``esp``), IP fragments.

This is the only hot path: most frames of a DMVPN capture are tunnel data
that only needs counting. ``run`` is the frame loop; it counts a GRE data
packet of a known pair (and the next ESP packet of a known SA) inline, with
the pair's lookups done once (``Pair``), and hands every other frame to its
``Host`` (the engine) to decode and walk. Whatever the host walks that is
GRE data comes back through ``count``, into the same loop: there is one
counting routine.

A pair goes stale (``gen``) when what its lookups found may have changed:
a NAT alias (every pair), a shortcut or via-hub watch of either end, a new
cache entry of its source for its destination, a shortcut whose first
direct packet is still to be noted. A stale pair's next packet takes the
slow path (``_setup``) once.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from nhrpscope.replay.cache import NhrpCache
from nhrpscope.replay.facts.tunnel import FragmentationNeeded, Fragmented
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.model import Shortcut, Traffic
from nhrpscope.replay.observers.esp import EspSas, inet
from nhrpscope.replay.observers.routers import Routers

# (network, mask, shortcut, the far end's addresses): data from a router to
# a network its shortcut covers that still goes to another address goes via the hub
Watch = tuple[int, int, Shortcut, frozenset[str]]
MAX_WATCH = 256
# Outer address pairs whose GRE traffic is kept one by one: far above a real
# hub's tap (a 1,000-spoke hub sees a few thousand); past it, GRE between
# further pairs is only counted together (hostile or corrupt input).
MAX_PAIRS = 65_536


class Host(Protocol):
    """What the loop needs of its caller: the replay clock, the deadlines
    that fire as time passes, and the decoding and walking of a frame."""

    frames: int
    now: float
    last_frame: int
    first: float | None

    def due(self) -> float: ...

    def advance(self, t: float) -> None: ...

    def walk_frame(self, it: tuple) -> None: ...


class Pair:
    """Hot-path state of one directed NBMA pair and GRE key: what a data
    packet's counting needs, looked up once. Stale when ``gen`` differs
    from the observer's (a NAT alias changed) or is -1 (see the module)."""

    __slots__ = ("tr", "key", "gen", "sc", "watch", "csrc", "src", "dst")

    def __init__(self, tr: Traffic, key: int | None) -> None:
        self.tr = tr
        self.key = key
        self.gen = -1
        self.sc: Shortcut | None = None
        self.watch: list[Watch] | None = None
        self.csrc: str | None = None
        self.src = tr.src_nbma
        self.dst = tr.dst_nbma


def via_hub(watch: list[Watch], inner_dst: int, dst: str, t: float) -> None:
    for net, mask, wsc, peer in watch:
        if inner_dst & mask == net and dst not in peer:
            if t >= wsc.established:
                wsc.via_hub_packets += 1
            return


class TunnelObserver:
    __slots__ = ("routers", "caches", "emit", "state", "esp", "traffic", "shortcuts", "gen",
                 "not_tracked", "_pairs", "_sc_pairs", "_watch", "_pairs_by_cd", "_pairs_by_src",
                 "fragments")

    def __init__(self, routers: Routers, caches: dict[str, NhrpCache],
                 emit: Callable[..., None], state: Callable[[Any], None]) -> None:
        self.routers = routers
        self.caches = caches  # the NHRP observer's: data marks the entries it uses
        self.emit = emit
        self.state = state
        self.esp = EspSas(routers, emit, state)
        self.traffic: dict[tuple[str, str], Traffic] = {}
        self.shortcuts: list[Shortcut] = []
        self.gen = 0
        # by the classifier's raw key (outer source and destination, the GRE
        # header's first 4 bytes and its key) or (source, destination, key)
        self._pairs: dict[Any, Pair] = {}
        self._sc_pairs: dict[tuple[str, str], Shortcut] = {}  # by either end's addresses
        self._watch: dict[str, list[Watch]] = {}  # by the sender's (wire) address
        self._pairs_by_cd: dict[tuple[str, str], list[Pair]] = {}
        self._pairs_by_src: dict[str, list[Pair]] = {}
        self.fragments: dict[tuple[str, str], int] = {}
        # GRE past MAX_PAIRS: packets and bytes, the first and last frame
        self.not_tracked = [0, 0, 0, 0]

    # ------------------------------------------------------------------ the loop

    def run(self, items: Iterable[tuple], host: Host) -> None:
        """What ``fastpath`` makes of frames, in time order: a classified GRE
        data packet (5 values), ESP (9), or a frame (6 values) the host
        decodes and walks; also a GRE data packet the host found in a frame
        it walked (``count``: 4 values, the frame already counted).

        The frame count, the replay time and the next due deadline live in
        locals, written back to the host before anything else runs, so a
        data packet of a known pair costs a dict lookup and a few additions."""
        pairs = self._pairs
        esp_hot = self.esp.hot
        esp_item = self.esp.item
        setup = self._setup
        frame = host.walk_frame
        frames, now, last = host.frames, host.now, host.last_frame
        unset = host.first is None
        gen = self.gen
        due = host.due()
        # A million short-lived tuples go by, none in a cycle: the cyclic collector,
        # paused meanwhile, would only walk them (and the records kept) again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for it in items:
                n = len(it)
                if n == 5:
                    last, t, wl, rk, idst = it
                elif n == 9:
                    last, t, wl, rk, idst, ek, seq, _, _ = it
                elif n == 4:  # GRE data the host walked: its frame is counted
                    t, wl, rk, idst = it
                    frames -= 1
                else:
                    last, t = it[0], it[1]
                frames += 1
                if unset:
                    host.first = t
                    unset = False
                if t > now:
                    now = t
                    if t >= due:
                        host.frames, host.now, host.last_frame = frames, now, last
                        host.advance(t)
                        due = host.due()
                if n == 9:
                    hot = esp_hot.get(ek)
                    if hot is None or seq != hot[0].top + 1 or (rk is None and not hot[1]):
                        host.frames, host.now, host.last_frame = frames, now, last
                        esp_item(*it)
                        if rk is None:
                            continue
                    else:  # the next sequence number on a known SA: the window slides by one
                        st = hot[0]
                        sa = st.rec
                        sa.packets += 1
                        sa.bytes += wl
                        sa.last = t
                        sa.frames[1] = last
                        st.run += 1  # the window slides by one (SaState)
                        st.top = seq
                        if rk is None:
                            sa.undecrypted += 1
                            sa.no_key += 1
                            continue
                        sa.decrypted += 1
                elif n == 6:
                    host.frames, host.now, host.last_frame = frames, now, last
                    frame(it)
                    due = host.due()
                    gen = self.gen
                    continue
                # GRE data: the one counting routine
                pr = pairs.get(rk)
                if pr is None or pr.gen != gen:
                    host.frames, host.now, host.last_frame = frames, now, last
                    pr = setup(rk, last, t, wl)
                    if pr is None:  # a pair past MAX_PAIRS: counted together
                        continue
                tr = pr.tr
                tr.packets += 1
                tr.bytes += wl
                tr.last = t
                tr.frames[1] = last
                sc = pr.sc
                if sc is not None:
                    sc.direct_packets += 1
                    sc.direct_bytes += wl
                elif pr.watch is not None and idst is not None:
                    via_hub(pr.watch, idst, pr.dst, t)
        finally:
            host.frames, host.now, host.last_frame = frames, now, last
            if collecting:
                gc.enable()

    def count(self, host: Host, t: float, src: str, dst: str, key: int | None, nbytes: int,
              inner_dst: int | None) -> None:
        """A GRE data packet in the frame the host walks: counted by ``run``."""
        self.run(((t, nbytes, (src, dst, key), inner_dst),), host)

    # ------------------------------------------------------------------ the slow path

    def _setup(self, rk: Any, fr: int, t: float, nbytes: int) -> Pair | None:
        """The pair of ``rk``, new or stale: the once-only bookkeeping (its
        first data, the cache entries its data uses, its shortcut's first
        direct packet), then its lookups. ``run`` counts the packet. None
        past ``MAX_PAIRS``: the packet is counted with the untracked ones."""
        pr = self._pairs.get(rk)
        if pr is None:
            if isinstance(rk, bytes):
                src, dst = inet(rk[:4]), inet(rk[4:8])
                key = int.from_bytes(rk[12:16], "big") if len(rk) == 16 else None
            else:
                src, dst, key = rk
            if len(self._pairs) >= MAX_PAIRS and (src, dst) not in self.traffic:
                self._untracked(fr, nbytes)
                return None
            pr = self._pairs[rk] = Pair(self.pair(src, dst, t, fr), key)
        src, dst, tr = pr.src, pr.dst, pr.tr
        self._key(tr, pr.key)
        if tr.packets == 0:
            self.emit(t, fr, "data-first", self.routers.claimed(src), self.routers.claimed(dst),
                      "first GRE data", outer_src=src, outer_dst=dst)
        c = self.caches.get(self.routers.alias.get(src, src))
        if c is not None and c.has_nbma(dst):
            c.mark_used(dst)
        sc = self._sc_pairs.get((src, dst))
        if sc is not None and sc.first_direct_data is None:
            sc.first_direct_data = t
            sc.first_direct_frame = fr
            if len(sc.frames) < MAX_FRAMES:
                sc.frames.append(fr)
            self.emit(t, fr, "direct-data", self.routers.claimed(src), self.routers.claimed(dst),
                      "first data direct (shortcut in use)")
        self._refresh(pr)
        return pr

    def _refresh(self, pr: Pair) -> None:
        """Redo a pair's lookups (shortcut, via-hub watch, cache 'used' mark)."""
        src, dst = pr.src, pr.dst
        pr.gen = self.gen
        pr.sc = self._sc_pairs.get((src, dst))
        pr.watch = self._watch.get(src)
        csrc = self.routers.alias.get(src, src)
        if csrc != pr.csrc:
            if pr.csrc is None:
                self._pairs_by_src.setdefault(src, []).append(pr)
            pr.csrc = csrc
            self._pairs_by_cd.setdefault((csrc, dst), []).append(pr)
        if pr.sc is not None and pr.sc.first_direct_data is None:
            pr.gen = -1  # let the slow path note the first direct packet

    def _untracked(self, fr: int, nbytes: int) -> None:
        nt = self.not_tracked
        nt[0] += 1
        nt[1] += nbytes
        nt[2] = nt[2] or fr
        nt[3] = fr

    def warnings(self) -> list[str]:
        """A capture warning when GRE pairs went untracked."""
        packets, nbytes, first, last = self.not_tracked
        if not packets:
            return []
        return [f"GRE: {len(self.traffic):,} address pairs counted one by one (the limit); "
                f"{packets:,} more packets ({nbytes:,} bytes, frames {first}..{last}) between "
                f"further pairs only counted together"]

    def pair(self, src: str, dst: str, t: float, fr: int) -> Traffic:
        """The traffic record of ``src`` -> ``dst``, seen at ``t`` in ``fr``
        (past ``MAX_PAIRS`` a record of its own that is not kept)."""
        tr = self.traffic.get((src, dst))
        if tr is None:
            tr = Traffic(src, dst, first=t, frames=[fr, fr])
            if len(self.traffic) < MAX_PAIRS:
                self.traffic[(src, dst)] = tr
        tr.last = t
        tr.frames[1] = fr
        return tr

    @staticmethod
    def _key(tr: Traffic, key: int | None) -> None:
        if key not in tr.gre_keys and len(tr.gre_keys) < 8:
            tr.gre_keys.append(key)

    def keepalive(self, t: float, fr: int, src: str, dst: str, key: int | None) -> None:
        tr = self.pair(src, dst, t, fr)
        self._key(tr, key)
        tr.keepalives += 1

    def nhrp(self, t: float, fr: int, src: str, dst: str, key: int | None) -> None:
        """GRE carrying NHRP: the pair and its key, not data."""
        tr = self.pair(src, dst, t, fr)
        tr.nhrp += 1
        self._key(tr, key)

    # ------------------------------------------------------------------ what the NHRP observer changes

    def cache_entry_added(self, owner: str, nbma: str) -> None:
        """A cache entry of ``owner`` now points at ``nbma``: data from the
        owner to it must be seen once by the slow path (``mark_used``)."""
        for pr in self._pairs_by_cd.get((owner, nbma), ()):
            pr.gen = -1

    def shortcut(self, a: str, b: str) -> Shortcut | None:
        return self._sc_pairs.get((a, b) if a < b else (b, a))

    def add_shortcut(self, sc: Shortcut, a_addrs: list[str], b_addrs: list[str]) -> None:
        """A new shortcut between ``sc.a_nbma`` and ``sc.b_nbma``: data between
        any of their addresses is direct."""
        a, b = sc.a_nbma, sc.b_nbma
        self.shortcuts.append(sc)
        self._sc_pairs[(a, b) if a < b else (b, a)] = sc
        for x in a_addrs:
            for y in b_addrs:
                self._sc_pairs[(x, y)] = sc
                self._sc_pairs[(y, x)] = sc

    def watch(self, sc: Shortcut, a_addrs: list[str], b_addrs: list[str],
              nets: list[tuple[int, int]]) -> None:
        """Count data from ``a`` to ``nets`` that still goes elsewhere than ``b``
        (via the hub), then let either end's pairs look again."""
        peer = frozenset(b_addrs)
        for x in a_addrs:
            w = self._watch.setdefault(x, [])
            for net, mask in nets:
                if not any(e[0] == net and e[1] == mask and e[2] is sc for e in w) \
                        and len(w) < MAX_WATCH:
                    w.append((net, mask, sc, peer))
        for x in {*a_addrs, *b_addrs}:
            for pr in self._pairs_by_src.get(x, ()):
                pr.gen = -1

    def behind_nat(self, nbma: str, public: str, changed: bool, first: bool) -> None:
        """``nbma`` is reached at ``public``: the lookups by wire address learn it."""
        if changed:
            self.gen += 1  # every pair looks up aliases, shortcuts and watches again
        if not first:
            return
        for (a, b), sc in list(self._sc_pairs.items()):
            if a == nbma:
                self._sc_pairs[(public, b)] = sc
            if b == nbma:
                self._sc_pairs[(a, public)] = sc
        if nbma in self._watch:
            self._watch[public] = self._watch[nbma]

    # ------------------------------------------------------------------ fragments

    def fragment(self, t: float, fr: int, src: str, dst: str, proto: int) -> None:
        """An IP fragment of a tunnel packet (GRE, ESP, NAT-T ESP)."""
        pair = (src, dst)
        self.fragments[pair] = self.fragments.get(pair, 0) + 1
        self.state(Fragmented(proto, src, dst, self.routers.claimed(src),
                              self.routers.claimed(dst), t, fr))

    def frag_needed(self, t: float, fr: int, la: Any, src: str | None, dst: str | None) -> None:
        """ICMP fragmentation-needed / packet-too-big, about the packet it quotes."""
        osrc, odst = getattr(la, "orig_src", None), getattr(la, "orig_dst", None)
        routers = tuple(x for x in (self.routers.claimed(osrc), self.routers.claimed(odst)) if x)
        self.state(FragmentationNeeded(src, dst, getattr(la, "mtu", None), osrc, odst, routers,
                                       t, fr))
