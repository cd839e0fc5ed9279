"""The worker's side: one part (a file, or a byte range of one) read,
reordered, classified, as compact marshalled batches for the merge.

``stage_part`` is a pure function of the part, the key files and the
options, so a Dask worker on any machine that can read the files runs it.
It does what ``first_stage.stage`` does for the reading process, less the
de-duplication: duplicates are dropped after the parts are merged
(``merge``), since a copy may sit in another part. So each item carries a
deterministic key of the packet (``packet_key``; Python's ``hash`` of bytes
differs from process to process).

Per part, in the stream's order (``PartResult.batches``): marshalled lists
of triples ``(time, item, meta)``. ``item`` is what
``Classifier.classify_batch`` makes (5 values GRE data, 9 ESP, 6 a frame
to decode); ``meta`` the packet key (an int; None: not an IP packet), or
``(key, captured)`` for a frame cut by the snap length, or, with ``item``
None, ``("secrets", type, data, where)``: keys the capture carried, placed
before the frames read after them.
"""

from __future__ import annotations

import gc
import io
import marshal
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from nhrpscope.capture import CaptureError, CaptureReader
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.first_stage import StageKeys
from nhrpscope.replay.source import REORDER_MAX_BYTES, _in_order, dedup_key

# Items per marshalled batch: big enough that a batch costs nothing per
# item, small enough that the merge holds few at a time.
BATCH = 4096


@dataclass(frozen=True)
class Part:
    """A file (``end`` -1) or the records that start in ``[start, end)`` of it."""

    path: str
    capture: int  # the capture's index among the files given
    index: int = 0  # the range's index within its file
    start: int = 0
    end: int = -1
    # read before the range: the pcap file header, or the pcapng section
    # header and interface descriptions (b"" for the first range)
    prefix: bytes = b""
    # interface descriptions and secrets blocks before the file's first
    # packet (in ``prefix`` and ``secrets``; the first range reads them itself)
    prefix_idbs: int = 0
    prefix_dsbs: int = 0
    # keys the capture carried before the range (given to the classifier only:
    # the range that holds them passes them on)
    secrets: tuple[tuple[int, bytes, str], ...] = ()
    last: bool = True  # the file's last range (or the whole file)

    @property
    def ranged(self) -> bool:
        return self.end >= 0


@dataclass(frozen=True)
class StageOptions:
    reorder_window: float = 0.5
    reorder_max: int = 4096
    verify_all: bool = False
    capture_keys: bool = True


@dataclass
class PartResult:
    part: Part
    batches: list[bytes] = field(default_factory=list)  # marshalled lists of triples (module doc)
    items: int = 0
    raw: int = 0  # items that are frames to decode (the control plane, mostly)
    read: int = 0  # records read
    first: float | None = None  # the stream's first and last times
    last: float | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the one-line error the one-process run gives
    # interface descriptions and keys met inside the range: ranges after it
    # lacked them, so the file is read again in one part (``merge``)
    structure: int = 0
    keys: int = 0  # secrets blocks the part carries

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.batches))


_OFFSET = re.compile(r"offset (\d+)")


def file_offsets(text: str, prefix: int, start: int) -> str:
    """The offsets a range's reader names (in ``prefix`` then the range)
    told as the file's."""
    return _OFFSET.sub(lambda m: f"offset {int(m[1]) - prefix + start}"
                       if int(m[1]) >= prefix else m[0], text)


def checksum64(d: bytes) -> int:
    """CRC-32 and Adler-32 of ``d``: the same in every process (``hash``
    of bytes is salted per process)."""
    return zlib.crc32(d) | zlib.adler32(d) << 32


def packet_key(linktype: int, b: bytes) -> int | None:
    """``source.dedup_key`` made deterministic (``checksum64``), as one int:
    the checksums, then the header bytes, then the IPv4 protocol (or a bit
    for IPv6)."""
    k = dedup_key(linktype, b, checksum64)
    if k is None:
        return None
    tail = k[2] << 128 if len(k) == 3 else 1 << 136
    return k[0] | int.from_bytes(k[1], "big") << 64 | tail


