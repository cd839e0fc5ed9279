"""Make or join a Dask cluster, stage the parts on it, merge them into
the engine (``stage_and_merge``)."""

from __future__ import annotations

import logging
import math
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
            client = distributed.Client(scheduler, timeout="10s")
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


def _plan(paths: tuple[str, ...], nworkers: int, split_min: int | None) -> list[Part]:
    # Fewer files than workers: the big ones cut into byte ranges to feed them all.
    per = math.ceil(nworkers / len(paths)) if len(paths) < nworkers else 1
    return [p for i, path in enumerate(paths) for p in plan(path, i, per, split_min)]


# Stages parts somewhere: on the cluster (``on_cluster``)
RunParts = Callable[[list[Part]], list[PartResult]]


def on_cluster(client: Any, key_files: tuple[str, ...], esp_specs: tuple[str, ...],
               options: StageOptions) -> RunParts:
    return lambda parts: _results(client, parts, key_files, esp_specs, options)


def _results(client: Any, parts: list[Part], key_files: tuple[str, ...],
             esp_specs: tuple[str, ...], options: StageOptions) -> list[PartResult]:
    futures = client.map(stage_part, parts, key_files=key_files, esp_specs=esp_specs,
                         options=options, pure=False)
    out = []
    for part, fut in zip(parts, futures, strict=True):
        try:
            out.append(fut.result())
        except Exception as e:  # noqa: BLE001 - a worker lost (killed, crashed): say which file
            raise ReadingProcessError(f"{part.path}: the worker reading it failed: {e}") from e
    return out


def stage_and_merge(paths: tuple[str, ...], key_files: tuple[str, ...], esp_specs: tuple[str, ...],
                    eng: Any, on_secrets: Callable | None, *, workers: int | None,
                    scheduler: str | None, dedup: bool = True, dedup_window: float = 1.0,
                    verify_all: bool = False, capture_keys: bool = True,
                    split_min: int | None = None) -> MergeStats:
    """Stage ``paths`` on the cluster and replay the merged stream into
    ``eng`` (an ``Engine``): what ``CaptureSource`` and ``feed_batches``
    do in one process, with the same result."""
    options = StageOptions(verify_all=verify_all, capture_keys=capture_keys)
    with connect(workers, scheduler) as client:
        n = workers or len(client.scheduler_info().get("workers", ())) or 1
        results = stage(paths, n, on_cluster(client, key_files, esp_specs, options), split_min)
    return merge_into(eng, paths, results, on_secrets, dedup=dedup, dedup_window=dedup_window)


def stage(paths: tuple[str, ...], n: int, run_parts: RunParts,
          split_min: int | None = None) -> list[PartResult]:
    """The files as ``n`` parts or more (``_plan``), staged by ``run_parts``.
    A file whose ranges do not hold (a cut that was no record boundary,
    interfaces or keys met mid-file, any trouble) is staged again whole."""
    results = run_parts(_plan(paths, n, split_min))
    redo = sorted({r.part.capture for r in results if r.part.ranged and (
        r.error or r.structure or (r.warnings and not r.part.last))})
    if redo:
        again = run_parts([Part(paths[i], i) for i in redo])
        results = [r for r in results if r.part.capture not in redo] + again
    return results


def merge_into(eng: Any, paths: tuple[str, ...], results: list[PartResult],
               on_secrets: Callable | None, *, dedup: bool = True,
               dedup_window: float = 1.0) -> MergeStats:
    """The parts' streams merged (``merge``) and replayed into ``eng``."""
    results.sort(key=lambda r: (r.part.capture, r.part.index))
    for r in results:
        if r.error is not None:
            raise CaptureError(r.error)
    stats = MergeStats(read=sum(r.read for r in results))
    shifts: dict[tuple[int, int], int] = {}
    before = 0  # records in the ranges of the file before this one
    for r in results:
        if r.part.index == 0:
            before = 0
        shifts[(r.part.capture, r.part.index)] = before
        if r.part.ranged:
            stats.warnings += [range_warning(w, before, len(r.part.prefix), r.part.start)
                               for w in r.warnings]
        else:
            stats.warnings += r.warnings
        before += r.read
    renumber = len(paths) > 1
    if renumber:
        shifts.clear()
    triples = ordered(results, shifts, on_secrets)
    eng.tunnel.run(chain.from_iterable(admitted(
        triples, stats, cuts=eng.cuts, on_secrets=on_secrets, dedup=dedup, window=dedup_window,
        renumber=renumber)), eng)
    return stats
