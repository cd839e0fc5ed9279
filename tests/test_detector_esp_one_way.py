"""esp-one-way: the fact worded (an error after IKE, a warning without), and a capture."""

from __future__ import annotations

from test_ipsec_state import I1, main_mode
from test_replay_build import HUB, R3, Cap, esp

from nhrpscope.replay.detectors import esp_one_way as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import EspOneWay
from nhrpscope.replay.findings import FindingSet

BODY = ("ESP SA 0x00001001 from 172.16.35.2 to 172.16.15.2 carries 6 packet(s) and nothing comes "
        "back ('#pkts encaps' but no '#pkts decaps' on 172.16.35.2): 172.16.15.2 drops them or "
        "its answers are lost; check ESP (IP protocol 50 / UDP 4500) on the path from "
        "172.16.15.2 to 172.16.35.2, ACLs, and that 172.16.15.2 holds this SA ('clear crypto "
        "session')")


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), EspOneWay("0x00001001", R3, HUB, 6, True, 4.0, (10, 15)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "esp-one-way", "error", [10, 15], 4.0, [R3, HUB])
    assert f.message == BODY + "."
    fs = FindingSet()
    D.on(Context(fs, str), EspOneWay("0x00001001", R3, HUB, 6, False, 4.0, (10, 15)))
    [f] = fs.sorted()
    assert f.severity == "warning" and f.message == BODY + (
        "; no IKE for this pair is in the capture, so check too that the tap sees both "
        "directions.")


def test_raised_by_the_replay():
    c = Cap()
    t = main_mode(c, 0.0, R3, HUB, I1)
    for k in range(1, 5):
        c.ip(t + k, R3, HUB, 50, esp(0x1001, k))
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == D.RULE.code]
    assert f.severity == "error" and sorted(f.frames) == [10, 13] and f.message.endswith("').")


def test_no_time_span_cannot_tell():
    """Every packet at one instant (isakmp4500.pcap's zero timestamps): no time in
    which an answer was due, so no fault is claimed."""
    fs = FindingSet()
    D.on(Context(fs, str), EspOneWay("0x00001001", R3, HUB, 8, True, 0.0, (12, 31), 0.0))
    [f] = fs.sorted()
    assert (f.severity, f.frames) == ("info", [12, 31])
    assert f.message == (
        "ESP SA 0x00001001 from 172.16.35.2 to 172.16.15.2 carries 8 packet(s) and the capture "
        "shows nothing back; its packets all carry the same timestamp, so it cannot tell "
        "whether an answer was due (not judged a fault).")
