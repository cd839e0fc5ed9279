"""malformed-nhrp: an NHRP packet failing its checksum or lengths is dropped
by its receiver (RFC 2332 5.1), so it moves no state and is reported."""

from __future__ import annotations

import dataclasses

from nhrpscope.dissectors.gre import PT_NHRP, encode_gre
from nhrpscope.dissectors.nhrp import encode_nhrp, make_cie, make_packet
from test_detector_nhrp import HUB, R2, judge
from test_replay_build import HUB_T, R2_T, R3, R3_T, Cap

from nhrpscope.replay.detectors import malformed_nhrp as malformed_nhrp_
from nhrpscope.replay.facts.nhrp import MalformedNhrp


def test_malformed_nhrp_says_what_failed():
    fs = judge(malformed_nhrp_,
               MalformedNhrp("registration-request", R2, HUB, True, False, 1.0, 4),
               MalformedNhrp("registration-request", R2, HUB, True, False, 2.0, 6),
               MalformedNhrp(None, R2, HUB, False, True, 3.0, 9))
    assert [(f.severity, f.frames) for f in fs] == [("warning", [4, 6]), ("warning", [9])]
    assert fs[0].message.startswith(
        "NHRP Registration Request from 172.16.25.2 (192.168.0.2) to 172.16.15.2 (192.168.0.1) "
        "fails its checksum: the receiver drops such a packet")
    assert "NHRP packet from 172.16.25.2 (192.168.0.2) to 172.16.15.2 (192.168.0.1) fails its "\
        "length checks: " in fs[1].message


def _request(spoke: str, spoke_t: str, rid: int):  # noqa: ANN202
    return make_packet("registration-request", src_nbma=spoke, src_proto=spoke_t,
                       dst_proto=HUB_T, request_id=rid, flags=["unique"],
                       cies=[make_cie(holding_time=300, mtu=1514)])


def test_capture_with_bad_checksum_and_truncated_nhrp_moves_no_state():
    c = Cap()
    c.register(0.0, R2, R2_T, 1)  # a good registration: frames 1, 2
    bad_sum = dataclasses.replace(_request(R3, R3_T, 5), checksum=0x1234)
    c.ip(1.0, R3, HUB, 47, encode_gre(PT_NHRP, encode_nhrp(bad_sum, fix_checksum=False)))
    short = encode_nhrp(_request(R3, R3_T, 6))[:-6]  # cut short: its size says more
    c.ip(2.0, R3, HUB, 47, encode_gre(PT_NHRP, short))
    _, a = c.run()
    assert [r.spoke_nbma for r in a.registrations] == [R2]
    assert R3 not in {r.nbma for r in a.routers}
    [f] = [f for f in a.findings if f.code == "malformed-nhrp" and "checksum:" in f.message]
    assert f.frames == [3] and f.message.startswith(f"NHRP Registration Request from {R3} to ")
    [g] = [x for x in a.findings if x.code == "malformed-nhrp" and x is not f]
    assert g.frames == [4] and "length checks" in g.message
    assert {x.code for x in a.findings} == {"malformed-nhrp"}
