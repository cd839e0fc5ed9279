"""Detectors: one finding rule per module (see ``base``).

Every module of this package that defines ``RULE`` is a detector; they are
found by name, so a new rule is a new module and its test, nothing else.
:class:`Dispatcher` routes each fact an observer states to the detectors
that read its type.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

from nhrpscope.replay.detectors.base import Context, Rule


def _load() -> tuple[ModuleType, ...]:
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        m = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(m, "RULE", None), Rule):
            mods.append(m)
    return tuple(mods)


DETECTORS: tuple[ModuleType, ...] = _load()
RULES: dict[str, Rule] = {m.RULE.code: m.RULE for m in DETECTORS}


class Dispatcher:
    """Hands each fact to the detectors that read its type, in a fixed
    order (module name), so findings come out the same on every run."""

    __slots__ = ("ctx", "_by_type")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._by_type: dict[type, list[Callable[[Context, Any], None]]] = {}
        for m in DETECTORS:
            for typ in getattr(m, "READS", ()):
                self._by_type.setdefault(typ, []).append(m.on)

    def __call__(self, fact: Any) -> None:
        for on in self._by_type.get(type(fact), ()):
            on(self.ctx, fact)


__all__ = ["Context", "DETECTORS", "Dispatcher", "RULES", "Rule"]
