"""dpd-timeout: the fact worded, and the capture that shows it."""

from __future__ import annotations

from nhrpscope.dissectors import ike_payloads as K
from test_ipsec_state import I1, R, ike, main_mode
from test_replay_build import HUB, R2, Cap

from nhrpscope.replay.detectors import dpd_timeout as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import DpdUnanswered
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), DpdUnanswered(HUB, R2, 500, 40.0, (10, 11, 12)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "dpd-timeout", "warning", [10, 11, 12], 40.0, [HUB, R2])
    assert f.message == (
        "172.16.15.2 sent 3 dead peer detection request(s) (R-U-THERE / IKE informational) to "
        "172.16.25.2 with no answer: the peer is down or the path drops IKE; it will tear the "
        "SAs down (check 172.16.25.2 and UDP 500 between them).")
    assert fs.get("dpd-timeout", (HUB, R2)) is f


def test_raised_by_the_replay():
    c = Cap()
    t = main_mode(c, 0.0, R2, HUB, I1)
    for k in range(4):
        ike(c, t + 10 * k, R2, HUB, 1, 5, I1, R,
            [K.NotifyPayload(36136, 1, I1 + R, b"\0\0\0\1", 1)], msgid=100 + k)
    _, a = c.run()
    [f] = a.findings
    assert f.code == D.RULE.code and sorted(f.frames) == [10, 11, 12, 13]
