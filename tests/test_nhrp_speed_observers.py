"""The NHRP observer's quick ways answer what the plain ones do: the
extensions read once per extensions tuple (``observers.nhrp.Extensions``)
against ``nhrp_fields.ext_cies`` and ``password``, and the unreadable mark
made without the ESP observer when no SA goes towards the address. No
timing here (benchmarks/nhrp_frame.py measures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.nhrp import NhrpPacket

from nhrpscope.capture import CaptureReader
from nhrpscope.replay.facts.nhrp import UnreadableMark
from nhrpscope.replay.observers.nhrp import Extensions
from nhrpscope.replay.observers.nhrp_fields import ext_cies, password
from tests.test_nhrp_speed_shape import captures

NAMES = ("responder-address", "forward-transit-nhs-record", "reverse-transit-nhs-record",
         "authentication", "cisco-nat-address", "device-capabilities", "end", "unknown",
         "no-such-extension")


def nhrp_packets(path: Path) -> list[NhrpPacket]:
    """Every NHRP record of a capture's frames, decoded twice (the second
    time from the memos, sharing the first one's extensions tuples)."""
    fd = FrameDecoder()
    out = []
    with CaptureReader(path) as r:
        frames = [(rec[2], rec[3]) for batch in r.batches() for rec in batch]
    for lt, data in frames[:3000] * 2:
        out += [la for la in fd.decode(lt, data).layers if isinstance(la, NhrpPacket)]
    return out


@pytest.mark.parametrize("path", captures(), ids=lambda p: p.name)
def test_extensions_read_as_ext_cies_and_password(path):
    ext = Extensions()
    for n in nhrp_packets(path):
        for name in NAMES:
            assert ext.cies(n, name) == ext_cies(n, name)
        assert ext.password(n) == password(n)


def test_extensions_are_bounded_and_keep_their_tuples():
    from nhrpscope.replay.observers import nhrp as mod

    ext = Extensions()
    packets = [n for p in captures()[:4] for n in nhrp_packets(p)]
    for n in packets:
        ext.password(n)
        assert len(ext.by_id) <= mod.EXTENSION_SETS
    for key, (exts, _, _) in ext.by_id.items():
        assert id(exts) == key  # held: an id stays its tuple's


def test_an_unreadable_mark_without_sas_is_the_esp_observers():
    from nhrpscope.replay.engine import Engine

    eng = Engine(None)
    obs = eng.nhrp
    assert "192.0.2.9" not in eng.tunnel.esp.by_dst
    want = eng.tunnel.esp.mark("192.0.2.1", "192.0.2.9")
    got = obs.unreadable_mark("192.0.2.1", "192.0.2.9")
    assert got == UnreadableMark(want.src, want.dst, want.seen, 0)
    obs.cut(5, "192.0.2.1", "192.0.2.9")
    assert obs.unreadable_mark(None, "192.0.2.9") == UnreadableMark(None, "192.0.2.9", {}, 1)
