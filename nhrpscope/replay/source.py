"""Frames in time order from one or more captures.

- Each capture passes through a bounded reorder buffer (a heap holding at
  most ``reorder_max`` frames or ``reorder_window`` seconds), which absorbs
  the small time inversions of multi-interface captures.
- Several captures are merged by time (a heap over their streams).
- The same packet seen twice (SPAN duplicates, two taps on one path) counts
  once: the key is the IP packet with TTL / hop limit and header checksum
  blanked, and a second copy within ``dedup_window`` seconds is dropped.
- Frame numbers: one capture keeps its own numbers (so Wireshark shows the
  cited frame); merged captures are numbered in the merged stream, which
  ``writer`` (``--write-merged``) writes out frame for frame.

Memory: the reorder heaps and the duplicate window, both bounded.
"""

from __future__ import annotations

import heapq
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from nhrpscope.capture import CaptureReader


@dataclass(slots=True)
class Item:
    number: int  # the frame number findings cite
    time: float
    linktype: int
    data: bytes
    wire_len: int
    comment: str | None = None
    source: int = 0  # index of the capture it came from
    source_number: int = 0  # its number in that capture


# Where the IP header starts, by link type; None: unknown.
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def ip_offset(linktype: int, data: bytes) -> int | None:
    """Offset of the IPv4/IPv6 header in a frame (without decoding it), or None."""
    if linktype == 1:  # Ethernet, with any 802.1Q/QinQ tags
        off = 12
        n = len(data)
        while off + 2 <= n:
            et = (data[off] << 8) | data[off + 1]
            if et in _VLAN_TPIDS:
                off += 4
                continue
            return off + 2 if et in (0x0800, 0x86DD) else None
        return None
    if linktype in (101, 12, 14, 228, 229):
        return 0
    if linktype == 113:  # Linux SLL
        if len(data) >= 16 and data[14:16] in (b"\x08\x00", b"\x86\xdd"):
            return 16
        return None
    if linktype == 276:  # Linux SLL2
        if len(data) >= 20 and data[0:2] in (b"\x08\x00", b"\x86\xdd"):
            return 20
        return None
    if linktype in (0, 108):  # BSD null / loop
        return 4 if len(data) >= 5 and data[4] >> 4 in (4, 6) else None
    return None


def dedup_key(linktype: int, data: bytes) -> tuple | None:
    """The IP packet with its TTL and header checksum blanked, hashed."""
    off = ip_offset(linktype, data)
    if off is None or off >= len(data):
        return None
    v = data[off] >> 4
    if v == 4:
        if len(data) < off + 20:
            return None
        ip = data[off:]
        blank = ip[:8] + b"\0" + ip[9:10] + b"\0\0" + ip[12:]
    elif v == 6:
        if len(data) < off + 40:
            return None
        ip = data[off:]
        blank = ip[:7] + b"\0" + ip[8:]
    else:
        return None
    return (len(blank), hash(blank))


def _reordered(frames: Iterator, window: float, max_frames: int) -> Iterator:
    """The frames of one capture, small time inversions put right.

    A deque in time order: frames in order (nearly all) are appended, a late
    one is inserted at its place; the oldest leave once ``window`` seconds or
    ``max_frames`` frames are behind the newest."""
    if window <= 0 and max_frames <= 0:
        yield from frames
        return
    buf: deque = deque()
    append, popleft = buf.append, buf.popleft
    for fr in frames:
        t = fr.time
        if buf and t < buf[-1].time:
            i = len(buf) - 1
            while i > 0 and buf[i - 1].time > t:
                i -= 1
            buf.insert(i, fr)
        else:
            append(fr)
        while buf and (len(buf) > max_frames or t - buf[0].time > window):
            yield popleft()
    yield from buf


class CaptureSource:
    """Iterate the merged, reordered, de-duplicated frames of ``paths``."""

    def __init__(self, paths: list[str] | tuple[str, ...], *, on_secrets=None,  # noqa: ANN001
                 reorder_window: float = 0.5, reorder_max: int = 4096, dedup: bool = True,
                 dedup_window: float = 1.0, writer=None) -> None:  # noqa: ANN001
        if not paths:
            raise ValueError("no capture given")
        self.paths = list(paths)
        self.readers = [CaptureReader(p, on_secrets=on_secrets) for p in self.paths]
        self.reorder_window = reorder_window
        self.reorder_max = reorder_max
        self.dedup = dedup
        self.dedup_window = dedup_window
        self.writer = writer
        self.frames = 0  # frames handed out
        self.read = 0  # frames read
        self.duplicates = 0
        self.first: float | None = None
        self.last: float | None = None

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.readers]

    @property
    def warnings(self) -> list[str]:
        return [w for r in self.readers for w in r.warnings]

    def close(self) -> None:
        for r in self.readers:
            r.close()

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Item]:
        def tagged(r: CaptureReader, i: int) -> Iterator[Item]:
            for fr in r:
                yield Item(fr.number, fr.time, fr.linktype, fr.data, fr.wire_len, fr.comment, i,
                           fr.number)

        if len(self.readers) == 1:  # the frames themselves: no copy per frame
            streams = [_reordered(iter(self.readers[0]), self.reorder_window, self.reorder_max)]
        else:
            streams = [_reordered(tagged(r, i), self.reorder_window, self.reorder_max)
                       for i, r in enumerate(self.readers)]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda it: it.time)
        renumber = len(streams) > 1
        seen: dict[tuple, float] = {}
        order: deque[tuple[float, tuple]] = deque()
        window = self.dedup_window
        writer = self.writer
        names = [os.path.basename(n) for n in self.names]
        for it in merged:
            self.read += 1
            if self.dedup:
                k = dedup_key(it.linktype, it.data)
                if k is not None:
                    t = it.time
                    while order and t - order[0][0] > window:
                        old_t, old_k = order.popleft()
                        if seen.get(old_k) == old_t:
                            del seen[old_k]
                    prev = seen.get(k)
                    if prev is not None and abs(t - prev) <= window:
                        self.duplicates += 1
                        continue
                    seen[k] = t
                    order.append((t, k))
            self.frames += 1
            if renumber:
                it.number = self.frames
            if self.first is None or it.time < self.first:
                self.first = it.time
            if self.last is None or it.time > self.last:
                self.last = it.time
            if writer is not None:
                note = f"{names[it.source]} frame {it.source_number}" if renumber else None
                if it.comment:
                    note = f"{it.comment}; {note}" if note else it.comment
                writer.write(it.time, it.data, it.linktype, it.wire_len, note)
            yield it
