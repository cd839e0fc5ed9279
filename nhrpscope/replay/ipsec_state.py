"""IPsec as the capture shows it, without keys: the engine's one handle on
the IKE observer (``observers.ike``), the ESP SA pairing
(``observers.ipsec_sas``) and their detectors.

``IpsecState.ike(time, frame, record, src, dst, sport, dport, fragments)`` is fed each
decoded IKE message in time order; ``finish(end, sas)`` closes the replay
(``observers.ike_verdict``), pairs the ESP SAs the engine counted and
hands the facts to the detectors, which raise the findings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nhrpscope.replay.detectors import Context, Dispatcher
from nhrpscope.replay.findings import FindingSet
from nhrpscope.replay.observers import ike_verdict
from nhrpscope.replay.observers.ike import IkeObserver
from nhrpscope.replay.observers.ike_records import IkeMessage, IkeNegotiation
from nhrpscope.replay.observers.ipsec_sas import SaPairing

__all__ = ["IkeMessage", "IkeNegotiation", "IpsecState"]


class IpsecState:
    """IKE negotiations and the ESP SA pairing of one replay."""

    def __init__(self, findings: FindingSet, *, emit: Callable[..., None] | None = None,
                 name: Callable[[str | None], str] | None = None) -> None:
        self.findings = findings
        self.name = name or (lambda a: a or "?")
        self.observer = IkeObserver(emit)
        self.pairing = SaPairing(self.observer.by_pair)
        self._state = Dispatcher(Context(findings, self.name))
        self.end: float | None = None

    @property
    def negotiations(self) -> list[IkeNegotiation]:
        return self.observer.negotiations

    def ike(self, t: float, fr: int, h: Any, src: str | None, dst: str | None, sport: int,
            dport: int, fragments: tuple[int, ...] = ()) -> IkeNegotiation | None:
        """One IKE message (an ``IkeHeader`` with its payloads); ``fragments``:
        the frames of the IP fragments it came in, if it did."""
        return self.observer.ike(t, fr, h, src, dst, sport, dport, fragments)

    def pair_sas(self, sas: list[Any]) -> None:
        """Pair SAs (``paired_spi``), mark rekeys and the IKE exchange that made them."""
        self.pairing.pair_sas(sas)

    def finish(self, end: float | None, sas: list[Any] | None = None) -> list[IkeNegotiation]:
        """Close the replay at ``end``: decide what was given up, pair the
        SAs (``sas``: the engine's ``SecurityAssociation`` records), raise the
        findings. Idempotent."""
        self.end = end
        for negs in self.observer.by_pair.values():
            for i, neg in enumerate(negs):
                ike_verdict.close(neg, end, negs[i + 1] if i + 1 < len(negs) else None, sas or [])
        if sas is not None:
            self.pairing.pair_sas(sas)
        for neg in self.negotiations:
            for fact in ike_verdict.facts(neg):
                self._state(fact)
        if sas is not None:
            for sa_fact in self.pairing.facts(sas):
                self._state(sa_fact)
        return self.negotiations
