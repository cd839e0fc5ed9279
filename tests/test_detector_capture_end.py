"""The rules over the whole capture: they read the end-of-capture view."""

from __future__ import annotations

from dataclasses import replace

from test_detector_nhrp import HUB, R2, R3, context, judge

from nhrpscope.replay.detectors import authentication_failure as authentication_failure_
from nhrpscope.replay.detectors import esp_no_key as esp_no_key_
from nhrpscope.replay.detectors import gre_key_mismatch as gre_key_mismatch_
from nhrpscope.replay.detectors import mtu_fragmentation as mtu_fragmentation_
from nhrpscope.replay.detectors import nat_detected as nat_detected_
from nhrpscope.replay.detectors import registration_unanswered as registration_unanswered_
from nhrpscope.replay.detectors import shortcut_unused as shortcut_unused_
from nhrpscope.replay.facts.capture import CaptureEnd, CaptureView, NatTraversal
from nhrpscope.replay.facts.nhrp import ErrorIndicationSent, NatDetected, RegistrationUnanswered
from nhrpscope.replay.facts.tunnel import EspNoKey, Fragmented
from nhrpscope.replay.model import SecurityAssociation, Shortcut, Traffic

VIEW = CaptureView(claimed=lambda a: a, routers=frozenset({HUB, R2, R3}), traffic={},
                   passwords={}, password_frames={}, unanswered_registrations=frozenset(),
                   recovered_registrations=(), nat_traversal=(), shortcuts=(), sas=(),
                   fragments={})


def end(**kw) -> CaptureEnd:  # noqa: ANN003
    return CaptureEnd(100.0, VIEW._replace(**kw))


def test_registration_unanswered_reworded_when_a_later_one_succeeded():
    [f] = judge(registration_unanswered_, RegistrationUnanswered(R2, HUB, 1.0, (1, 2)),
                end(recovered_registrations=((R2, HUB),)))
    assert f.message.startswith("Spoke 172.16.25.2 (192.168.0.2) got no reply to 2 registration "
                                "request(s) to NHS 172.16.15.2 (192.168.0.1) before a later one")


def test_gre_key_mismatch_both_directions_one_finding():
    t1 = Traffic(R2, HUB, first=1.0, frames=[1, 5], gre_keys=[1])
    t2 = Traffic(HUB, R2, first=2.0, frames=[2, 6], gre_keys=[2])
    [f] = judge(gre_key_mismatch_, end(traffic={(R2, HUB): t1, (HUB, R2): t2}))
    assert f.frames == [1, 2] and f.time == 1.0
    assert " with key 1 but 172.16.15.2 (192.168.0.1) uses key 2: " in f.message
    same = Traffic(HUB, R2, first=2.0, frames=[2, 6], gre_keys=[1])
    assert judge(gre_key_mismatch_, end(traffic={(R2, HUB): t1, (HUB, R2): same})) == []


def test_authentication_failure_passive_and_from_error_indication():
    pws = {(R2, HUB): frozenset({"a"}), (HUB, R2): frozenset({"b"})}
    [f] = judge(authentication_failure_,
                end(passwords=pws, password_frames={(R2, HUB): 1, (HUB, R2): 2}))
    assert f.message.endswith("use different NHRP authentication ('a' vs 'b'): set the same "
                              "'ip nhrp authentication' on both.")
    assert f.frames == [1, 2] and f.time is None
    # an error indication code 11 said it first: the passive rule adds nothing
    ei = ErrorIndicationSent(HUB, R2, 11, "authentication failure", "registration-request", 3,
                             5.0, 7, (6,))
    [g] = judge(authentication_failure_, ei,
                end(passwords=pws, password_frames={(R2, HUB): 1, (HUB, R2): 2}))
    assert g.frames == [6, 7] and "rejects NHRP from 172.16.25.2 (192.168.0.2) about its "\
        "Registration Request id=3: authentication failure" in g.message


def test_shortcut_unused_only_without_direct_data():
    sc = Shortcut(R2, R3, 5.0, None, [9], via_hub_packets=4)
    [f] = judge(shortcut_unused_, end(shortcuts=[sc]))
    assert "(4 packets after the shortcut, none direct)" in f.message
    assert judge(shortcut_unused_, end(shortcuts=[replace(sc, direct_packets=1)])) == []


def test_esp_no_key_counts_at_the_end():
    sa = SecurityAssociation("0x00001234", R2, HUB, first=1.0, frames=[2, 90], no_key=77)
    [f] = judge(esp_no_key_, EspNoKey("0x00001234", R2, HUB, R2, HUB, 1.0, 2), end(sas=[sa]))
    assert f.message.startswith("77 ESP packets on SA 0x00001234 from 172.16.25.2 to "
                                "172.16.15.2 could not be decrypted (no key)")
    assert (f.frames, f.frames_total) == ([2], 77)  # each SA's first frame


def test_fragment_count_at_the_end():
    [f] = judge(mtu_fragmentation_, Fragmented(47, R2, HUB, R2, HUB, 1.0, 3),
                end(fragments={(R2, HUB): 40}))
    assert f.frames_total == 40


def test_nat_traversal_said_once():
    ctx = context()
    judge(nat_detected_, NatDetected(R2, "10.0.0.2", "why", 1.0, 1), ctx=ctx)
    fs = judge(nat_detected_, end(nat_traversal=(
        NatTraversal(R2, HUB, 4500, 5, 2.0, (R2,)),
        NatTraversal(R3, HUB, 4500, 6, 3.0, ()))), ctx=ctx)
    assert [f.frames for f in fs] == [[1, 5], [6]]
    assert fs[1].message.startswith("The tunnel between 172.16.35.2 (192.168.0.3) and "
                                    "172.16.15.2 (192.168.0.1) runs over UDP 4500 (NAT-T)")
