"""The replay engine on captures built with the encoders: one behaviour each."""

from __future__ import annotations

import pytest
from nhrpscope.dissectors.nhrp import make_auth_extension, make_cie, make_packet
from nhrpscope.dissectors.transport import encode_icmp_frag_needed
from test_replay_build import (
    HUB,
    HUB_T,
    R2,
    R2_T,
    R3,
    R3_T,
    R4,
    R4_T,
    Cap,
    codes,
    esp,
    nat_ext,
)

from nhrpscope.replay.cache import ios_duration
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.nhrp_state import (
    RedirectTxn,
    RegistrationTxn,
    ResolutionTxn,
    transitions_table,
)

DESIGN_KEYS = {"capture", "routers", "registrations", "resolutions", "shortcuts", "redirects",
               "purges", "errors", "ipsec", "findings"}


def test_lab_roles_bindings_and_json_shape():
    c = Cap()
    c.lab()
    eng, a = c.run()
    roles = {r.nbma: (r.role, r.tunnel) for r in a.routers}
    assert roles == {HUB: ("hub", HUB_T), R2: ("spoke", R2_T), R3: ("spoke", R3_T),
                     R4: ("spoke", R4_T)}
    doc = a.json()
    assert DESIGN_KEYS <= set(doc)
    assert set(doc["ipsec"]) == {"ike", "sas", "sas_not_tracked"}
    assert set(doc["capture"]) >= {"file", "frames", "first", "last"}
    reg = doc["registrations"][0]
    assert set(reg) >= {"spoke_nbma", "spoke_tunnel", "hub_nbma", "request_time", "reply_time",
                        "request_id", "holding_time", "code", "frames"}
    assert reg["frames"] == [1, 2] and reg["code"] == 0 and reg["holding_time"] == 300
    assert set(doc["routers"][0]) >= {"nbma", "tunnel", "role"}
    assert doc["findings"] == []


def test_retransmission_same_id_then_reply():
    c = Cap()
    c.reg_request(0.0, R2, R2_T, 7)
    c.reg_request(2.0, R2, R2_T, 7)
    c.reg_reply(2.02, R2, R2_T, 7)
    _, a = c.run()
    [r] = a.registrations
    assert r.state == "registered" and r.retransmits == 1 and r.frames == [1, 2, 3]
    assert r.rtt == pytest.approx(2.02)
    assert "registration-unanswered" not in codes(a)


def test_unanswered_retries_with_new_ids():
    c = Cap()
    for i in range(4):
        c.reg_request(10.0 * i, R2, R2_T, i + 1)
    c.data(40.0, R3, HUB, R3_T, "10.9.9.9")  # the capture goes on
    _, a = c.run()
    assert [r.state for r in a.registrations] == ["unanswered"] * 4
    [f] = [f for f in a.findings if f.code == "registration-unanswered"]
    assert f.severity == "error" and f.frames == [1, 2, 3, 4]
    assert R2 in f.message and HUB in f.message


def test_unanswered_then_success():
    c = Cap()
    c.reg_request(0.0, R2, R2_T, 1)
    c.register(10.0, R2, R2_T, 2)
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == "registration-unanswered"]
    assert f.severity == "error" and f.frames == [1] and "later one succeeded" in f.message
    assert [r.state for r in a.registrations] == ["unanswered", "registered"]


def test_request_at_end_of_capture_is_pending():
    c = Cap()
    c.register(0.0, R2, R2_T, 1)
    c.reg_request(100.0, R2, R2_T, 2)
    _, a = c.run()
    assert [r.state for r in a.registrations] == ["registered", "pending"]
    assert a.findings == []


@pytest.mark.parametrize("code,finding", [(4, "registration-rejected"),
                                          (14, "unique-address-conflict")])
def test_rejected_registrations(code, finding):
    c = Cap()
    c.register(0.0, R2, R2_T, 1, code=code)
    eng, a = c.run()
    assert a.registrations[0].state == "rejected" and a.registrations[0].code == code
    assert finding in codes(a)
    assert eng.caches.get(HUB) is None or not eng.caches[HUB].at(eng.now)


