"""Points in a capture: a time (absolute or after the first frame) or a frame,
as ``--at``, ``--from`` and ``--to`` take them. A point that no capture can
hold (not a number, infinite, outside the dates a clock can show) is refused
here; one outside a given capture is refused by the replay, which knows its
first and last frames."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field

from nhrpscope.errors import UserError

# The last instant a date can show (9999-12-31 23:59:59 UTC): past it, or
# before 1970, a time cannot be a capture's
MAX_EPOCH = 253402300799.0
_EXPECTED = "expected TIME (epoch seconds or ISO 8601), +SECONDS or frame:N"


@dataclass
class Stop:
    """Where to stop the replay: a time (absolute or after the first frame) or a frame."""

    kind: str  # time | rel | frame
    value: float
    # how the user wrote it, and with which option: for messages
    text: str = field(default="", compare=False)
    opt: str = field(default="--at", compare=False)

    def time(self, first: float | None) -> float | None:
        if self.kind == "time":
            return self.value
        if self.kind == "rel":
            return None if first is None else first + self.value
        return None

    def name(self) -> str:
        """The point as the user gave it, with its option: ``--at '+5'``."""
        return f"{self.opt} {self.text or self._written()!r}"

    def _written(self) -> str:
        if self.kind == "frame":
            return f"frame:{int(self.value)}"
        return f"+{self.value:g}" if self.kind == "rel" else f"{self.value:.6f}"


def stamp(t: float) -> str:
    """A capture time as the reports print it (UTC, milliseconds)."""
    if not math.isfinite(t) or not 0 <= t <= MAX_EPOCH:
        return f"{t:.3f}"
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def checked(stop: Stop) -> Stop:
    """``stop`` if some capture can hold it, else a ``UserError`` naming it."""
    v = stop.value
    if not math.isfinite(v):
        raise UserError(f"{stop.name()}: not a finite number; {_EXPECTED}")
    if stop.kind == "frame" and (v < 1 or v != int(v)):
        raise UserError(f"{stop.name()}: frames are numbered from 1")
    if stop.kind == "rel" and not 0 <= v <= MAX_EPOCH:
        raise UserError(f"{stop.name()}: +SECONDS counts from the first frame, so it is 0 or "
                        f"more (and under {MAX_EPOCH:.0f})")
    if stop.kind == "time" and not 0 <= v <= MAX_EPOCH:
        raise UserError(f"{stop.name()}: a time between 1970 and 9999 (epoch seconds 0 to "
                        f"{MAX_EPOCH:.0f}) was expected")
    return stop


def parse_point(text: str, opt: str = "--at") -> Stop:
    """TIME (epoch seconds or ISO 8601, UTC if no zone), +SECONDS, or frame:N."""
    s = text.strip()
    try:
        if s.lower().startswith("frame:"):
            n = int(s[6:])
            if n < 1:
                raise ValueError
            return Stop("frame", n, text, opt)
        if s.startswith("+"):
            return checked(Stop("rel", float(s[1:]), text, opt))
        try:
            return checked(Stop("time", float(s), text, opt))
        except ValueError:
            pass
        d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if d.tzinfo is None:
            d = d.replace(tzinfo=_dt.UTC)
        return checked(Stop("time", d.timestamp(), text, opt))
    except (ValueError, OverflowError):
        raise UserError(f"{opt} {text!r}: {_EXPECTED}") from None
