"""The replay engine: decoded packets in, routers / transactions / caches /
findings out, in one streaming pass.

Frames arrive in time order (``source.CaptureSource``). ``feed`` classifies
each from a few header bytes: GRE data and ESP for which no key is known are
only counted per NBMA pair or per SA (the hot path: no decode, no
allocation beyond the counters); everything else is decoded fully and
walked layer by layer. NHRP messages drive the per-transaction state
machines of ``nhrp_state`` and the per-router caches of ``cache``.

Memory grows with routers, NBMA pairs, SAs and open transactions; the
closed transaction records are kept for the report (they are control
plane: a few per router per holding time), packets never.

It infers; it never invents: each record and finding cites the frames that
show it.
"""

from __future__ import annotations

import gc
import heapq
import ipaddress
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from dissectors.frame import FrameDecoder, Packet
from nhrpscope.replay import findings as F
from nhrpscope.replay.cache import DYNAMIC, INCOMPLETE, NEGATIVE, STATIC, NhrpCache
from nhrpscope.replay.detectors import Context, Dispatcher
from nhrpscope.replay.facts.capture import CaptureEnd, CaptureView, NatTraversal
from nhrpscope.replay.facts.nhrp import (
    MESSAGE_TITLES,
    ErrorIndicationSent,
    HopCountZero,
    MalformedNhrp,
    NatDetected,
    PurgeUnanswered,
    RedirectIgnored,
    RegistrationExpired,
    RegistrationRejected,
    RegistrationUnanswered,
    ResolutionNak,
    ResolutionUnanswered,
    UniqueAddressConflict,
)
from nhrpscope.replay.facts.tunnel import (
    EspDecryptionFailed,
    EspIcvFailed,
    EspNoKey,
    EspReplay,
    FragmentationNeeded,
    Fragmented,
)
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.findings import FindingSet
from nhrpscope.replay.ipsec_state import IpsecState
from nhrpscope.replay.model import (
    Analysis,
    CaptureInfo,
    ErrorIndication,
    Event,
    Hop,
    Purge,
    Redirect,
    Registration,
    Resolution,
    Router,
    SecurityAssociation,
    Shortcut,
    Traffic,
)
from nhrpscope.replay.nhrp_state import (
    REPLY_TIMEOUT,
    PurgeTxn,
    RedirectTxn,
    RegistrationTxn,
    ResolutionTxn,
)
from nhrpscope.replay.source import Item

# How long an incomplete cache entry (resolution sent, no answer) lives (IOS: 3 min).
INCOMPLETE_HOLD = 180
# How many closed transactions stay findable by key for late duplicates.
RECENT_KEYS = 4096
MAX_ROUTER_FRAMES = 8
ESP_REPLAY_WINDOW = 1024
_REPLAY_MASK = (1 << ESP_REPLAY_WINDOW) - 1


class _RouterState:
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

    @property
    def tunnel(self) -> str | None:
        return self.tunnels[0] if self.tunnels else None

    def is_hub(self) -> bool:
        return bool(self.reg_answered or self.res_forwarded or self.ti_sent or self.reg_received
                    or self.res_answered_other or self.asked_direct)

    @property
    def role(self) -> str:
        if self.is_hub():
            return "hub"
        if self.reg_sent or self.res_sent or self.res_answered_self:
            return "spoke"
        return "unknown"


class _Pair:
    """Hot-path state of one directed NBMA pair and GRE key: what a data
    packet's counting needs, looked up once. Stale when ``gen`` differs from
    ``Engine.gen`` (a NAT alias changed) or is -1: a shortcut or via-hub
    watch of either end changed, or its source's NHRP cache gained an entry
    for its destination, which the slow path's ``mark_used`` must see."""

    __slots__ = ("tr", "gen", "sc", "watch", "csrc", "src", "dst")

    def __init__(self, tr: Traffic) -> None:
        self.tr = tr
        self.gen = -1
        self.sc: Shortcut | None = None
        self.watch: list | None = None
        self.csrc: str | None = None
        self.src = tr.src_nbma
        self.dst = tr.dst_nbma


class _WatchedCache(NhrpCache):
    """An NHRP cache that tells the engine when an entry appears: data
    packets from its owner to that entry's NBMA address must then take the
    slow path once, which marks the entry used."""

    __slots__ = ("owner", "on_new", "plens")

    def __init__(self, owner: str, on_new: Callable[[str, str], None]) -> None:
        super().__init__()
        self.owner = owner
        self.on_new = on_new
        self.plens: set[int] = set()  # every prefix length an entry ever had

    def put(self, t: float, frame: int, **kw: Any) -> Any:
        old = self.entries.get((kw.get("proto"), kw.get("prefix_len", 32)))
        e = super().put(t, frame, **kw)
        self.plens.add(e.prefix_len)
        if e is not old and e.nbma:
            self.on_new(self.owner, e.nbma)
        return e

    def with_proto(self, proto: str) -> Iterable[Any]:
        """The entries for ``proto`` (any prefix length), in the cache's order:
        a lookup when one prefix length is all there is (a hub's registered
        hosts), not a walk over thousands of entries."""
        if len(self.plens) == 1:
            e = self.entries.get((proto, next(iter(self.plens))))
            return (e,) if e is not None else ()
        return [e for e in self.entries.values() if e.proto == proto]


class _SaState:
    __slots__ = ("rec", "top", "bits", "first_frame")

    def __init__(self, rec: SecurityAssociation) -> None:
        self.rec = rec
        self.top = 0
        self.bits = 0
        self.first_frame = 0


# Where the NHRP fixed header keeps its checksum (RFC 2332 5.2.0.1)
_NHRP_CHECKSUM_AT = 12


def _nhrp_problems(pkt: Packet, i: int) -> bool:
    """Does the NHRP layer ``pkt.layers[i]`` fail a length check? Its problems
    are those at or after its offset in the frame (or, inside decrypted ESP
    where offsets are not the frame's, those the NHRP decoder reported); the
    checksum's own problem is not one."""
    if not pkt.problems:
        return False
    off = pkt.offsets[i] if i < len(pkt.offsets) else -1
    if off >= 0:
        return any(p.offset >= off and p.offset != off + _NHRP_CHECKSUM_AT for p in pkt.problems)
    return any(p.layer == "nhrp" and p.offset != _NHRP_CHECKSUM_AT for p in pkt.problems)


def _host_len(addr: str | None) -> int:
    return 128 if addr and ":" in addr else 32


def _norm_prefix(addr: str | None, plen: int | None) -> int:
    """CIE prefix lengths 0 and 255 (IOS) mean "this host"."""
    full = _host_len(addr)
    if plen is None or plen == 0 or plen > full:
        return full
    return plen


@lru_cache(maxsize=8192)  # the same few thousand prefixes, registered again and again
def _network(addr: str, plen: int) -> str:
    try:
        return str(ipaddress.ip_network(f"{addr}/{plen}", strict=False).network_address)
    except ValueError:
        return addr


def _net_mask(addr: str, plen: int) -> tuple[int, int] | None:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        return None
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
    return int(ip) & mask, mask


def _ext(n: Any, name: str) -> Any:
    for e in getattr(n, "extensions", ()) or ():
        if getattr(e, "name", None) == name:
            return e
    return None


def _ext_cies(n: Any, name: str) -> tuple:
    e = _ext(n, name)
    return tuple(getattr(e, "cies", ()) or ()) if e is not None else ()


def _password(n: Any) -> str | None:
    e = _ext(n, "authentication")
    if e is None:
        return None
    pw = getattr(e, "password", None)
    if pw is None:
        data = getattr(e, "data", b"")
        pw = data.hex() if data else ""
    return pw


def _offending_summary(off: Any) -> dict | None:
    if off is None:
        return None
    if isinstance(off, tuple):
        for la in off:
            if getattr(la, "proto", "") in ("ipv4", "ipv6"):
                return {"proto": la.proto, "src": la.src, "dst": la.dst}
        return None
    return {"type": getattr(off, "type", None), "request_id": getattr(off, "request_id", None),
            "src_nbma": getattr(off, "src_nbma", None), "src_proto": getattr(off, "src_proto", None),
            "dst_proto": getattr(off, "dst_proto", None)}


