"""nhrpscope as a library: what the commands, the tests and notebooks call.

    >>> from nhrpscope import api
    >>> r = api.analyze("lab.pcap", keys=["lab.esp_sa"])
    >>> r.analysis.findings                 # routers, registrations, ... as dataclasses
    >>> api.cache_at(r, "155.1.0.1", r.end).entries    # a router's NHRP cache

Errors are exceptions: ``nhrpscope.errors.NhrpscopeError`` (``UserError``,
``ReadingProcessError``), ``CaptureError``, ``KeyFileError``; each message
names the file or the option at fault.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Any

from nhrpscope.decoding import Decoding
from nhrpscope.errors import NhrpscopeError, ReadingProcessError, UserError
from nhrpscope.points import Stop, checked, parse_point

if TYPE_CHECKING:
    from nhrpscope.annotate import AnnotateCounts
    from nhrpscope.pipeline import OnFrame, OnProgress, Result
    from nhrpscope.replay.cache import CacheEntry
    from nhrpscope.replay.model import Router
    from nhrpscope.rewrite import DecryptCounts

# Names the API gives from the modules below it, loaded when first used:
# `decode` needs no replay engine, `analyze` no decrypting writer.
_LAZY = {"Result": "nhrpscope.pipeline", "OnProgress": "nhrpscope.pipeline",
         "AnnotateCounts": "nhrpscope.annotate", "OnFrame": "nhrpscope.pipeline",
         "CacheEntry": "nhrpscope.replay.cache", "Router": "nhrpscope.replay.model",
         "DecryptCounts": "nhrpscope.rewrite"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

Paths = str | PathLike[str] | Iterable[str | PathLike[str]]
Point = float | str | Stop  # a time, "TIME|+SECONDS|frame:N", or a parsed Stop

__all__ = ["AnnotateCounts", "CacheEntry", "DecryptCounts", "Decoding", "NhrpscopeError",
           "ReadingProcessError", "Result", "RouterCache", "Stop", "UserError", "analyze",
           "annotate", "cache_at", "decode", "decrypt", "find_router", "parse_point"]


def _paths(paths: Paths) -> tuple[str, ...]:
    if isinstance(paths, str | PathLike):
        return (str(paths),)
    return tuple(str(p) for p in paths)


def _stop(point: Point | None) -> Stop | None:
    if point is None:
        return None
    if isinstance(point, Stop):
        return checked(point)
    if isinstance(point, str):
        return parse_point(point)
    return checked(Stop("time", float(point)))


def analyze(paths: Paths, *, keys: Iterable[str] = (), esp: Iterable[str] = (),
            stop: Point | None = None, dedup: bool = True, fast: bool = True,
            verify_all: bool = False, on_event: Callable | None = None,
            on_finding: Callable | None = None, write_merged: str | None = None,
            follow: bool = False, capture_keys: bool = True,
            on_progress: OnProgress | None = None, force: bool = False,
            on_frame: OnFrame | None = None, workers: int | None = None,
            scheduler: str | None = None) -> Result:
    """Replay the captures ``paths`` (merged by time, duplicates dropped
    unless ``dedup`` is False; ``-`` is standard input) with the ESP keys of
    the files ``keys`` and the tcpdump ``-E`` specs ``esp``.

    ``stop``: where to stop (a time, ``"+SECONDS"``, ``"frame:N"``).
    ``fast`` False decodes every frame fully; ``verify_all`` checks every
    ESP ICV. ``on_event``/``on_finding`` see timeline events and findings as
    they happen; ``write_merged`` writes the merged stream (pcapng) whose
    frame numbers the result cites (an existing file only if ``force``;
    never an input: ``nhrpscope.output``); ``follow`` reads a live capture
    without reordering; ``capture_keys`` False ignores the keys a pcapng
    carries; ``on_progress`` gets the bytes replayed so far; ``on_frame``
    is called before each frame with its number, its time and the routers'
    live NHRP caches (``pipeline.OnFrame``). ``workers`` / ``scheduler``:
    the files are read and classified on a local Dask cluster of that many
    processes / the Dask cluster at that address (the ``dask`` extra), with
    the same result."""
    from nhrpscope.pipeline import replay

    return replay(_paths(paths), tuple(keys), tuple(esp), stop=_stop(stop), on_event=on_event,
                  on_finding=on_finding, dedup=dedup, write_merged=write_merged, follow=follow,
                  fast=fast, verify_all=verify_all, capture_keys=capture_keys,
                  on_progress=on_progress, force=force, on_frame=on_frame, workers=workers,
                  scheduler=scheduler)


def find_router(routers: Iterable[Router], text: str) -> Router:
    """The router whose NBMA (private or public) or tunnel address is ``text``."""
    routers = list(routers)
    for r in routers:
        if text == r.nbma or text == r.public_nbma or text in r.tunnels:
            return r
    names = ", ".join(f"{r.nbma} ({r.tunnel or '?'})" for r in routers) or "none"
    raise UserError(f"no router {text} in the capture (routers seen: {names})")


@dataclass
class RouterCache:
    """A router's NHRP cache at ``time``, as ``show dmvpn`` prints it."""

    router: Router
    time: float
    frame: int | None  # the last frame replayed
    entries: list[CacheEntry]  # alive at ``time``, in show's order
    nhs_status: dict[str, str] = field(default_factory=dict)  # NHS tunnel -> RE (replying) or E


