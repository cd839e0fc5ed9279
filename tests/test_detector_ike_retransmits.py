"""ike-retransmits: the fact worded, and the capture that shows it."""

from __future__ import annotations

from test_ipsec_state import I1, main_mode
from test_replay_build import HUB, R2, Cap

from nhrpscope.replay.detectors import ike_retransmits as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import IkeRetransmissions
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), IkeRetransmissions(R2, HUB, 2, "ike-sa-init", 7.0, (2, 7, 8)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-retransmits", "warning", [2, 7, 8], 7.0, [R2, HUB])
    assert f.message == (
        "IKEv2 ike-sa-init between 172.16.25.2 and 172.16.15.2 needed 3 retransmission(s) "
        "before it completed: packet loss on the path or a slow peer; check the path between "
        "them.")


def test_raised_by_the_replay():
    c = Cap()
    main_mode(c, 0.0, R2, HUB, I1, rtx={1: 1, 5: 2})
    _, a = c.run()
    [f] = a.findings
    assert f.code == D.RULE.code and sorted(f.frames) == [2, 7, 8]
    assert "needed 3 retransmission(s)" in f.message
