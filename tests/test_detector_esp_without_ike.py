"""esp-without-ike: the end-of-capture fact worded, and a capture with no IKE."""

from __future__ import annotations

from test_replay_build import HUB, R2, R3, Cap, esp

from nhrpscope.replay.detectors import esp_without_ike as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import EspSaSeen, EspSasWithoutIke
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), EspSasWithoutIke((EspSaSeen("0x2", HUB, R2, 3.0, 30),
                                             EspSaSeen("0x1", R2, HUB, 1.0, 10),
                                             EspSaSeen("0x3", R3, HUB, 2.0, 20))))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "esp-without-ike", "info", [10, 20, 30], 1.0, [])
    assert f.message == (
        "3 ESP SA(s) between 2 peer pair(s) carry traffic with no IKE exchange before them in "
        "the capture (it started after IKE set them up): they are paired by timing only, and "
        "their algorithms are not visible.")


def test_nothing_to_say():
    fs = FindingSet()
    D.on(Context(fs, str), EspSasWithoutIke(()))
    assert len(fs) == 0


def test_raised_by_the_replay():
    c = Cap()
    c.ip(1.0, R2, HUB, 50, esp(0x1001, 1))
    c.ip(1.1, HUB, R2, 50, esp(0x2002, 1))
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == D.RULE.code]
    assert sorted(f.frames) == [1, 2] and f.message.startswith("2 ESP SA(s) between 1 peer pair(s)")
