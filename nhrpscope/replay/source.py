"""Frames in time order from one or more captures.

- Each capture passes through a bounded reorder buffer (in time order,
  holding at most ``reorder_max`` frames, REORDER_MAX_BYTES of frame data
  or ``reorder_window`` seconds),
  which absorbs the small time inversions of multi-interface captures.
- Several captures are merged by time (a heap over their streams).
- The same packet seen twice (SPAN duplicates, two taps on one path) counts
  once: the key is the IP packet with TTL / hop limit and header checksum
  blanked, and a second copy within ``dedup_window`` seconds is dropped.
- Frame numbers: one capture keeps its own numbers (so Wireshark shows the
  cited frame); merged captures are numbered in the merged stream, which
  ``writer`` (``--write-merged``) writes out frame for frame.

``records()`` hands the frames on as plain tuples (number, time, linktype,
data, wire_len, comment), with no object made per frame: what the replay's
hot loop (``Engine.feed_records``) reads; ``record_batches()`` the same a
chunk of the file at a time, ordered and de-duplicated by list operations
(for the reading process and ``Engine.feed_batches``). Iterating gives
``Item``s.

Memory: the reorder buffers (REORDER_MAX_BYTES each) and the duplicate
window (DEDUP_MAX_ENTRIES), both bounded whatever the times say.
"""

from __future__ import annotations

import heapq
import os
import stat
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter
from typing import Any

from nhrpscope.capture import CaptureError, CaptureReader, Record
from nhrpscope.dissectors.link import ip_offset

# Frame bytes one capture's reorder buffer holds: 4,096 frames of 256 KiB
# at one timestamp held 1.23 GB. A real inversion (two interfaces' clocks,
# a few ms) spans far less than 16 MiB of traffic; past it the oldest leave
# even if a later frame might still have gone before them.
REORDER_MAX_BYTES = 16 << 20
# Packets the duplicate filter remembers (about 200 bytes each): 1,000,000
# distinct frames with one timestamp held 267 MB. Past it the oldest half is
# forgotten; a copy of a forgotten packet counts as a new frame (a SPAN
# duplicate arrives within a few hundred packets of its original).
DEDUP_MAX_ENTRIES = 1 << 15


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


def dedup_key(linktype: int, data: bytes, digest: Callable[[bytes], int] = hash) -> tuple | None:
    """What makes two frames the same IP packet: its bytes with TTL / hop
    limit and header checksum left out (``digest`` of everything after them,
    and the few header bytes before: IPv4's 8 and its protocol, IPv6's 7).
    ``digest``: Python's ``hash`` in one process; one that is the same in
    every process where the key crosses processes (``cluster.task``)."""
    if linktype == 1 and len(data) >= 34 and data[12] == 8 and data[13] == 0:
        off = 14
    else:
        found = ip_offset(linktype, data)
        if found is None or found >= len(data):
            return None
        off = found
    v = data[off] >> 4
    if v == 4:
        if len(data) < off + 20:
            return None
        return (digest(data[off + 12:]), data[off:off + 8], data[off + 9])
    if v == 6:
        if len(data) < off + 40:
            return None
        return (digest(data[off + 8:]), data[off:off + 7])
    return None


