"""The replay's fast path: classify a frame from a few header bytes.

Nearly every frame of a busy DMVPN capture is tunnel data that the replay
only counts per NBMA pair (and per SA under ESP). ``Classifier.classify``
tells such a frame from the rest by its headers alone, with no decode and
no object per frame, and hands back the few values counting needs:

- ``(number, time, wire_len, pair, inner_dst)``: GRE data. ``pair`` is the
  outer source and destination (4 bytes each) and the GRE key bytes;
  ``inner_dst`` the inner IPv4 destination as an int (None for IPv6).
- ``(number, time, wire_len, pair, inner_dst, esp, seq, sport, dport)``:
  ESP; ``esp`` is the SPI and the outer addresses (with a leading byte 1
  for NAT-T, whose ports follow), ``pair`` None when there is no key (the
  packet is counted as "no-key"), else the GRE data packet found inside by
  opening just the ends of the payload (``dissectors.esp.EspPeek``).
- None: anything else, which the engine decodes and walks in full.

Every test here sends to the full decode whatever the engine's walk of a
decoded packet would treat otherwise than by counting: fragments (the
decoder reassembles), keepalives, nested tunnels, NAT-T or ICMP
"fragmentation needed" inside GRE, NHRP, truncated or odd headers, an SA's
first packet (its ICV is checked there), ESP that ``EspPeek`` cannot open,
IKE or NAT-T inside GRE.
``tests/test_fastpath.py`` holds the two paths to the same result.

The classification is a pure function of the frame and the keys, so it can
run ahead of the replay in another process: ``python -m
nhrpscope.replay.fastpath`` reads one capture, reorders and de-duplicates it
as ``CaptureSource`` does, classifies each frame and writes the results
(marshalled batches) for ``CaptureSource.staged`` to replay; the two cores then
share the work (DESIGN.md, "Growing past one machine").
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

from nhrpscope.replay.source import ip_offset

# IP protocols inside GRE that the walk does more with than count: IP in IP,
# GRE (keepalives, nested tunnels), ESP, NHRP on IP, ICMPv6.
_NOT_DATA = frozenset({4, 41, 47, 50, 54, 58})
# UDP inside GRE that the walk looks into: IKE, NAT-T (ESP, keepalives).
_IKE_PORTS = frozenset({500, 4500})

# The layout of nearly every DMVPN data frame, read in two calls: Ethernet,
# IPv4 without options and GRE (ethertype, version+IHL, total length,
# flags+fragment offset, protocol, GRE flags+type), then after GRE with or
# without a key, IPv4 without options (version+IHL, flags+fragment offset,
# protocol, destination) and the first 4 bytes after it.
_OUTER = struct.Struct("!12xHBxH2xHxB10xI")
_INNER = struct.Struct("!B5xHxB6xII")
_GRE_IPV4, _GRE_KEY_IPV4 = 0x00000800, 0x20000800
_U32 = struct.Struct("!I").unpack_from


def gre_check(g: bytes, p: int, end: int, known: int | None = None
              ) -> tuple[bytes, int | None] | None:
    """A GRE data packet at ``g[p:end]`` that is only counted: (its first 4
    bytes and its key, the inner IPv4 destination or None for IPv6), else
    None. With the outer addresses in front, the first value is what the
    engine keys its per-pair counters by. ``known``: where the bytes that
    can be looked at end, when before ``end`` (a GRE packet decrypted only
    in part): a test that would need more is left to the full decode."""
    lim = end if known is None or known > end else known
    if lim < p + 4:
        return None
    fl = g[p]
    if fl & 0x40 or g[p + 1] & 7:  # routing, or GRE v1
        return None
    ptype = (g[p + 2] << 8) | g[p + 3]
    if ptype != 0x0800 and ptype != 0x86DD:
        return None
    q = p + (8 if fl & 0x80 else 4)
    kb = g[p:p + 4]
    if fl & 0x20:
        kb = g[p:p + 4] + g[q:q + 4]
        q += 4
    if fl & 0x10:
        q += 4
    if ptype == 0x0800:
        if lim < q + 20:
            return None
        v = g[q]
        ihl = (v & 15) * 4
        if v >> 4 != 4 or ihl < 20 or q + ihl > lim or g[q + 6] & 0x3F or g[q + 7]:
            return None
        ip = g[q + 9]
        if ip in _NOT_DATA:
            return None
        x = q + ihl
        if ip == 17:
            if end >= x + 4:  # (a UDP header cut short is no UDP layer: nothing to look at)
                if lim < x + 4 or ((g[x] << 8) | g[x + 1]) in _IKE_PORTS \
                        or ((g[x + 2] << 8) | g[x + 3]) in _IKE_PORTS:
                    return None
        elif ip == 1:
            if lim < x + 2 or (g[x] == 3 and g[x + 1] == 4):
                return None
        return kb, int.from_bytes(g[q + 16:q + 20], "big")
    if lim < q + 40 or g[q] >> 4 != 6:
        return None
    nh = g[q + 6]
    x = q + 40
    if nh == 17:
        if end >= x + 4:
            if lim < x + 4 or ((g[x] << 8) | g[x + 1]) in _IKE_PORTS \
                    or ((g[x + 2] << 8) | g[x + 3]) in _IKE_PORTS:
                return None
    elif nh == 58:
        if lim < x + 1 or g[x] == 2:
            return None
    elif nh != 6:
        return None
    return kb, None


class _EspSa:
    """One SPI between two addresses: the SA that opens it (None: no key)
    as of key store version ``dbv``, and its ``EspPeek``."""

    __slots__ = ("sa", "peek", "dbv", "ready")

    def __init__(self, sa: Any, dbv: int) -> None:
        self.sa = sa
        self.dbv = dbv
        self.peek: Any = None
        if sa is not None:
            from dissectors.esp import EspPeek

            self.peek = EspPeek.for_sa(sa)
        self.ready = False  # the first packet went the full way (ICV checked)


class Classifier:
    """Tells the frames the replay only counts from the rest (module doc)."""

    def __init__(self, sa_lookup: Callable | None = None, *, verify_all: bool = False) -> None:
        self.verify_all = verify_all
        self._esp: dict[bytes, _EspSa] = {}
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

    def classify_batch(self, recs: list[tuple]) -> list[tuple]:
        """Each record classified (``classify``), or the record itself when
        it is to be decoded in full. The common layouts are tested here in
        the loop, with no call per frame: two unpacks and a few comparisons;
        the rest go to ``classify``."""
        out: list[tuple] = []
        append = out.append
        classify, esp_packet = self.classify, self._esp_packet
        outer, inner = _OUTER.unpack_from, _INNER.unpack_from
        for rec in recs:
            b = rec[3]
            n = len(b)
            if rec[2] == 1 and n >= 66:
                et, vihl, total, frag, proto, gre = outer(b)
                if et == 0x0800 and vihl == 0x45 and not frag & 0x3FFF:
                    if proto == 47:
                        q = 42 if gre == _GRE_KEY_IPV4 else 38 if gre == _GRE_IPV4 else 0
                        if q and q + 24 <= 14 + total <= n:
                            ivihl, ifrag, iproto, idst, l4 = inner(b, q)
                            if ivihl == 0x45 and not ifrag & 0x3FFF and iproto not in _NOT_DATA \
                                    and not (iproto == 17 and ((l4 >> 16) in _IKE_PORTS
                                                               or (l4 & 0xFFFF) in _IKE_PORTS)) \
                                    and not (iproto == 1 and l4 >> 16 == 0x0304):
                                append((rec[0], rec[1], rec[4], b[26:q], idst))
                                continue
                    elif proto == 50 and 28 <= total <= n - 14:
                        m = esp_packet(rec[0], rec[1], b, 14, 34, 14 + total, rec[4], 0, 0)
                        append(rec if m is None else m)
                        continue
            m = classify(rec)
            append(rec if m is None else m)
        return out

    def classify(self, rec: tuple) -> tuple | None:
        """One frame (module doc). ``classify_batch`` is the quicker for many."""
        number, t, lt, b, wl, _ = rec
        n = len(b)
        if lt == 1 and n >= 34 and b[12] == 8 and b[13] == 0:
            off = 14
        else:
            off = ip_offset(lt, b)
            if off is None or n < off + 20:
                return None
        v = b[off]
        if v == 0x45:
            p = off + 20
        elif v >> 4 == 4 and v & 15 >= 5:
            p = off + (v & 15) * 4
        else:
            return None
        if b[off + 6] & 0x3F or b[off + 7]:  # MF or a fragment offset
            return None
        total = (b[off + 2] << 8) | b[off + 3]
        ipend = off + total
        if total < p - off:
            ipend = n  # as decode_ipv4 does
        elif ipend > n:
            ipend = -1  # cut by the snap length
        proto = b[off + 9]
        if proto == 47:
            g = gre_check(b, p, n if ipend < 0 else ipend)
            if g is None:
                return None
            return number, t, wl, b[off + 12:off + 20] + g[0], g[1]
        if proto == 50:
            if ipend < p + 8:
                return None
            return self._esp_packet(number, t, b, off, p, ipend, wl, 0, 0)
        if proto == 17:
            if ipend < p + 16:
                return None
            sport = (b[p] << 8) | b[p + 1]
            dport = (b[p + 2] << 8) | b[p + 3]
            if (sport != 4500 and dport != 4500) or (b[p + 4] << 8 | b[p + 5]) != ipend - p:
                return None
            if b[p + 8:p + 12] == b"\0\0\0\0":
                return None  # IKE (non-ESP marker)
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
        ka = self._keys_all
        dbv = len(ka) if ka is not None else len(self._keys) if self._keys is not None else 0
        if es is None or es.dbv != dbv:
            sa = None
            if self.sa_lookup is not None:
                sa = self.sa_lookup(int.from_bytes(b[q:q + 4], "big"), _addr(b[off + 12:off + 16]),
                                    _addr(b[off + 16:off + 20]))
            es = self._esp[ek] = _EspSa(sa, dbv)
        seq = _U32(b, q + 4)[0]
        if es.sa is None:
            return number, t, wl, None, None, ek, seq, sport, dport
        peek = es.peek
        if ipend < 0 or peek is None or not es.ready:
            es.ready = ipend >= 0
            return None
        r = peek.peek_at(b, q, ipend)
        if r is None:
            return None
        g, o, glen, known = r  # the GRE packet starts at g[o]; known: its bytes there
        if known > glen:
            known = glen
        # the GRE packet inside: the common layouts first, as in classify
        w = g[o:o + 4]
        x = 4 if w == b"\0\0\x08\0" else 8 if w == b"\x20\0\x08\0" else 0
        if x and x + 24 <= known:
            ivihl, ifrag, iproto, idst, l4 = _INNER.unpack_from(g, o + x)
            if ivihl != 0x45 or ifrag & 0x3FFF or iproto in _NOT_DATA or (
                    iproto == 17 and ((l4 >> 16) in _IKE_PORTS or (l4 & 0xFFFF) in _IKE_PORTS)) or (
                    iproto == 1 and l4 >> 16 == 0x0304):
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


def _addr(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)


# -- the first stage in its own process ------------------------------------------------

_BATCH = 1024


def stage(path: str, key_files: list[str], esp_specs: list[str], *, dedup: bool = True,
          dedup_window: float = 1.0, reorder_window: float = 0.5, reorder_max: int = 4096,
          verify_all: bool = False, skip: tuple[int, ...] = (), capture_keys: bool = True
          ) -> Iterator[list]:
    """Batches of what ``CaptureSource.staged`` replays: per frame the
    classification or the frame itself. With ``skip`` (for ``decode
    --only``), frames only: the first, and those not classified as one of
    the kinds in ``skip`` (by length), each as it was read. ``capture_keys``
    False: keys in the capture are passed on but not used here (the replay
    ignores them too: --no-capture-keys). Alone in their batch:
    ``("secrets", type, data, where)`` where the capture carries keys (before
    the frames read after them), and last ``("end", stats)`` or ``("error",
    message)``."""
    from nhrpscope.capture import CaptureError
    from nhrpscope.replay.source import CaptureSource

    classifier = Classifier(None, verify_all=verify_all)
    db: Any = None

    def keys() -> Any:
        # The key store (and the cryptography it brings) only when there are keys.
        nonlocal db
        if db is None:
            from nhrpscope.keys import SADatabase

            db = SADatabase()
            classifier.set_keys(db.lookup)
        return db

    if key_files or esp_specs:
        from nhrpscope.keys import load_key_file, parse_tcpdump_spec

        for kf in key_files:
            for sa in load_key_file(kf):
                keys().add(sa)
        for i, spec in enumerate(esp_specs, 1):
            for sa in parse_tcpdump_spec(spec, where=f"-E #{i}"):
                keys().add(sa)
    batch: list = []
    pending: list = []

    def on_secrets(stype: int, data: bytes, where: str) -> None:
        from nhrpscope.keys import parse_dsb

        pending.append(("secrets", stype, bytes(data), where))
        if not capture_keys:
            return
        try:
            for sa in parse_dsb(stype, data, where):
                keys().add(sa)
        except Exception:  # noqa: BLE001 - the replay parses it again and reports it
            pass

    classify, classify_batch = classifier.classify, classifier.classify_batch
    try:
        with CaptureSource([path], on_secrets=on_secrets, dedup=dedup, dedup_window=dedup_window,
                           reorder_window=reorder_window, reorder_max=reorder_max) as src:
            first = True
            for recs in src.record_batches():
                if pending:  # keys read before these frames: the replay learns them first
                    yield batch
                    for x in pending:
                        yield [x]
                    batch = []
                    pending.clear()
                if skip:
                    for rec in recs:
                        m = classify(rec)
                        if m is None or len(m) not in skip or first:
                            batch.append(rec)
                            first = False
                else:
                    batch += classify_batch(recs)
                if len(batch) >= _BATCH:
                    yield batch
                    batch = []
            yield batch
            for x in pending:
                yield [x]
            end = ("end", {"frames": src.frames, "read": src.read, "duplicates": src.duplicates,
                           "first": src.first, "last": src.last, "warnings": src.warnings})
    except CaptureError as e:
        end = ("error", str(e))
    yield [end]


def main(argv: list[str] | None = None) -> None:
    """``python -m nhrpscope.replay.fastpath JSON``: run ``stage`` and write
    its batches to standard output, each marshalled (tuples of numbers,
    bytes and strings: marshal is the quickest) behind its 8-byte length."""
    import gc
    import json
    import marshal
    import sys

    # A million small tuples made and dropped, none in a cycle: the cyclic
    # collector would only walk them (a sixth of the time, measured).
    gc.disable()
    args = json.loads((argv if argv is not None else sys.argv[1:])[0])
    out = sys.stdout.buffer
    for batch in stage(args["path"], args["keys"], args["specs"], dedup=args["dedup"],
                       dedup_window=args["dedup_window"], reorder_window=args["window"],
                       reorder_max=args["max"], verify_all=args["verify_all"],
                       skip=tuple(args.get("skip", ())), capture_keys=args.get("capture_keys", True)):
        data = marshal.dumps(batch)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
    out.flush()


if __name__ == "__main__":
    main()
