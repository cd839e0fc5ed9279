"""Reading a key file's bytes and text, within the limits a key file keeps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from .errors import KeyFileError

MAX_INCLUDE_DEPTH = 8
MAX_KEY_FILE = 64 << 20
# What the ``file PATH`` includes of one key source read in all: the depth
# limit alone let 8 files of 2.3 KB, each including the next 10 times, ask
# for 10^8 reads (past 120 s). A real secrets file includes a few others.
MAX_INCLUDED_FILES = 64
MAX_INCLUDED_BYTES = MAX_KEY_FILE


@dataclass(slots=True)
class _Budget:
    files: int = 0
    bytes: int = 0


# The budget of the key source being read (one per outermost parse).
_BUDGET: ContextVar[_Budget | None] = ContextVar("include_budget", default=None)


@contextmanager
def include_budget() -> Iterator[None]:
    """One budget for the includes read inside this block and any nested
    in it (only the outermost block opens one)."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _charge(where: str, line: int | None, size: int | None) -> None:
    """Count an include (``size`` None: before reading it) against the
    budget, if one is open; over it is a KeyFileError at the including line."""
    budget = _BUDGET.get()
    if budget is None:
        return
    if size is None:
        budget.files += 1
        if budget.files > MAX_INCLUDED_FILES:
            raise KeyFileError(where, line, f"the secrets files include more than "
                                            f"{MAX_INCLUDED_FILES} files in all")
        return
    budget.bytes += size
    if budget.bytes > MAX_INCLUDED_BYTES:
        raise KeyFileError(where, line, f"the secrets files include more than "
                                        f"{MAX_INCLUDED_BYTES:,} bytes in all")


def read_text(path: Path, where: str | None = None, line: int | None = None) -> str:
    data = read_bytes(path, where, line)
    return decode_text(data, str(path))


def read_bytes(path: Path, where: str | None = None, line: int | None = None) -> bytes:
    """A key file's bytes; ``where`` and ``line``: the line that includes it
    (then it counts against the include budget)."""
    if where is not None:
        _charge(where, line, None)
    try:
        with open(path, "rb") as f:
            # Not read(MAX_KEY_FILE + 1) at once: that allocates 64 MB first,
            # for a file of a few kilobytes.
            parts: list[bytes] = []
            have = 0
            while have <= MAX_KEY_FILE and (part := f.read(min(1 << 20, MAX_KEY_FILE + 1 - have))):
                parts.append(part)
                have += len(part)
            data = b"".join(parts)
    except OSError as e:
        why = e.strerror or type(e).__name__
        if where is None:
            raise KeyFileError(str(path), None, f"cannot read: {why}") from None
        # The name came from a key line: it is not quoted (it might be a key).
        raise KeyFileError(where, line, f"cannot read the included file: {why}") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(str(path), None, "too large for a key file")
    if where is not None:
        _charge(where, line, len(data))
    return data


def decode_text(data: bytes, where: str) -> str:
    if b"\0" in data.rstrip(b"\0"):
        raise KeyFileError(where, None, "not a text key file (binary data)")
    try:
        return data.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError as e:
        raise KeyFileError(where, None, f"not UTF-8 text (byte {e.start})") from None


