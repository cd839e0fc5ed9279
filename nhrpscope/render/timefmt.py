"""Capture times as dates, never raising: a pcapng timestamp can lie
beyond year 9999 (or before year 1) once ``if_tsoffset`` or a damaged
block adds 1e11 s to it, and ``datetime`` cannot hold that."""

from __future__ import annotations

import datetime as _dt
import math


def utc(t: float, fmt: str = "%Y-%m-%d %H:%M:%S UTC", *, millis: bool = False) -> str:
    """``t`` (epoch seconds) in UTC with ``fmt``, ``millis`` appending
    ``.mmm`` to the seconds; outside what a date can hold, the epoch
    seconds themselves (``@1e+11 s``), so the line still prints."""
    if not math.isfinite(t):
        return f"@{t} s"
    try:
        d = _dt.datetime.fromtimestamp(t, _dt.UTC)
        if millis:
            fmt = fmt.replace("%S", f"%S.{d.microsecond // 1000:03d}")
        return d.strftime(fmt)
    except (ValueError, OverflowError, OSError):
        return f"@{t:.6f} s" if abs(t) < 1e15 else f"@{t:g} s"
