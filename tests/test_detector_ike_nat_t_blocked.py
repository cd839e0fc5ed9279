"""nat-t-blocked: the fact worded, and the shipped capture that shows it."""

from __future__ import annotations

import json

from test_ipsec_state import CAPTURES, analyze_no_keys
from test_replay_build import HUB, R2

from nhrpscope.replay.detectors import nat_t_blocked as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import NatTUnanswered
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), NatTUnanswered("203.0.113.5", HUB, 1, "main-mode", None, "203.0.113.5",
                                          HUB, 2, 3.0, (3, 4, 7, 8)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "nat-t-blocked", "error", [3, 4, 7, 8], 3.0, ["203.0.113.5", HUB])
    assert f.message == (
        "IKEv1 main-mode between 203.0.113.5 and 172.16.15.2: NAT detected (the negotiation "
        "moved to UDP 4500 (NAT-T)), the negotiation moved to UDP 4500 and nothing answers "
        "there (2 message(s) from 203.0.113.5): check that UDP 4500 passes between them "
        "(firewalls, ACLs on the path and on 172.16.15.2).")
    fs = FindingSet()
    D.on(Context(fs, str), NatTUnanswered(R2, HUB, 2, "ike-sa-init", "R2 is translated", R2, HUB,
                                          1, None, (9,)))
    assert "NAT detected (R2 is translated)" in fs.sorted()[0].message


def test_the_shipped_capture():
    a = analyze_no_keys(CAPTURES / "nat-t-blocked.pcapng")
    truth = json.loads((CAPTURES / "nat-t-blocked.truth.json").read_text())
    [want] = [f for f in truth["findings"] if f["code"] == D.RULE.code]
    [got] = [f for f in a.findings if f.code == D.RULE.code]
    assert sorted(got.frames) == want["frames"] and "nothing answers there" in got.message
