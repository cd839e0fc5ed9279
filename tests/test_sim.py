"""The simulator: scenarios, NHRP behaviour per flavor, timings read back from
the capture with nhrpscope's own decoder, truth files, determinism."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from _simcaps import IPSEC, SCENARIOS, first_fragment, generated, nhrp_of
from nhrpscope.dissectors import nhrp as N

from nhrpscope.sim.run import EPOCH, Options, simulate, write_outputs
from nhrpscope.sim.scenario import ScenarioError, builtin_names, load_scenario, parse_scenario

ALL = ["seed-lab", "seed-lab-ipsec", "phase3", "dual-hub", "nat-spoke", "hub-down", "gre-key-mismatch",
       "auth-mismatch", "unique-conflict", "holdtime-expiry", "resolution-nak", "mtu-blackhole",
       "ipsec-wrong-key", "ike-proposal-mismatch", "ike-psk-mismatch", "nat-t-blocked", "esp-one-way",
       "scale"]


def test_every_builtin_is_shipped():
    assert sorted(builtin_names()) == sorted(ALL)


def regs(g, nbma: str, kind: str = "registration-request"):
    """(time from capture start, packet) of the NHRP packets of a kind from one NBMA address."""
    out = []
    for p in g.packets:
        n = nhrp_of(p)
        if n is not None and n.type == kind and n.src_nbma == nbma:
            out.append((p.time - EPOCH, n, p))
    return out


# -- every capture ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_capture_decodes_clean_and_matches_truth(name):
    g = generated(name)
    assert g.packets, "no frames"
    for p in g.packets:
        if first_fragment(p):
            continue  # see _simcaps.first_fragment
        problems = p.problems
        if name == "ipsec-wrong-key" and p.layer("ipv4").src == "172.16.35.2":
            problems = [x for x in problems if not (x.layer == "esp" and "ICV" in x.reason)]
        assert not problems, (p.frame, p.problems)
        assert p.comment, f"frame {p.frame} has no comment"
    t = g.truth
    assert t["capture"]["frames"] == len(g.packets)
    assert t["capture"]["first"] == pytest.approx(g.packets[0].time, abs=1e-6)
    assert t["capture"]["first"] >= EPOCH
    for key in ("capture", "routers", "registrations", "resolutions", "shortcuts", "redirects", "purges",
                "errors", "ipsec", "findings"):
        assert key in t
    n = len(g.packets)
    by_frame = {p.frame: p for p in g.packets}
    for r in t["registrations"]:
        assert r["frames"] and all(1 <= f <= n for f in r["frames"])
        for f in r["frames"]:
            pk = nhrp_of(by_frame[f])
            if pk is None and name == "ipsec-wrong-key":
                assert not by_frame[f].layer("esp").decrypted  # R3's packets the hub cannot read
                continue
            assert pk is not None and pk.request_id == r["request_id"], (name, r, f)
            assert pk.type in ("registration-request", "registration-reply")
        if r["reply_time"] is not None:
            assert r["reply_time"] >= r["request_time"]
    for x in t["resolutions"]:
        types = {nhrp_of(by_frame[f]).type for f in x["frames"]}
        assert types <= {"resolution-request", "resolution-reply"}
    for f in t["findings"]:
        assert f["severity"] in ("error", "warning", "info")
        assert f["frames"] and all(1 <= x <= n for x in f["frames"])
        assert f["message"].endswith(".")
    codes = {f["code"] for f in t["findings"]}
    assert set(load_scenario(name).expect) <= codes, (name, codes)


@pytest.mark.parametrize("name", SCENARIOS)
def test_explain_narrates_every_frame(name):
    g = generated(name)
    text = g.path(".explain.md").read_text()
    assert text.startswith(f"# {name}: ")
    for p in g.packets[:40]:
        assert f"**frame {p.frame}**" in text
    assert "## What went wrong" in text


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    sc = load_scenario("seed-lab-ipsec")
    outs = []
    for i, seed in enumerate((None, None, 99)):
        res = simulate(sc, Options(seed=seed))
        (tmp_path / str(i)).mkdir()
        paths = write_outputs(res, str(tmp_path / str(i) / "run"), "pcapng", explain=True)
        outs.append([p.read_bytes() for p in paths])
    assert outs[0] == outs[1]
    assert outs[0][0] != outs[2][0]


# -- flavors, as the reference captures and FRR's source put them on the wire -------------


def test_ios_12_4_registration_like_ios_nhrp_pcap():
    g = generated("seed-lab")
    _, req, pkt = regs(g, "172.16.25.2")[0]
    assert req.hop_count == 255 and req.flags == ("unique",)
    cie = req.cies[0]
    assert (cie.code, cie.prefix_len, cie.mtu, cie.holding_time) == (0, 255, 1514, 300)
    assert [e.type for e in req.extensions] == [3, 4, 5, 0]
    assert pkt.layer("gre").key is None
    ipv4 = pkt.layer("ipv4")
    assert ipv4.tos == 0xC0 and ipv4.ttl == 255


def test_ios_15_registration_like_nhrp_registration_pcap():
    g = generated("auth-mismatch")
    _, req, pkt = regs(g, "172.16.25.2")[0]
    assert req.flags == ("unique", "cisco-nat")
    assert (req.cies[0].prefix_len, req.cies[0].mtu, req.cies[0].holding_time) == (32, 17912, 7200)
    assert [e.type for e in req.extensions] == [3, 4, 5, 7, 9, 0]
    auth = req.extensions[3]
    assert (auth.spi, auth.password) == (1, "NHRPAUTH")
    nat = req.extensions[4]
    assert not nat.compulsory
    assert (nat.cies[0].client_nbma, nat.cies[0].client_proto) == ("172.16.15.2", "192.168.0.1")
    assert pkt.layer("gre").key == 2
    _, rep, _ = regs(g, "172.16.25.2", "registration-reply")[0]
    assert rep.request_id == req.request_id and rep.dst_proto == "192.168.0.1"
    responder = rep.extensions[0]
    assert (responder.cies[0].client_nbma, responder.cies[0].client_proto) == ("172.16.15.2", "192.168.0.1")


def test_frr_registration_as_nhrpd_sends_it():
    g = generated("dual-hub")
    _, req, _ = regs(g, "172.16.25.2")[0]
    assert req.hop_count == 1
    assert req.flags == ("unique", "cisco-nat")
    assert (req.cies[0].prefix_len, req.cies[0].mtu) == (255, 0)
    assert [e.type for e in req.extensions] == [4, 5, 3, 9, 0]
    res = [n for _, n, _ in regs(g, "172.16.25.2", "resolution-request")]
    assert res and res[0].hop_count == 64 and res[0].cies[0].prefix_len == 255
    assert set(res[0].flags) == {"is-router", "authoritative", "source-stable", "cisco-nat"}


# -- timings ---------------------------------------------------------------------------


def test_registration_cadence_is_holding_time_over_three():
    g = generated("seed-lab")
    for nbma in ("172.16.25.2", "172.16.35.2", "172.16.45.2"):
        times = [t for t, _, _ in regs(g, nbma)]
        assert len(times) == 2
        assert times[1] - times[0] == pytest.approx(300 / 3, abs=0.05)
        ids = [n.request_id for _, n, _ in regs(g, nbma)]
        assert ids[0] != ids[1]


def _retries(g, nbma: str, after: float):
    """Requests from the first unanswered one on: (time, id, answered). FRR
    reuses an id, so a request is answered by a reply with its id before the
    next request with that id."""
    replies = [(t, n.request_id) for t, n, _ in regs(g, nbma, "registration-reply")]
    reqs = [(t, n.request_id) for t, n, _ in regs(g, nbma)]
    out = []
    for i, (t, rid) in enumerate(reqs):
        nxt = next((u for u, r in reqs[i + 1:] if r == rid), float("inf"))
        if t >= after:
            out.append((t, rid, any(r == rid and t < u < nxt for u, r in replies)))
    return out


def test_hub_down_backoff_cisco_new_ids():
    g = generated("hub-down")
    rows = _retries(g, "172.16.25.2", 30.0)
    # the periodic refresh that goes unanswered, then retries until the hub is back at 200 s
    gaps = [round(b[0] - a[0]) for a, b in zip(rows, rows[1:], strict=False)]
    assert gaps[:8] == [1, 2, 4, 8, 16, 32, 64, 64]
    ids = [rid for _, rid, _ in rows]
    assert len(set(ids)) == len(ids), "IOS takes a new request id for each retry"
    first_ok = next(i for i, r in enumerate(rows) if r[2])
    assert rows[first_ok][0] > 200.0 and all(not r[2] for r in rows[:first_ok])
    # once registered again, the refresh cadence resumes
    assert rows[first_ok + 1][0] - rows[first_ok][0] == pytest.approx(20.0, abs=0.05)


def test_hub_down_backoff_frr_keeps_id_until_16s():
    g = generated("hub-down")
    rows = _retries(g, "172.16.35.2", 30.0)
    gaps = [round(b[0] - a[0]) for a, b in zip(rows, rows[1:], strict=False)]
    # nhrp_nhs.c: 2 (registered before), 4, 8, 16, 32, 64, then 2 again
    assert gaps[:9] == [2, 4, 8, 16, 32, 64, 2, 4, 8]
    ids = [rid for _, rid, _ in rows]
    assert ids[0] == ids[1] == ids[2] == ids[3], "FRR keeps the request id on a retry"
    assert ids[4] != ids[3], "...until a 16 s wait frees it"
    assert any(ok for _, _, ok in rows) and all(t > 200 for t, _, ok in rows if ok)
    finding = [f for f in g.truth["findings"] if f["code"] == "registration-unanswered"]
    assert len(finding) == 2


def test_frr_refresh_keeps_the_request_id():
    """FRR nhrpd: nhrp_reqid_alloc keeps the id while the callback is the same,
    so every periodic refresh to one NHS carries the id of the first request."""
    g = generated("dual-hub")
    to_second = [n.request_id for _, n, p in regs(g, "172.16.25.2") if n.dst_proto == "192.168.0.5"]
    assert len(to_second) >= 5 and len(set(to_second)) == 1
    rows = _retries(g, "172.16.25.2", 0.0)
    answered = [rid for _, rid, ok in rows if ok and rid == to_second[0]]
    assert len(answered) == len(to_second), "each refresh is answered with the same id"


def test_holding_time_expiry_and_purge():
    g = generated("holdtime-expiry")
    r3 = [t for t, _, _ in regs(g, "172.16.35.2")]
    before = [t for t in r3 if t < 35.0]
    after = [t for t in r3 if t >= 35.0]
    assert after and min(after) > 100.0, "R3 says nothing while it is down"
    naks = [(t, n) for t, n, _ in regs(g, "172.16.25.2", "resolution-reply") if n.cies[0].code == 12]
    assert naks and naks[0][0] > before[-1] + 60.0, "the hub forgot R3 only after its holding time"
    expired = [f for f in g.truth["findings"] if f["code"] == "registration-expired"]
    assert len(expired) == 1 and "R3" in expired[0]["message"]
    purge = [p for p in g.packets if nhrp_of(p) is not None and nhrp_of(p).type.startswith("purge")]
    assert [nhrp_of(p).type for p in purge] == ["purge-request", "purge-reply"]
    assert g.truth["purges"] and g.truth["purges"][0]["frames"] == [p.frame for p in purge]


# -- the scenarios' stories -----------------------------------------------------------------


def test_seed_lab_phase2_tunnel_forms():
    g = generated("seed-lab")
    t = g.truth
    assert {r["spoke_tunnel"] for r in t["registrations"] if r["code"] == 0} == {
        "192.168.0.2", "192.168.0.3", "192.168.0.4"}
    res = [x for x in t["resolutions"] if x["requester_tunnel"] == "192.168.0.2"]
    assert res[0]["target_tunnel"] == "192.168.0.4" and res[0]["resolved_nbma"] == "172.16.45.2"
    assert res[0]["forwarded"] == 1
    fwd = [n for _, n, _ in regs(g, "172.16.25.2", "resolution-request") if n.hop_count == 254]
    assert fwd and [c.client_nbma for c in fwd[0].extensions[1].cies] == ["172.16.15.2"]
    sc = t["shortcuts"]
    assert len(sc) == 1 and {sc[0]["a_nbma"], sc[0]["b_nbma"]} == {"172.16.25.2", "172.16.45.2"}
    assert sc[0]["first_direct_data"] > sc[0]["established"]
    assert t["findings"] == []


def test_phase3_redirect_then_shortcut_to_the_lan():
    g = generated("phase3")
    t = g.truth
    assert t["redirects"] and t["redirects"][0]["target"] == "10.0.4.1"
    ti = [nhrp_of(p) for p in g.packets if nhrp_of(p) is not None and nhrp_of(p).type == "traffic-indication"]
    assert ti[0].dst_proto == "10.0.2.1"
    res = next(x for x in t["resolutions"] if x["target_tunnel"] == "10.0.4.1")
    assert res["prefix_len"] == 24 and res["resolved_tunnel"] == "192.168.0.4"
    assert t["shortcuts"] and t["shortcuts"][0]["phase"] == 3


def test_nat_spoke_nat_t_keepalives_and_nat_extension():
    g = generated("nat-spoke")
    udp4500 = [p for p in g.packets if p.has("udp") and 4500 in (p.layer("udp").src_port, p.layer("udp").dst_port)]
    assert udp4500
    assert any(p.has("nat-keepalive") for p in g.packets)
    assert all(p.layer("ipv4").src != "192.168.1.2" for p in g.packets), "the core sees only the public side"
    rep = [n for _, n, _ in regs(g, "192.168.1.2", "registration-reply")][0]
    nat = next(e for e in rep.extensions if e.type == 9)
    assert [c.client_nbma for c in nat.cies] == ["172.16.15.2", "203.0.113.5"]
    assert any(f["code"] == "nat-detected" for f in g.truth["findings"])
    res = next(x for x in g.truth["resolutions"] if x["target_tunnel"] == "192.168.0.5")
    assert res["resolved_nbma"] == "203.0.113.5"
    assert g.truth["routers"][2]["nat"] == {"public": "203.0.113.5"}


def test_gre_key_mismatch_is_silent():
    g = generated("gre-key-mismatch")
    r3 = regs(g, "172.16.35.2")
    assert len(r3) >= 5 and all(p.layer("gre").key == 2 for _, _, p in r3)
    assert not regs(g, "172.16.35.2", "registration-reply")
    f = next(f for f in g.truth["findings"] if f["code"] == "gre-key-mismatch")
    assert set(f["frames"]) == {p.frame for _, _, p in r3}


def test_auth_mismatch_error_indication_code_11():
    g = generated("auth-mismatch")
    errs = [nhrp_of(p) for p in g.packets if nhrp_of(p) is not None and nhrp_of(p).type == "error-indication"]
    assert errs and all(e.error_code == 11 for e in errs)
    inner = errs[0].offending
    assert inner.type == "registration-request" and inner.src_proto == "192.168.0.3"
    pw = next(e for e in inner.extensions if e.type == 7)
    assert pw.password == "WRONGPW"
    assert errs[0].extensions == ()


def test_unique_conflict_code_14_until_expiry():
    g = generated("unique-conflict")
    replies = [(t, n.cies[0].code) for t, n, _ in regs(g, "172.16.26.2", "registration-reply")]
    codes = [c for _, c in replies]
    assert codes[0] == 14 and codes[-1] == 0 and 14 not in codes[codes.index(0):]
    first_ok = next(t for t, c in replies if c == 0)
    last_old = regs(g, "172.16.25.2")[-1][0]
    assert first_ok > last_old + 60.0


def test_resolution_nak():
    g = generated("resolution-nak")
    x = g.truth["resolutions"][0]
    assert x["target_tunnel"] == "192.168.0.9" and x["code"] == 12 and x["resolved_nbma"] is None


def test_mtu_fragments_and_frag_needed():
    g = generated("mtu-blackhole")
    frags = [p for p in g.packets if p.layer("ipv4") and (p.layer("ipv4").frag_offset
                                                           or "mf" in p.layer("ipv4").flags)]
    assert frags and {p.layer("ipv4").src for p in frags} == {"172.16.25.2", "172.16.45.2"}
    icmp = [p for p in g.packets if p.has("icmp") and p.layer("icmp").type == 3]
    assert len(icmp) == 1 and icmp[0].layer("icmp").mtu == 1400
    assert icmp[0].layer("ipv4").dst == "172.16.35.2"
    # R3's full-size TCP segments to R5 vanish (ICMP filtered): only retransmissions, 1 2 4 8 s apart
    segs = [p for p in g.packets if p.has("tcp") and p.layer("ipv4").dst == "172.16.55.2"]
    assert segs and all(p.wire_len > 1400 for p in segs)
    assert not any(p.has("tcp") and p.layer("ipv4").src == "172.16.55.2" for p in g.packets), "no ACK"
    first = [p.time for p in segs if p.layer("tcp").seq == segs[0].layer("tcp").seq]
    assert [round(b - a) for a, b in zip(first, first[1:], strict=False)] == [1, 2, 4, 8]


@pytest.mark.parametrize("name", IPSEC)
def test_esp_decrypts_with_nhrpscope_keys(name):
    g = generated(name)
    esp = [p for p in g.packets if p.has("esp")]
    assert esp
    bad = [p for p in esp if not p.layer("esp").decrypted or p.layer("esp").icv_ok is not True]
    if name == "ipsec-wrong-key":
        assert bad and {p.layer("ipv4").src for p in bad} == {"172.16.35.2"}
        f = next(f for f in g.truth["findings"] if f["code"] == "esp-icv-failed")
        assert set(f["frames"]) == {p.frame for p in bad}
    else:
        assert not bad
        assert all(p.has("gre") for p in esp)
    ike = [p for p in g.packets if p.has("ike")]
    assert ike and g.truth["ipsec"]["ike"] and g.truth["ipsec"]["sas"]


def test_pcapng_comments_and_decryption_secrets_block():
    from nhrpscope.capture import CaptureReader
    from nhrpscope.keys import parse_dsb

    g = generated("seed-lab-ipsec")
    got = []
    with CaptureReader(g.capture, on_secrets=lambda t, d, w: got.extend(parse_dsb(t, d, w))) as r:
        frames = list(r)
    assert all(f.comment for f in frames)
    assert {sa.spi for sa in got} == {int(s["spi"], 16) for s in g.truth["ipsec"]["sas"]}


def test_ike_messages_have_real_payload_structure():
    from nhrpscope.dissectors import ike_payloads as K
    from nhrpscope.dissectors.ike import decode_ike

    g = generated("seed-lab-ipsec")
    first = next(p for p in g.packets if p.has("ike"))
    udp = first.layer("udp")
    assert (udp.src_port, udp.dst_port) == (500, 500)
    # re-read the raw message from the capture file
    from nhrpscope.capture import CaptureReader

    with CaptureReader(g.capture) as r:
        raw = next(f.data for f in r if f.number == first.frame)
    msg = raw[14 + 20 + 8:]
    hdr = decode_ike(msg)
    assert hdr.record.exchange == "main-mode"
    payloads, problems = K.decode_payloads(1, hdr.record.next_payload, hdr.payload)
    assert not problems
    sa = payloads[0]
    assert isinstance(sa, K.SaPayload) and sa.doi == 1
    attrs = {a.type: a.value for a in sa.proposals[0].transforms[0].attributes}
    assert attrs[1] == 7 and attrs[14] == 128 and attrs[2] == 2 and attrs[3] == 1 and attrs[4] == 2
    assert sum(isinstance(p, K.VendorIdPayload) for p in payloads) == 4


def test_tap_on_a_router_sees_only_its_packets(tmp_path):
    hub = generated("seed-lab", tap="R1")
    for p in hub.packets:
        ip = p.layer("ipv4")
        assert "172.16.15.2" in (ip.src, ip.dst)
    assert not hub.truth["shortcuts"] or all(s["first_direct_data"] is None for s in hub.truth["shortcuts"])
    spoke = generated("seed-lab", tap="R2")
    assert all("172.16.25.2" in (p.layer("ipv4").src, p.layer("ipv4").dst) for p in spoke.packets)
    assert spoke.truth["shortcuts"][0]["first_direct_data"] is not None
    nat = generated("nat-spoke", tap="R5")
    assert any(p.layer("ipv4").src == "192.168.1.2" for p in nat.packets), "inside the NAT: private address"


def test_no_ipsec_override_and_ipsec_on_a_clear_scenario():
    clear = generated("nat-spoke", ipsec=False)
    assert not any(p.has("esp") or p.has("ike") for p in clear.packets)
    assert any(f["code"] == "nat-detected" for f in clear.truth["findings"])
    on = generated("phase3", ipsec=True)
    assert any(p.has("esp") for p in on.packets)
    assert all(p.layer("esp").icv_ok for p in on.packets if p.has("esp"))


# -- scale ------------------------------------------------------------------------------------


def test_scale_small(tmp_path):
    sc = load_scenario("scale")
    res = simulate(sc, Options(spokes=40, packets=20000))
    paths = write_outputs(res, str(tmp_path / "s"), "pcap")
    t = json.loads(paths[1].read_text())
    from _simcaps import decode

    pk = decode(paths[0])
    assert len(pk) == t["capture"]["frames"]
    assert abs(len(pk) - 20000) < 200
    nhrp = [p for p in pk if p.has("nhrp")]
    share = 1 - len(nhrp) / len(pk)
    assert 0.97 < share < 0.99
    assert not any(p.problems for p in pk)
    registered = {r["spoke_tunnel"] for r in t["registrations"] if r["code"] == 0}
    assert len(registered) == 40, "every spoke refreshes in the span"
    assert t["resolutions"] and t["shortcuts"]
    assert all(s["first_direct_data"] for s in t["shortcuts"])
    times = [p.time for p in pk]
    assert times == sorted(times)


def test_scale_refuses_a_tap():
    with pytest.raises(ScenarioError):
        simulate(load_scenario("scale"), Options(spokes=5, packets=100, tap="HUB"))


# -- scenario files ------------------------------------------------------------------------------

GOOD = """
name = "t"
[[routers]]
name = "H"
role = "hub"
nbma = "10.0.0.1"
tunnel = "192.168.0.1/24"

