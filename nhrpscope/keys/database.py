"""SADatabase: the SAs of every key source, indexed for the frame decoder's
lookup by SPI and addresses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from nhrpscope.dissectors.base import addr_str
from nhrpscope.dissectors.esp import SecurityAssociation

from .fields import canon


def _norm_addr(a: object) -> str | None:
    if a is None or a == "" or a == b"":
        return None
    if isinstance(a, bytes | bytearray):
        return addr_str(bytes(a)) if len(a) in (4, 16) else None
    return canon(str(a))


class SADatabase:
    """SAs indexed for O(1) lookup by SPI and addresses.

    ``lookup(spi, src, dst)`` prefers the most specific SA: exact (SPI, src,
    dst), then (SPI, dst) with any source (tcpdump's keying), then (SPI,
    src), then SPI alone; SAs with a wildcard SPI come last (a short list,
    scanned). The first SA added for a selector wins; an equal one added
    again is ignored, a different one is kept in ``conflicts``."""

    def __init__(self, sas: Iterable[SecurityAssociation] = ()) -> None:
        self._all: list[SecurityAssociation] = []
        self._exact: dict[tuple[int, str, str], SecurityAssociation] = {}
        self._by_dst: dict[tuple[int, str], SecurityAssociation] = {}
        self._by_src: dict[tuple[int, str], SecurityAssociation] = {}
        self._by_spi: dict[int, SecurityAssociation] = {}
        self._any_spi: list[SecurityAssociation] = []
        self.conflicts: list[tuple[SecurityAssociation, SecurityAssociation]] = []
        for sa in sas:
            self.add(sa)

    def add(self, sa: SecurityAssociation) -> bool:
        """Add ``sa``; False if an SA for the same selector was there."""
        if sa.spi is None:
            for old in self._any_spi:
                if old.src == sa.src and old.dst == sa.dst:
                    if old != sa:
                        self.conflicts.append((old, sa))
                    return False
            self._any_spi.append(sa)
            self._all.append(sa)
            return True
        # One of four indexes, by which addresses the SA names.
        index: dict[Any, SecurityAssociation]
        key: Any
        if sa.src is not None and sa.dst is not None:
            index, key = self._exact, (sa.spi, sa.src, sa.dst)
        elif sa.dst is not None:
            index, key = self._by_dst, (sa.spi, sa.dst)
        elif sa.src is not None:
            index, key = self._by_src, (sa.spi, sa.src)
        else:
            index, key = self._by_spi, sa.spi
        prev = index.get(key)
        if prev is not None:
            if prev != sa:
                self.conflicts.append((prev, sa))
            return False
        index[key] = sa
        self._all.append(sa)
        return True

    def lookup(self, spi: int, src: object = None, dst: object = None) -> SecurityAssociation | None:
        """The SA for an ESP packet with ``spi`` from ``src`` to ``dst``
        (addresses as strings or packed bytes; None or "" when unknown)."""
        s, d = _norm_addr(src), _norm_addr(dst)
        if s is not None and d is not None:
            sa = self._exact.get((spi, s, d))
            if sa is not None:
                return sa
        if d is not None:
            sa = self._by_dst.get((spi, d))
            if sa is not None:
                return sa
        if s is not None:
            sa = self._by_src.get((spi, s))
            if sa is not None:
                return sa
        sa = self._by_spi.get(spi)
        if sa is not None:
            return sa
        for sa in self._any_spi:
            if (sa.src is None or sa.src == s) and (sa.dst is None or sa.dst == d):
                return sa
        return None

    __call__ = lookup  # usable directly as the frame decoder's ``sa_lookup``

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[SecurityAssociation]:
        return iter(self._all)

    def __bool__(self) -> bool:
        return bool(self._all)