def cache_at(result_or_paths: Result | Paths, router: str | Router, t: Point | None = None,
             **analyze_options: object) -> RouterCache:
    """``router``'s NHRP cache at ``t`` (default: the end of the replay).

    From a ``Result``: read from its end state when ``t`` is its ``end``
    (no replay); for any other instant the captures are replayed again up
    to ``t`` with the result's options, because the cache is the state the
    replay ended in, not a history (standard input cannot be read twice).
    From paths: replayed up to ``t`` (``analyze_options`` as ``analyze``
    takes them)."""
    from nhrpscope.pipeline import Result, replay_again
    from nhrpscope.replay.cache import STATIC
    from nhrpscope.replay.model import Router

    stop = _stop(t)
    if isinstance(result_or_paths, Result):
        res = result_or_paths
        if stop is not None and not (stop.kind == "time" and stop.value == res.end):
            res = replay_again(res, stop)
    else:
        res = analyze(result_or_paths, stop=stop, **analyze_options)  # type: ignore[arg-type]
    r = find_router(res.analysis.routers, router.nbma if isinstance(router, Router) else router)
    entries = res.cache(r.nbma, res.end)
    nhs = {e.proto: "RE" if e.state == "UP" else "E" for e in entries if e.type == STATIC}
    return RouterCache(r, res.end, res.end_frame, entries, nhs)


def decode(paths: Paths, *, keys: Iterable[str] = (), esp: Iterable[str] = (),
           capture_keys: bool = True, only: str | None = None, count: int | None = None,
           count_esp: bool = False) -> Decoding:
    """The frames of ``paths`` decoded, in file order (each file in turn):
    iterate the result for ``dissectors.frame.Packet``s. ``only`` (nhrp,
    gre, esp, ike, ipsec) keeps the frames holding that layer; ``count``
    stops after frame N; ``count_esp`` fills ``esp_stats`` per SPI."""
    return Decoding(list(_paths(paths)), tuple(keys), tuple(esp), capture_keys, only, count,
                    count_esp)


def decrypt(in_path: str, out_path: str, *, keys: Iterable[str] = (), esp: Iterable[str] = (),
            capture_keys: bool = True, embed_keys: bool = False,
            force: bool = False) -> DecryptCounts:
    """Write ``in_path`` to ``out_path`` with every decryptable ESP packet
    replaced by its clear payload, or (``embed_keys``) the ESP kept and the
    SAs used embedded in a pcapng Decryption Secrets Block."""
    from nhrpscope.keystore import load_keys, secrets_handler
    from nhrpscope.rewrite import decrypt_capture

    store = load_keys(tuple(keys), tuple(esp))
    return decrypt_capture(str(in_path), str(out_path), store.db, embed_keys=embed_keys,
                           force=force, on_secrets=secrets_handler(store, use=capture_keys),
                           inputs=tuple(keys))


def annotate(in_path: str, out_path: str, *, keys: Iterable[str] = (), esp: Iterable[str] = (),
             capture_keys: bool = True, dedup: bool = True, force: bool = False) -> AnnotateCounts:
    """Write ``in_path`` to ``out_path`` (pcapng) with each frame a finding
    cites commented ``code severity: message`` and each NHRP and IKE frame
    with its part in the exchanges, after its own comments. One capture: the
    frame numbers the comments use are then the file's own."""
    from nhrpscope.annotate import frame_notes, write_annotated
    from nhrpscope.output import check

    if in_path == "-":
        raise UserError("-: annotate reads the capture twice (to replay it, then to copy it); "
                        "give a file, not standard input")
    keys = tuple(keys)
    check(out_path, force=force, inputs=(in_path, *keys))  # before the replay, not after
    kinds: dict[int, str] = {}

    def nhrp_kind(e: Any) -> None:
        if e.kind == "nhrp":
            kinds[e.frame] = e.detail.get("type", "")

    res = analyze(in_path, keys=keys, esp=esp, capture_keys=capture_keys, dedup=dedup,
                  on_event=nhrp_kind)
    return write_annotated(in_path, out_path, frame_notes(res.analysis, kinds), force=force,
                           inputs=keys)
