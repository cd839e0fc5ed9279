"""A discrete-event clock: a heap of timers, no wall clock anywhere.

Ties are broken by scheduling order, so a run is a pure function of the
scenario and its seed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class Timer:
    """A scheduled call; ``cancel()`` makes it a no-op."""

    __slots__ = ("when", "fn", "args", "cancelled")

    def __init__(self, when: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def pending(self) -> bool:
        return not self.cancelled


class Clock:
    """Simulation time in seconds from the start of the scenario."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0

    def at(self, when: float, fn: Callable[..., Any], *args: Any) -> Timer:
        if when < self.now:
            when = self.now
        t = Timer(when, fn, args)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, t))
        return t

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        return self.at(self.now + max(delay, 0.0), fn, *args)

    def run(self, until: float) -> None:
        """Fire every timer due at or before ``until``, in time order."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            when, _, t = heapq.heappop(heap)
            if t.cancelled:
                continue
            self.now = when
            t.fn(*t.args)
        self.now = max(self.now, until)
