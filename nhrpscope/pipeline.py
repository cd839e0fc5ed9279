"""The replay pipeline: captures in, an ``Analysis`` out.

Read, merge and de-duplicate the captures (``replay.source``), decode and
replay them (``replay.engine``), stop where asked. This module is the one
place that drives the engine and reads its state (the NHRP caches); the
API (``nhrpscope.api``) and through it the commands use ``Result``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field

from nhrpscope.capture import PcapngWriter
from nhrpscope.errors import UserError
from nhrpscope.keystore import load_keys, secrets_handler
from nhrpscope.output import OutputFile
from nhrpscope.points import Stop, stamp
from nhrpscope.replay.cache import CacheEntry, NhrpCache
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.model import Analysis
from nhrpscope.replay.source import CaptureSource
from nhrpscope.staging import guarded_staged

# Called with the bytes replayed so far, every 2048 frames (a progress bar).
OnProgress = Callable[[int], None]
# Called before each frame is replayed with its number, its time and the
# routers' NHRP caches (NBMA -> cache) as the frames before it left them:
# the caches at any instant in one replay (the report's time slider).
OnFrame = Callable[[int, float, Mapping[str, NhrpCache]], None]


@dataclass(frozen=True)
class Options:
    """How a result was replayed: what ``cache_at`` needs to replay it again."""

    paths: tuple[str, ...] = ()  # the captures as given ('-': standard input)
    keys: tuple[str, ...] = ()  # key files
    esp: tuple[str, ...] = ()  # tcpdump -E specs
    capture_keys: bool = True  # use the keys a pcapng carries
    dedup: bool = True
    fast: bool = True
    verify_all: bool = False
    workers: int | None = None  # the per-file stage on a local Dask cluster of this many
    scheduler: str | None = None  # ... or on the Dask cluster at this address


@dataclass
class Result:
    """A replayed capture: the ``Analysis`` plus what the commands need."""

    analysis: Analysis
    end: float  # the engine's time at the end (the stop point, or the last frame)
    end_frame: int | None  # the last frame replayed
    files: list[str] = field(default_factory=list)  # the captures' names, as read
    key_notes: list[str] = field(default_factory=list)  # keys found in the capture
    options: Options = field(default_factory=Options)
    _engine: Engine | None = field(default=None, repr=False)
    # the stop asked for lies past the last frame: its time; ``end`` is the
    # last frame's, since nothing after it is known
    past_end: float | None = None

    def cache(self, nbma: str, t: float) -> list[CacheEntry]:
        """The NHRP cache of router ``nbma`` alive at ``t``, from the state the
        replay ended in: right for ``t`` at or after ``end`` only."""
        c = self._engine.caches.get(nbma) if self._engine is not None else None
        return c.at(t) if c is not None else []

    def has_cache(self, nbma: str) -> bool:
        """Whether the router ever held an NHRP cache entry."""
        return bool(self._engine is not None and self._engine.caches.get(nbma))


def replay(files: Iterable[str], key_files: Iterable[str] = (), esp_specs: Iterable[str] = (), *,
           stop: Stop | None = None, on_event: Callable | None = None,
           on_finding: Callable | None = None, dedup: bool = True,
           write_merged: str | None = None, follow: bool = False, fast: bool = True,
           verify_all: bool = False, capture_keys: bool = True,
           on_progress: OnProgress | None = None, force: bool = False,
           on_frame: OnFrame | None = None, workers: int | None = None,
           scheduler: str | None = None) -> Result:
    """Read, merge, decode and replay ``files``; stop at ``stop`` if given.
    ``fast`` False decodes every frame (no header-byte fast path);
    ``verify_all`` checks the ICV of every ESP packet, data too;
    ``on_progress`` (a progress bar) and ``on_frame`` make the replay go
    frame by frame. ``workers`` (a local Dask cluster) or ``scheduler`` (an
    existing one's address): the files are read and classified there
    (``nhrpscope.cluster``), the same result; a replay that stops or goes
    frame by frame runs here."""
    files = tuple(files)
    opts = Options(files, tuple(key_files), tuple(esp_specs), capture_keys, dedup, fast, verify_all,
                   workers, scheduler)
    if sum(1 for f in files if f == "-") > 1:
        raise UserError("standard input ('-') can be read only once")
    cluster = workers is not None or scheduler is not None
    if cluster:
        _cluster_usage(opts, follow=follow, write_merged=write_merged)
    if cluster and stop is None and on_frame is None:
        load_keys(opts.keys, opts.esp)  # a key file's error before any worker starts
        return _replay_cluster(opts, on_event, on_finding)
    store = load_keys(opts.keys, opts.esp)
    on_secrets = secrets_handler(store, use=capture_keys)
    with ExitStack() as stack:
        writer = None
        if write_merged:
            fh = stack.enter_context(OutputFile(write_merged, force=force, inputs=(*files, *opts.keys)))
            writer = PcapngWriter(fh)
        window = 0.0 if follow else 0.5
        src = CaptureSource(list(files), on_secrets=on_secrets, dedup=dedup, writer=writer,
                            reorder_window=window, reorder_max=0 if follow else 4096)
        stack.enter_context(src)
        staged = None
        by_frame = on_progress is not None or on_frame is not None
        if stop is None and not by_frame and fast and not follow and src.stageable():
            # a big file is read and classified by a second process while this one
            # replays; it starts now, while the engine is loaded
            staged = guarded_staged(src, opts.keys, opts.esp, verify_all=verify_all,
                                    capture_keys=capture_keys)
        eng = Engine(store.db.lookup, on_event=on_event, on_finding=on_finding, fast=fast,
                     verify_all=verify_all)
        end = None
        end_frame = None
        done_bytes = 0
        first = None
        reached = False  # the stop point was met within the capture
        records: Iterable[tuple] = src.records()
        if stop is None and not by_frame:
            # the whole stream in one call: the engine's loop reads the tuples itself
            if staged is not None:
                eng.feed_items(staged)
            else:
                eng.feed_batches(src.record_batches())
            end_frame = eng.last_frame if eng.frames else None
            records = iter(())
        for rec in records:
            number, t = rec[0], rec[1]
            if first is None:
                first = t
            if stop is not None:
                if stop.kind == "frame":
                    if number > stop.value:
                        reached = True
                        break  # frame N itself was dropped as a duplicate
                else:
                    t_stop = stop.time(first)
                    if t_stop is not None and t > t_stop:
                        if end_frame is None:
                            raise UserError(f"{stop.name()}: before the capture's first frame "
                                            f"(frame {number}, {stamp(t)})")
                        end = t_stop
                        reached = True
                        break
            if on_frame is not None:
                on_frame(number, t, eng.caches)
            eng.feed_record(rec)
            end_frame = number
            if stop is not None and stop.kind == "frame" and number == stop.value:
                reached = True
                break
            if on_progress is not None:
                done_bytes += len(rec[3]) + 16
                if number % 2048 == 0:
                    on_progress(done_bytes)
        past_end = None
        if stop is not None and not reached:
            past_end = _past_end(stop, first, eng, end_frame)
        if stop is not None and stop.kind == "frame":
            end = eng.now if eng.now != float("-inf") else None
        elif stop is not None and end is None:
            # at or past the last frame: nothing after it is known, so the
            # replay ends there (``past_end`` says so), expiring nothing more
            end = eng.now
        eng.finish(end)
        warnings = list(src.warnings)
        warnings += eng.decoder.finish()
        analysis = eng.analysis(src.names, frames=src.frames, duplicates=src.duplicates,
                                warnings=warnings)
        return Result(analysis, end if end is not None else eng.now, end_frame, src.names,
                      list(store.from_capture), opts, eng, past_end=past_end)


def _cluster_usage(opts: Options, *, follow: bool, write_merged: str | None) -> None:
    """What the cluster's stage cannot do, said in one line."""
    name = "--workers" if opts.workers is not None else "--scheduler"
    if opts.workers is not None and opts.scheduler is not None:
        raise UserError("--workers and --scheduler: give one (--workers starts a local cluster)")
    if opts.workers is not None and opts.workers < 1:
        raise UserError("--workers: at least 1")
    if "-" in opts.paths:
        raise UserError(f"{name}: standard input ('-') cannot be shared with workers; give files")
    if follow:
        raise UserError(f"{name} and --follow: a live capture is read here, in one process")
    if write_merged:
        raise UserError(f"{name} and --write-merged: the merged capture is written by one "
                        f"process; leave out {name}")
    if not opts.fast:
        raise UserError(f"{name}: the workers classify on the fast path; leave out {name} "
                        "to decode every frame")


def _replay_cluster(opts: Options, on_event: Callable | None, on_finding: Callable | None
                    ) -> Result:
    """``replay`` with the per-file stage on a Dask cluster (``nhrpscope.cluster``)."""
    from nhrpscope.cluster.run import stage_and_merge

    # the files opened as one process opens them (its errors, before any worker
    # starts); whether it would read the one file in its second process
    with CaptureSource(list(opts.paths)) as src:
        names, staged = src.names, src.stageable()
    stores = []

    def make() -> tuple[Engine, Callable]:
        # a fresh engine and key store: the merge may start over (cluster.run)
        store = load_keys(opts.keys, opts.esp)
        stores.append(store)
        return (Engine(store.db.lookup, on_event=on_event, on_finding=on_finding, fast=True,
                       verify_all=opts.verify_all), secrets_handler(store, use=opts.capture_keys))

    stats, eng = stage_and_merge(opts.paths, opts.keys, opts.esp, make, workers=opts.workers,
                                 scheduler=opts.scheduler, dedup=opts.dedup,
                                 verify_all=opts.verify_all, capture_keys=opts.capture_keys,
                                 # callbacks see one replay, never one that starts over
                                 pipeline=on_event is None and on_finding is None,
                                 staged=staged)
    eng.finish(None)
    warnings = stats.warnings + eng.decoder.finish()
    analysis = eng.analysis(names, frames=stats.frames, duplicates=stats.duplicates,
                            warnings=warnings)
    return Result(analysis, eng.now, eng.last_frame if eng.frames else None, names,
                  list(stores[-1].from_capture), opts, eng)


def _past_end(stop: Stop, first: float | None, eng: Engine, last_frame: int | None
              ) -> float | None:
    """A stop the replay did not meet: past the last frame (its time, for
    the note that nothing after it is known), or an error when it names a
    frame the capture lacks or the capture has no frame."""
    if last_frame is None or first is None:
        raise UserError(f"{stop.name()}: the capture holds no frame")
    if stop.kind == "frame":
        raise UserError(f"{stop.name()}: past the capture's last frame (frame {last_frame}, "
                        f"{stamp(eng.now)})")
    t = stop.time(first)
    return t if t is not None and t > eng.now else None


def replay_again(result: Result, stop: Stop | None) -> Result:
    """``result``'s captures replayed with the same options, stopped at ``stop``."""
    o = result.options
    if "-" in o.paths:
        raise UserError("standard input was read once; it cannot be replayed again")
    # a replay that stops runs in one process (``replay``): the same result
    return replay(o.paths, o.keys, o.esp, stop=stop, dedup=o.dedup, fast=o.fast,
                  verify_all=o.verify_all, capture_keys=o.capture_keys, workers=o.workers,
                  scheduler=o.scheduler)

