"""The replay engine: decoded packets in, routers / transactions / caches /
findings out, in one streaming pass.

Frames arrive in time order (``source.CaptureSource``). ``feed`` classifies
each from a few header bytes (``fastpath``): GRE data and ESP are only
counted, per NBMA pair or per SA, by the tunnel observer's loop (the hot
path); everything else is decoded fully and walked here layer by layer,
each layer routed to the observer that owns its state:

- ``observers.tunnel``: GRE data per NBMA pair and key, shortcut use, IP
  fragments; ``observers.esp``: ESP SAs and their replay windows;
- ``observers.nhrp``: NHRP transactions, routers' roles, per-router caches;
- ``ipsec_state``: IKE negotiations, the pairing of ESP SAs.

Observers state facts; the detectors (``detectors``) judge them into
findings. The engine keeps the clock: the deadline heap of request timeouts
and binding expiries fires as capture time passes it.

Memory grows with routers, NBMA pairs, SAs and open transactions; the
closed transaction records are kept for the report (they are control
plane: a few per router per holding time), packets never.

It infers; it never invents: each record and finding cites the frames that
show it.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable, Iterable
from itertools import chain
from operator import itemgetter, lt
from typing import Any

from nhrpscope.dissectors.esp import EspHeader
from nhrpscope.dissectors.frame import FrameDecoder, Packet
from nhrpscope.dissectors.gre import Gre
from nhrpscope.dissectors.ike import IkeHeader
from nhrpscope.dissectors.ip import IPv4, IPv6
from nhrpscope.dissectors.nhrp import NhrpPacket
from nhrpscope.dissectors.transport import Icmp
from nhrpscope.dissectors.udp import UdpHeader
from nhrpscope.replay.cache import NhrpCache
from nhrpscope.replay.detectors import Context, Dispatcher
from nhrpscope.replay.facts.capture import CaptureEnd, CaptureView, Truncation
from nhrpscope.replay.facts.nhrp import MalformedNhrp
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.findings import FindingSet
from nhrpscope.replay.ipsec_state import IpsecState
from nhrpscope.replay.model import Analysis, CaptureInfo, Event, Router, SecurityAssociation
from nhrpscope.replay.observers.nhrp import NhrpObserver
from nhrpscope.replay.observers.routers import Routers
from nhrpscope.replay.observers.tunnel import TunnelObserver
from nhrpscope.replay.source import Item

# Where the NHRP fixed header keeps its checksum (RFC 2332 5.2.0.1)
_NHRP_CHECKSUM_AT = 12
# IP protocols whose fragments mean a tunnel packet too big for the path
_TUNNEL_PROTOS = (47, 50)
_NAT_T_PORT = 4500
# How many cut frames a capture-truncated finding cites
_CUT_CITED = 10
_DATA, _WIRE = itemgetter(3), itemgetter(4)


class CutFrames:
    """Frames the snap length cut (captured length < wire length), counted
    as the records go by: the count, the first few, and the lengths kept."""

    __slots__ = ("frames", "first", "lengths", "exact", "nhrp", "ike")

    def __init__(self) -> None:
        self.frames = 0
        self.first: list[int] = []
        self.lengths: set[int] = set()  # a few at most: one is the snap length
        self.exact = True
        self.nhrp = 0  # NHRP packets cut, not replayed
        self.ike = 0  # IKE messages cut, not replayed

    def add(self, number: int, captured: int) -> None:
        self.frames += 1
        if len(self.first) < _CUT_CITED:
            self.first.append(number)
        if len(self.lengths) < 3:
            self.lengths.add(captured)

    def record(self, rec: tuple) -> tuple:
        if len(rec[3]) < rec[4]:
            self.add(rec[0], len(rec[3]))
        return rec

    def batch(self, batch: list[tuple]) -> list[tuple]:
        # tested in C over the whole list: an uncut capture costs no Python step per frame
        if any(map(lt, map(len, map(_DATA, batch)), map(_WIRE, batch))):
            for rec in batch:
                self.record(rec)
        return batch

    def summary(self, total: int) -> Truncation:
        # one frame cut to some length is no evidence of a snap length; several are
        snap = next(iter(self.lengths)) if len(self.lengths) == 1 and self.frames > 1 else None
        return Truncation(self.frames, total, tuple(self.first), snap, self.exact, self.nhrp,
                          self.ike)


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


def _ip_end(pkt: Packet, i: int, ip: IPv4 | IPv6) -> int:
    """Where the IP packet ``pkt.layers[i]`` ends in the frame, as its header
    says (-1 inside decrypted ESP, whose bytes are whole and not the frame's)."""
    off = pkt.offsets[i] if i < len(pkt.offsets) else -1
    if off < 0:
        return -1
    return off + (ip.total_length if isinstance(ip, IPv4) else 40 + ip.payload_length)


def _cut_inside(pkt: Packet, i: int, nhrp: NhrpPacket, ip_end: int, captured: int) -> bool:
    """Was the NHRP packet ``pkt.layers[i]`` cut by the capture, not by its
    sender? Its IP packet runs past the bytes captured, and its own size
    fits in that IP packet (a size past it is malformed, cut or not)."""
    off = pkt.offsets[i] if i < len(pkt.offsets) else -1
    return off >= 0 and ip_end > captured and off + nhrp.packet_size <= ip_end


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
        self.end: float | None = None
        self.routers = Routers()
        self.caches: dict[str, NhrpCache] = {}
        # observers state facts; the detectors word them as findings
        self._state = Dispatcher(Context(self.findings, self._name))
        self.tunnel = TunnelObserver(self.routers, self.caches, self._emit, self._state)
        self.nhrp = NhrpObserver(self.routers, self.tunnel, self.caches, emit=self._emit,
                                 state=self._state, schedule=self._schedule,
                                 expire_at=self._expire_at, events=on_event is not None)
        self._deadlines: list[tuple[float, int, Any]] = []  # request timeouts
        self._expiry: list[tuple[float, int, str, tuple[str, int], str]] = []  # hub bindings
        self._seq = 0
        # IKE negotiations and the ESP SA pairing (ipsec_state)
        self.ipsec = IpsecState(self.findings, emit=self._emit, name=self._name)
        # frames cut by the snap length; counted from the records, or (items
        # classified elsewhere) as the frames decoded here go by
        self.cuts = CutFrames()
        self._count_walked = False

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
        records = map(self.cuts.record, records)
        if not self.fast:
            self.tunnel.run(records, self)
            return
        classify = self.classifier.classify
        self.tunnel.run((rec if (m := classify(rec)) is None else m for rec in records), self)

    def feed_batches(self, batches: Iterable[list[tuple]]) -> None:
        """Frames as lists of tuples (``CaptureSource.record_batches``), in
        time order: ``feed_records`` with the classification done a list at
        a time (``Classifier.classify_batch``)."""
        batches = map(self.cuts.batch, batches)
        if not self.fast:
            self.tunnel.run(chain.from_iterable(batches), self)
            return
        self.tunnel.run(chain.from_iterable(map(self.classifier.classify_batch, batches)), self)

    def feed_items(self, items: Iterable[tuple]) -> None:
        """What ``fastpath`` makes of frames, in time order: a classified
        data packet (5 values: GRE; 9: ESP), or a frame (6 values) to decode
        and walk. The tunnel observer's loop runs them (``TunnelObserver.run``).
        Frames counted as data where they were classified are not seen here,
        so cut frames are counted among those decoded here only (at least)."""
        self._count_walked = True
        self.cuts.exact = False
        self.tunnel.run(items, self)

    def feed_packet(self, pkt: Packet) -> None:
        """One decoded packet (for callers that decode themselves)."""
        self.frames += 1
        self.last_frame = pkt.frame
        t = pkt.time
        if self.first is None:
            self.first = t
        if t > self.now:
            self.now = t
            if t >= self.due():
                self.advance(t)
        self._walk(pkt)

    # ------------------------------------------------------------------ the loop's host

    def due(self) -> float:
        """When the next request timeout or binding expiry falls due."""
        d = self._deadlines[0][0] if self._deadlines else float("inf")
        if self._expiry and self._expiry[0][0] < d:
            d = self._expiry[0][0]
        return d

    def advance(self, t: float) -> None:
        """Fire what time has made due: request timeouts, binding expiries."""
        while self._deadlines and self._deadlines[0][0] <= t:
            when, _, txn = heapq.heappop(self._deadlines)
            if not txn.open:
                continue
            if txn.deadline > when:  # a retransmission moved it
                self._schedule(txn.deadline, txn)
                continue
            if txn.fire("timeout"):
                self.nhrp.closed(txn, when)
        while self._expiry and self._expiry[0][0] <= t:
            when, _, hub, key, spoke = heapq.heappop(self._expiry)
            self.nhrp.registrations.expired(when, self.last_frame, hub, key, spoke)

    def walk_frame(self, it: tuple) -> None:
        """Decode a frame (number, time, linktype, data, wire_len, comment) and walk it."""
        number, t, link, data, wl, comment = it
        cut = len(data) < wl
        if not cut and link == 1:
            # the commonest: an NHRP frame seen before but for its ids and checksums;
            # its walk (IPv4 no fragment, GRE no keepalive, NHRP sound) comes to this
            hit = self.decoder.shaped_nhrp(data)
            if hit is not None:
                src, dst, key, n = hit
                self.tunnel.nhrp(t, number, src, dst, key)
                self.nhrp.message(t, number, n, src, dst)
                return
        if cut and self._count_walked:
            self.cuts.add(number, len(data))
        self._walk(self.decoder.decode(link, data, frame=number, time=t, wire_len=wl,
                                       comment=comment), len(data) if cut else None)

    def _schedule(self, when: float, txn: Any) -> None:
        self._seq += 1
        heapq.heappush(self._deadlines, (when, self._seq, txn))

    def _expire_at(self, when: float, hub: str, key: tuple[str, int], spoke: str) -> None:
        self._seq += 1
        heapq.heappush(self._expiry, (when, self._seq, hub, key, spoke))

    # ------------------------------------------------------------------ the walk

    def _walk(self, pkt: Packet, captured: int | None = None) -> None:
        """Route each layer of a decoded packet to the observer that owns it.
        ``captured``: the bytes the capture holds of a frame it cut (snap length)."""
        t, fr = pkt.time, pkt.frame
        layers = pkt.layers
        src: str | None = None
        dst: str | None = None
        ip_len = pkt.wire_len  # bytes are counted as frames on the wire
        natt = False
        gre_key = None
        tunnel = self.tunnel
        n = len(layers)
        ip_end = -1  # where the innermost IP packet ends in the frame, by its header
        for i, la in enumerate(layers):
            nxt = layers[i + 1] if i + 1 < n else None
            if isinstance(la, (IPv4, IPv6)):
                src, dst = la.src, la.dst
                if captured is not None:
                    ip_end = _ip_end(pkt, i, la)
                if isinstance(la, IPv4):
                    frag = "mf" in la.flags or la.frag_offset > 0
                else:
                    frag = any(e.name == "fragment" and bool(e.frag_offset or e.more_fragments)
                               for e in la.extensions)
                # an IPv4 header failing its checksum is dropped by the next hop
                # (the stack computes it in software, offload or not): no evidence
                sound = not isinstance(la, IPv4) or la.checksum_ok is not False
                if (frag or la.reassembled_from) and sound:
                    proto = la.protocol
                    if proto in _TUNNEL_PROTOS or (proto == 17 and isinstance(nxt, UdpHeader)
                                                   and _NAT_T_PORT in (nxt.src_port, nxt.dst_port)):
                        tunnel.fragment(t, fr, la.src, la.dst, proto)
                if frag and not la.reassembled_from:
                    return  # a piece; the whole is walked in the frame completing it
            elif isinstance(la, UdpHeader):
                if _NAT_T_PORT in (la.src_port, la.dst_port):
                    natt = True
                    if isinstance(nxt, EspHeader) and src and dst:
                        tunnel.esp.natt_seen(src, dst, la.src_port, la.dst_port, fr, t)
            elif isinstance(la, IkeHeader):
                if captured is not None and ip_end > captured:
                    # its payloads, which tell the exchange's step, are cut: the
                    # message moves no IKE state (capture-truncated says so)
                    self.cuts.ike += 1
                    return
                u = layers[i - 1] if i else None
                sport, dport = (u.src_port, u.dst_port) if isinstance(u, UdpHeader) else (0, 0)
                self.ipsec.ike(t, fr, la, src, dst, sport, dport, next(
                    (x.reassembled_from for x in reversed(layers[:i]) if isinstance(x, (IPv4, IPv6))), ()))
            elif isinstance(la, EspHeader):
                tunnel.esp.packet(t, fr, la.spi, la.seq, src or "?", dst or "?", pkt.wire_len,
                                  la.status or ("decrypted" if la.decrypted else "no-key"),
                                  la.icv_ok, natt)
            elif isinstance(la, Gre):
                gre_key = la.key
                if src and dst:
                    if la.keepalive:
                        tunnel.keepalive(t, fr, src, dst, gre_key)
                    elif isinstance(nxt, (IPv4, IPv6)):
                        inner = int(ipaddress.IPv4Address(nxt.dst)) if isinstance(nxt, IPv4) else None
                        tunnel.count(self, t, src, dst, gre_key, ip_len, inner)
                    elif isinstance(nxt, NhrpPacket):
                        tunnel.nhrp(t, fr, src, dst, gre_key)
                    else:  # other payloads (CDP, ERSPAN, ...): counted, nothing more
                        tunnel.count(self, t, src, dst, gre_key, ip_len, None)
                        if nxt is not None and nxt.proto == "erspan":
                            return
            elif isinstance(la, NhrpPacket):
                if captured is not None and la.checksum_ok is None \
                        and _cut_inside(pkt, i, la, ip_end, captured):
                    # Cut by the snap length: what is missing (CIEs, extensions, even
                    # addresses) cannot be told from absent, so the packet moves no
                    # state; capture-truncated says so.
                    self.cuts.nhrp += 1
                    self.nhrp.cut(fr, src, dst)
                    return
                checksum_bad = la.checksum_ok is False
                length_bad = _nhrp_problems(pkt, i)
                if checksum_bad or length_bad:
                    # RFC 2332 5.1/5.3: the receiver drops it; it moves no state
                    self._state(MalformedNhrp(la.type, self.routers.claimed(src),
                                              self.routers.claimed(dst), checksum_bad,
                                              length_bad, t, fr))
                    return
                self.nhrp.message(t, fr, la, src, dst)
                return
            elif isinstance(la, Icmp):
                if (la.type == 3 and la.code == 4) if la.proto == "icmp" else la.type == 2:
                    tunnel.frag_needed(t, fr, la, src, dst)

    # ------------------------------------------------------------------ plumbing

    def _emit(self, t: float, fr: int, kind: str, src: str | None, dst: str | None, label: str,
              **detail: Any) -> None:
        if self.on_event is not None:
            self.on_event(Event(t, fr, kind, src, dst, label, detail))

    def _name(self, nbma: str | None) -> str:
        return self.routers.name(nbma)

    # ------------------------------------------------------------------ the end

    def finish(self, end: float | None = None) -> None:
        """Close the replay at ``end`` (default: the last frame's time): fire
        what is due, then mark what is still open as pending."""
        if end is None:
            end = self.now
        if end != float("-inf"):
            self.advance(end)
        for txn in [x for _, _, x in self._deadlines]:
            if txn.open:
                txn.fire("capture-end")
        self.nhrp.finish()
        self._deadlines.clear()
        self.end = end

    def analysis(self, files: list[str] | None = None, *, frames: int | None = None,
                 duplicates: int = 0, warnings: list[str] | None = None) -> Analysis:
        """The result, after ``finish``."""
        end = self.now if self.end is None else self.end
        nhrp = self.nhrp
        nhrp.sync_states()
        self._state(CaptureEnd(end, self._view()))
        sas = self.sa_list()
        ike = self.ipsec.finish(None if end == float("-inf") else end, sas)
        files = files or []
        cap = CaptureInfo(file=files[0] if len(files) == 1 else ", ".join(files),
                          frames=self.frames if frames is None else frames,
                          first=self.first, last=None if self.now == float("-inf") else self.now,
                          files=files, duplicates=duplicates,
                          warnings=list(warnings or []) + self.tunnel.esp.warnings()
                          + self.tunnel.warnings())
        traffic = self.tunnel.traffic
        return Analysis(cap, self.router_list(), nhrp.registrations.records,
                        nhrp.resolutions.records, self.tunnel.shortcuts,
                        nhrp.indications.redirects, nhrp.purges.records, nhrp.indications.errors,
                        sas, self.findings.sorted(),
                        traffic=sorted(traffic.values(), key=lambda x: (x.first or 0.0)), ike=ike,
                        sas_not_tracked=self.tunnel.esp.untracked())

    def _view(self) -> CaptureView:
        """What the rules over the whole capture read."""
        nhrp, tunnel = self.nhrp, self.tunnel
        nat_traversal = tunnel.esp.nat_traversal()  # marks the NATed senders first
        return CaptureView(
            claimed=self.routers.claimed, routers=frozenset(self.routers.by_nbma),
            traffic=tunnel.traffic,
            passwords={k: frozenset(v) for k, v in nhrp.pair_pw.items()},
            password_frames=nhrp.pair_pw_frame,
            unanswered_registrations=frozenset(
                (r.spoke_nbma, r.hub_nbma) for r in nhrp.registrations.records
                if r.state in ("unanswered", "sent")),
            recovered_registrations=nhrp.registrations.recovered(),
            nat_traversal=nat_traversal, shortcuts=tunnel.shortcuts,
            sas=tunnel.esp.records(), fragments=tunnel.fragments,
            truncation=self.cuts.summary(self.frames))

    def router_list(self) -> list[Router]:
        return self.routers.records(self.tunnel.traffic.items())

    def sa_list(self) -> list[SecurityAssociation]:
        sas = self.tunnel.esp.records()
        self.ipsec.pair_sas(sas)  # by peer pair and the IKE exchange before them
        sas.sort(key=lambda x: (x.first or 0.0, x.spi))
        return sas