def test_unique_conflict_two_spokes_one_address():
    c = Cap()
    c.register(0.0, R2, R2_T, 1)
    c.reg_request(5.0, R3, R2_T, 1)  # R3 claims R2's tunnel address
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == "unique-address-conflict"]
    assert R2 in f.message and R3 in f.message and f.frames == [2, 3]


def test_no_expiry_finding_while_the_spoke_keeps_trying():
    c = Cap()
    c.register(0.0, R2, R2_T, 1, ht=30)
    for i in range(1, 5):
        c.reg_request(10.0 * i, R2, R2_T, i + 1, ht=30)  # the hub died
    c.data(60.0, R3, HUB, R3_T, "10.9.9.9")
    eng, a = c.run()
    assert codes(a) == ["registration-unanswered"]
    assert not eng.caches[HUB].at(eng.now)
    assert [e.state for e in eng.caches[R2].at(eng.now)] == ["NHRP"]


def test_registration_expires_without_refresh():
    c = Cap()
    c.register(0.0, R2, R2_T, 1, ht=30)
    c.register(0.5, R3, R3_T, 1, ht=300)
    for i in range(6):
        c.data(10.0 * i + 1, R3, HUB, R3_T, "10.9.9.9", seq=i)
    eng, a = c.run()
    [f] = [f for f in a.findings if f.code == "registration-expired"]
    assert R2 in f.message and f.frames == [1, 2]  # the last registration
    alive = {e.proto for e in eng.caches[HUB].at(eng.now)}
    assert alive == {R3_T}


def test_nat_only_when_addresses_differ():
    c = Cap()
    # Cisco's NAT extension and flag without translation: not NAT
    c.register(0.0, R2, R2_T, 1, exts=[nat_ext(HUB, HUB_T)])
    # R3 claims a private NBMA, its packets come from a public one
    c.reg_request(1.0, "10.0.0.3", R3_T, 1, outer=R3)
    c.reg_reply(1.01, "10.0.0.3", R3_T, 1, to=R3)
    # R4: the hub's NAT extension reports another NBMA than the claimed one
    c.reg_request(2.0, R4, R4_T, 1)
    c.reg_reply(2.01, R4, R4_T, 1, exts=[nat_ext("203.0.113.4", R4_T)])
    _, a = c.run()
    nat = {f.routers[0] for f in a.findings if f.code == "nat-detected"}
    assert nat == {"10.0.0.3", R4}
    r3 = next(r for r in a.routers if r.nbma == "10.0.0.3")
    assert r3.nat and r3.public_nbma == R3
    assert not next(r for r in a.routers if r.nbma == R2).nat


def test_phase2_shortcut_and_direct_data():
    c = Cap()
    c.lab()
    c.data(10.0, R2, HUB, R2_T, R4_T, seq=1)
    c.data(10.01, HUB, R4, R2_T, R4_T, seq=1)
    reply = c.resolve(10.0, R2, R2_T, R4, R4_T, 2)
    first = c.data(11.0, R2, R4, R2_T, R4_T, seq=2)
    c.data(11.01, R4, R2, R4_T, R2_T, seq=2)
    eng, a = c.run()
    [res] = a.resolutions
    assert res.state == "resolved" and res.resolved_nbma == R4 and res.responder_nbma == R4
    assert [h.hop_count for h in res.hops if h.kind == "request"] == [255, 254]
    [sc] = a.shortcuts
    assert {sc.a_nbma, sc.b_nbma} == {R2, R4} and sc.phase == 2
    assert sc.first_direct_data == pytest.approx(c.items[first - 1].time)
    assert sc.frames == [reply, first] and sc.direct_packets == 2 and sc.via_hub_packets == 0
    assert a.findings == []
    r2 = {e.prefix: e for e in eng.caches[R2].at(eng.now)}
    assert r2[f"{HUB_T}/32"].type == "static" and r2[f"{R4_T}/32"].nbma == R4


def test_shortcut_unused():
    c = Cap()
    c.lab()
    c.resolve(10.0, R2, R2_T, R4, R4_T, 2)
    for i in range(5):
        c.data(11.0 + i, R2, HUB, R2_T, R4_T, seq=i)
    _, a = c.run()
    [sc] = a.shortcuts
    assert sc.via_hub_packets == 5 and sc.direct_packets == 0
    assert "shortcut-unused" in codes(a)


