"""One big capture cut into byte ranges at record boundaries, a worker each.

The client finds each cut (a few reads, never a walk of the whole file):

- pcap: from the nominal offset, the first place where a run of
  ``RUN`` record headers is consistent (captured length within the snap
  length and the wire length, a fraction of a second below one, each time
  close to the one before) and chains on to the next header or the file's
  end;
- pcapng: the same over block headers (a known block type, a length that is
  a multiple of 4, the trailing copy equal), on 4-byte boundaries. The
  blocks before the first packet (section header, interface descriptions,
  secrets) are read once here: each range reads the section header and
  interfaces first (``Part.prefix``) and gets the secrets for its classifier.

A wrong cut cannot pass unseen: each range's worker reads its records with
the ordinary reader and must end exactly at the next cut; the range before
a wrong one ends inside a record, warns, and the merge reads the file again
in one part (``run``). So does a range holding an interface description or
keys (the ranges after it lacked them).
"""

from __future__ import annotations

import os
import struct

from nhrpscope.capture import (
    BLOCK_DSB,
    BLOCK_EPB,
    BLOCK_IDB,
    BLOCK_PB,
    BLOCK_SPB,
    MAX_BLOCK,
    MAX_FRAME,
    MAX_RECORD,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_BOM,
    PCAPNG_SHB,
)
from nhrpscope.cluster.task import Part

# A file below this is read whole by one worker: a cut and a worker cost more
SPLIT_MIN_BYTES = 16 << 20
# Consistent headers in a row that make a cut
RUN = 8
# How far past the nominal offset a cut is looked for
SEARCH = 4 * (MAX_FRAME + 16)
# Bytes read past the search for the runs
READ_AHEAD = RUN * 65536
# A timestamp may step back this much between records (multi-interface
# captures) and forward this much (a quiet link) and still chain
BACK, AHEAD = 60.0, 86_400.0 * 7
_PACKET_BLOCKS = (BLOCK_EPB, BLOCK_PB, BLOCK_SPB)
_KNOWN_BLOCKS = frozenset({BLOCK_IDB, BLOCK_PB, BLOCK_SPB, 4, 5, BLOCK_EPB, BLOCK_DSB,
                           0x00000BAD, 0x40000BAD})


def plan(path: str, capture: int, n: int, min_bytes: int | None = None) -> list[Part]:
    """``path`` as ``n`` ranges (fewer where no cut is found), or whole
    (standard input, gzip, a small file, not a capture)."""
    whole = [Part(path, capture)]
    if n < 2 or path == "-":
        return whole
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(4)
            if size < (SPLIT_MIN_BYTES if min_bytes is None else min_bytes) or len(head) < 4:
                return whole
            if struct.unpack("<I", head)[0] == PCAPNG_SHB:
                return _pcapng(fh, path, capture, n, size) or whole
            if head in (struct.pack("<I", PCAP_MAGIC_US), struct.pack("<I", PCAP_MAGIC_NS),
                        struct.pack(">I", PCAP_MAGIC_US), struct.pack(">I", PCAP_MAGIC_NS)):
                return _pcap(fh, path, capture, n, size) or whole
    except (OSError, struct.error):
        pass  # the worker that reads it whole says what is wrong
    return whole


def _ranges(path: str, capture: int, cuts: list[int], size: int, **common: object) -> list[Part]:
    cuts = sorted(set(cuts))
    bounds = list(zip(cuts, [*cuts[1:], size], strict=True))
    return [Part(path, capture, i, a, b, last=i == len(bounds) - 1,
                 **(common if i else {k: v for k, v in common.items()  # type: ignore[arg-type]
                                      if k not in ("prefix", "secrets")}))
            for i, (a, b) in enumerate(bounds)]


# -- pcap ---------------------------------------------------------------------------


def _pcap(fh: object, path: str, capture: int, n: int, size: int) -> list[Part] | None:
    assert hasattr(fh, "seek") and hasattr(fh, "read")
    fh.seek(0)
    header = fh.read(24)
    if len(header) < 24:
        return None
    endian = "<" if header[:4] in (struct.pack("<I", PCAP_MAGIC_US),
                                   struct.pack("<I", PCAP_MAGIC_NS)) else ">"
    magic, _, _, _, _, snaplen, _ = struct.unpack(endian + "IHHiIII", header)
    div = 1_000_000_000 if magic == PCAP_MAGIC_NS else 1_000_000
    first = fh.read(8)
    if len(first) < 8:
        return None
    sec, frac = struct.unpack(endian + "II", first)
    t0 = sec + frac / div
    cuts = [0]
    for k in range(1, n):
        at = 24 + (size - 24) * k // n
        fh.seek(at)
        buf = fh.read(SEARCH + READ_AHEAD)
        found = pcap_sync(buf, endian, snaplen, div, t0, at + len(buf) >= size)
        if found is not None and at + found < size:
            cuts.append(at + found)
    if len(set(cuts)) < 2:
        return None
    # the first range reads the file from its start; the others read its header first
    return _ranges(path, capture, cuts, size, prefix=header)