class _Window(io.RawIOBase):
    """``prefix``, then bytes ``[start, end)`` of a file: a byte range read
    by the ordinary reader as if it were a whole capture."""

    def __init__(self, path: str, prefix: bytes, start: int, end: int) -> None:
        super().__init__()
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed with the window
        self._f.seek(start)
        self._prefix = prefix
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        if self._left <= 0:
            return 0
        n = self._f.readinto(memoryview(b)[:min(len(b), self._left)]) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class RangeReader(CaptureReader):
    """``CaptureReader`` over a part's byte range (``_Window``); it counts
    the interface descriptions it parses (``structure``)."""

    def __init__(self, part: Part, on_secrets: Any = None) -> None:
        self._part = part
        self.idbs = 0
        super().__init__(part.path, on_secrets)

    def _open(self, path: Any) -> Any:
        p = self._part
        try:
            return io.BufferedReader(_Window(str(path), p.prefix, p.start, p.end), 1 << 16)
        except OSError as e:
            raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None

    def _parse_idb(self, body: bytes, endian: str, where: str) -> Any:  # type: ignore[override]
        self.idbs += 1
        return CaptureReader._parse_idb(body, endian, where)


def stage_part(part: Part, key_files: tuple[str, ...], esp_specs: tuple[str, ...],
               options: StageOptions) -> PartResult:
    """Read, reorder and classify ``part`` (module doc). Errors as values:
    ``error`` holds the message a one-process run would stop with."""
    collecting = gc.isenabled()
    gc.disable()  # a million short-lived tuples, none in a cycle
    try:
        return _stage(part, key_files, esp_specs, options)
    except CaptureError as e:
        return PartResult(part, error=str(e))
    finally:
        if collecting:
            gc.enable()


def _stage(part: Part, key_files: tuple[str, ...], esp_specs: tuple[str, ...],
           options: StageOptions) -> PartResult:
    res = PartResult(part)
    classifier = Classifier(None, verify_all=options.verify_all)
    keys = StageKeys(classifier, key_files, esp_specs)
    if options.capture_keys:
        for stype, data, where in part.secrets:
            keys.carried(stype, data, where)
    pending: list[tuple] = []
    dsbs = 0

    def on_secrets(stype: int, data: bytes, where: str) -> None:
        nonlocal dsbs
        if part.start:
            where = file_offsets(where, len(part.prefix), part.start)
        pending.append(("secrets", stype, bytes(data), where))
        dsbs += 1
        if options.capture_keys:
            keys.carried(stype, data, where)

    reader: CaptureReader
    if part.ranged:
        reader = RangeReader(part, on_secrets)
    else:
        reader = CaptureReader(part.path, on_secrets)
    classify_batch = classifier.classify_batch
    out: list[tuple] = []
    dumps = marshal.dumps
    batches = res.batches
    key = packet_key
    with reader:
        for recs in _in_order(reader.batches(), options.reorder_window, options.reorder_max,
                              REORDER_MAX_BYTES):
            if pending:  # keys read before these frames: the replay learns them first
                t = recs[0][1] if recs else (res.last if res.last is not None else 0.0)
                out += [(t, None, x) for x in pending]
                pending.clear()
            if not recs:
                continue
            res.read += len(recs)
            res.items += len(recs)
            items = classify_batch(recs)
            metas: list[Any] = []
            for rec in recs:
                b = rec[3]
                if rec[2] == 1 and len(b) >= 34 and b[12] == 8 and b[13] == 0 and b[14] >> 4 == 4:
                    d = b[26:]  # packet_key, inline for IPv4 on Ethernet
                    k: Any = (zlib.crc32(d) | zlib.adler32(d) << 32
                              | int.from_bytes(b[14:22], "big") << 64 | b[23] << 128)
                else:
                    k = key(rec[2], b)
                if len(b) < rec[4]:
                    k = (k, len(b))
                metas.append(k)
            times = [r[1] for r in recs]
            out += zip(times, items, metas, strict=True)
            res.raw += sum(1 for it in items if len(it) == 6)
            lo, hi = min(times), max(times)
            if res.first is None or lo < res.first:
                res.first = lo
            if res.last is None or hi > res.last:
                res.last = hi
            if len(out) >= BATCH:
                batches.append(dumps(out))
                out = []
        out += [(res.last if res.last is not None else 0.0, None, x) for x in pending]
        if out:
            batches.append(dumps(out))
        res.warnings = list(reader.warnings)
        res.keys = dsbs
        if isinstance(reader, RangeReader) and not part.last:
            res.structure = (max(0, reader.idbs - part.prefix_idbs)
                             + max(0, dsbs - (part.prefix_dsbs if part.start == 0 else 0)))
    return res