def test_resolution_nak_and_unanswered():
    c = Cap()
    c.lab()
    c.res_request(10.0, R2, HUB, R2, R2_T, "192.168.0.9", 2)
    c.res_reply(10.02, HUB, R2, R2, R2_T, "192.168.0.9", 2, nbma=None, proto=None, code=12)
    c.res_request(20.0, R3, HUB, R3, R3_T, "192.168.0.8", 2)
    c.data(40.0, R4, HUB, R4_T, "10.9.9.9")
    _, a = c.run()
    assert [r.state for r in a.resolutions] == ["nak", "unanswered"]
    assert {"resolution-nak", "resolution-unanswered"} <= set(codes(a))


def test_traffic_indication_followed_or_ignored():
    quoted = bytes.fromhex("4500001c0001000040010000") + bytes([192, 168, 0, 2, 192, 168, 0, 4]) \
        + b"\x08\x00\xf7\xff\x00\x00\x00\x00"
    c = Cap()
    c.lab()
    c.nhrp(10.0, HUB, R2, "traffic-indication", src_nbma=HUB, src_proto=HUB_T, dst_proto=R2_T,
           offending_raw=quoted)
    c.resolve(10.05, R2, R2_T, R4, R4_T, 2)
    quoted3 = quoted[:12] + bytes([192, 168, 0, 3, 192, 168, 0, 4]) + quoted[20:]
    ti = c.nhrp(20.0, HUB, R3, "traffic-indication", src_nbma=HUB, src_proto=HUB_T, dst_proto=R3_T,
           offending_raw=quoted3)
    c.data(40.0, R4, HUB, R4_T, "10.9.9.9")
    _, a = c.run()
    assert [r.state for r in a.redirects] == ["resolved", "ignored"]
    assert a.shortcuts[0].phase == 3
    [f] = [f for f in a.findings if f.code == "redirect-ignored"]
    assert R3 in f.message and f.frames == [ti]


@pytest.mark.parametrize("ecode,finding", [(11, "authentication-failure"),
                                           (15, "hop-count-exceeded"),
                                           (6, "error-indication")])
def test_error_indications(ecode, finding):
    c = Cap()
    req = make_packet("registration-request", request_id=9, src_nbma=R2, src_proto=R2_T,
                      dst_proto=HUB_T)
    c.reg_request(0.0, R2, R2_T, 9)
    c.nhrp(0.01, HUB, R2, "error-indication", src_nbma=HUB, src_proto=HUB_T, dst_proto=R2_T,
           error_code=ecode, offending=req)
    _, a = c.run()
    [e] = a.errors
    assert e.error_code == ecode and e.offending["type"] == "registration-request"
    assert e.offending["request_id"] == 9
    assert finding in codes(a)
    # an error indication a specific finding explains is not reported twice
    assert ("error-indication" in codes(a)) == (finding == "error-indication")
    [f] = [f for f in a.findings if f.code == finding]
    assert 2 in f.frames  # the error indication itself is cited
    # an error indication is no reply; the request at the end of the capture is pending
    assert a.registrations[0].state == "pending" and a.registrations[0].frames == [1]
    assert "registration-unanswered" not in codes(a)


def test_authentication_mismatch_seen_passively():
    c = Cap()
    c.register(0.0, R3, R3_T, 1, exts=[make_auth_extension(password="GOOD")])
    c.reg_request(1.0, R2, R2_T, 1, exts=[make_auth_extension(password="BAD")])
    c.reg_request(11.0, R2, R2_T, 2, exts=[make_auth_extension(password="BAD")])
    c.data(30.0, R3, HUB, R3_T, "10.9.9.9")
    _, a = c.run()
    assert "authentication-failure" in codes(a)
    assert next(r for r in a.routers if r.nbma == R3).password == "GOOD"


def test_gre_key_mismatch():
    c = Cap()
    c.register(0.0, R3, R3_T, 1, key=1)
    c.reg_request(1.0, R2, R2_T, 1, key=2)
    c.reg_request(11.0, R2, R2_T, 2, key=2)
    c.data(30.0, R3, HUB, R3_T, "10.9.9.9", key=1)
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == "gre-key-mismatch"]
    assert R2 in f.message and HUB in f.message
    assert next(r for r in a.routers if r.nbma == R3).gre_key == 1


