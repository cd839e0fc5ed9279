"""Make or join a Dask cluster, stage the parts on it, merge them into
the engine (``stage_and_merge``)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Any

from nhrpscope.capture import CaptureError
from nhrpscope.cluster.merge import MergeStats, admitted, ordered, range_warning
from nhrpscope.cluster.split import plan
from nhrpscope.cluster.task import Part, PartResult, StageOptions, stage_part
from nhrpscope.errors import ReadingProcessError, UserError

INSTALL = "install it with: pip install 'nhrpscope[dask]'"
# How long --scheduler's address may take to answer
CONNECT_TIMEOUT = "10s"


def _distributed() -> Any:
    try:
        import dask.distributed as distributed
    except ImportError:
        raise UserError(f"--workers and --scheduler need Dask; {INSTALL}") from None
    return distributed


@contextmanager
def connect(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A client of a local cluster of ``workers`` processes, or of the
    cluster at ``scheduler``; what was started here is closed here."""
    distributed = _distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise UserError(f"--scheduler {scheduler}: cannot connect: {e}") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


# With few files for the workers (under FEW_FILES a worker), a big file is
# cut into ranges of about RANGE_BYTES even with no worker to spare: the
# replay starts on the first range while the others are read, instead of
# waiting for a whole file (4 x 250k-packet files on 2 workers: 8.4-8.7 s
# against 8.4-11.4 s; one 1M-packet file: 7.5-8.2 s against 10.1-11.5 s).
# With many files the replay is fed from the second file on anyway, and
# each cut costs the client a read of about READ_AHEAD bytes.
RANGE_BYTES = 64 << 20
FEW_FILES = 4


def _plan(paths: tuple[str, ...], nworkers: int, split_min: int | None) -> list[Part]:
    # Fewer files than workers: the big ones cut into byte ranges to feed them all.
    per = math.ceil(nworkers / len(paths)) if len(paths) < nworkers else 1
    few = len(paths) < FEW_FILES * nworkers
    return [p for i, path in enumerate(paths)
            for p in plan(path, i, max(per, math.ceil(_size(path) / RANGE_BYTES) if few else 1),
                          split_min)]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # standard input, or what the worker will say it cannot read


# Stages parts somewhere: on the cluster (``on_cluster``)
RunParts = Callable[[list[Part]], list[PartResult]]


def on_cluster(client: Any, key_files: tuple[str, ...], esp_specs: tuple[str, ...],
               options: StageOptions) -> RunParts:
    return lambda parts: _results(client, parts, key_files, esp_specs, options)


def _results(client: Any, parts: list[Part], key_files: tuple[str, ...],
             esp_specs: tuple[str, ...], options: StageOptions) -> list[PartResult]:
    futures = _submit(client, parts, key_files, esp_specs, options)
    return [_result(p, f) for p, f in zip(parts, futures, strict=True)]


def _submit(client: Any, parts: list[Part], key_files: tuple[str, ...],
            esp_specs: tuple[str, ...], options: StageOptions) -> list:
    """A task per part (``stage_part``); their futures, in order."""
    return client.map(stage_part, parts, key_files=key_files, esp_specs=esp_specs,
                      options=options, pure=False)


# Makes a fresh engine and its keys' handler (the pipelined merge may start over)
MakeEngine = Callable[[], tuple[Any, Callable | None]]


class _Unordered(Exception):
    """The parts are not time-disjoint in the order guessed: merge them all."""


def stage_and_merge(paths: tuple[str, ...], key_files: tuple[str, ...], esp_specs: tuple[str, ...],
                    make: MakeEngine, *, workers: int | None, scheduler: str | None,
                    dedup: bool = True, dedup_window: float = 1.0, verify_all: bool = False,
                    capture_keys: bool = True, split_min: int | None = None,
                    pipeline: bool = True, staged: bool = False) -> tuple[MergeStats, Any]:
    """Stage ``paths`` on the cluster and replay the merged stream into an
    engine of ``make``'s: what ``CaptureSource`` and ``feed_batches`` do in
    one process, with the same result. The stats and the engine.

    Parts that follow one another in time (rotating files, the ranges of
    one file) are replayed as each is done, while the others are still
    read; should a part turn out to overlap those before it, the replay
    starts over once all are done, merging them by time (``pipeline``
    False: it waits for all at once; for callers whose callbacks must not
    see a replay that starts over)."""
    options = StageOptions(verify_all=verify_all, capture_keys=capture_keys)
    with connect(workers, scheduler) as client:
        n = workers or len(client.scheduler_info().get("workers", ())) or 1
        parts = _plan(paths, n, split_min)
        futures = _submit(client, parts, key_files, esp_specs, options)
        try:
            if not pipeline:
                raise _Unordered
            eng, on_secrets = make()
            return _pipelined(eng, on_secrets, paths, parts, futures, dedup=dedup,
                              dedup_window=dedup_window, staged=staged), eng
        except _Unordered:
            pass
        results = [_result(p, f) for p, f in zip(parts, futures, strict=True)]
        results = stage(paths, results, on_cluster(client, key_files, esp_specs, options))
    eng, on_secrets = make()
    return merge_into(eng, paths, results, on_secrets, dedup=dedup,
                      dedup_window=dedup_window, staged=staged), eng


def _result(part: Part, fut: Any) -> PartResult:
    try:
        return fut.result()
    except Exception as e:  # noqa: BLE001 - a worker lost (killed, crashed): say which file
        raise ReadingProcessError(f"{part.path}: the worker reading it failed: {e}") from e