[[routers]]
name = "S"
nbma = "10.0.0.2"
tunnel = "192.168.0.2/24"
nhs = ["192.168.0.1"]
"""


def test_good_minimal_scenario_runs():
    sc = parse_scenario(GOOD, "t.toml")
    res = simulate(sc, Options(duration=5))
    assert len(res.frames) == 2


@pytest.mark.parametrize("text,where", [
    (GOOD.replace('nbma = "10.0.0.2"', 'nbma = "10.0.0.999"'), "t.toml:11: key routers[2].nbma: '10.0.0.999' is not an IPv4 address"),
    (GOOD.replace('role = "hub"', 'role = "hubb"'), "t.toml:5: key routers[1].role: 'hubb' is not one of hub, spoke"),
    (GOOD + "holding_time = -3\n", "t.toml:14: key routers[2].holding_time: -3 is outside 1..65535 seconds"),
    (GOOD + "holdtime = 3\n", "t.toml:14: key routers[2].holdtime: unknown key"),
    (GOOD.replace('nhs = ["192.168.0.1"]', 'nhs = ["192.168.0.7"]'), "t.toml:13: key routers[2].nhs: no router has tunnel address 192.168.0.7"),
    (GOOD + '\n[[events]]\nat = 3\naction = "ping"\nfrom = "X"\nto = "192.168.0.1"\n', "t.toml:18: key events[1].from: no router named 'X'"),
    (GOOD + '\n[[events]]\nat = "soon"\naction = "ping"\nfrom = "S"\nto = "H"\n', "t.toml:16: key events[1].at: must be a number"),
    (GOOD + "password = \"muchtoolongpw\"\n", "t.toml:14: key routers[2].password: an NHRP password is at most 8"),
    (GOOD.replace('name = "t"', 'name = "t'), "t.toml:2: not valid TOML"),
    ("duration = 0\n" + GOOD, "t.toml:1: key duration: must be positive"),
    (GOOD + "[ipsec]\nike = \"ikev3\"\n", "t.toml:15: key ipsec.ike: 'ikev3' is not one of ikev1, ikev2"),
])
def test_scenario_errors_name_file_line_and_key(text, where):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(text, "t.toml")
    msg = str(e.value)
    assert msg.startswith(where), msg
    assert "\n" not in msg


def test_load_scenario_file_and_missing(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(GOOD)
    assert load_scenario(str(p)).name == "t"
    with pytest.raises(ScenarioError, match="no such built-in scenario"):
        load_scenario("no-such-thing")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(str(tmp_path / "absent.toml"))


def test_builtin_files_parse_and_document_themselves():
    for name in ALL:
        sc = load_scenario(name)
        assert sc.name == name and sc.lesson
        text = (Path(__file__).resolve().parents[1] / "nhrpscope" / "sim" / "scenarios" / f"{name}.toml").read_text()
        assert text.startswith(f"# {name}:")


def test_ike_payload_round_trip():
    from nhrpscope.dissectors import ike_payloads as K

    v1 = [K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(1, 0, 1, (K.Attribute(1, 7), K.Attribute(12, b"\x00\x01\x51\x80"))),
                                               K.Transform(2, 0, 1, ())),),), 1, 1),
          K.KePayload(b"k" * 128), K.NoncePayload(b"n" * 20), K.NatDPayload(b"h" * 20), K.VendorIdPayload(b"v" * 16),
          K.HashPayload(b"x" * 20), K.IdPayload(1, b"\x0a\x00\x00\x01", 17, 500),
          K.NotifyPayload(24578, 1, b"\x00" * 16, b"", 1)]
    first, body = K.encode_payloads(1, v1)
    back, problems = K.decode_payloads(1, first, body)
    assert not problems and back == v1
    v2 = [K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(0, 1, 12, (K.Attribute(14, 128),)), K.Transform(0, 4, 14))),),
                      None, None),
          K.KePayload(b"k" * 256, 14), K.NoncePayload(b"n" * 32), K.NotifyPayload(16388, 0, b"", b"h" * 20),
          K.IdPayload(2, b"r1", responder=True), K.EncryptedPayload(b"e" * 60, 35)]
    first, body = K.encode_payloads(2, v2)
    back, problems = K.decode_payloads(2, first, body)
    assert not problems and back == v2


def test_ike_payload_decoder_never_raises_on_junk():
    import random

    from nhrpscope.dissectors import ike_payloads as K

    rng = random.Random(1)
    first, body = K.encode_payloads(1, [K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(1, 0, 1, (K.Attribute(1, 7),)),)),)),
                                        K.NoncePayload(b"n" * 8)])
    for _ in range(2000):
        b = bytearray(body)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cut = bytes(b[: rng.randrange(len(b) + 1)])
        out, problems = K.decode_payloads(rng.choice((1, 2)), rng.choice((first, 33, 46, 0, 99)), cut)
        assert isinstance(out, list) and isinstance(problems, list)


def test_nhrp_checksums_are_right_in_every_capture():
    from nhrpscope.capture import CaptureReader

    g = generated("dual-hub")
    with CaptureReader(g.capture) as r:
        for f in r:
            gre_off = 14 + 20
            if f.data[gre_off + 2: gre_off + 4] == b"\x20\x01":
                raw = f.data[gre_off + 4:]
                size = struct.unpack_from("!H", raw, 10)[0]
                assert N.decode_nhrp(raw[:size]).record.checksum_ok


def _three(extra: str = "", hub: str = "") -> str:
    return GOOD.replace('role = "hub"', 'role = "hub"' + hub) + """
