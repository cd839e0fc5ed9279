"""The replay engine: decoded packets in time order -> routers, NHRP
transactions, per-router caches, shortcuts, IPsec SAs and findings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from nhrpscope.replay.engine import Engine
    from nhrpscope.replay.model import Analysis
    from nhrpscope.replay.source import CaptureSource

__all__ = ["Analysis", "CaptureSource", "Engine"]

_WHERE = {"Engine": "engine", "Analysis": "model", "CaptureSource": "source"}


def __getattr__(name: str) -> Any:
    # Imported on first use: the process that only reads and classifies a
    # capture (nhrpscope.replay.fastpath) then never loads the engine.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"nhrpscope.replay.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'nhrpscope.replay' has no attribute {name!r}")
