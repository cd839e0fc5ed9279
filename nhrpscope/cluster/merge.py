"""The client's side: the parts' streams merged by time, de-duplicated,
renumbered, and fed to the engine, as one process would have.

One process (``CaptureSource``) merges the captures' reordered streams by
time (ties by capture index), drops the duplicates over the merged stream
and renumbers the frames when there are several captures. Here the parts'
streams (each reordered by its worker) are merged the same way: parts that
do not overlap in time (rotating files, the ranges of one file) are taken
one after another, others through a heap; the duplicate filter is
``CaptureSource._admitter``'s, window and sweep alike, over the workers'
deterministic packet keys; a range of one file has its numbers shifted by
the records of the ranges before it.
"""

from __future__ import annotations

import heapq
import marshal
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

from nhrpscope.cluster.task import PartResult, file_offsets
from nhrpscope.replay.source import swept

_first = itemgetter(0)
# Items handed to the engine at a time
_OUT = 4096


@dataclass
class MergeStats:
    """What the merge counted, as ``CaptureSource`` counts it."""

    frames: int = 0
    read: int = 0
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)


def _order(r: PartResult) -> tuple[int, int]:
    return r.part.capture, r.part.index


def _stream(r: PartResult, shift: int, head: list | None) -> Iterator[tuple]:
    """A part's triples, unmarshalled a batch at a time as the merge reaches
    them; frame numbers shifted by ``shift`` (a later range of one file)."""
    loads = marshal.loads
    for i, blob in enumerate(r.batches):
        batch = head if i == 0 and head is not None else loads(blob)
        if shift:
            batch = [(t, it if it is None else (it[0] + shift, *it[1:]), m) for t, it, m in batch]
        yield from batch


def ordered(results: list[PartResult], shifts: dict[tuple[int, int], int],
            on_secrets: Callable | None) -> Iterator[tuple]:
    """The parts' triples merged by time, ties by (capture, range). Keys a
    part carries before its first frame are handed to ``on_secrets`` now, as
    one process reads them when the merge first looks into each capture."""
    rs = sorted((r for r in results if r.batches), key=_order)
    streams: list[tuple[PartResult, Iterator[tuple]]] = []
    for r in rs:
        head = marshal.loads(r.batches[0])
        lead = 0
        while lead < len(head) and head[lead][1] is None:
            if on_secrets is not None:
                _, stype, data, where = head[lead][2]
                on_secrets(stype, data, where)
            lead += 1
        streams.append((r, _stream(r, shifts.get(_order(r), 0), head[lead:])))
    timed = [(r, s) for r, s in streams if r.first is not None]
    by_time = sorted(timed, key=lambda x: (x[0].first, _order(x[0])))
    disjoint = all(a.last is not None and b.first is not None
                   and (a.last < b.first or (a.last == b.first and _order(a) < _order(b)))
                   for (a, _), (b, _) in zip(by_time, by_time[1:], strict=False))
    if disjoint:
        # rotating files, ranges of a file in order: one after another
        return chain.from_iterable(s for _, s in by_time)
    return heapq.merge(*(s for _, s in timed), key=_first)


def admitted(triples: Iterable[tuple], stats: MergeStats, *, cuts: Any,
             on_secrets: Callable | None, dedup: bool, window: float,
             renumber: bool) -> Iterator[list[tuple]]:
    """The items to replay, a list at a time: duplicates dropped as
    ``CaptureSource._admitter`` drops them (the same window and sweeps, the
    workers' packet keys for Python's hash), renumbered when ``renumber``;
    the frames the snap length cut counted into ``cuts`` (``CutFrames``);
    keys carried mid-stream handed to ``on_secrets`` before the frames
    after them."""
    seen: dict[Any, float] = {}
    sweep = 2048
    newest = float("-inf")
    get = seen.get
    out: list[tuple] = []
    append = out.append
    n = stats.frames
    for t, it, m in triples:
        cap = 0
        if m is not None:
            if m.__class__ is tuple:
                if it is None:  # keys the capture carried: after what came before
                    if out:
                        stats.frames = n
                        yield out
                        out = []
                        append = out.append
                    if on_secrets is not None:
                        on_secrets(m[1], m[2], m[3])
                    continue
                m, cap = m
            if dedup and m is not None:
                if t > newest:
                    newest = t
                prev = get(m)
                if prev is not None and abs(t - prev) <= window and newest - prev <= window:
                    stats.duplicates += 1
                    continue
                seen[m] = t
                if len(seen) > sweep:
                    seen, sweep = swept(seen, newest, window)
                    get = seen.get
        n += 1
        if renumber:
            it = (n, *it[1:])
        if cap and cuts is not None:
            cuts.add(it[0], cap)
        append(it)
        if len(out) >= _OUT:
            stats.frames = n
            yield out
            out = []
            append = out.append
    stats.frames = n
    if out:
        yield out


_FRAME = re.compile(r"frame (\d+)|(\d+) whole frames read")


def range_warning(w: str, shift: int, prefix: int, start: int) -> str:
    """A warning of a range's reader told in the file's own terms: its frame
    numbers shifted by the records before the range, its offsets moved from
    the range's stream (``prefix`` then the range) to the file."""
    w = _FRAME.sub(lambda m: f"frame {int(m[1]) + shift}" if m[1] is not None
                   else f"{int(m[2]) + shift} whole frames read", w)
    return file_offsets(w, prefix, start) if start else w