def swept(seen: dict, newest: float, window: float) -> tuple[dict, int]:
    """The duplicate filter's sightings (key -> time) less those out of the
    window of the newest frame; past DEDUP_MAX_ENTRIES / 2 still, the oldest
    forgotten. With the size at which to sweep next (it has doubled): the
    filter sweeps a dict grown large, not frame by frame."""
    seen = {k: v for k, v in seen.items() if newest - v <= window}
    if len(seen) > DEDUP_MAX_ENTRIES // 2:  # all within the window
        seen = dict(islice(seen.items(), len(seen) - DEDUP_MAX_ENTRIES // 2, None))
    return seen, min(max(2048, 2 * len(seen)), DEDUP_MAX_ENTRIES)


def _tagged(batches: Iterable[list[tuple]], i: int) -> Iterator[list[tuple]]:
    """Each record with the index of its capture appended, a list at a time."""
    for batch in batches:
        yield [(*rec, i) for rec in batch]


def _in_order(batches: Iterable[list[tuple]], window: float, max_frames: int,
              max_bytes: int = 0) -> Iterator[list[tuple]]:
    """The records of one capture, a list at a time, small time inversions
    put right. A buffer in time order: a record in order (nearly all) is
    appended, a late one inserted at its place; the oldest leave once
    ``window`` seconds or ``max_frames`` records are behind the one just
    taken in, or once the buffer holds over ``max_bytes`` of frame data
    (records' fourth field; 0: no limit in bytes). A list of records already in order is taken in whole, by
    list operations in C: what leaves is the same as one record at a time
    (time and length only grow)."""
    if window <= 0 and max_frames <= 0:
        yield from batches
        return
    pend: list[tuple] = []  # the buffer, in time order ...
    pend_t: list[float] = []  # ... and its times
    held = 0  # bytes of frame data in pend
    last = float("-inf")
    for batch in batches:
        times = [r[1] for r in batch]
        if not times:
            continue
        gone = 0  # pend[:gone] has left the buffer
        if len(times) > 1 and times[0] >= last and times == sorted(times):
            pend += batch
            pend_t += times
            last = t = times[-1]
            gone = max(bisect_left(pend_t, t - window), len(pend) - max_frames, 0)
        else:
            for r, t in zip(batch, times, strict=True):
                if t < last:
                    i = bisect_right(pend_t, t, gone)
                    pend.insert(i, r)
                    pend_t.insert(i, t)
                else:
                    pend.append(r)
                    pend_t.append(t)
                    last = t
                gone = max(bisect_left(pend_t, t - window, gone), len(pend) - max_frames, gone)
        if max_bytes > 0:
            held += sum(len(r[3]) for r in batch)
            if gone:
                held -= sum(len(r[3]) for r in pend[:gone])
            while held > max_bytes and gone < len(pend):
                held -= len(pend[gone][3])
                gone += 1
        if gone:
            out = pend[:gone]
            del pend[:gone], pend_t[:gone]
            yield out
    if pend:
        yield pend


def usable_cores() -> int:
    """The cores this process may run on: under ``taskset -c 0`` (or a
    container's CPU set) one, though ``os.cpu_count()`` says how many the
    machine has. A second process on the same core only adds the cost of
    passing the frames between the two."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _stop(proc: Any, err: Any, done: bool) -> None:
    """End the reading process (killed unless it finished) and its files."""
    if not done and proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    err.close()


def _widen_pipe(fd: int) -> None:
    """Let the reading process run ahead by up to a megabyte (Linux pipes
    hold 64 KiB by default: the two processes would take turns)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


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
        self._staged_warnings: list[str] = []
        self._stage: Any = None
        self._proc: Any = None

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.readers]

    @property
    def warnings(self) -> list[str]:
        return [w for r in self.readers for w in r.warnings] + self._staged_warnings

    def close(self) -> None:
        if self._stage is not None:
            self._stage.close()
            self._stage = None
        if self._proc is not None:
            proc, err = self._proc
            _stop(proc, err, False)  # the reading process, if still there, is stopped
            self._proc = None
        for r in self.readers:
            r.close()

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Item]:
        for number, t, lt, data, wl, comment in self.records():
            yield Item(number, t, lt, data, wl, comment)

    # A file this big is read by a second process (``staged``) while this one
    # replays; below it, starting that process costs more than it saves.
    STAGE_MIN_BYTES = 16 << 20

    def stageable(self) -> bool:
        """Whether ``staged`` can read this source: one regular file, big
        enough, nothing to write, and a second core."""
        if len(self.paths) != 1 or self.writer is not None or usable_cores() < 2:
            return False
        try:
            st = os.stat(self.paths[0])
        except OSError:
            return False
        return self.paths[0] != "-" and stat.S_ISREG(st.st_mode) and st.st_size >= self.STAGE_MIN_BYTES

    def staged(self, key_files: Iterable[str] = (), esp_specs: Iterable[str] = (), *,
               verify_all: bool = False, skip: tuple[int, ...] = (),
               capture_keys: bool = True) -> Iterator[tuple]:
        """``staged_batches`` one item at a time (chained in C: no Python
        frame resumed per item). ``close()`` stops the reading process."""
        return chain.from_iterable(self.staged_batches(
            key_files, esp_specs, verify_all=verify_all, skip=skip, capture_keys=capture_keys))

    def staged_batches(self, key_files: Iterable[str] = (), esp_specs: Iterable[str] = (), *,
                       verify_all: bool = False, skip: tuple[int, ...] = (),
                       capture_keys: bool = True) -> Iterator[list[tuple]]:
        """What ``fastpath.Classifier`` makes of the frames (for
        ``Engine.feed_items``), made by a second process that reads,
        reorders, de-duplicates and classifies the file (``python -m
        nhrpscope.replay.fastpath``) while this one replays: the two cores
        share the work. Counters, warnings and the keys the capture carries
        (``on_secrets``, in order) come back as if the file were read here.
        With ``skip``, the frames themselves, less those classified as one
        of those kinds (``first_stage.stage``). ``capture_keys`` False: the keys
        the capture carries are not used (--no-capture-keys).

        The process starts now (its start-up overlaps whatever the caller
        does before reading); ``close()`` stops it."""
        import json
        import subprocess
        import sys
        import tempfile

        import nhrpscope

        args = json.dumps({"path": self.paths[0], "keys": list(key_files), "specs": list(esp_specs),
                           "dedup": self.dedup, "dedup_window": self.dedup_window,
                           "window": self.reorder_window, "max": self.reorder_max,
                           "verify_all": verify_all, "skip": list(skip),
                           "capture_keys": capture_keys})
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(nhrpscope.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(x for x in (root, env.get("PYTHONPATH")) if x)
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, "-m", "nhrpscope.replay.first_stage", args],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        _widen_pipe(proc.stdout.fileno())
        self._proc = (proc, err)
        self._stage = self._staged(proc, err)
        return self._stage

    def _staged(self, proc: Any, err: Any) -> Iterator[list[tuple]]:
        import marshal

        on_secrets = self.readers[0].on_secrets
        out = proc.stdout
        loads = marshal.loads
        done = False
        try:
            while True:
                head = out.read(8)
                if len(head) < 8:
                    break
                batch = loads(out.read(int.from_bytes(head, "little")))
                if len(batch) == 1 and len(batch[0]) in (2, 4):
                    x = batch[0]
                    if x[0] == "secrets":
                        if on_secrets is not None:
                            on_secrets(x[1], x[2], x[3])
                        continue
                    if x[0] == "error":
                        raise CaptureError(x[1])
                    stats = x[1]
                    self.frames, self.read = stats["frames"], stats["read"]
                    self.duplicates, self.first, self.last = (stats["duplicates"], stats["first"],
                                                              stats["last"])
                    self._staged_warnings = list(stats["warnings"])
                    done = True
                    break
                yield batch
            if not done:
                proc.wait()
                err.seek(0)
                tail = err.read().decode(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(f"the reading process stopped (exit {proc.returncode})"
                                   + (f": {tail[0]}" if tail else ""))
        finally:
            _stop(proc, err, done)

    def records(self) -> Iterator[Record]:
        """The frames, merged, reordered and de-duplicated, as tuples
        (number, time, linktype, data, wire_len, comment). Admitted one at
        a time, so the counters are exact wherever the caller stops."""
        admit = self._admitter()
        for batch in self._ordered():
            for rec in batch:
                if out := admit((rec,)):
                    yield out[0]

    def record_batches(self) -> Iterator[list[Record]]:
        """``records()`` a list at a time (the counters cover each list
        handed out): for loops that take a chunk at a time (the reading
        process; ``Engine.feed_batches``)."""
        admit = self._admitter()
        for batch in self._ordered():
            if out := admit(batch):
                yield out

    def _ordered(self) -> Iterator[list[tuple]]:
        """The frames in time order, before admission: one capture's chunks
        as read (see ``_in_order``); merged captures a few hundred at a
        time (one at a time with no reorder window: --follow)."""
        window, max_frames = self.reorder_window, self.reorder_max
        if len(self.readers) == 1:
            yield from _in_order(self.readers[0].batches(), window, max_frames, REORDER_MAX_BYTES)
            return
        streams = [chain.from_iterable(_in_order(_tagged(r.batches(), i), window, max_frames,
                                                 REORDER_MAX_BYTES))
                   for i, r in enumerate(self.readers)]
        merged = heapq.merge(*streams, key=_time)
        size = 1 if window <= 0 and max_frames <= 0 else 256
        while batch := list(islice(merged, size)):
            yield batch

    def _admitter(self) -> Callable[[Any], list[Record]]:
        """A function taking frames in order, a list at a time: those to
        hand on (renumbered when captures are merged; written out with
        ``writer``), less duplicates. It keeps ``read``, ``frames``,
        ``duplicates``, ``first`` and ``last`` current."""
        renumber = len(self.readers) > 1
        # Duplicates: the last time each packet was seen. A sighting counts
        # while it lies within ``window`` of the frame at hand and of the
        # newest frame so far (older ones are forgotten, as a window sliding
        # with the newest frame forgets them); the dict is swept of those
        # once it has doubled, not frame by frame.
        seen: dict[tuple, float] = {}
        sweep = 2048  # the size that triggers a sweep
        newest = float("-inf")
        window = self.dedup_window
        dedup = self.dedup
        writer = self.writer
        names = [os.path.basename(n) for n in self.names]

        def admit(batch: list[tuple] | tuple[tuple, ...]) -> list[Record]:
            nonlocal seen, sweep, newest
            self.read += len(batch)
            out: list[Record] = []
            append = out.append
            get = seen.get
            for rec in batch:
                t = rec[1]
                if dedup:
                    b = rec[3]
                    if rec[2] == 1 and len(b) >= 34 and b[12] == 8 and b[13] == 0 \
                            and b[14] >> 4 == 4:
                        k: tuple | None = (hash(b[26:]), b[14:22], b[23])  # dedup_key, inline
                    else:
                        k = dedup_key(rec[2], b)
                    if k is not None:
                        if t > newest:
                            newest = t
                        prev = get(k)
                        if prev is not None and abs(t - prev) <= window and newest - prev <= window:
                            self.duplicates += 1
                            continue
                        seen[k] = t
                        if len(seen) > sweep:
                            seen, sweep = swept(seen, newest, window)
                            get = seen.get
                if renumber:
                    number, _, lt, data, wl, comment, i = rec
                    rec = (self.frames + len(out) + 1, t, lt, data, wl, comment)
                    note = f"{names[i]} frame {number}"
                    if comment:
                        note = f"{comment}; {note}"
                    if writer is not None:
                        writer.write(t, data, lt, wl, note)
                elif writer is not None:
                    writer.write(t, rec[3], rec[2], rec[4], rec[5])
                append(rec)
            if out:
                self.frames += len(out)
                lo = min(out, key=_time)[1]
                hi = max(out, key=_time)[1]
                if self.first is None or lo < self.first:
                    self.first = lo
                if self.last is None or hi > self.last:
                    self.last = hi
            return out

        return admit


_time = itemgetter(1)
