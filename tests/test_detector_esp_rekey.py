"""esp-rekey: the fact worded (overlap or gap), and a capture with a rekey."""

from __future__ import annotations

from test_replay_build import HUB, R2, Cap, esp

from nhrpscope.replay.detectors import esp_rekey as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import EspRekey
from nhrpscope.replay.findings import FindingSet


def _word(overlap: float) -> str:
    fs = FindingSet()
    D.on(Context(fs, str), EspRekey("0x3", "0x1", R2, HUB, overlap, 6.2, (21,)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "esp-rekey", "info", [21], 6.2, [R2, HUB])
    return f.message


def test_worded_from_the_fact():
    assert _word(0.25) == ("ESP from 172.16.25.2 to 172.16.15.2 moved from SA 0x1 to 0x3 "
                           "(a rekey; both in use for 0.250 s).")
    assert _word(-0.7).endswith("(a rekey; 0.700 s after the old one's last packet).")


def test_raised_by_the_replay():
    c = Cap()
    for k in range(1, 4):
        c.ip(float(k), R2, HUB, 50, esp(0x1001, k))
        c.ip(k + 0.1, HUB, R2, 50, esp(0x2002, k))
    for k in range(1, 4):
        c.ip(5.0 + k, R2, HUB, 50, esp(0x3003, k))
        c.ip(5.1 + k, HUB, R2, 50, esp(0x4004, k))
    _, a = c.run()
    got = sorted(f.message for f in a.findings if f.code == D.RULE.code)
    assert len(got) == 2 and "moved from SA 0x00001001 to 0x00003003" in got[1]
