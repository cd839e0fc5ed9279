"""The replay engine: decoded packets in time order -> routers, NHRP
transactions, per-router caches, shortcuts, IPsec SAs and findings."""

from nhrpscope.replay.engine import Engine
from nhrpscope.replay.model import Analysis
from nhrpscope.replay.source import CaptureSource

__all__ = ["Analysis", "CaptureSource", "Engine"]
