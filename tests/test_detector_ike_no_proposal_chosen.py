"""ike-no-proposal-chosen: the fact worded, and the capture that shows it."""

from __future__ import annotations

from nhrpscope.dissectors import ike_payloads as K
from test_ipsec_state import I1, ike, policy
from test_replay_build import HUB, R3, Cap

from nhrpscope.replay.detectors import ike_no_proposal_chosen as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import NoProposalChosen
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    fact = NoProposalChosen(R3, HUB, 1, "main-mode", "NO-PROPOSAL-CHOSEN", "aes-cbc-128 sha", 5.0,
                            (1, 2))
    D.on(Context(fs, lambda a: f"{a} (t)"), fact)
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-no-proposal-chosen", "error", [1, 2], 5.0, [R3, HUB])
    assert f.message == (
        "172.16.15.2 (t) refused 172.16.35.2 (t)'s IKEv1 main-mode proposal with "
        "NO-PROPOSAL-CHOSEN: 172.16.35.2 (t) offered [aes-cbc-128 sha]; make the ISAKMP "
        "policies / IKEv2 proposals (encryption, hash/integrity, DH group, authentication) "
        "match on both.")
    assert fs.get("ike-no-proposal-chosen", (HUB, R3)) is f  # one per peer pair, either way
    D.on(Context(fs, str), NoProposalChosen(R3, HUB, 1, "main-mode", "x", None, 9.0, (7,)))
    assert len(fs) == 1 and f.frames == [1, 2, 7]


def test_raised_by_the_replay():
    c = Cap()
    ike(c, 0.0, R3, HUB, 1, 2, I1, bytes(8), [policy()])
    ike(c, 0.02, HUB, R3, 1, 5, I1, bytes(8), [K.NotifyPayload(14, 1, I1 + bytes(8), b"", 1)],
        msgid=77)
    _, a = c.run()
    [f] = a.findings
    assert f.code == D.RULE.code and "offered [aes-cbc-128 sha pre-shared modp1024]" in f.message