def pcap_sync(buf: bytes, endian: str, snaplen: int, div: int, t0: float = 0.0,
              eof: bool = False) -> int | None:
    """The first offset in ``buf`` where ``RUN`` consistent record headers
    chain (or chain to the end of ``buf`` when it is the file's end); no
    time before the file's first (``t0``) by more than ``BACK``."""
    unpack = struct.Struct(endian + "IIII").unpack_from
    limit = min(snaplen, MAX_FRAME) if snaplen else MAX_FRAME
    end = len(buf)
    for p in range(0, min(end, SEARCH)):
        q, prev, ok = p, None, 0
        while ok < RUN and q + 16 <= end:
            sec, frac, incl, orig = unpack(buf, q)
            if incl > limit or incl > orig or orig > MAX_RECORD or frac >= div:
                break
            t = sec + frac / div
            if t < t0 - BACK or (prev is not None and not prev - BACK <= t <= prev + AHEAD):
                break
            prev = t
            q += 16 + incl
            ok += 1
        # a run cut by the end of what was read will do from two on (the
        # worker's check catches a wrong cut)
        if ok >= RUN or (ok > 0 and q == end and eof) or (ok >= 2 and q + 16 > end and not eof):
            return p
    return None


# -- pcapng -------------------------------------------------------------------------


def _pcapng(fh: object, path: str, capture: int, n: int, size: int) -> list[Part] | None:
    assert hasattr(fh, "seek") and hasattr(fh, "read")
    fh.seek(0)
    shb = fh.read(12)
    if len(shb) < 12:
        return None
    bom = shb[8:12]
    if struct.unpack("<I", bom)[0] == PCAPNG_BOM:
        endian = "<"
    elif struct.unpack(">I", bom)[0] == PCAPNG_BOM:
        endian = ">"
    else:
        return None
    # the blocks before the first packet: section header, interfaces, secrets
    prefix, secrets, idbs = [], [], 0
    at = 0
    while at < size:
        fh.seek(at)
        hdr = fh.read(8)
        if len(hdr) < 8:
            return None
        btype, blen = struct.unpack(endian + "II", hdr)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            return None
        if btype in _PACKET_BLOCKS:
            break
        if btype == PCAPNG_SHB and at:
            return None  # a second section before any packet: read it whole
        body = hdr + fh.read(blen - 8)
        if len(body) < blen:
            return None
        if btype == BLOCK_DSB:
            stype, slen = struct.unpack(endian + "II", body[8:16])
            secrets.append((stype, body[16:16 + slen], f"{path}: block at offset {at}"))
        else:
            prefix.append(body)
            idbs += btype == BLOCK_IDB
        at += blen
    first = at
    cuts = [0]
    for k in range(1, n):
        nominal = first + (size - first) * k // n
        nominal += -nominal % 4
        fh.seek(nominal)
        found = pcapng_sync(fh.read(SEARCH + READ_AHEAD), endian, nominal, size)
        if found is not None and nominal + found < size:
            cuts.append(nominal + found)
    if len(set(cuts)) < 2:
        return None
    return _ranges(path, capture, cuts, size, prefix=b"".join(prefix), prefix_idbs=idbs,
                   prefix_dsbs=len(secrets), secrets=tuple(secrets))


def pcapng_sync(buf: bytes, endian: str, base: int, size: int) -> int | None:
    """The first 4-byte-aligned offset in ``buf`` (read at file offset
    ``base``, itself aligned) where ``RUN`` consistent blocks chain, or
    chain to the file's end."""
    unpack = struct.Struct(endian + "II").unpack_from
    trail = struct.Struct(endian + "I").unpack_from
    end = len(buf)
    for p in range(0, min(end, SEARCH), 4):
        q, ok = p, 0
        while ok < RUN and q + 8 <= end:
            btype, blen = unpack(buf, q)
            if btype not in _KNOWN_BLOCKS or blen < 12 or blen % 4 or blen > MAX_BLOCK:
                break
            if q + blen > end:
                ok = RUN if ok >= 2 else 0  # past what was read: a run of two will do
                break
            if trail(buf, q + blen - 4)[0] != blen:
                break
            q += blen
            ok += 1
        if ok >= RUN or (ok > 0 and base + q == size):
            return p
    return None
