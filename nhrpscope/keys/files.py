"""Reading a key file's bytes and text, within the limits a key file keeps."""

from __future__ import annotations

from pathlib import Path

from .errors import KeyFileError

MAX_INCLUDE_DEPTH = 8
MAX_KEY_FILE = 64 << 20


def read_text(path: Path, where: str | None = None, line: int | None = None) -> str:
    data = read_bytes(path, where, line)
    return decode_text(data, str(path))


def read_bytes(path: Path, where: str | None = None, line: int | None = None) -> bytes:
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
    return data


def decode_text(data: bytes, where: str) -> str:
    if b"\0" in data.rstrip(b"\0"):
        raise KeyFileError(where, None, "not a text key file (binary data)")
    try:
        return data.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError as e:
        raise KeyFileError(where, None, f"not UTF-8 text (byte {e.start})") from None


