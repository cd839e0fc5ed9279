"""ike-unanswered: the fact worded, and the capture that shows it."""

from __future__ import annotations

from test_ipsec_state import I1, main_mode
from test_replay_build import HUB, R2, Cap

from nhrpscope.replay.detectors import ike_unanswered as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import IkeUnanswered
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), IkeUnanswered(R2, HUB, 1, "main-mode", 4, 4500, 0.5, (1, 2, 3, 4)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-unanswered", "error", [1, 2, 3, 4], 0.5, [R2, HUB])
    assert f.message == (
        "172.16.25.2 sent 4 IKEv1 main-mode message(s) to 172.16.15.2 and got no answer: check "
        "that 172.16.15.2 is up and reachable on UDP 4500, that no ACL/firewall drops IKE, and "
        "that it has a crypto policy (tunnel protection) for this peer.")


def test_raised_by_the_replay():
    c = Cap()
    main_mode(c, 0.0, R2, HUB, I1, upto=1, rtx={1: 3})
    _, a = c.run(end=100.0)
    [f] = a.findings
    assert f.code == D.RULE.code and "sent 4 IKEv1 main-mode message(s)" in f.message
