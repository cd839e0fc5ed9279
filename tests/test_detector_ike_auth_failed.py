"""ike-auth-failed: the fact worded, and the capture that shows it."""

from __future__ import annotations

from test_ipsec_state import I1, I2, main_mode
from test_replay_build import HUB, R3, Cap

from nhrpscope.replay.detectors import ike_auth_failed as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import AuthenticationFailed
from nhrpscope.replay.findings import FindingSet

TAIL = ("check the pre-shared key ('crypto isakmp key ... address', keyring / IKEv2 profile) "
        "or the certificates on both.")


def _word(failure: str | None, reached: str, version: int = 1) -> str:
    fs = FindingSet()
    D.on(Context(fs, str), AuthenticationFailed(R3, HUB, version, "main-mode", failure, reached,
                                                2.0, (5, 6)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-auth-failed", "error", [5, 6], 2.0, [R3, HUB])
    return f.message


def test_worded_from_the_fact():
    assert _word(None, "MM5") == (
        "IKEv1 main-mode from 172.16.35.2 to 172.16.15.2 fails authentication (main mode stalls "
        "at message 5): " + TAIL)
    assert "fails authentication (AUTHENTICATION-FAILED):" in _word("AUTHENTICATION-FAILED", "MM6")
    assert "fails authentication (authentication failed):" in _word(None, "IKE_AUTH response", 2)


def test_raised_by_the_replay():
    c = Cap()
    t = main_mode(c, 0.0, R3, HUB, I1, upto=5, rtx={5: 3})
    main_mode(c, t + 20, R3, HUB, I2, upto=2)
    _, a = c.run()
    [f] = a.findings
    assert f.code == D.RULE.code and "(main mode stalls at message 5)" in f.message