class Engine:
    """Feed frames (``feed``) or decoded packets (``feed_packet``) in time
    order, then ``finish()`` for the ``Analysis``. ``caches`` holds each
    router's NHRP cache at the current replay time."""

    def __init__(self, sa_lookup: Callable | None = None, *,
                 on_event: Callable[[Event], None] | None = None,
                 on_finding: Callable | None = None, fast: bool = True,
                 verify_all: bool = False) -> None:
        self.sa_lookup = sa_lookup
        self.decoder = FrameDecoder(sa_lookup)
        self.on_event = on_event
        self.findings = FindingSet(on_finding)
        # fast: count GRE data and ESP from their bytes (``feed_records``); False: decode
        # every frame. verify_all: the fast path checks every ESP packet's ICV too.
        self.fast = fast
        self.verify_all = verify_all
        self.classifier = Classifier(sa_lookup, verify_all=verify_all)
        self.now = float("-inf")
        self.frames = 0
        self.first: float | None = None
        self.last_frame = 0
        self.routers: dict[str, _RouterState] = {}
        self.alias: dict[str, str] = {}  # public (outer) NBMA -> claimed NBMA
        self.caches: dict[str, NhrpCache] = {}
        self.registrations: list[Registration] = []
        self.resolutions: list[Resolution] = []
        self.shortcuts: list[Shortcut] = []
        self.redirects: list[Redirect] = []
        self.purges: list[Purge] = []
        self.errors: list[ErrorIndication] = []
        self.traffic: dict[tuple[str, str], Traffic] = {}
        self._pair_pw: dict[tuple[str, str], set] = {}
        self._pair_pw_frame: dict[tuple[str, str], int] = {}
        self._txns: dict[tuple, Any] = {}  # recent transactions by RFC key
        self._open_reg: dict[tuple[str, str], RegistrationTxn] = {}
        self._open_res: dict[tuple[str, str], ResolutionTxn] = {}
        self._open_redirect: dict[tuple[str, str], RedirectTxn] = {}
        self._pair_reg: dict[tuple[str, str], dict] = {}
        self._deadlines: list[tuple[float, int, Any]] = []
        self._expiry: list[tuple[float, int, str, tuple[str, int], str]] = []
        self._seq = 0
        self._sc_pairs: dict[tuple[str, str], Shortcut] = {}
        self._watch: dict[str, list[tuple[int, int, Shortcut, frozenset]]] = {}
        self._sas: dict[tuple[int, str, str], _SaState] = {}
        self._natt: dict[tuple[str, str], tuple[int, int, int, float]] = {}
        self._frag: dict[tuple[str, str], int] = {}
        self._addr_cache: dict[bytes, str] = {}
        self._raw_pairs: dict[bytes, _Pair] = {}
        self._esp_names: dict[bytes, tuple[int, str, str]] = {}
        self._esp_hot: dict[bytes, tuple[_SaState, Any]] = {}
        self._pairs_by_cd: dict[tuple[str, str], list[_Pair]] = {}
        self._pairs_by_src: dict[str, list[_Pair]] = {}
        # bumped when a NAT alias changes: every pair's lookups are redone (new
        # shortcuts and cache entries invalidate just the pairs they concern)
        self.gen = 0
        self._last_request: dict[tuple[str, str], float] = {}
        self._last_reg_frames: dict[tuple[str, str, int], list[int]] = {}
        # IKE negotiations and the ESP SA pairing (ipsec_state)
        self.ipsec = IpsecState(self.findings, emit=self._emit, name=self._name)
        # observers state facts; the detectors word them as findings
        self._state = Dispatcher(Context(self.findings, self._name))

    # ------------------------------------------------------------------ input

    def feed(self, it: Item) -> None:
        """One frame (anything with number, time, linktype, data, wire_len, comment)."""
        self.feed_records(((it.number, it.time, it.linktype, it.data, it.wire_len, it.comment),))

    def feed_record(self, rec: tuple) -> None:
        """One frame as a tuple (number, time, linktype, data, wire_len, comment)."""
        self.feed_records((rec,))

    def feed_records(self, records: Iterable[tuple]) -> None:
        """Frames as tuples (number, time, linktype, data, wire_len, comment),
        in time order. GRE data and ESP are classified from a few header
        bytes (``fastpath.Classifier``) and counted without decoding;
        anything else is decoded and walked."""
        if not self.fast:
            self.feed_items(records)
            return
        classify = self.classifier.classify
        self.feed_items(rec if (m := classify(rec)) is None else m for rec in records)

    def feed_batches(self, batches: Iterable[list[tuple]]) -> None:
        """Frames as lists of tuples (``CaptureSource.record_batches``), in
        time order: ``feed_records`` with the classification done a list at
        a time (``Classifier.classify_batch``)."""
        if not self.fast:
            self.feed_items(chain.from_iterable(batches))
            return
        self.feed_items(chain.from_iterable(map(self.classifier.classify_batch, batches)))

    def feed_items(self, items: Iterable[tuple]) -> None:
        """What ``fastpath`` makes of frames, in time order: a classified
        data packet (5 values: GRE; 9: ESP), or a frame (6 values) to decode
        and walk.

        The loop keeps the frame count, the replay time and the next due
        deadline in locals and writes them back to the engine before
        anything else runs (a decode, a slow path, a deadline), so a GRE data
        packet of a known pair costs a dict lookup and a few additions."""
        decode = self.decoder.decode
        walk = self._walk
        gre_count = self._gre_count
        esp_item = self._esp_item
        esp_hot = self._esp_hot
        pairs = self._raw_pairs
        via_hub = self._via_hub
        frames, now, last = self.frames, self.now, self.last_frame
        unset = self.first is None
        gen = self.gen
        due = self._due()
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
                else:
                    last, t = it[0], it[1]
                frames += 1
                if unset:
                    self.first = t
                    unset = False
                if t > now:
                    now = t
                    if t >= due:
                        self.frames, self.now, self.last_frame = frames, now, last
                        self._advance(t)
                        due = self._due()
                if n == 9:
                    # ESP: _esp_item's hot path, inline (the next sequence number on a
                    # known SA), then its GRE data packet below
                    hot = esp_hot.get(ek)
                    if hot is None or seq != hot[0].top + 1 or (rk is None and not hot[1]):
                        self.frames, self.now, self.last_frame = frames, now, last
                        esp_item(*it)
                        continue
                    st = hot[0]
                    sa = st.rec
                    sa.packets += 1
                    sa.bytes += wl
                    sa.last = t
                    sa.frames[1] = last
                    st.bits = ((st.bits << 1) | 1) & _REPLAY_MASK
                    st.top = seq
                    if rk is None:
                        sa.undecrypted += 1
                        sa.no_key += 1
                        continue
                    sa.decrypted += 1
                elif n != 5:
                    self.frames, self.now, self.last_frame = frames, now, last
                    number, t, lt, data, wl, comment = it
                    walk(decode(lt, data, frame=number, time=t, wire_len=wl, comment=comment))
                    due = self._due()
                    gen = self.gen
                    continue
                # GRE data: _gre_count's hot path, inline
                pr = pairs.get(rk)
                if pr is not None and pr.gen == gen:
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
                    continue
                self.frames, self.now, self.last_frame = frames, now, last
                gre_count(last, t, wl, rk, idst)
        finally:
            self.frames, self.now, self.last_frame = frames, now, last
            if collecting:
                gc.enable()

    def _due(self) -> float:
        """When the next request timeout or binding expiry falls due."""
        d = self._deadlines[0][0] if self._deadlines else float("inf")
        if self._expiry and self._expiry[0][0] < d:
            d = self._expiry[0][0]
        return d

    def feed_packet(self, pkt: Packet) -> None:
        """One decoded packet (for callers that decode themselves)."""
        self._tick(pkt.time, pkt.frame)
        self._walk(pkt)

    def _tick(self, t: float, frame: int) -> None:
        self.frames += 1
        self.last_frame = frame
        if self.first is None:
            self.first = t
        if t > self.now:
            self.now = t
            if (self._deadlines and self._deadlines[0][0] <= t) or \
                    (self._expiry and self._expiry[0][0] <= t):
                self._advance(t)

    def _addr(self, b: bytes) -> str:
        s = self._addr_cache.get(b)
        if s is None:
            s = socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)
            if len(self._addr_cache) < 65536:
                self._addr_cache[b] = s
        return s

    def _gre_count(self, number: int, t: float, wl: int, rk: bytes, inner_dst: int | None) -> None:
        """Count one GRE data packet (the hot path); ``rk``: outer source,
        destination (4 bytes each), the GRE header's first 4 bytes and its key
        (4 bytes, when present)."""
        pr = self._raw_pairs.get(rk)
        if pr is None or pr.gen != self.gen:
            src, dst = self._addr(rk[:4]), self._addr(rk[4:8])
            key = int.from_bytes(rk[12:16], "big") if len(rk) == 16 else None
            self._gre_data(t, number, src, dst, key, wl, inner_dst, False)
            if pr is None:
                pr = self._raw_pairs[rk] = _Pair(self.traffic[(src, dst)])
            self._refresh(pr)
            return
        # the hot path: counters only
        tr = pr.tr
        tr.packets += 1
        tr.bytes += wl
        tr.last = t
        tr.frames[1] = number
        sc = pr.sc
        if sc is not None:
            sc.direct_packets += 1
            sc.direct_bytes += wl
        elif inner_dst is not None and pr.watch is not None:
            self._via_hub(pr.watch, inner_dst, pr.dst, t)

    def _esp_item(self, number: int, t: float, wl: int, rk: bytes | None, inner_dst: int | None,
                  ek: bytes, seq: int, sport: int, dport: int) -> None:
        """Count one ESP packet: no key (``rk`` None), or decrypted with a GRE
        data packet inside, as ``_walk`` counts them (``feed_items`` has the
        common case inline: the next sequence number on an SA seen before;
        keep it in step with ``_esp``)."""
        names = self._esp_names.get(ek)
        if names is None:  # ek: source, destination, SPI (4 bytes each) and 1 for NAT-T
            names = self._esp_names[ek] = (int.from_bytes(ek[8:12], "big"), self._addr(ek[0:4]),
                                           self._addr(ek[4:8]))
        spi, src, dst = names
        natt = sport != 0
        if natt:
            self._natt_seen(src, dst, sport, dport, number, t)
        self._esp(t, number, spi, seq, src, dst, wl, "no-key" if rk is None else "decrypted", None,
                  natt)
        st = self._sas[(spi, src, dst)]
        self._esp_hot[ek] = (st, st.rec.no_key > 0)
        if rk is not None:
            self._gre_count(number, t, wl, rk, inner_dst)

    def _walk(self, pkt: Packet) -> None:
        t, fr = pkt.time, pkt.frame
        layers = pkt.layers
        src = dst = None
        ip_len = pkt.wire_len  # bytes are counted as frames on the wire
        natt = False
        gre_key = None
        n = len(layers)
        i = 0
        while i < n:
            la = layers[i]
            p = la.proto
            if p == "ipv4" or p == "ipv6":
                src, dst = la.src, la.dst
                if p == "ipv4":
                    frag = "mf" in la.flags or la.frag_offset > 0
                    proto = la.protocol
                else:
                    frag = any(e.name == "fragment" and (e.frag_offset or e.more_fragments)
                               for e in la.extensions)
                    proto = la.protocol
                if frag or la.reassembled_from:
                    nxt = layers[i + 1] if i + 1 < n else None
                    if proto in (47, 50) or (proto == 17 and nxt is not None and nxt.proto == "udp"
                                             and 4500 in (nxt.src_port, nxt.dst_port)):
                        self._fragment(t, fr, la, proto)
                    if frag and not la.reassembled_from:
                        return  # a piece; the whole is walked in the frame completing it
            elif p == "udp":
                if 4500 in (la.src_port, la.dst_port):
                    natt = True
                    if i + 1 < n and layers[i + 1].proto == "esp" and src and dst:
                        self._natt_seen(src, dst, la.src_port, la.dst_port, fr, t)
            elif p == "ike":
                u = layers[i - 1] if i and layers[i - 1].proto == "udp" else None
                self.ipsec.ike(t, fr, la, src, dst, getattr(u, "src_port", 0), getattr(u, "dst_port", 0))
            elif p == "esp":
                self._esp(t, fr, la.spi, la.seq, src or "?", dst or "?", pkt.wire_len,
                          getattr(la, "status", None) or
                          ("decrypted" if getattr(la, "decrypted", False) else "no-key"),
                          getattr(la, "icv_ok", None), natt)
            elif p == "gre":
                gre_key = la.key
                nxt = layers[i + 1] if i + 1 < n else None
                if src and dst:
                    if la.keepalive:
                        self._gre_data(t, fr, src, dst, gre_key, ip_len, None, True)
                    elif nxt is not None and nxt.proto in ("ipv4", "ipv6"):
                        inner = None
                        if nxt.proto == "ipv4":
                            inner = int(ipaddress.IPv4Address(nxt.dst))
                        self._gre_data(t, fr, src, dst, gre_key, ip_len, inner, False)
                    elif nxt is not None and nxt.proto == "nhrp":
                        self._gre_nhrp(t, fr, src, dst, gre_key, ip_len)
                    else:  # other payloads (CDP, ERSPAN, ...): counted, nothing more
                        self._gre_data(t, fr, src, dst, gre_key, ip_len, None, False)
                        if nxt is not None and nxt.proto == "erspan":
                            return
            elif p == "nhrp":
                checksum_bad = la.checksum_ok is False
                length_bad = _nhrp_problems(pkt, i)
                if checksum_bad or length_bad:
                    # RFC 2332 5.1/5.3: the receiver drops it; it moves no state
                    self._state(MalformedNhrp(la.type, self._claimed(src), self._claimed(dst),
                                              checksum_bad, length_bad, t, fr))
                    return
                self._nhrp(t, fr, la, src, dst, gre_key, natt)
                return
            elif p == "icmp" or p == "icmpv6":
                if (p == "icmp" and la.type == 3 and la.code == 4) or (p == "icmpv6" and la.type == 2):
                    self._frag_needed(t, fr, la, src, dst)
            i += 1

    # ------------------------------------------------------------------ plumbing

    def _emit(self, t: float, fr: int, kind: str, src: str | None, dst: str | None, label: str,
              **detail: Any) -> None:
        if self.on_event is not None:
            self.on_event(Event(t, fr, kind, src, dst, label, detail))

    def _claimed(self, addr: str | None) -> str | None:
        if addr is None:
            return None
        return self.alias.get(addr, addr)

    def _router(self, nbma: str, t: float, fr: int) -> _RouterState:
        r = self.routers.get(nbma)
        if r is None:
            r = self.routers[nbma] = _RouterState(nbma, t)
        r.last = t
        if len(r.frames) < MAX_ROUTER_FRAMES and fr not in r.frames:
            r.frames.append(fr)
        return r

    def _cache(self, nbma: str) -> NhrpCache:
        c = self.caches.get(nbma)
        if c is None:
            c = self.caches[nbma] = _WatchedCache(nbma, self._cache_entry_added)
        return c

    def _addrs(self, nbma: str) -> list[str]:
        """A router's claimed NBMA plus its public address when NATed."""
        r = self.routers.get(nbma)
        if r is not None and r.public and r.public != nbma:
            return [nbma, r.public]
        return [nbma]

    def _wire(self, nbma: str | None) -> str | None:
        """The address packets to ``nbma`` are sent to (public when NATed)."""
        if nbma is None:
            return None
        r = self.routers.get(nbma)
        return r.public if r is not None and r.public else nbma

    def _push_deadline(self, when: float, txn: Any) -> None:
        self._seq += 1
        heapq.heappush(self._deadlines, (when, self._seq, txn))

    def _remember(self, key: tuple, txn: Any) -> None:
        self._txns[key] = txn
        if len(self._txns) > RECENT_KEYS:
            # drop the oldest closed transaction (dicts keep insertion order)
            for k in list(islice(self._txns, len(self._txns) - RECENT_KEYS)):
                if not self._txns[k].open:
                    del self._txns[k]

    def _advance(self, t: float) -> None:
        """Fire what time has made due: request timeouts, binding expiries."""
        while self._deadlines and self._deadlines[0][0] <= t:
            when, _, txn = heapq.heappop(self._deadlines)
            if not txn.open:
                continue
            if txn.deadline > when:
                self._push_deadline(txn.deadline, txn)
                continue
            if txn.fire("timeout"):
                self._closed(txn, when)
        while self._expiry and self._expiry[0][0] <= t:
            when, _, hub, key, spoke = heapq.heappop(self._expiry)
            c = self.caches.get(hub)
            e = c.get(*key) if c is not None else None
            if e is None or e.expires is None or e.expires > when or e.source != "registration":
                continue
            c.remove(*key)
            self._registration_expired(when, hub, spoke, e)

    def _closed(self, txn: Any, t: float) -> None:
        """A transaction went unanswered / ignored: say so."""
        if isinstance(txn, RegistrationTxn):
            rec = txn.record
            pair = (rec.spoke_nbma or "?", rec.hub_nbma or "?")
            st = self._pair_reg.setdefault(pair, {"unanswered": 0, "ok_after": False})
            st["unanswered"] += 1
            st["ok_after"] = False
            self._raise_reg_unanswered(rec, t)
            c = self.caches.get(rec.spoke_nbma or "")
            if c is not None and rec.hub_tunnel:
                e = c.get(rec.hub_tunnel, _host_len(rec.hub_tunnel))
                if e is not None and e.state == "UP" and not self._hub_entry_alive(rec, t):
                    c.set_state(t, rec.hub_tunnel, _host_len(rec.hub_tunnel), "NHRP")
        elif isinstance(txn, ResolutionTxn):
            rec = txn.record
            if self._reply_unobservable(rec):
                return
            self._state(ResolutionUnanswered(
                rec.requester_nbma, rec.target_tunnel, rec.hops[0].to_nbma if rec.hops else None,
                rec.request_time, tuple(rec.frames)))
        elif isinstance(txn, RedirectTxn):
            rec = txn.record
            self._state(RedirectIgnored(rec.hub_nbma, rec.spoke_nbma, rec.orig_src, rec.orig_dst,
                                        rec.time, tuple(rec.frames)))
        elif isinstance(txn, PurgeTxn):
            rec = txn.record
            self._state(PurgeUnanswered(rec.sender_nbma, rec.receiver_nbma, rec.request_time,
                                        tuple(rec.frames)))

    def _reply_unobservable(self, rec: Any) -> bool:
        """A capture taken on one router's port (every packet to or from it)
        cannot see a reply that goes from the target straight to the
        requester: a hub's port never sees spoke-to-spoke NHRP. Silence is
        then no evidence of an unanswered request."""
        if len(self.traffic) < 2 or not rec.hops:
            return False
        vantage = set.intersection(*({s, d} for s, d in self.traffic))
        path = {rec.requester_nbma, rec.hops[-1].to_nbma}
        return bool(vantage) and not (vantage & path)

    def _hub_entry_alive(self, rec: Registration, t: float) -> bool:
        c = self.caches.get(rec.hub_nbma or "")
        if c is None or not rec.spoke_tunnel:
            return False
        return any(e.alive(t) and e.claimed_nbma == rec.spoke_nbma
                   for e in c.entries.values() if e.proto == rec.spoke_tunnel)

    def _name(self, nbma: str | None) -> str:
        if not nbma:
            return "?"
        r = self.routers.get(nbma)
        if r is not None and r.tunnel:
            return f"{nbma} ({r.tunnel})"
        return nbma

    def _raise_reg_unanswered(self, rec: Registration, t: float,
                              frames: list[int] | None = None) -> None:
        self._state(RegistrationUnanswered(rec.spoke_nbma, rec.hub_nbma, rec.request_time,
                                           tuple(rec.frames if frames is None else frames)))

    def _registration_expired(self, when: float, hub: str, spoke: str, e: Any) -> None:
        self._emit(when, self.last_frame, "expired", hub, spoke,
                   f"registration of {e.proto} expired", spoke=spoke, hub=hub)
        sc = self.caches.get(spoke)
        r = self.routers.get(hub)
        if sc is not None and r is not None:
            for tun in r.tunnels:
                sc.set_state(when, tun, _host_len(tun), "NHRP")
        refreshed = e.expires - (e.holding_time or 0)
        if self._last_request.get((spoke, hub), float("-inf")) > refreshed:
            return  # the spoke kept trying: registration-unanswered says why
        frames = self._last_reg_frames.get((hub, e.proto, e.prefix_len), e.frames[-1:])
        self._state(RegistrationExpired(spoke, hub, e.holding_time, when, tuple(frames)))

    def _nat(self, nbma: str, public: str, why: str, t: float, fr: int) -> None:
        if not nbma or not public or nbma == public:
            return
        r = self._router(nbma, t, fr)
        first = not r.nat
        if first or r.public != public or self.alias.get(public) != nbma:
            self.gen += 1  # the hot path's pairs look up aliases, shortcuts and watches again
        r.nat = True
        r.public = public
        r.nat_evidence = r.nat_evidence or why
        self.alias[public] = nbma
        if first:
            self._state(NatDetected(nbma, public, why, t, fr))
            self._emit(t, fr, "nat", nbma, None, f"NAT: {nbma} seen as {public}")
            # direct-data and via-hub lookups by wire address learn the new one
            for (a, b), sc in list(self._sc_pairs.items()):
                if a == nbma:
                    self._sc_pairs[(public, b)] = sc
                if b == nbma:
                    self._sc_pairs[(a, public)] = sc
            if nbma in self._watch:
                self._watch[public] = self._watch[nbma]
            for c in self.caches.values():
                for ent in list(c.entries.values()):
                    if ent.nbma == nbma and ent.claimed_nbma == nbma:
                        c._drop(ent)
                        ent.nbma = public
                        ent.nat = True
                        c.entries[(ent.proto, ent.prefix_len)] = ent
                        c._by_nbma.setdefault(public, []).append(ent)

    def _forwarded(self, n: Any, outer_src: str | None) -> bool:
        """Was this request passed on by an NHS (rather than sent by its originator)?"""
        if _ext_cies(n, "forward-transit-nhs-record"):
            return True
        if outer_src is None or outer_src == n.src_nbma:
            return False
        if self.alias.get(outer_src) == n.src_nbma:
            return False
        r = self.routers.get(self._claimed(outer_src) or "")
        return bool(r is not None and r.tunnels and n.src_proto not in r.tunnels)

    # ------------------------------------------------------------------ data plane

    def _traffic(self, src: str, dst: str, t: float, fr: int) -> Traffic:
        tr = self.traffic.get((src, dst))
        if tr is None:
            tr = self.traffic[(src, dst)] = Traffic(src, dst, first=t, frames=[fr, fr])
        tr.last = t
        tr.frames[1] = fr
        return tr

    def _gre_key(self, tr: Traffic, key: int | None, src: str, t: float, fr: int) -> None:
        if key not in tr.gre_keys and len(tr.gre_keys) < 8:
            tr.gre_keys.append(key)

    def _gre_data(self, t: float, fr: int, src: str, dst: str, key: int | None, nbytes: int,
                  inner_dst: int | None, keepalive: bool) -> None:
        tr = self.traffic.get((src, dst))
        if tr is None:
            tr = self._traffic(src, dst, t, fr)
        else:
            tr.last = t
            tr.frames[1] = fr
        if key not in tr.gre_keys:
            self._gre_key(tr, key, src, t, fr)
        if keepalive:
            tr.keepalives += 1
            return
        tr.packets += 1
        tr.bytes += nbytes
        if tr.packets == 1:
            self._emit(t, fr, "data-first", self._claimed(src), self._claimed(dst),
                       "first GRE data", outer_src=src, outer_dst=dst)
        csrc = self.alias.get(src, src) if self.alias else src
        c = self.caches.get(csrc)
        if c is not None and c.has_nbma(dst):
            c.mark_used(dst)
        sc = self._sc_pairs.get((src, dst))
        if sc is not None:
            sc.direct_packets += 1
            sc.direct_bytes += nbytes
            if sc.first_direct_data is None:
                sc.first_direct_data = t
                sc.first_direct_frame = fr
                if len(sc.frames) < F.MAX_FRAMES:
                    sc.frames.append(fr)
                self._emit(t, fr, "direct-data", self._claimed(src), self._claimed(dst),
                           "first data direct (shortcut in use)")
            return
        if inner_dst is not None:
            watch = self._watch.get(src)
            if watch is not None:
                self._via_hub(watch, inner_dst, dst, t)

    @staticmethod
    def _via_hub(watch: list, inner_dst: int, dst: str, t: float) -> None:
        for net, mask, wsc, peer in watch:
            if inner_dst & mask == net and dst not in peer:
                if t >= wsc.established:
                    wsc.via_hub_packets += 1
                return

    def _refresh(self, pr: _Pair) -> None:
        """Redo a pair's lookups (shortcut, via-hub watch, cache 'used' mark)."""
        src, dst = pr.src, pr.dst
        pr.gen = self.gen
        pr.sc = self._sc_pairs.get((src, dst))
        pr.watch = self._watch.get(src)
        csrc = self.alias.get(src, src)
        if csrc != pr.csrc:
            if pr.csrc is None:
                self._pairs_by_src.setdefault(src, []).append(pr)
            pr.csrc = csrc
            self._pairs_by_cd.setdefault((csrc, dst), []).append(pr)
        if pr.sc is not None and pr.sc.first_direct_data is None:
            pr.gen = -1  # let the slow path note the first direct packet

    def _cache_entry_added(self, owner: str, nbma: str) -> None:
        """A cache entry of ``owner`` now points at ``nbma``: data from the
        owner to it must be seen once by the slow path (``mark_used``)."""
        for pr in self._pairs_by_cd.get((owner, nbma), ()):
            pr.gen = -1

    def _gre_nhrp(self, t: float, fr: int, src: str, dst: str, key: int | None, nbytes: int) -> None:
        tr = self._traffic(src, dst, t, fr) if (src, dst) not in self.traffic else self.traffic[(src, dst)]
        tr.last = t
        tr.frames[1] = fr
        tr.nhrp += 1
        if key not in tr.gre_keys:
            self._gre_key(tr, key, src, t, fr)

    def _natt_seen(self, src: str, dst: str, sport: int, dport: int, fr: int, t: float) -> None:
        if (src, dst) not in self._natt:
            self._natt[(src, dst)] = (sport, dport, fr, t)

    def _fragment(self, t: float, fr: int, la: Any, proto: int) -> None:
        pair = (la.src, la.dst)
        self._frag[pair] = self._frag.get(pair, 0) + 1
        self._state(Fragmented(proto, la.src, la.dst, self._claimed(la.src),
                               self._claimed(la.dst), t, fr))

    def _frag_needed(self, t: float, fr: int, la: Any, src: str | None, dst: str | None) -> None:
        mtu = getattr(la, "mtu", None)
        osrc, odst = getattr(la, "orig_src", None), getattr(la, "orig_dst", None)
        routers = tuple(x for x in (self._claimed(osrc), self._claimed(odst)) if x)
        self._state(FragmentationNeeded(src, dst, mtu, osrc, odst, routers, t, fr))

    # ------------------------------------------------------------------ ESP

    def _esp(self, t: float, fr: int, spi: int, seq: int | None, src: str, dst: str, nbytes: int,
             status: str | None, icv_ok: bool | None, natt: bool) -> None:
        key = (spi, src, dst)
        st = self._sas.get(key)
        if st is None:
            st = self._sas[key] = _SaState(SecurityAssociation(f"0x{spi:08x}", src, dst, first=t,
                                                               frames=[fr, fr], natt=natt))
            self._emit(t, fr, "esp", self._claimed(src), self._claimed(dst),
                       f"ESP SA 0x{spi:08x}", spi=f"0x{spi:08x}")
        sa = st.rec
        sa.packets += 1
        sa.bytes += nbytes
        sa.last = t
        sa.frames[1] = fr
        if status == "decrypted":
            sa.decrypted += 1
        else:
            sa.undecrypted += 1
            if status == "decryption-failed" and icv_ok is not False:
                sa.decryption_failed += 1
                self._state(EspDecryptionFailed(sa.spi, src, dst, self._claimed(src),
                                                self._claimed(dst), t, fr))
            elif status in (None, "no-key"):
                sa.no_key += 1
                self._state(EspNoKey(sa.spi, src, dst, self._claimed(src), self._claimed(dst),
                                     t, fr))
        if icv_ok is False:
            sa.icv_failed += 1
            self._state(EspIcvFailed(sa.spi, src, dst, self._claimed(src), self._claimed(dst),
                                     t, fr))
        if seq:
            if seq == 1 and st.top > 1:  # the counter starts again on the same SPI
                sa.resets += 1
                st.top = st.bits = 0
            if seq > st.top:
                shift = seq - st.top
                if shift > 1 and st.top:
                    sa.gaps += shift - 1  # sequence numbers never seen at the tap
                st.bits = ((st.bits << shift) | 1) & ((1 << ESP_REPLAY_WINDOW) - 1) \
                    if shift < ESP_REPLAY_WINDOW else 1
                st.top = seq
            else:
                off = st.top - seq
                if off >= ESP_REPLAY_WINDOW or (st.bits >> off) & 1:
                    sa.replays += 1
                    self._state(EspReplay(sa.spi, src, dst, self._claimed(src),
                                          self._claimed(dst), t, fr))
                else:
                    st.bits |= 1 << off

    # ------------------------------------------------------------------ NHRP

    def _nhrp(self, t: float, fr: int, n: Any, osrc: str | None, odst: str | None,
              key: int | None, natt: bool) -> None:
        typ = n.type
        sender = self._claimed(osrc)
        receiver = self._claimed(odst)
        label = MESSAGE_TITLES.get(typ, typ)
        if n.request_id is not None:
            label += f" id={n.request_id}"
        if sender and receiver and sender != receiver:
            pw = _password(n)
            pr = (sender, receiver)
            s = self._pair_pw.setdefault(pr, set())
            if len(s) < 4:
                s.add(pw)
            self._pair_pw_frame.setdefault(pr, fr)
        if n.hop_count == 0:
            self._state(HopCountZero(typ, n.src_nbma, sender, receiver, t, fr))
        self._emit(t, fr, "nhrp", sender, receiver, label, type=typ, request_id=n.request_id,
                   src_nbma=n.src_nbma, src_proto=n.src_proto, dst_proto=n.dst_proto,
                   hop_count=n.hop_count)
        handler = {
            "registration-request": self._reg_request,
            "registration-reply": self._reg_reply,
            "resolution-request": self._res_request,
            "resolution-reply": self._res_reply,
            "purge-request": self._purge_request,
            "purge-reply": self._purge_reply,
            "error-indication": self._error_indication,
            "traffic-indication": self._traffic_indication,
        }.get(typ)
        if handler is not None:
            handler(t, fr, n, osrc, odst, sender, receiver, natt)

    def _pw(self, r: _RouterState, n: Any) -> None:
        if len(r.passwords) < 4:
            r.passwords.add(_password(n))

    # -- registration (RFC 2332 5.2.3 / 5.2.4)

    def _reg_request(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        spoke = n.src_nbma or sender
        if not spoke:
            return
        if not self._forwarded(n, osrc) and osrc and n.src_nbma and osrc != n.src_nbma \
                and self.alias.get(osrc) != n.src_nbma:
            self._nat(n.src_nbma, osrc, f"it claims NBMA {n.src_nbma} but its registration "
                      f"came from {osrc}", t, fr)
        hub = receiver
        rs = self._router(spoke, t, fr)
        rs.bind(n.src_proto)
        rs.reg_sent += 1
        self._pw(rs, n)
        if hub:
            if hub not in rs.nhs and len(rs.nhs) < 8:
                rs.nhs.append(hub)
            rh = self._router(hub, t, fr)
            rh.reg_received += 1
            if n.dst_proto and n.dst_proto != n.src_proto and not rh.tunnels:
                rh.bind(n.dst_proto)
        cie = n.cies[0] if n.cies else None
        holding = cie.holding_time if cie is not None else None
        k = ("reg", spoke, n.src_proto, n.request_id)
        txn = self._txns.get(k)
        previous = self._last_request.get((spoke, hub or "?"))
        if hub:
            self._last_request[(spoke, hub)] = t
        if txn is not None:
            txn.fire("request")
            rec = txn.record
            if rec.request_time is None:
                rec.request_time = t
            else:
                rec.retransmits += 1
            txn.last_request = t
            txn.deadline = t + REPLY_TIMEOUT
            if len(rec.frames) < F.MAX_FRAMES:
                rec.frames.append(fr)
            if txn.state == "unanswered":
                self._raise_reg_unanswered(rec, t, [fr])
            return
        prev = self._open_reg.get((spoke, hub or "?"))
        if prev is not None and prev.open and prev.fire("retried"):
            self._closed(prev, t)
        rec = Registration(spoke, n.src_proto, hub, t, None, n.request_id, holding, None, [fr],
                           state="sent", hub_tunnel=n.dst_proto if n.dst_proto != n.src_proto else None,
                           unique="unique" in n.flags,
                           public_nbma=osrc if osrc and osrc != spoke else None,
                           interval=None if previous is None else t - previous)
        txn = RegistrationTxn(rec, k, t)
        self._remember(k, txn)
        self._open_reg[(spoke, hub or "?")] = txn
        self.registrations.append(rec)
        self._push_deadline(txn.deadline, txn)
        # unique address already bound to another NBMA on this hub?
        if hub and n.src_proto:
            hc = self.caches.get(hub)
            if hc is not None:
                for e in hc.with_proto(n.src_proto):  # type: ignore[attr-defined]
                    if e.alive(t) and e.claimed_nbma not in (None, spoke) \
                            and ("unique" in e.flags or "unique" in n.flags):
                        self._unique_conflict(t, [*e.frames[-1:], fr], hub, n.src_proto,
                                              e.claimed_nbma, spoke)
        # the spoke's static entry for its NHS
        if hub and rec.hub_tunnel:
            sc = self._cache(spoke)
            e = sc.get(rec.hub_tunnel, _host_len(rec.hub_tunnel))
            if e is None:
                sc.put(t, fr, proto=rec.hub_tunnel, prefix_len=_host_len(rec.hub_tunnel),
                       via=rec.hub_tunnel, nbma=odst, claimed_nbma=hub, type=STATIC, source="nhs",
                       holding_time=None, state="NHRP")

    def _unique_conflict(self, t: float, frames: list[int], hub: str, proto: str,
                         holder: str | None, claimant: str | None) -> None:
        self._state(UniqueAddressConflict(hub, proto, holder, claimant, t, tuple(frames)))

    def _reg_reply(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        spoke = n.src_nbma or receiver
        if not spoke:
            return
        hub = sender
        k = ("reg", spoke, n.src_proto, n.request_id)
        txn = self._txns.get(k)
        if txn is None:  # the request was not captured
            rec = Registration(spoke, n.src_proto, hub, None, None, n.request_id, None, None, [],
                               state="sent", unique="unique" in n.flags,
                               hub_tunnel=n.dst_proto if n.dst_proto != n.src_proto else None)
            txn = RegistrationTxn(rec, k, None)
            self._remember(k, txn)
            self.registrations.append(rec)
        rec = txn.record
        if len(rec.frames) < F.MAX_FRAMES:
            rec.frames.append(fr)
        cie = n.cies[0] if n.cies else None
        code = cie.code if cie is not None else 0
        resp = _ext_cies(n, "responder-address")
        rs = self._router(spoke, t, fr)
        rs.bind(n.src_proto)
        if hub:
            rh = self._router(hub, t, fr)
            rh.reg_answered += 1
            self._pw(rh, n)
            if resp and resp[0].client_proto:
                rh.bind(resp[0].client_proto)
                rec.hub_tunnel = rec.hub_tunnel or resp[0].client_proto
            elif rec.hub_tunnel:
                rh.bind(rec.hub_tunnel)
        if not txn.fire("reply-nak" if code else "reply-ack"):
            return  # a duplicate or late reply
        rec.reply_time = t
        rec.hub_nbma = rec.hub_nbma or hub
        rec.code = code
        rec.code_name = getattr(cie, "code_name", None) if cie is not None else "success"
        if rec.request_time is not None:
            rec.rtt = t - rec.request_time
        if cie is not None and cie.holding_time:
            rec.holding_time = cie.holding_time
        # NAT: the NHS's NAT extension reports another NBMA than the claimed one,
        # or the NHS answered to another address than the claimed one.
        for c in _ext_cies(n, "cisco-nat-address"):
            if c.client_nbma and c.client_proto in (None, n.src_proto) \
                    and c.client_nbma not in (spoke, hub, osrc):
                self._nat(spoke, c.client_nbma, f"hub {hub} reports it at {c.client_nbma} in "
                          f"the NAT address extension while it claims {spoke}", t, fr)
        if odst and odst != spoke and self.alias.get(odst) != spoke \
                and not _ext_cies(n, "reverse-transit-nhs-record") and odst not in self.routers:
            self._nat(spoke, odst, f"it claims NBMA {spoke} but hub {hub} answers it at {odst}",
                      t, fr)
        pair = (spoke, hub or "?")
        if code:
            if code == 14:
                self._unique_conflict(t, rec.frames, hub or "?", n.src_proto or "?", None, spoke)
            else:
                self._state(RegistrationRejected(spoke, hub, code, rec.code_name, t,
                                                 tuple(rec.frames)))
            self._emit(t, fr, "rejected", hub, spoke, f"registration rejected ({rec.code_name})")
            return
        st = self._pair_reg.setdefault(pair, {"unanswered": 0, "ok_after": False})
        if st["unanswered"]:
            st["ok_after"] = True
        if not hub:
            return
        plen = _norm_prefix(n.src_proto, cie.prefix_len if cie is not None else None)
        proto = n.src_proto or spoke
        hc = self._cache(hub)
        flags = {"registered"} | ({"unique"} if rec.unique else set())
        r = self.routers.get(spoke)
        nat = bool(r is not None and r.nat)
        if nat:
            flags.add("nat")
        e = hc.put(t, fr, proto=_network(proto, plen), prefix_len=plen, via=n.src_proto,
                   nbma=self._wire(spoke), claimed_nbma=spoke, type=DYNAMIC, source="registration",
                   holding_time=rec.holding_time, flags=flags, nat=nat)
        self._last_reg_frames[(hub, e.proto, e.prefix_len)] = list(rec.frames[-2:])
        if e.expires is not None:
            self._seq += 1
            heapq.heappush(self._expiry, (e.expires, self._seq, hub, (e.proto, e.prefix_len), spoke))
        tun = rec.hub_tunnel or (self.routers[hub].tunnel if hub in self.routers else None)
        if tun:
            sc = self._cache(spoke)
            sc.put(t, fr, proto=tun, prefix_len=_host_len(tun), via=tun, nbma=self._wire(hub),
                   claimed_nbma=hub, type=STATIC, source="nhs", holding_time=None, state="UP")
        self._emit(t, fr, "registered", hub, spoke, f"{proto} registered", rtt=rec.rtt)

    # -- resolution (RFC 2332 5.2.1 / 5.2.2)

    def _res_request(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        req = n.src_nbma or sender
        if not req:
            return
        fwd = self._forwarded(n, osrc)
        if not fwd and osrc and n.src_nbma and osrc != n.src_nbma \
                and self.alias.get(osrc) != n.src_nbma and osrc not in self.routers:
            self._nat(n.src_nbma, osrc, f"it claims NBMA {n.src_nbma} but its resolution "
                      f"request came from {osrc}", t, fr)
            sender = self._claimed(osrc)
        rq = self._router(req, t, fr)
        rq.bind(n.src_proto)
        self._pw(rq, n)
        for c in _ext_cies(n, "forward-transit-nhs-record"):
            if c.client_nbma:
                self._router(c.client_nbma, t, fr).bind(c.client_proto)
        if receiver:
            self._router(receiver, t, fr)
        k = ("res", req, n.src_proto, n.request_id)
        txn = self._txns.get(k)
        is_new = txn is None
        if is_new:
            rq.res_sent += 1
            prev = self._open_res.get((req, n.dst_proto or "?"))
            if prev is not None and prev.open and prev.fire("retried"):
                self._closed(prev, t)
            cie = n.cies[0] if n.cies else None
            rec = Resolution(req, n.dst_proto, t, None, None, [fr], requester_tunnel=n.src_proto,
                             request_id=n.request_id, state="sent",
                             holding_time=cie.holding_time if cie is not None else None)
            txn = ResolutionTxn(rec, k, t)
            txn.max_hop = n.hop_count
            self._remember(k, txn)
            self._open_res[(req, n.dst_proto or "?")] = txn
            self.resolutions.append(rec)
            self._push_deadline(txn.deadline, txn)
            red = self._open_redirect.get((req, n.dst_proto or "?"))
            if red is not None:
                if red.fire("resolution"):
                    red.record.resolution_time = t
                elif red.state == "resolved":
                    pass
                txn.phase3 = True
                txn.redirect_frames = red.record.frames[:1]
                self._open_redirect.pop((req, n.dst_proto or "?"), None)
            if n.dst_proto and n.dst_proto not in rq.tunnels:
                self._cache(req).put(t, fr, proto=n.dst_proto, prefix_len=_host_len(n.dst_proto),
                                     via=None, nbma=None, claimed_nbma=None, type=INCOMPLETE,
                                     source="resolution", holding_time=INCOMPLETE_HOLD,
                                     state="NHRP", flags={"negative"})
        rec = txn.record
        if not is_new and len(rec.frames) < F.MAX_FRAMES and fr not in rec.frames:
            rec.frames.append(fr)
        if rec.request_time is None:
            rec.request_time = t
        from_origin = sender == req or (osrc is not None and self.alias.get(osrc) == req)
        new_hop = txn.add_hop(Hop(sender or "?", receiver or "?", n.hop_count, t, fr))
        if from_origin:
            if new_hop and receiver:
                self._router(receiver, t, fr).asked_direct += 1
            if not is_new and not new_hop:
                rec.retransmits += 1
                txn.fire("request")
                txn.last_request = t
                txn.deadline = t + REPLY_TIMEOUT
        else:
            txn.fire("forwarded")
            if sender and new_hop:
                self._router(sender, t, fr).res_forwarded += 1

    def _res_reply(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        req = n.src_nbma or receiver
        if not req:
            return
        k = ("res", req, n.src_proto, n.request_id)
        txn = self._txns.get(k)
        if txn is None:
            rec = Resolution(req, n.dst_proto, None, None, None, [], requester_tunnel=n.src_proto,
                             request_id=n.request_id, state="sent")
            txn = ResolutionTxn(rec, k, None)
            self._remember(k, txn)
            self.resolutions.append(rec)
        rec = txn.record
        if len(rec.frames) < F.MAX_FRAMES and fr not in rec.frames:
            rec.frames.append(fr)
        txn.add_hop(Hop(sender or "?", receiver or "?", n.hop_count, t, fr, "reply"))
        cie = n.cies[0] if n.cies else None
        code = cie.code if cie is not None else 0
        resp = _ext_cies(n, "responder-address")
        responder = (resp[0].client_nbma if resp and resp[0].client_nbma else None) or sender
        if responder:
            rr = self._router(responder, t, fr)
            self._pw(rr, n)
            if resp and resp[0].client_proto:
                rr.bind(resp[0].client_proto)
        for c in _ext_cies(n, "forward-transit-nhs-record") + _ext_cies(n, "reverse-transit-nhs-record"):
            if c.client_nbma:
                self._router(c.client_nbma, t, fr).bind(c.client_proto)
        if not txn.fire("reply-nak" if code else "reply-ack"):
            return
        rec.reply_time = t
        rec.code = code
        rec.code_name = getattr(cie, "code_name", None) if cie is not None else "success"
        rec.responder_nbma = responder
        if rec.request_time is not None:
            rec.rtt = t - rec.request_time
        self._open_res.pop((req, rec.target_tunnel or "?"), None)
        if code:
            self._state(ResolutionNak(req, responder, rec.target_tunnel, code, rec.code_name, t,
                                      tuple(rec.frames)))
            if rec.target_tunnel:
                self._cache(req).put(t, fr, proto=rec.target_tunnel,
                                     prefix_len=_host_len(rec.target_tunnel), via=None, nbma=None,
                                     claimed_nbma=None, type=NEGATIVE, source="resolution",
                                     holding_time=cie.holding_time if cie and cie.holding_time else
                                     INCOMPLETE_HOLD, state="NHRP", flags={"negative"})
            self._emit(t, fr, "nak", responder, req, f"resolution NAK for {rec.target_tunnel}")
            return
        if cie is None:
            return
        # the NBMA address the requester will send to: the public one when the
        # target is known to be behind NAT
        rec.resolved_nbma = self._wire(cie.client_nbma)
        rec.resolved_claimed_nbma = cie.client_nbma
        rec.resolved_tunnel = cie.client_proto
        rec.prefix_len = cie.prefix_len
        if cie.holding_time:
            rec.holding_time = cie.holding_time
        target_r = None
        if cie.client_nbma:
            target_r = self._router(cie.client_nbma, t, fr)
            target_r.bind(cie.client_proto)
        if responder and target_r is not None:
            if responder == cie.client_nbma:
                target_r.res_answered_self += 1
            else:
                self._router(responder, t, fr).res_answered_other += 1
        target = rec.target_tunnel or cie.client_proto
        if target and cie.client_nbma:
            plen = _norm_prefix(target, cie.prefix_len)
            flags = {"router"}
            self._cache(req).remove(target, _host_len(target))  # the incomplete entry
            self._cache(req).put(t, fr, proto=_network(target, plen), prefix_len=plen,
                                 via=cie.client_proto, nbma=self._wire(cie.client_nbma),
                                 claimed_nbma=cie.client_nbma, type=DYNAMIC, source="resolution",
                                 holding_time=rec.holding_time, flags=flags,
                                 nat=bool(target_r and target_r.nat))
            # the responder learned the requester's binding from the request (5.2.2)
            if responder == cie.client_nbma and n.src_proto:
                self._cache(responder).put(
                    t, fr, proto=n.src_proto, prefix_len=_host_len(n.src_proto), via=n.src_proto,
                    nbma=self._wire(req), claimed_nbma=req, type=DYNAMIC, source="request",
                    holding_time=txn.record.holding_time, flags={"router", "implicit"},
                    nat=bool(self.routers.get(req) and self.routers[req].nat))
        self._emit(t, fr, "resolved", responder, req,
                   f"{target} resolved to {cie.client_nbma}", rtt=rec.rtt)
        self._shortcut(t, fr, txn, cie)

    def _shortcut(self, t: float, fr: int, txn: ResolutionTxn, cie: Any) -> None:
        rec = txn.record
        a, b = rec.requester_nbma, cie.client_nbma
        if not a or not b or a == b:
            return
        rb = self.routers.get(b)
        if rb is not None and rb.is_hub():
            return  # resolving the NHS itself is no shortcut
        key = (a, b) if a < b else (b, a)
        sc = self._sc_pairs.get(key)
        first_hop = rec.hops[0].to_nbma if rec.hops and rec.hops[0].kind == "request" else None
        if sc is None:
            sc = Shortcut(a, b, t, None, [fr],
                          a_tunnel=rec.requester_tunnel, b_tunnel=cie.client_proto,
                          phase=3 if txn.phase3 else 2,
                          hub_nbma=first_hop if first_hop != b else None)
            self.shortcuts.append(sc)
            self._sc_pairs[key] = sc
            for x in self._addrs(a):
                for y in self._addrs(b):
                    self._sc_pairs[(x, y)] = sc
                    self._sc_pairs[(y, x)] = sc
            self._emit(t, fr, "shortcut", a, b, f"shortcut {a} <-> {b} (phase {sc.phase})")
        else:
            if txn.phase3:
                sc.phase = 3
        # watch a's data towards b's networks still going via the hub
        peer = frozenset(self._addrs(b))
        nets = []
        target = rec.target_tunnel
        if target:
            nm = _net_mask(target, _norm_prefix(target, cie.prefix_len))
            if nm:
                nets.append(nm)
        if cie.client_proto:
            nm = _net_mask(cie.client_proto, 32)
            if nm:
                nets.append(nm)
        for x in self._addrs(a):
            w = self._watch.setdefault(x, [])
            for net, mask in nets:
                if not any(e[0] == net and e[1] == mask and e[2] is sc for e in w) and len(w) < 256:
                    w.append((net, mask, sc, peer))
        # the hot path's pairs from either end look up their shortcut and watch again
        for x in {*self._addrs(a), *self._addrs(b)}:
            for pr in self._pairs_by_src.get(x, ()):
                pr.gen = -1

    # -- purge (RFC 2332 5.2.5 / 5.2.6)

    def _purge_request(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        src = n.src_nbma or sender
        k = ("purge", src, n.src_proto, n.request_id)
        txn = self._txns.get(k)
        purged = [f"{c.client_proto}/{_norm_prefix(c.client_proto, c.prefix_len)}"
                  for c in n.cies if c.client_proto] or ([n.dst_proto] if n.dst_proto else [])
        if src:
            self._router(src, t, fr).bind(n.src_proto)
        if txn is None:
            rec = Purge(src, n.src_proto, receiver, n.request_id, t, None, purged, [fr], state="sent")
            txn = PurgeTxn(rec, k, t)
            self._remember(k, txn)
            self.purges.append(rec)
            if "no-reply" in n.flags:
                txn.fire("no-reply")
            else:
                self._push_deadline(txn.deadline, txn)
        else:
            txn.fire("request")
            if len(txn.record.frames) < F.MAX_FRAMES:
                txn.record.frames.append(fr)
        if receiver:
            c = self.caches.get(receiver)
            if c is not None:
                for proto in {c_.client_proto or n.src_proto for c_ in n.cies} or {n.src_proto}:
                    if proto:
                        for e in c.remove(proto):
                            self._emit(t, fr, "purged", src, receiver, f"{e.prefix} purged")

    def _purge_reply(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        src = n.src_nbma or receiver
        k = ("purge", src, n.src_proto, n.request_id)
        txn = self._txns.get(k)
        if txn is None:
            rec = Purge(src, n.src_proto, sender, n.request_id, None, None,
                        [f"{c.client_proto}/{c.prefix_len}" for c in n.cies if c.client_proto],
                        [], state="sent")
            txn = PurgeTxn(rec, k, None)
            self._remember(k, txn)
            self.purges.append(rec)
        if len(txn.record.frames) < F.MAX_FRAMES:
            txn.record.frames.append(fr)
        if txn.fire("reply"):
            txn.record.reply_time = t

    # -- error indication (RFC 2332 5.2.7)

    def _error_indication(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        src = sender or n.src_nbma
        off = n.offending
        summary = _offending_summary(off)
        offending_frames: list[int] = []
        rec = ErrorIndication(src, n.src_proto, receiver, t, n.error_code, n.error_name, summary, [fr])
        self.errors.append(rec)
        if src:
            self._router(src, t, fr).bind(n.src_proto)
        if summary and summary.get("type") in ("registration-request", "resolution-request",
                                               "purge-request"):
            kind = {"registration-request": "reg", "resolution-request": "res",
                    "purge-request": "purge"}[summary["type"]]
            txn = self._txns.get((kind, summary["src_nbma"], summary["src_proto"],
                                  summary["request_id"]))
            if txn is not None:
                txn.fire("error")  # no transition: an error indication is no reply
                offending_frames = txn.record.frames[-1:]
        self._state(ErrorIndicationSent(
            src, receiver, n.error_code, n.error_name, summary.get("type") if summary else None,
            summary.get("request_id") if summary else None, t, fr, tuple(offending_frames)))

    # -- traffic indication (redirect, DMVPN phase 3)

    def _traffic_indication(self, t, fr, n, osrc, odst, sender, receiver, natt) -> None:  # noqa: ANN001
        hub = n.src_nbma or sender
        spoke = receiver
        if hub:
            rh = self._router(hub, t, fr)
            rh.bind(n.src_proto)
            rh.ti_sent += 1
        if spoke:
            self._router(spoke, t, fr)
        s = _offending_summary(n.offending) or {}
        osrc_ip, odst_ip = s.get("src"), s.get("dst")
        k = (spoke or "?", odst_ip or "?")
        txn = self._open_redirect.get(k)
        if txn is not None and txn.open:
            txn.fire("indication")
            txn.record.count += 1
            if len(txn.record.frames) < F.MAX_FRAMES:
                txn.record.frames.append(fr)
            return
        rec = Redirect(hub, n.src_proto, spoke, osrc_ip, odst_ip, t, [fr], state="indicated")
        txn = RedirectTxn(rec, k, t)
        self._open_redirect[k] = txn
        self.redirects.append(rec)
        self._push_deadline(txn.deadline, txn)

    # ------------------------------------------------------------------ the end

    def finish(self, end: float | None = None) -> None:
        """Close the replay at ``end`` (default: the last frame's time): fire
        what is due, then mark what is still open as pending."""
        if end is None:
            end = self.now
        if end != float("-inf"):
            self._advance(end)
        for txn in [x for _, _, x in self._deadlines]:
            if txn.open and txn.fire("capture-end"):
                pass
        for txn in self._txns.values():
            if txn.open:
                txn.fire("capture-end")
        for txn in self._open_redirect.values():
            if txn.open:
                txn.fire("capture-end")
        self._deadlines.clear()
        self.end = end

    def analysis(self, files: list[str] | None = None, *, frames: int | None = None,
                 duplicates: int = 0, warnings: list[str] | None = None) -> Analysis:
        """The result, after ``finish``."""
        end = getattr(self, "end", self.now)
        self._sync_states()
        self._final_findings(end)
        sas = self.sa_list()
        ike = self.ipsec.finish(None if end == float("-inf") else end, sas)
        files = files or []
        cap = CaptureInfo(file=files[0] if len(files) == 1 else ", ".join(files),
                          frames=self.frames if frames is None else frames,
                          first=self.first, last=None if self.now == float("-inf") else self.now,
                          files=files, duplicates=duplicates, warnings=list(warnings or []))
        return Analysis(cap, self.router_list(), self.registrations, self.resolutions,
                        self.shortcuts, self.redirects, self.purges, self.errors, sas,
                        self.findings.sorted(), traffic=sorted(self.traffic.values(),
                                                               key=lambda x: (x.first or 0.0)),
                        ike=ike)

    def _sync_states(self) -> None:
        for txn in self._txns.values():
            txn.record.state = txn.state
        for rec in self.registrations:
            if rec.state == "sent":
                rec.state = "pending"
        for rec in self.resolutions:
            if rec.state == "sent":
                rec.state = "pending"
        for rec in self.purges:
            if rec.state == "sent":
                rec.state = "pending"
        for txn in self._open_redirect.values():
            txn.record.state = txn.state
        for rec in self.redirects:
            if rec.state == "indicated":
                rec.state = "pending"

    def router_list(self) -> list[Router]:
        sent: dict[str, Counter] = {}
        for (src, _dst), tr in self.traffic.items():
            c = sent.setdefault(self.alias.get(src, src), Counter())
            for k in tr.gre_keys:
                c[k] += tr.packets + tr.nhrp + tr.keepalives
        out = []
        for r in self.routers.values():
            keys = [k for k, _ in sent.get(r.nbma, Counter()).most_common()]
            out.append(Router(r.nbma, r.tunnel, r.role, list(r.tunnels), r.nat, r.public,
                              r.nat_evidence, keys[0] if keys else None, keys,
                              next(iter(sorted(p for p in r.passwords if p is not None)), None),
                              list(r.nhs), r.first, r.last, list(r.frames)))
        out.sort(key=lambda x: (0 if x.role == "hub" else 1 if x.role == "spoke" else 2,
                                _sort_addr(x.nbma)))
        return out

    def sa_list(self) -> list[SecurityAssociation]:
        sas = [st.rec for st in self._sas.values()]
        self.ipsec.pair_sas(sas)  # by peer pair and the IKE exchange before them
        sas.sort(key=lambda x: (x.first or 0.0, x.spi))
        return sas

    def _final_findings(self, end: float) -> None:
        """State the end of the capture, for the rules over all of it."""
        natt = []
        for (src, dst), (sport, _dport, fr, t) in self._natt.items():
            a, b = self._claimed(src), self._claimed(dst)
            if sport != 4500 and a in self.routers:
                r = self.routers[a]
                if not r.nat:
                    r.nat = True
                    r.nat_evidence = f"its ESP reaches {b} over UDP 4500 from port {sport}"
            known = tuple(x for x in (a, b) if x is not None and x in self.routers
                          and self.routers[x].nat)
            natt.append(NatTraversal(a, b, sport, fr, t, known))
        view = CaptureView(
            claimed=self._claimed, routers=frozenset(self.routers), traffic=self.traffic,
            passwords={k: frozenset(v) for k, v in self._pair_pw.items()},
            password_frames=self._pair_pw_frame,
            unanswered_registrations=frozenset(
                (r.spoke_nbma, r.hub_nbma) for r in self.registrations
                if r.state in ("unanswered", "sent")),
            recovered_registrations=tuple(p for p, st in self._pair_reg.items() if st["ok_after"]),
            nat_traversal=tuple(natt), shortcuts=self.shortcuts,
            sas=[st.rec for st in self._sas.values()], fragments=self._frag)
        self._state(CaptureEnd(end, view))


def _sort_addr(a: str) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(a)))
    except ValueError:
        return (1, a)
