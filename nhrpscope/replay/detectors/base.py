"""What a detector is: one finding rule, the facts it reads, its wording.

A detector is a module in this package that defines

- ``RULE``: a :class:`Rule` (code, default severity, one-line summary, what
  to check); the code is public and never renamed;
- ``READS``: the fact types (``nhrpscope.replay.facts``) it reads, in a tuple;
- ``on(ctx, fact)``: called with each fact of those types, in replay order;
  it decides and words the finding and raises it through ``RULE.raise_``.

A rule over the whole capture reads the fact an observer states when the
capture ends (a read-only view of what it saw), like any other fact.

Observers state facts ("this registration request went unanswered"); only
detectors turn facts into findings, so adding a finding is one module here
and its test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nhrpscope.replay.findings import CODES, SEVERITY_ORDER, Finding, FindingSet


@dataclass(frozen=True, slots=True)
class Rule:
    code: str  # kebab-case, public (scripts match on it)
    severity: str  # the default: error | warning | info
    summary: str  # what the finding means, one line (docs, `analyze --explain`)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise ValueError(f"{self.code}: unknown severity {self.severity!r}")
        CODES[self.code] = self.severity

    def raise_(self, ctx: Context, subject: tuple, message: str, frames: Iterable[int] = (), *,
               time: float | None = None, routers: Iterable[str] = (),
               severity: str | None = None) -> Finding:
        """Raise (or add frames to) this rule's finding for ``subject``."""
        return ctx.findings.raise_(self.code, subject, message, frames, time=time,
                                   routers=routers, severity=severity)


class Context:
    """What a detector may use: the finding set and how to name a router
    (``name(nbma)`` gives "NBMA (TUNNEL)" once the tunnel address is known)."""

    __slots__ = ("findings", "name")

    def __init__(self, findings: FindingSet, name: Callable[[str | None], str]) -> None:
        self.findings = findings
        self.name = name

