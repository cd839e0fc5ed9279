"""ike-invalid-ke: the fact worded, and the capture that shows it."""

from __future__ import annotations

from nhrpscope.dissectors import ike_payloads as K
from test_ipsec_state import I1, R, ike
from test_replay_build import HUB, R2, Cap

from nhrpscope.replay.detectors import ike_invalid_ke as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import InvalidKePayload
from nhrpscope.replay.findings import FindingSet


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), InvalidKePayload(R2, HUB, 2, "ike-sa-init", "INVALID_KE_PAYLOAD", 19,
                                            1.5, (1, 2), 14))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-invalid-ke", "warning", [1, 2], 1.5, [R2, HUB])
    assert f.message == (
        "172.16.15.2 answered 172.16.25.2's IKEv2 ike-sa-init with INVALID_KE_PAYLOAD: the KE "
        "payload used DH group ecp256 (group 19); 172.16.15.2 asks for modp2048 (group 14); the "
        "initiator must retry with the group asked for - configure the same DH group ('group' in "
        "the policy / proposal) on both.")
    fs = FindingSet()
    D.on(Context(fs, str), InvalidKePayload(R2, HUB, 1, "main-mode", "INVALID-KEY-INFORMATION",
                                            None, None, (3,)))
    assert "used DH group ?; the notify does not name the group wanted;" in fs.sorted()[0].message
    fs = FindingSet()
    D.on(Context(fs, str), InvalidKePayload(R2, HUB, 2, "ike-sa-init", "INVALID_KE_PAYLOAD", 19,
                                            1.5, (1, 2), 14, recovered=True))
    [f] = fs.sorted()
    assert f.severity == "info" and f.message.endswith(
        "172.16.25.2 retried with it and the IKE SA came up: one extra round trip each time; "
        "list that group first on 172.16.25.2 to save it.")


def test_raised_by_the_replay():
    """The group sent is the refused request's KE payload, not the retry's."""
    c = Cap()
    ike(c, 0.0, R2, HUB, 2, 34, I1, bytes(8), [K.KePayload(bytes(64), 19)], flags=0x08)
    ike(c, 0.02, HUB, R2, 2, 34, I1, bytes(8), [K.NotifyPayload(17, data=b"\x00\x0e")], flags=0x20)
    ike(c, 0.04, R2, HUB, 2, 34, I1, bytes(8), [K.KePayload(bytes(256), 14)], flags=0x08)
    ike(c, 0.06, HUB, R2, 2, 34, I1, R, [K.KePayload(bytes(256), 14)], flags=0x20)
    _, a = c.run()
    [n] = a.ike
    assert n.state == "incomplete" and n.failure is None  # retried, IKE_AUTH still to come
    [f] = [f for f in a.findings if f.code == D.RULE.code]
    assert sorted(f.frames) == [1, 2] and f.severity == "warning"
    assert ("used DH group ecp256 (group 19); 172.16.15.2 asks for modp2048 (group 14); "
            "172.16.25.2 retried, and the IKE SA is not up by the end of the capture") in f.message


def test_refused_and_not_retried_fails():
    c = Cap()
    ike(c, 0.0, R2, HUB, 2, 34, I1, bytes(8), [K.KePayload(bytes(64), 19)], flags=0x08)
    ike(c, 0.02, HUB, R2, 2, 34, I1, bytes(8), [K.NotifyPayload(17, data=b"\x00\x0e")], flags=0x20)
    _, a = c.run(end=60.0)
    [n] = a.ike
    assert n.state == "failed" and n.failure == (
        "INVALID_KE_PAYLOAD (KE had ecp256, wants modp2048, group 14)")
    [f] = a.findings
    assert f.code == D.RULE.code and "the initiator must retry with the group asked for" in f.message
