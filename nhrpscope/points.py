"""Points in a capture: a time (absolute or after the first frame) or a frame,
as ``--at``, ``--from`` and ``--to`` take them."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from nhrpscope.errors import UserError


@dataclass
class Stop:
    """Where to stop the replay: a time (absolute or after the first frame) or a frame."""

    kind: str  # time | rel | frame
    value: float

    def time(self, first: float | None) -> float | None:
        if self.kind == "time":
            return self.value
        if self.kind == "rel":
            return None if first is None else first + self.value
        return None


def parse_point(text: str, opt: str = "--at") -> Stop:
    """TIME (epoch seconds or ISO 8601, UTC if no zone), +SECONDS, or frame:N."""
    s = text.strip()
    try:
        if s.lower().startswith("frame:"):
            n = int(s[6:])
            if n < 1:
                raise ValueError
            return Stop("frame", n)
        if s.startswith("+"):
            return Stop("rel", float(s[1:]))
        try:
            return Stop("time", float(s))
        except ValueError:
            pass
        d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if d.tzinfo is None:
            d = d.replace(tzinfo=_dt.UTC)
        return Stop("time", d.timestamp())
    except ValueError:
        raise UserError(f"{opt} {text!r}: expected TIME (epoch seconds or ISO 8601), "
                        f"+SECONDS or frame:N") from None
