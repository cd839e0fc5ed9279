"""The reading process's items, guarded: any failure of that process (the
OOM killer, a crash) becomes a ``ReadingProcessError`` naming the file.
Shared by the replay (``pipeline``) and ``decode`` (``decoding``), which
must not load the replay engine for it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from nhrpscope.errors import ReadingProcessError
from nhrpscope.replay.source import CaptureSource


def guarded_staged(src: CaptureSource, key_files: tuple[str, ...], esp_specs: tuple[str, ...], *,
                   verify_all: bool = False, skip: tuple[int, ...] = (),
                   capture_keys: bool = True) -> Iterator[tuple]:
    """``src.staged``: the reading process's items, any failure of that
    process raised as ``ReadingProcessError`` naming the file."""
    return chain.from_iterable(_guarded(src.staged_batches(
        key_files, esp_specs, verify_all=verify_all, skip=skip, capture_keys=capture_keys),
        src.paths[0]))


def _guarded(batches: Iterator[list[tuple]], path: str) -> Iterator[list[tuple]]:
    # Only the reading of batches is guarded: an error of the engine's own,
    # which consumes them, is not the reading process's.
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (RuntimeError, EOFError, ValueError, OSError) as e:
            raise ReadingProcessError(f"{path}: {e}") from e
        yield batch
