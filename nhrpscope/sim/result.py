"""What a run produced (``Result``), the options it ran with, and the capture's epoch.

Below both drivers (``simulation`` for the scenarios, ``scale`` for the
benchmark capture) and the writers (``run``, ``explain``), so none of them
imports another to share these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.sim.net import Captured
from nhrpscope.sim.scenario import Scenario
from nhrpscope.sim.truth import Ledger

# 2026-01-01T00:00:00Z: every generated capture starts here.
EPOCH = 1767225600.0
EPOCH_INT = 1767225600  # pcap's microseconds survive float addition at this magnitude
EPOCH_US = Decimal(1767225600 * 1_000_000)
_MILLION = Decimal(1_000_000)


@dataclass
class Options:
    seed: int | None = None
    duration: float | None = None
    ipsec: bool | None = None
    tap: str | None = None
    spokes: int | None = None
    packets: int | None = None


def ethernet(c: Captured) -> bytes:
    return c.dst_mac + c.src_mac + b"\x08\x00" + c.data


@dataclass
class Result:
    scenario: Scenario
    options: Options
    frames: list[Captured]
    ledger: Ledger
    truth: dict[str, Any]
    sas: list[SecurityAssociation] = field(default_factory=list)
    ipsec: bool = False
    seed: int = 1
    duration: float = 0.0
    # The scale scenario streams its frames while they are written, then makes its truth.
    stream: Callable[[], Iterator[tuple[float, bytes, str]]] | None = None
    finalize: Callable[[], dict[str, Any]] | None = None

    def iter_frames(self) -> Iterator[tuple[float, bytes, str]]:
        """(time from the capture start, Ethernet frame, comment) in order."""
        if self.stream is not None:
            yield from self.stream()
            if self.finalize is not None:
                self.truth = self.finalize()
            return
        for c in self.frames:
            yield c.time, ethernet(c), c.comment
