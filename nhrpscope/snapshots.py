"""Each router's ``show dmvpn`` rows at many instants, from one replay.

``api.cache_at`` replays the captures again for every instant it is asked
about; the report's time slider needs hundreds. Here the captures are
replayed once more with ``on_frame``: before a frame later than the next
chosen instant is replayed, the live caches hold exactly what ``cache_at``
would stop at, and each router's rows are taken as ``show dmvpn`` builds
them (``render.show.peer_rows``).

A row keeps the time its state began, not its up/down time: a refreshed
registration leaves a row unchanged, so identical rows and identical tables
are stored once (a 300-spoke hub changes little between instants).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nhrpscope import api
from nhrpscope.api import Result
from nhrpscope.render.show import RouterView, peer_rows
from nhrpscope.replay.cache import STATIC, CacheEntry, NhrpCache
from nhrpscope.replay.model import Event, Router

# The events after which a cache may differ: NHRP messages and the state
# changes the engine states (data, ESP and IKE leave the caches alone).
CACHE_KINDS = frozenset({"nhrp", "registered", "expired", "resolved", "shortcut", "purged"})
MAX_INSTANTS = 500

Row = tuple[int, str, str, str, str, float]  # ent, NBMA, tunnel, state, Attrb, state since


@dataclass
class Snapshots:
    """Instants, and per router the table it showed from each instant on."""

    times: list[float]  # the instants, ascending (the last is the end of the replay)
    frames: list[int | None]  # the last frame replayed by each instant
    routers: list[Router]
    rows: list[Row] = field(default_factory=list)  # every distinct row, once
    tables: list[tuple[int, ...]] = field(default_factory=list)  # distinct tables (row ids)
    # per router NBMA: (instant index, table id) where its table changed
    changes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def table_at(self, nbma: str, i: int) -> list[Row]:
        """Router ``nbma``'s rows at instant ``i``."""
        tid = None
        for start, t in self.changes.get(nbma, ()):
            if start > i:
                break
            tid = t
        return [] if tid is None else [self.rows[r] for r in self.tables[tid]]

    def json(self) -> dict[str, Any]:
        return {"times": self.times, "frames": self.frames,
                "routers": [{"nbma": r.nbma, "tunnel": r.tunnel, "role": r.role,
                             "changes": self.changes.get(r.nbma, [])} for r in self.routers],
                "rows": [list(r) for r in self.rows], "tables": [list(t) for t in self.tables]}


def pick_instants(events: Iterable[Event], end: float, limit: int = MAX_INSTANTS) -> list[float]:
    """The distinct times of the events that touch a cache, and ``end``;
    at most ``limit``, evenly chosen (the first and the end kept)."""
    times = sorted({e.time for e in events if e.kind in CACHE_KINDS and e.time <= end} | {end})
    if len(times) <= limit:
        return times
    step = (len(times) - 1) / (limit - 1)
    return sorted({times[round(i * step)] for i in range(limit)})


def shown_routers(result: Result) -> list[Router]:
    """The routers ``show dmvpn`` prints: a role, or an NHRP cache."""
    return [r for r in result.analysis.routers if r.role != "unknown" or result.has_cache(r.nbma)]


def _row_since(entries: list[CacheEntry]) -> float:
    # the entry that speaks for the row, chosen as peer_rows chooses it
    main = min(entries, key=lambda e: (e.type != STATIC, e.prefix_len != 32, e.created))
    return main.state_since


class _Recorder:
    """Interns rows and tables as instants are taken."""

    def __init__(self, snaps: Snapshots) -> None:
        self.s = snaps
        self.row_ids: dict[Row, int] = {}
        self.table_ids: dict[tuple[int, ...], int] = {}

    def take(self, i: int, entries_of: Callable[[str, float], list[CacheEntry]]) -> None:
        t = self.s.times[i]
        for r in self.s.routers:
            rows = peer_rows(RouterView(r, t, entries_of(r.nbma, t)))
            ids = tuple(self._row((p.ent, p.nbma, p.tunnel, p.state, p.attrb,
                                   _row_since(p.entries))) for p in rows)
            tid = self.table_ids.setdefault(ids, len(self.table_ids))
            if tid == len(self.s.tables):
                self.s.tables.append(ids)
            seq = self.s.changes.setdefault(r.nbma, [])
            if not seq or seq[-1][1] != tid:
                seq.append((i, tid))

    def _row(self, row: Row) -> int:
        rid = self.row_ids.setdefault(row, len(self.row_ids))
        if rid == len(self.s.rows):
            self.s.rows.append(row)
        return rid


def take_snapshots(result: Result, events: Iterable[Event], limit: int = MAX_INSTANTS
                   ) -> Snapshots:
    """Replay ``result``'s captures once more (same options) and record each
    router's ``show dmvpn`` rows at the instants of ``events`` (see
    ``pick_instants``). Standard input cannot be read twice: a UserError."""
    o = result.options
    if "-" in o.paths:
        raise api.UserError("standard input was read once; the report replays its captures "
                            "again for the time slider: give a file")
    times = pick_instants(events, result.end, limit)
    snaps = Snapshots(times, [None] * len(times), shown_routers(result))
    rec = _Recorder(snaps)
    nxt = 0  # the next instant to take
    last: int | None = None  # the last frame replayed

    def before(number: int, t: float, caches: Mapping[str, NhrpCache]) -> None:
        nonlocal nxt, last
        while nxt < len(times) and t > times[nxt]:
            snaps.frames[nxt] = last
            rec.take(nxt, lambda nbma, at: caches[nbma].at(at) if nbma in caches else [])
            nxt += 1
        last = number

    again = api.analyze(o.paths, keys=o.keys, esp=o.esp, capture_keys=o.capture_keys,
                        dedup=o.dedup, fast=o.fast, verify_all=o.verify_all, on_frame=before)
    for i in range(nxt, len(times)):  # at or after the last frame
        snaps.frames[i] = again.end_frame
        rec.take(i, again.cache)
    return snaps
