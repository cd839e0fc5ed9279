"""One packet as its sender sent it, and what the tap made of it.

The lowest module of the simulator: routers, the network, the ledger and the
narrative all cite packets by their ``Wire``, and none of them owns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Wire:
    """One packet as its sender sent it; it becomes one frame at the tap, or
    several when fragmented, or none when the tap does not see it."""

    kind: str
    comment: str
    sender: str
    frames: list[int] = field(default_factory=list)
    tap_times: list[float] = field(default_factory=list)
    fragments: int = 0  # frames at the tap that are IP fragments
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seen(self) -> bool:
        return bool(self.frames)

    @property
    def time(self) -> float | None:
        return self.tap_times[0] if self.tap_times else None