def test_fragments_and_frag_needed():
    c = Cap()
    c.lab()
    inner = b"\x45" + b"\0" * 1499
    c.ip(5.0, R2, HUB, 47, b"\0\0\x08\x00" + inner[:1000], mf=True, ident=999)
    c.ip(5.0, R2, HUB, 47, inner[1000:], frag_offset=1000, ident=999)
    orig = bytes.fromhex("4500057800000000402f0000") + bytes([172, 16, 25, 2, 172, 16, 15, 2])
    c.ip(6.0, "10.1.1.1", R2, 1, encode_icmp_frag_needed(1400, orig + b"\0" * 8))
    _, a = c.run()
    fr = [f for f in a.findings if f.code == "mtu-fragmentation"]
    assert len(fr) == 2
    assert any("1400" in f.message for f in fr)


def test_esp_no_key_and_replay_counted_per_spi():
    c = Cap()
    for seq in (1, 2, 3, 2):
        c.ip(float(seq), R2, HUB, 50, esp(0x1001, seq))
    c.ip(5.0, HUB, R2, 50, esp(0x2002, 1))
    _, a = c.run()
    sas = {s.spi: s for s in a.sas}
    assert sas["0x00001001"].packets == 4 and sas["0x00001001"].undecrypted == 4
    assert sas["0x00001001"].replays == 1 and sas["0x00001001"].paired_spi == "0x00002002"
    assert {"esp-no-key", "esp-replay"} <= set(codes(a))
    assert a.registrations == [] and a.routers == []  # nothing invented


def test_findings_cap_their_frames():
    c = Cap()
    for i in range(40):
        c.reg_request(10.0 * i, R2, R2_T, i + 1)
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == "registration-unanswered"]
    # the 40th request ends the capture: pending, not unanswered
    assert len(f.frames) == MAX_FRAMES and f.frames_total == 39


def test_events_cite_frames():
    events = []
    c = Cap()
    c.lab()
    c.run(on_event=events.append)
    msgs = [e for e in events if e.kind == "nhrp"]
    assert [e.frame for e in msgs] == [1, 2, 3, 4, 5, 6]
    assert msgs[0].label == "Registration Request id=1" and (msgs[0].src, msgs[0].dst) == (R2, HUB)


def test_transition_tables_are_closed():
    for m in (RegistrationTxn, ResolutionTxn, RedirectTxn):
        states = {m.INITIAL} | {n for _, _, n in transitions_table(m)}
        assert {s for s, _, _ in transitions_table(m)} <= states


def test_ios_duration():
    assert ios_duration(0) == "00:00:00"
    assert ios_duration(3 * 3600 + 25 * 60 + 7) == "03:25:07"
    assert ios_duration(86400 + 2 * 3600) == "1d02h"
    assert ios_duration(17 * 86400 + 5) == "2w3d"
    assert ios_duration(None) == "never"


def test_purge_removes_the_entry_and_is_acknowledged():
    c = Cap()
    c.register(0.0, R2, R2_T, 1)
    c.register(0.5, R3, R3_T, 1)
    req = c.nhrp(10.0, R2, HUB, "purge-request", request_id=5, src_nbma=R2, src_proto=R2_T,
                 dst_proto=HUB_T, cies=[make_cie(prefix_len=32, client_proto=R2_T)])
    rep = c.nhrp(10.01, HUB, R2, "purge-reply", request_id=5, src_nbma=R2, src_proto=R2_T,
                 dst_proto=HUB_T, cies=[make_cie(prefix_len=32, client_proto=R2_T)])
    eng, a = c.run()
    [p] = a.purges
    assert (p.sender_nbma, p.receiver_nbma, p.purged, p.state) == (R2, HUB, [f"{R2_T}/32"],
                                                                   "acknowledged")
    assert p.frames == [req, rep]
    assert [e.proto for e in eng.caches[HUB].at(eng.now)] == [R3_T]
    assert a.findings == []


def test_reregistration_cadence():
    c = Cap()
    for i in range(4):
        c.register(100.0 * i, R2, R2_T, i + 1)
    _, a = c.run()
    assert [r.interval for r in a.registrations] == [None, 100.0, 100.0, 100.0]
