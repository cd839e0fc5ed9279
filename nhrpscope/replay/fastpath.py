"""The replay's fast path: classify a frame from a few header bytes.

Nearly every frame of a busy DMVPN capture is tunnel data that the replay
only counts per NBMA pair (and per SA under ESP). ``Classifier.classify``
tells such a frame from the rest by its headers alone, with no decode and
no object per frame, and hands back the few values counting needs:

- ``GreData(number, time, wire_len, pair, inner_dst)``: GRE data. ``pair``
  is the outer source and destination (4 bytes each) and the GRE key bytes;
  ``inner_dst`` the inner IPv4 destination as an int (None for IPv6).
- ``EspData(number, time, wire_len, pair, inner_dst, esp, seq, sport,
  dport)``: ESP; ``esp`` is the SPI and the outer addresses (with a leading
  byte 1 for NAT-T, whose ports follow), ``pair`` None when there is no key
  (the packet is counted as "no-key"), else the GRE data packet found inside
  by opening just the ends of the payload (``dissectors.esp_peek.EspPeek``).
- None: anything else, which the engine decodes and walks in full (in a
  batch: the record itself, a ``RawFrame``).

The types are in ``nhrpscope.replay.items``; ``classify_batch`` hands on
plain tuples in their layouts (why: that module's doc).

The headers are read with the dissectors' own layouts and flags
(``dissectors.link.ip_offset``, ``ip.IPV4_TESTED`` (``IPV4_HEADER``'s tested
fields), ``gre.GRE_HEADER`` and its flag bits, ``udp.UDP_HEADER``,
``esp.ESP_HEADER``): the layouts their
decoders and peeks (``ip.peek_ipv4``, ``gre.peek_gre`` ...) read, so each
header has one parser. The peeks' records are not made here: a call and a
tuple per header doubled the time of a frame's test (measured). The hot
loops read the commonest layouts with two fused ``struct`` layouts of the
same fields; ``tests/test_peek_fastpath.py`` holds them to the peeks.

Every test here sends to the full decode whatever the engine's walk of a
decoded packet would treat otherwise than by counting: fragments (the
decoder reassembles), keepalives, nested tunnels, NAT-T or ICMP
"fragmentation needed" inside GRE, NHRP, truncated or odd headers, an SA's
first packet (its ICV is checked there), ESP that ``EspPeek`` cannot open,
ESP with no key whose SA reads as NULL encryption (``esp.guess_null``, tested
on the SA's first whole packet), IKE or NAT-T inside GRE.
``tests/test_fastpath.py`` holds the two paths to the same result.

The classification is a pure function of the frame and the keys, so it can
run ahead of the replay in another process (``first_stage``).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from nhrpscope.dissectors.esp import ESP_HEADER, guess_null
from nhrpscope.dissectors.gre import (
    GRE_C,
    GRE_HEADER,
    GRE_K,
    GRE_R,
    GRE_S,
    GRE_VERSION,
    PT_IPV4,
    PT_IPV6,
    GrePeek,
)
from nhrpscope.dissectors.ip import (
    IPV4_FRAGMENT,
    IPV4_MIN_LEN,
    IPV4_TESTED,
    IPV6_LEN,
    PROTO_ESP,
    PROTO_GRE,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_IPIP,
    PROTO_IPV6,
    PROTO_NHRP,
    PROTO_TCP,
    PROTO_UDP,
)
from nhrpscope.dissectors.link import ETH_IPV4, LINKTYPE_ETHERNET, ip_offset
from nhrpscope.dissectors.udp import IKE_PORT, NAT_T_PORT, NON_ESP_MARKER, UDP_HEADER, UDP_PORTS
from nhrpscope.replay.items import EspData, GreData, RawFrame

__all__ = ["Classifier", "EspData", "GreData", "RawFrame", "gre_check"]

# IP protocols inside GRE that the walk does more with than count: IP in IP,
# GRE (keepalives, nested tunnels), ESP, NHRP on IP, ICMPv6.
_NOT_DATA = frozenset({PROTO_IPIP, PROTO_IPV6, PROTO_GRE, PROTO_ESP, PROTO_NHRP, PROTO_ICMPV6})
# UDP inside GRE that the walk looks into: IKE, NAT-T (ESP, keepalives).
_IKE_PORTS = frozenset({IKE_PORT, NAT_T_PORT})
# ICMP "fragmentation needed" (type 3, code 4): the walk reads the MTU from it.
_ICMP_FRAG_NEEDED = 0x0304
# SAs whose lookup is kept (2 x observers.esp.MAX_SAS: with and without NAT-T);
# a packet of any further SA is looked up afresh, so 100k SPIs hold no more
MAX_ESP_KEYS = 32_768
_ICMPV6_PACKET_TOO_BIG = 2


def counted_gre(fl: int, protocol_type: int) -> bool:
    """Whether a GRE header (its flags+version word ``fl`` and protocol
    type) is one the replay only counts, as far as the header tells (what it
    carries is looked at next). Routing (RFC 1701), GRE v1 (PPTP), and any
    payload but IPv4 / IPv6 (NHRP, keepalives, ERSPAN, ...) go to the full
    decode. The one place that says so: the hot loops' common layouts below
    are two headers it accepts."""
    return not fl & (GRE_R | GRE_VERSION) and (protocol_type == PT_IPV4 or protocol_type == PT_IPV6)


def only_counted(h: GrePeek) -> bool:
    """``counted_gre`` of a peeked header."""
    return counted_gre(h.flags | h.version, h.protocol_type)


# The commonest counted GRE headers (``only_counted``), as the first word reads:
# no flags, or only a key, before IPv4.
_GRE_IPV4, _GRE_KEY_IPV4 = PT_IPV4, (GRE_K << 16) | PT_IPV4
_GRE_IPV4_BYTES, _GRE_KEY_IPV4_BYTES = GRE_HEADER.pack(0, PT_IPV4), GRE_HEADER.pack(GRE_K, PT_IPV4)

# The layout of nearly every DMVPN data frame, read in two calls: the fields
# of link.decode_ethernet, ip.IPV4_HEADER (without options) and gre.GRE_HEADER
# fused, the rest skipped (ethertype, version+IHL, total length, flags+fragment
# offset, protocol, GRE flags+type as one word), then after GRE with or without
# a key, ip.IPV4_HEADER's (version+IHL, flags+fragment offset, protocol,
# destination) and the first 4 bytes after it (UDP's ports, ICMP's type+code).
_OUTER = struct.Struct("!12xHBxH2xHxB10xI")
_INNER = struct.Struct("!B5xHxB6xII")


def gre_check(g: bytes, p: int, end: int, known: int | None = None
              ) -> tuple[bytes, int | None] | None:
    """A GRE data packet at ``g[p:end]`` that is only counted: (its first 4
    bytes and its key, the inner IPv4 destination or None for IPv6), else
    None. With the outer addresses in front, the first value is what the
    engine keys its per-pair counters by. ``known``: where the bytes that
    can be looked at end, when before ``end`` (a GRE packet decrypted only
    in part): a test that would need more is left to the full decode.

    Per frame on some captures (tagged, IPv6 ...): the dissectors' layouts
    and flags are read here without a peek's record (a call and a tuple
    a header, measured at twice the time of the whole test)."""
    lim = end if known is None or known > end else known
    if lim < p + 4:
        return None
    fl, ptype = _GRE_HEADER(g, p)
    if not counted_gre(fl, ptype):
        return None
    # gre.gre_header_len, for version 0 (counted_gre)
    q = p + 4 + (4 if fl & GRE_C else 0)
    kb = g[p:p + 4]
    if fl & GRE_K:
        kb += g[q:q + 4]
        q += 4
    if fl & GRE_S:
        q += 4
    if ptype == PT_IPV4:
        if lim < q + IPV4_MIN_LEN:
            return None
        vihl, _total, ffl, proto = _IPV4_TESTED(g, q)
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4 or ihl < IPV4_MIN_LEN or q + ihl > lim or ffl & IPV4_FRAGMENT \
                or proto in _NOT_DATA:
            return None
        x = q + ihl
        if proto == PROTO_UDP:
            # a UDP header cut short is no UDP layer: nothing to look at
            if end >= x + 4 and (lim < x + 4 or _ike_ports(g, x)):
                return None
        elif proto == PROTO_ICMP:
            if lim < x + 2 or (g[x] << 8 | g[x + 1]) == _ICMP_FRAG_NEEDED:
                return None
        return kb, int.from_bytes(g[q + 16:q + 20], "big")
    if lim < q + IPV6_LEN or g[q] >> 4 != 6:
        return None
    nh = g[q + 6]  # ip.IPV6_HEADER's next header
    x = q + IPV6_LEN
    if nh == PROTO_UDP:
        if end >= x + 4 and (lim < x + 4 or _ike_ports(g, x)):
            return None
    elif nh == PROTO_ICMPV6:
        if lim < x + 1 or g[x] == _ICMPV6_PACKET_TOO_BIG:
            return None
    elif nh != PROTO_TCP:
        return None
    return kb, None


def _ike_ports(g: bytes, x: int) -> bool:
    """Whether the UDP header at ``g[x:]`` is IKE's or NAT-T's: the walk
    looks into those (IKE, ESP, keepalives)."""
    sport, dport = UDP_PORTS.unpack_from(g, x)
    return sport in _IKE_PORTS or dport in _IKE_PORTS


class _EspSa:
    """One SPI between two addresses: the SA that opens it (None: no key)
    as of key store version ``dbv``, and its ``EspPeek``. ``null``, with no
    key: whether its first whole packet read as NULL encryption (None: not
    tested yet); as ``FrameDecoder``, one verdict per SA."""

    __slots__ = ("sa", "peek", "dbv", "ready", "null")

    def __init__(self, sa: Any, dbv: int) -> None:
        self.sa = sa
        self.dbv = dbv
        self.null: bool | None = None
        self.peek: Any = None
        if sa is not None:
            from nhrpscope.dissectors.esp_peek import EspPeek

            self.peek = EspPeek.for_sa(sa)
        self.ready = False  # the first packet went the full way (ICV checked)


class _EspFast:
    """An SA whose packets ``classify_batch``'s loop opens itself, with no
    call (ESP right after an IPv4 header of 20 bytes, no NAT-T): a CBC SA
    whose first packet went the full way (``_EspSa.ready``), its
    ``EspPeek.cbc_ends`` copied here, or (``update`` None) an SA with no key
    and not NULL, counted as no-key. ``ek`` is the one bytes object handed on
    for every packet (its hash is kept: the observer's dicts find it
    quicker); ``rk`` the pair key last made for GRE key ``key``, reused
    while it does not change."""

    __slots__ = ("ek", "update", "start", "blk", "icv", "whole", "trailers", "verify", "addrs",
                 "rk0", "key", "rk")

    def __init__(self, ek: bytes, peek: Any, verify_all: bool) -> None:
        self.ek = ek
        self.addrs = ek[:8]
        self.rk0 = ek[:8] + _GRE_IPV4_BYTES  # the pair key of GRE with no key
        self.key: int | None = None
        self.rk = b""
        self.update: Any = None
        self.verify: Any = None
        self.start = self.blk = self.icv = self.whole = 0
        self.trailers: tuple[bytes, ...] = ()
        if peek is not None:
            ends = peek.cbc_ends()
            assert ends is not None  # a CBC SA (_go_fast)
            self.update, skip, self.blk, self.icv, self.whole, self.trailers = ends
            self.start = _ESP_OFF + skip  # the ciphertext, in the frame
            if verify_all:
                self.verify = peek.verify


class Classifier:
    """Tells the frames the replay only counts from the rest (module doc)."""

    def __init__(self, sa_lookup: Callable | None = None, *, verify_all: bool = False) -> None:
        self.verify_all = verify_all
        self._esp: dict[bytes, _EspSa] = {}
        # by the SA key, those of ``_esp`` that classify_batch opens inline, as of
        # key store version ``_fast_dbv`` (a key added since may change the SA)
        self._fast: dict[bytes, _EspFast] = {}
        self._fast_dbv = 0
        self.set_keys(sa_lookup)

    def set_keys(self, sa_lookup: Callable | None) -> None:
        """Where SAs are looked up: ``sa_lookup(spi, src, dst)``. When it is
        an ``SADatabase``'s, an SA added later is seen (its size is its version)."""
        self.sa_lookup = sa_lookup
        keys = getattr(sa_lookup, "__self__", None)
        self._keys = keys if keys is not None and hasattr(keys, "__len__") else None
        all_ = getattr(keys, "_all", None)  # SADatabase's list: len() of it is quicker than len(db)
        self._keys_all = all_ if isinstance(all_, list) else None
        self._esp.clear()
        self._fast.clear()

    def _dbv(self) -> int:
        """The key store's version: its size (SAs are only added)."""
        ka = self._keys_all
        return len(ka) if ka is not None else len(self._keys) if self._keys is not None else 0

    def classify_batch(self, recs: list[tuple]) -> list[tuple]:
        """Each record classified (``classify``), or the record itself when
        it is to be decoded in full: plain tuples in the layouts of
        ``GreData``, ``EspData`` and ``RawFrame`` (``items``). The common
        layouts are tested here in the loop, with no call per frame: two
        unpacks and a few comparisons; the rest go to ``classify``. So is
        ESP right after the IPv4 header on an SA of ``_fast``: its ends
        opened as ``EspPeek.peek_at`` opens them (``_EspFast``), else
        ``_esp_packet``."""
        out: list[tuple] = []
        append = out.append
        classify, esp_packet = self._classify, self._esp_packet
        outer, inner = _OUTER.unpack_from, _INNER.unpack_from
        not_data, ike_ports = _NOT_DATA, _IKE_PORTS
        gre_ipv4, gre_key_ipv4, frag = _GRE_IPV4, _GRE_KEY_IPV4, IPV4_FRAGMENT
        self._fast_as_of(self._dbv())
        fast_get, esp_at, gre_ip = self._fast.get, _ESP_AT.unpack_from, _GRE_IP.unpack_from
        for rec in recs:
            b = rec[3]
            n = len(b)
            if rec[2] == 1 and n >= 66:
                et, vihl, total, fl, proto, gre = outer(b)
                if et == 0x0800 and vihl == 0x45 and not fl & frag:
                    if proto == 47:
                        q = 42 if gre == gre_key_ipv4 else 38 if gre == gre_ipv4 else 0
                        if q and q + 24 <= 14 + total <= n:
                            ivihl, ifl, iproto, idst, l4 = inner(b, q)
                            if ivihl == 0x45 and not ifl & frag and iproto not in not_data \
                                    and not (iproto == 17 and ((l4 >> 16) in ike_ports
                                                               or (l4 & 0xFFFF) in ike_ports)) \
                                    and not (iproto == 1 and l4 >> 16 == 0x0304):
                                append((rec[0], rec[1], rec[4], b[26:q], idst))
                                continue
                    elif proto == 50 and 28 <= total <= n - 14:
                        ek, seq = esp_at(b)
                        f = fast_get(ek)
                        if f is not None:
                            upd = f.update
                            if upd is None:  # no key
                                append((rec[0], rec[1], rec[4], None, None, f.ek, seq, 0, 0))
                                continue
                            # EspPeek.peek_at of a CBC packet longer than ``whole``, inline
                            s, blk = f.start, f.blk
                            e = 14 + total - f.icv
                            if e - s > f.whole and not (e - s) % blk:
                                p = upd(b[s - blk:s + 32] + b[e - 2 * blk:e])
                                if p.endswith(f.trailers[p[-2]]):
                                    # GRE with a key before IPv4 (or with none: IPv4 4 bytes sooner)
                                    gw, gk, ivihl, ifl, iproto, idst, l4 = gre_ip(p, blk)
                                    if gw == gre_key_ipv4:
                                        if gk == f.key:
                                            rk = f.rk
                                        else:
                                            rk = f.rk = f.addrs + p[blk:blk + 8]
                                            f.key = gk
                                    elif gw == gre_ipv4:
                                        ivihl, ifl, iproto, idst, l4 = inner(p, blk + 4)
                                        rk = f.rk0
                                    else:
                                        rk = None
                                    if rk is not None and ivihl == 0x45 and not ifl & frag \
                                            and iproto not in not_data \
                                            and not (iproto == 17 and ((l4 >> 16) in ike_ports
                                                                       or (l4 & 0xFFFF) in ike_ports)) \
                                            and not (iproto == 1 and l4 >> 16 == 0x0304) \
                                            and (f.verify is None or f.verify(b, 34, 14 + total)):
                                        append((rec[0], rec[1], rec[4], rk, idst, f.ek, seq, 0, 0))
                                        continue
                            # anything else: as it always went (the same tests, and the rest)
                        m = esp_packet(rec[0], rec[1], b, 14, 34, 14 + total, rec[4], 0, 0)
                        append(rec if m is None else m)
                        continue
            m = classify(rec)
            append(rec if m is None else m)
        return out

    def classify(self, rec: tuple) -> GreData | EspData | None:
        """One frame (module doc), typed. ``classify_batch`` is the quicker for many."""
        m = self._classify(rec)
        if m is None:
            return None
        if len(m) == 5:
            return _new(GreData, m)  # GreData._make, less its checks
        return _new(EspData, m)

    def _classify(self, rec: tuple) -> tuple | None:
        number, t, lt, b, wl, _ = rec
        n = len(b)
        if lt == LINKTYPE_ETHERNET and n >= 34 and (b[12] << 8 | b[13]) == ETH_IPV4:
            off = 14
        else:
            found = ip_offset(lt, b)
            if found is None or n < found + IPV4_MIN_LEN:
                return None
            off = found
        vihl, total, fl, proto = _IPV4_TESTED(b, off)
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4 or ihl < IPV4_MIN_LEN or fl & IPV4_FRAGMENT:
            return None  # not IPv4 (nor a whole packet: the decoder reassembles)
        p = off + ihl
        ipend = off + total
        if total < ihl:
            ipend = n  # as decode_ipv4 does
        elif ipend > n:
            ipend = -1  # cut by the snap length
        if proto == PROTO_GRE:
            g = gre_check(b, p, n if ipend < 0 else ipend)
            if g is None:
                return None
            return number, t, wl, b[off + 12:off + 20] + g[0], g[1]
        if proto == PROTO_ESP:
            if ipend < p + 8:
                return None
            return self._esp_packet(number, t, b, off, p, ipend, wl, 0, 0)
        if proto == PROTO_UDP:
            if ipend < p + 16:
                return None
            sport, dport, length, _sum = _UDP_HEADER(b, p)
            if (sport != NAT_T_PORT and dport != NAT_T_PORT) or length != ipend - p:
                return None
            if b[p + 8:p + 12] == NON_ESP_MARKER:
                return None  # IKE
            return self._esp_packet(number, t, b, off, p + 8, ipend, wl, sport, dport)
        return None

    def _esp_packet(self, number: int, t: float, b: bytes, off: int, q: int, ipend: int, wl: int,
                    sport: int, dport: int) -> tuple | None:
        """An ESP packet at ``b[q:ipend]`` (``ipend`` -1: cut short); NAT-T
        when ``sport``. Its key ``ek``: the outer addresses and the SPI, and
        a byte 1 for NAT-T."""
        if sport:
            ek = b[off + 12:off + 20] + b[q:q + 4] + b"\1"
        elif q == off + 20:
            ek = b[off + 12:q + 4]
        else:
            ek = b[off + 12:off + 20] + b[q:q + 4]
        es = self._esp.get(ek)
        dbv = self._dbv()
        spi, seq = _ESP_HEADER(b, q)
        if es is None or es.dbv != dbv:
            sa = None
            if self.sa_lookup is not None:
                sa = self.sa_lookup(spi, _addr(b[off + 12:off + 16]), _addr(b[off + 16:off + 20]))
            es = _EspSa(sa, dbv)
            if len(self._esp) < MAX_ESP_KEYS or ek in self._esp:
                self._esp[ek] = es
        if es.sa is None:
            if es.null is None and ipend >= 0:
                es.null = guess_null(b, q, ipend) is not None
                if not es.null and not sport:
                    self._go_fast(ek, es)
            if not es.null:
                return number, t, wl, None, None, ek, seq, sport, dport
            return None  # NULL encryption: the full decode reads what it carries
        peek = es.peek
        if ipend < 0 or peek is None or not es.ready:
            es.ready = ipend >= 0
            if es.ready and not sport and peek is not None and peek.kind == "cbc":
                self._go_fast(ek, es)
            return None
        r = peek.peek_at(b, q, ipend)
        if r is None:
            return None
        g, o, glen, known = r  # the GRE packet starts at g[o]; known: its bytes there
        if known > glen:
            known = glen
        # the GRE packet inside: the common layouts first, as in classify_batch
        w = g[o:o + 4]
        x = 4 if w == _GRE_IPV4_BYTES else 8 if w == _GRE_KEY_IPV4_BYTES else 0
        if x and x + 24 <= known:
            ivihl, ifl, iproto, idst, l4 = _INNER.unpack_from(g, o + x)
            if ivihl != 0x45 or ifl & IPV4_FRAGMENT or iproto in _NOT_DATA or (
                    iproto == 17 and ((l4 >> 16) in _IKE_PORTS or (l4 & 0xFFFF) in _IKE_PORTS)) or (
                    iproto == 1 and l4 >> 16 == _ICMP_FRAG_NEEDED):
                return None
            rk = ek[:8] + g[o:o + x]  # the outer addresses, the GRE header's first 4 bytes, its key
        else:
            found = gre_check(g, o, o + glen, o + known)
            if found is None:
                return None
            rk = ek[:8] + found[0]
            idst = found[1]
        if self.verify_all and not peek.verify(b, q, ipend):
            return None
        return number, t, wl, rk, idst, ek, seq, sport, dport

    def _fast_as_of(self, dbv: int) -> None:
        """``_fast`` as of key store version ``dbv``: emptied when keys were
        added since (each SA is looked up again)."""
        if dbv != self._fast_dbv:
            self._fast.clear()
            self._fast_dbv = dbv

    def _go_fast(self, ek: bytes, es: _EspSa) -> None:
        """Let classify_batch open the packets of ``es`` itself from now on
        (``_EspFast``), if ``_esp`` keeps it."""
        if self._esp.get(ek) is not es:
            return
        self._fast_as_of(es.dbv)
        self._fast[ek] = _EspFast(ek, es.peek if es.sa is not None else None, self.verify_all)


_ESP_HEADER = ESP_HEADER.unpack_from
# ESP right after an Ethernet and a 20-byte IPv4 header: the outer addresses
# and the SPI (the SA's key in ``_esp``), and esp.ESP_HEADER's sequence number
_ESP_AT = struct.Struct("!26x12sI")
_ESP_OFF = 34
# GRE with a key (gre.GRE_HEADER's word, the key), then _INNER's fields
_GRE_IP = struct.Struct("!II" + _INNER.format[1:])
_new: Callable[[type[Any], tuple], Any] = tuple.__new__
_GRE_HEADER = GRE_HEADER.unpack_from
_IPV4_TESTED = IPV4_TESTED.unpack_from
_UDP_HEADER = UDP_HEADER.unpack_from


def _addr(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)