[[routers]]
name = "T"
nbma = "10.0.0.3"
tunnel = "192.168.0.3/24"
nhs = ["192.168.0.1"]
""" + extra


def test_tcp_flow_is_acknowledged_and_retransmits_only_when_lost():
    sc = parse_scenario(_three('[[events]]\nat = 3\naction = "tcp"\nfrom = "S"\nto = "T"\ncount = 3\nsize = 600\n'),
                        "t.toml")
    res = simulate(sc, Options(duration=10))
    comments = [c.comment for c in res.frames]
    assert sum("TCP segment" in c for c in comments) >= 3  # the first one is seen twice (via the hub)
    assert sum("TCP ACK" in c for c in comments) >= 3
    assert not any("retransmission" in c for c in comments)


def test_hop_count_exceeded_error_indication():
    from nhrpscope.sim import messages as M
    from nhrpscope.sim.net import Wire
    from nhrpscope.sim.run import Simulation

    sim = Simulation(parse_scenario(_three(), "t.toml"), Options())
    sim._schedule_events()
    sim.clock.run(5.0)
    hub, s = sim.routers["H"], sim.routers["S"]
    pkt = M.resolution_request(s.me, "192.168.0.3", 77, None)
    pkt = N.make_packet(pkt.type_code, hop_count=1, request_id=77, flags=pkt.flags_raw, src_nbma=pkt.src_nbma,
                        src_proto=pkt.src_proto, dst_proto=pkt.dst_proto, cies=pkt.cies, extensions=pkt.extensions)
    hub._on_nhrp(s.nbma, N.encode_nhrp(pkt), Wire("nhrp", "crafted", "S"))
    sim.clock.run(6.0)
    assert [e["code"] for e in sim.ledger.errors] == [15]
    codes = {f.code for f in sim.ledger.findings}
    assert "hop-count-exceeded" in codes and "error-indication" not in codes  # not twice


def test_frr_hub_refuses_prefix_registration_with_code_4():
    sc = parse_scenario(GOOD.replace('role = "hub"', 'role = "hub"\nflavor = "frr"') + "cie_prefix_len = 24\n", "t.toml")
    res = simulate(sc, Options(duration=8))
    t = res.truth
    assert {r["code"] for r in t["registrations"] if r["code"] is not None} == {4}
    assert "registration-rejected" in {f["code"] for f in t["findings"]}
    assert "registration-unanswered" not in {f["code"] for f in t["findings"]}