def _first_time(path: str) -> float | None:
    """The first record's time of a classic pcap file (None: not one)."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError:
        return None
    if len(head) < 32 or head[:2] == b"\x1f\x8b":
        return None
    for endian in "<>":
        magic = struct.unpack(endian + "I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            sec, frac = struct.unpack(endian + "II", head[24:32])
            return sec + frac / (1e9 if magic == 0xA1B23C4D else 1e6)
    return None


def _pipelined(eng: Any, on_secrets: Callable | None, paths: tuple[str, ...], parts: list[Part],
               futures: list, *, dedup: bool, dedup_window: float, staged: bool) -> MergeStats:
    """The parts replayed one after another, in the order their files'
    first records give (else as given), each as soon as it is done; raises
    ``_Unordered`` (before the engine has taken any of it) when the order
    does not hold, or when anything needs the general merge (keys carried
    past the first part, a range to read again, an error)."""
    first = {p.capture: _first_time(p.path) for p in parts if p.index == 0}
    if all(t is not None for t in first.values()):
        key: Callable = lambda pf: (first[pf[0].capture], pf[0].capture, pf[0].index)  # noqa: E731
    else:
        key = lambda pf: (pf[0].capture, pf[0].index)  # noqa: E731
    seq = sorted(zip(parts, futures, strict=True), key=key)
    stats = MergeStats()
    done: list[PartResult] = []
    renumber = len(paths) > 1

    def stream() -> Iterator[tuple]:
        hi: tuple[float, int, int] | None = None
        before: dict[int, int] = {}  # per file: records of its ranges so far
        for part, fut in seq:
            r = _result(part, fut)
            if r.error is not None or (part.ranged and (r.structure or (r.warnings and not part.last))) \
                    or (done and r.keys) \
                    or part.index != sum(1 for d in done if d.part.capture == part.capture):
                raise _Unordered
            done.append(r)
            shift = 0 if renumber else before.get(part.capture, 0)
            before[part.capture] = before.get(part.capture, 0) + r.read
            if r.first is None or r.last is None:
                if r.batches:
                    raise _Unordered
                continue
            if hi is not None and (r.first, part.capture, part.index) < hi:
                raise _Unordered
            hi = (r.last, part.capture, part.index)
            yield from ordered([r], {(part.capture, part.index): shift}, on_secrets)

    _feed(eng, admitted(stream(), stats, cuts=None if staged else eng.cuts, on_secrets=on_secrets,
                        dedup=dedup, window=dedup_window, renumber=renumber), staged)
    _account(stats, done)
    return stats


def _feed(eng: Any, lists: Iterator[list[tuple]], staged: bool) -> None:
    """The items into the engine: as ``feed_batches`` takes a merged
    stream (the frames the snap length cut counted by the merge), or, where
    one process would have read the file in its second process
    (``staged``), as ``feed_items`` takes that process's items (cut frames
    counted among those decoded only), so that the result is the same."""
    if staged:
        eng.feed_items(chain.from_iterable(lists))
    else:
        eng.tunnel.run(chain.from_iterable(lists), eng)


def _account(stats: MergeStats, results: list[PartResult]) -> dict[tuple[int, int], int]:
    """Records read and the readers' warnings, in capture order (as
    ``CaptureSource.warnings`` lists them), ranges' told in file terms; and
    each part's shift: the records of its file's ranges before it."""
    stats.read = sum(r.read for r in results)
    shifts: dict[tuple[int, int], int] = {}
    before = 0
    for r in sorted(results, key=lambda r: (r.part.capture, r.part.index)):
        if r.part.index == 0:
            before = 0
        shifts[(r.part.capture, r.part.index)] = before
        if r.part.ranged:
            stats.warnings += [range_warning(w, before, len(r.part.prefix), r.part.start)
                               for w in r.warnings]
        else:
            stats.warnings += r.warnings
        before += r.read
    return shifts


def stage(paths: tuple[str, ...], results: list[PartResult], run_parts: RunParts
          ) -> list[PartResult]:
    """The parts' results, less those of a file whose ranges do not hold (a
    cut that was no record boundary, interfaces or keys met mid-file, any
    trouble): that file staged again whole by ``run_parts``."""
    redo = sorted({r.part.capture for r in results if r.part.ranged and (
        r.error or r.structure or (r.warnings and not r.part.last))})
    if redo:
        again = run_parts([Part(paths[i], i) for i in redo])
        results = [r for r in results if r.part.capture not in redo] + again
    return results


def merge_into(eng: Any, paths: tuple[str, ...], results: list[PartResult],
               on_secrets: Callable | None, *, dedup: bool = True,
               dedup_window: float = 1.0, staged: bool = False) -> MergeStats:
    """The parts' streams merged (``merge``) and replayed into ``eng``."""
    results.sort(key=lambda r: (r.part.capture, r.part.index))
    for r in results:
        if r.error is not None:
            raise CaptureError(r.error)
    stats = MergeStats()
    shifts = _account(stats, results)
    renumber = len(paths) > 1
    if renumber:
        shifts.clear()
    triples = ordered(results, shifts, on_secrets)
    _feed(eng, admitted(triples, stats, cuts=None if staged else eng.cuts, on_secrets=on_secrets,
                        dedup=dedup, window=dedup_window, renumber=renumber), staged)
    return stats
