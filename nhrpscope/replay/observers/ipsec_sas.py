"""ESP SAs without keys: pairing, rekeys, one-way traffic (RFC 4301, 4303).

The engine counts ESP packets per (SPI, source, destination). An IPsec SA
pair is one SPI each way between two peers, agreed by one IKE exchange
(RFC 2409 5.5 quick mode, RFC 7296 1.2/1.3 IKE_AUTH, CREATE_CHILD_SA). So
the SAs of a peer pair are grouped by the IKE exchange that preceded them
(their epoch) and, within one, paired by timing; without IKE in the capture,
by timing alone. A new SPI taking over one direction is a rekey.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nhrpscope.replay.facts.ipsec import EspOneWay, EspRekey, EspSaSeen, EspSasWithoutIke
from nhrpscope.replay.observers.ike_records import IkeNegotiation

# How long before its IKE exchange an SA's first packet may be seen (tap reordering).
SA_SLACK = 0.5
# A new SPI in the same direction within this many seconds of the old one's last packet: a rekey.
REKEY_GAP = 30.0
# An SA with at least this many packets and nothing back is one-way.
ONE_WAY_MIN = 3

SaFact = EspSasWithoutIke | EspOneWay | EspRekey


class SaPairing:
    """Pairs the engine's ``SecurityAssociation`` records by the IKE
    negotiations seen between the same peers (``by_pair``, kept up to date
    by the IKE observer)."""

    def __init__(self, by_pair: dict[frozenset[str], list[IkeNegotiation]]) -> None:
        self.by_pair = by_pair

    def child_times(self, pair: frozenset[str]) -> list[float]:
        """When child SA pairs were agreed between two peers (QM2/QM3, IKE_AUTH)."""
        out = []
        for neg in self.by_pair.get(pair, []):
            out.extend(neg._child)
        return sorted(out)

    def ike_before(self, pair: frozenset[str], t: float) -> bool:
        return any(n.setup_seen and (n.first or 0.0) <= t + SA_SLACK
                   for n in self.by_pair.get(pair, []))

    def pair_sas(self, sas: list[Any]) -> None:
        """Pair SAs (``paired_spi``), mark rekeys and the IKE exchange that made them."""
        by_pair: dict[frozenset[str], list[Any]] = {}
        for sa in sas:
            sa.paired_spi = None
            by_pair.setdefault(frozenset((sa.src, sa.dst)), []).append(sa)
        for pair, group in by_pair.items():
            self._pair_group(pair, group)
            self._rekeys(group)

    def _pair_group(self, pair: frozenset[str], group: list[Any]) -> None:
        times = self.child_times(pair)
        epochs: dict[int, list[Any]] = {}
        for sa in group:
            first = sa.first or 0.0
            k = -1  # the last child SA agreement at or before its first packet
            for j, ct in enumerate(times):
                if ct <= first + SA_SLACK:
                    k = j
            sa.ike = k >= 0
            epochs.setdefault(k, []).append(sa)
        for members in epochs.values():
            a = [s for s in members if s.src == min(pair)]
            b = [s for s in members if s.src != min(pair)]
            used: set[int] = set()
            for s in sorted(a, key=lambda x: x.first or 0.0):
                cands = [x for x in b if id(x) not in used]
                if not cands:
                    break
                best = min(cands, key=lambda x: abs((x.first or 0.0) - (s.first or 0.0)))
                used.add(id(best))
                s.paired_spi, best.paired_spi = best.spi, s.spi

    @staticmethod
    def _rekeys(group: list[Any]) -> None:
        """A new SPI in one direction taking over from the previous one."""
        for direction in {(s.src, s.dst) for s in group}:
            seq = sorted((s for s in group if (s.src, s.dst) == direction),
                         key=lambda x: (x.first or 0.0, x.spi))
            for old, new in zip(seq, seq[1:], strict=False):
                if (new.first or 0.0) - (old.last or 0.0) <= REKEY_GAP and \
                        (old.last or 0.0) <= (new.last or 0.0):
                    new.rekey_of = old.spi
                    new.overlap = round((old.last or 0.0) - (new.first or 0.0), 6)

    def facts(self, sas: list[Any]) -> Iterator[SaFact]:
        """The SAs with no IKE before them, then per SA: one way only, a rekey.
        Marks the one-way SAs (``one_way``)."""
        late = [s for s in sas if not self.ike_before(frozenset((s.src, s.dst)), s.first or 0.0)]
        yield EspSasWithoutIke(tuple(EspSaSeen(s.spi, s.src, s.dst, s.first, s.frames[0])
                                     for s in late))
        by_dir: dict[tuple[str, str], list[Any]] = {}
        for s in sas:
            by_dir.setdefault((s.src, s.dst), []).append(s)
        for s in sas:
            if s.paired_spi is None and s.packets >= ONE_WAY_MIN:
                back = [x for x in by_dir.get((s.dst, s.src), [])
                        if (x.last or 0.0) >= (s.first or 0.0) - SA_SLACK
                        and (x.first or 0.0) <= (s.last or 0.0) + SA_SLACK]
                if back:
                    continue
                s.one_way = True
                known = self.ike_before(frozenset((s.src, s.dst)), s.first or 0.0)
                frames = (s.frames[0], s.frames[1]) if s.frames[1] != s.frames[0] \
                    else tuple(s.frames[:1])
                yield EspOneWay(s.spi, s.src, s.dst, s.packets, known, s.first, frames, s.last)
            if getattr(s, "rekey_of", None):
                yield EspRekey(s.spi, s.rekey_of, s.src, s.dst, getattr(s, "overlap", 0.0) or 0.0,
                               s.first, tuple(s.frames[:1]))
