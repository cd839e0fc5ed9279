"""IPsec in the replay (issue 7): IKE negotiations, ESP SAs paired without
keys, the IKE/ESP findings, and `show crypto isakmp sa` / `show crypto ipsec sa`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.ike import encode_ike_message, make_ike_header
from nhrpscope.dissectors.udp import encode_udp
from test_replay_build import HUB, R2, R3, R4, Cap, codes, esp

from nhrpscope.cli import main
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.source import CaptureSource

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
I1, I2, I3 = bytes.fromhex("1111111111111111"), bytes.fromhex("2222222222222222"), bytes.fromhex(
    "3333333333333333")
R = bytes.fromhex("aaaaaaaaaaaaaaaa")


def run(*args: str):  # noqa: ANN201
    r = CliRunner().invoke(main, list(args))
    assert "Traceback" not in (r.output or ""), r.output
    return r


def analyze_no_keys(path: Path):  # noqa: ANN201
    """The replay with no keys at all (the pcapng's embedded secrets ignored)."""
    eng = Engine(None)
    with CaptureSource([str(path)]) as src:
        for it in src:
            eng.feed(it)
    eng.finish()
    return eng.analysis([path.name])


# -- building IKE ------------------------------------------------------------------------


def ike(c: Cap, t: float, src: str, dst: str, version: int, xtype: int, ispi: bytes, rspi: bytes,
        payloads: list, *, flags: int = 0, msgid: int = 0, natt: bool = False) -> int:
    body = encode_ike_message(make_ike_header(version, xtype, ispi, rspi, flag_bits=flags,
                                              message_id=msgid), payloads)
    port = 4500 if natt else 500
    return c.ip(t, src, dst, 17, encode_udp(port, port, (b"\0" * 4 if natt else b"") + body))


def policy() -> K.SaPayload:
    attrs = (K.Attribute(1, 7), K.Attribute(14, 128), K.Attribute(2, 2), K.Attribute(3, 1),
             K.Attribute(4, 2))
    return K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(1, 0, 1, attrs),)),))


def main_mode(c: Cap, t: float, i: str, r: str, ispi: bytes, *, upto: int = 9,
              rtx: dict[int, int] | None = None) -> float:
    """IKEv1 main mode + quick mode up to message ``upto`` (1-9), messages
    ``rtx`` repeated; returns the time after the last one."""
    rtx = rtx or {}
    for n in range(1, upto + 1):
        src, dst = (i, r) if n % 2 else (r, i)
        rspi = bytes(8) if n == 1 else R
        if n <= 2:
            args = (2, ispi, rspi, [policy()])
            kw: dict = {}
        elif n <= 4:
            args = (2, ispi, rspi, [K.KePayload(bytes(128)), K.NoncePayload(bytes(20))])
            kw = {}
        elif n <= 6:
            args = (2, ispi, rspi, [K.EncryptedBody(bytes(64), 5)])
            kw = {"flags": 1}
        else:
            size = {7: 160, 8: 128, 9: 32}[n]
            args = (32, ispi, rspi, [K.EncryptedBody(bytes(size), 8)])
            kw = {"flags": 1, "msgid": 0x1234}
        for k in range(1 + rtx.get(n, 0)):
            ike(c, t, src, dst, 1, *args, **kw)
            t += 5.0 if k < rtx.get(n, 0) else 0.02
    return t


def negs(a, pair: set[str] | None = None):  # noqa: ANN001, ANN201
    return [n for n in a.ike if pair is None or {n.initiator, n.responder} == pair]


# -- seed-lab-ipsec without keys (issue 7: what must show) --------------------------------


def test_seed_lab_ipsec_without_keys():
    a = analyze_no_keys(CAPTURES / "seed-lab-ipsec.pcapng")
    truth = json.loads((CAPTURES / "seed-lab-ipsec.truth.json").read_text())
    pairs = sorted(tuple(sorted((n.initiator, n.responder))) for n in a.ike)
    assert pairs == sorted([(HUB, R2), (HUB, R3), (HUB, R4), (R2, R4)])
    assert all(n.state == "established" and n.version == 1 and n.ios_state == "QM_IDLE" for n in a.ike)
    assert [n.reached for n in a.ike] == ["QM3"] * 4
    got = {s.spi: s for s in a.sas}
    for t in truth["ipsec"]["sas"]:
        s = got[t["spi"]]
        assert (s.src, s.dst, s.packets, s.bytes, s.paired_spi, s.frames) == (
            t["src"], t["dst"], t["packets"], t["bytes"], t["paired_spi"], t["frames"])
        assert s.ike and not s.one_way and s.decrypted == 0
    for n in a.ike:  # the ike entries agree with the truth too
        t = next(x for x in truth["ipsec"]["ike"] if x["frames"][0] == n.frames[0])
        assert (n.initiator, n.responder, n.frames, n.retransmits) == (
            t["initiator"], t["responder"], t["frames"], t["retransmits"])
        assert abs(n.established - t["established"]) < 1e-6
    # nothing of NHRP invented
    assert a.routers == [] and a.registrations == [] and a.resolutions == [] and a.shortcuts == []
    assert codes(a) == ["esp-no-key"]  # one for the capture, not one per SA


def test_show_crypto_isakmp_sa_on_the_hub_as_the_classic_lab(tmp_path):
    r = run("generate", "seed-lab-ipsec", "-o", str(tmp_path / "lab"), "--format", "pcap")
    assert r.exit_code == 0, r.output
    r = run("show", "crypto", "isakmp", "sa", str(tmp_path / "lab.pcap"), "--router", HUB)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith(f"% show crypto isakmp sa of {HUB}, inferred by nhrpscope from the capture")
    assert lines[1:] == [
        "IPv4 Crypto ISAKMP SA",
        "dst             src             state          conn-id slot status",
        "172.16.15.2     172.16.25.2     QM_IDLE           1001    0 ACTIVE",
        "172.16.15.2     172.16.35.2     QM_IDLE           1002    0 ACTIVE",
        "172.16.15.2     172.16.45.2     QM_IDLE           1003    0 ACTIVE",
    ]
    # earlier, --at: R4 is still in main mode
    r = run("show", "crypto", "isakmp", "sa", str(tmp_path / "lab.pcap"), "--router", HUB, "--at", "frame:25")
    assert "172.16.15.2     172.16.45.2     MM_KEY_EXCH          0    0 ACTIVE" in r.output
    doc = json.loads(run("show", "crypto", "isakmp", "sa", str(tmp_path / "lab.pcap"), "--format",
                         "json").stdout)
    assert {d["address"] for d in doc} == {HUB, R2, R3, R4} and all(d["inferred"] for d in doc)
    # show crypto ipsec sa: per peer, SPIs and packets as seen at the tap
    r = run("show", "crypto", "ipsec", "sa", str(tmp_path / "lab.pcap"), "--router", R2)
    out = r.output
    assert "#pkts are packets seen at the tap" in out.splitlines()[0]
    assert "current_peer 172.16.15.2 port 500" in out and "current_peer 172.16.45.2 port 500" in out
    # no keys: what the tap saw, not what it could not check
    assert "    #pkts encaps: 4\n    #pkts decaps: 4\n" in out and "#pkts decrypt" not in out
    assert "#pkts encaps: 5\n" in out and "#pkts decaps: 5\n" in out
    assert "% no keys for these SAs: encrypt/decrypt and digest/verify not checked" in out


def test_show_crypto_ipsec_sa_encaps_but_no_decaps():
    r = run("show", "crypto", "ipsec", "sa", str(CAPTURES / "esp-one-way.pcapng"), "--router", R3)
    assert r.exit_code == 0, r.output
    assert "#pkts encaps: 6, #pkts encrypt: 6, #pkts digest: 6" in r.output
    assert "    #pkts decaps: 0\n" in r.output  # the keys are in the capture; nothing came in
    assert "        transform: esp-aes esp-sha-hmac ,\n" in r.output
    assert "encaps but no decaps" in r.output
    doc = json.loads(run("show", "crypto", "ipsec", "sa", str(CAPTURES / "esp-one-way.pcapng"),
                         "--router", "192.168.0.3", "--format", "json").stdout)
    [peer] = doc[0]["peers"]
    assert (peer["peer"], peer["pkts_encaps"], peer["pkts_decaps"]) == (HUB, 6, 0)
    r = run("show", "crypto", "ipsec", "sa", str(CAPTURES / "esp-one-way.pcapng"), "--router", "10.9.9.9")
    assert r.exit_code == 2 and "no IPsec peer" in r.output


# -- the fault scenarios, without keys --------------------------------------------------


@pytest.mark.parametrize("name,code", [("ike-proposal-mismatch", "ike-no-proposal-chosen"),
                                       ("ike-psk-mismatch", "ike-auth-failed"),
                                       ("nat-t-blocked", "nat-t-blocked"),
                                       ("esp-one-way", "esp-one-way")])
def test_fault_scenarios_without_keys(name, code):
    a = analyze_no_keys(CAPTURES / f"{name}.pcapng")
    truth = json.loads((CAPTURES / f"{name}.truth.json").read_text())
    [want] = [f for f in truth["findings"] if f["code"] == code]
    [got] = [f for f in a.findings if f.code == code]
    assert sorted(got.frames) == want["frames"] and got.severity == "error"
    assert {f.code for f in a.findings if f.severity == "error"} == {code}


@pytest.mark.parametrize("name", ["seed-lab-ipsec", "nat-spoke"])
def test_healthy_ipsec_has_no_error(name):
    a = analyze_no_keys(CAPTURES / f"{name}.pcapng")
    assert not [f for f in a.findings if f.severity in ("error", "warning")]
    assert a.ike and all(n.state == "established" for n in a.ike)
    assert all(s.paired_spi for s in a.sas)


def test_nat_spoke_nat_detected_from_nat_d():
    a = analyze_no_keys(CAPTURES / "nat-spoke.pcapng")
    natted = [n for n in a.ike if n.initiator == "203.0.113.5"]
    assert natted and all(n.nat and n.natt for n in natted)
    assert "203.0.113.5" in natted[0].nat_detail
    assert all(n.nat is False and not n.natt for n in a.ike if n.initiator == R2)


# -- synthetic captures ---------------------------------------------------------------------


def test_ikev1_main_and_quick_mode_steps_and_retransmits():
    c = Cap()
    main_mode(c, 0.0, R2, HUB, I1, rtx={1: 1, 5: 2})
    _, a = c.run()
    [n] = a.ike
    assert n.steps == ["MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM1", "QM2", "QM3"]
    assert (n.state, n.retransmits, n.ios_state, n.proposal) == (
        "established", 3, "QM_IDLE", "aes-cbc-128 sha pre-shared modp1024")
    assert [m.frame for m in n.messages if m.retransmit] == [2, 7, 8]
    [f] = a.findings
    assert (f.code, f.severity, sorted(f.frames)) == ("ike-retransmits", "warning", [2, 7, 8])


def test_ike_unanswered():
    c = Cap()
    main_mode(c, 0.0, R2, HUB, I1, upto=1, rtx={1: 3})
    _, a = c.run(end=100.0)
    [n] = a.ike
    assert (n.state, n.retransmits, n.ios_state) == ("unanswered", 3, "MM_NO_STATE")
    [f] = a.findings
    assert f.code == "ike-unanswered" and sorted(f.frames) == [1, 2, 3, 4]
    assert "UDP 500" in f.message
    # still going at the end of the capture: the same stall, the same state; the
    # retransmissions show it is not answered
    _, a = c.run()
    assert a.ike[0].state == "unanswered" and codes(a) == ["ike-unanswered"]
    # one message just before the capture ends: unanswered, too soon for a finding
    c = Cap()
    main_mode(c, 0.0, R2, HUB, I1, upto=1)
    _, a = c.run()
    assert a.ike[0].state == "unanswered" and a.findings == []


def test_ikev1_psk_stall_and_ios_states():
    c = Cap()
    t = main_mode(c, 0.0, R3, HUB, I1, upto=5, rtx={5: 3})
    main_mode(c, t + 20, R3, HUB, I2, upto=2)
    _, a = c.run()
    first, second = a.ike
    assert (first.state, first.ios_state, first.reached) == ("failed", "MM_KEY_EXCH", "MM5")
    assert (second.state, second.ios_state) == ("incomplete", "MM_SA_SETUP")
    [f] = a.findings
    assert f.code == "ike-auth-failed" and sorted(f.frames) == [5, 6, 7, 8]
    assert "pre-shared key" in f.message


def test_ikev1_no_proposal_chosen_notify():
    c = Cap()
    ike(c, 0.0, R3, HUB, 1, 2, I1, bytes(8), [policy()])
    ike(c, 0.02, HUB, R3, 1, 5, I1, bytes(8), [K.NotifyPayload(14, 1, I1 + bytes(8), b"", 1)], msgid=77)
    _, a = c.run()
    [n] = a.ike
    assert (n.state, n.failure) == ("failed", "NO-PROPOSAL-CHOSEN")
    [f] = a.findings
    assert (f.code, sorted(f.frames)) == ("ike-no-proposal-chosen", [1, 2])
    assert "aes-cbc-128 sha pre-shared modp1024" in f.message


def test_ikev2_invalid_ke_then_retry():
    c = Cap()
    sa = K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(0, 1, 12, (K.Attribute(14, 128),)),
                                             K.Transform(0, 2, 2), K.Transform(0, 3, 2),
                                             K.Transform(0, 4, 19), K.Transform(0, 4, 14))),), None, None)
    ike(c, 0.0, R2, HUB, 2, 34, I1, bytes(8), [sa, K.KePayload(bytes(64), 19), K.NoncePayload(bytes(32))],
        flags=0x08)
    ike(c, 0.02, HUB, R2, 2, 34, I1, bytes(8), [K.NotifyPayload(17, data=b"\x00\x0e")], flags=0x20)
    ike(c, 0.04, R2, HUB, 2, 34, I1, bytes(8), [sa, K.KePayload(bytes(256), 14), K.NoncePayload(bytes(32))],
        flags=0x08)
    ike(c, 0.06, HUB, R2, 2, 34, I1, R, [sa, K.KePayload(bytes(256), 14), K.NoncePayload(bytes(32))],
        flags=0x20)
    ike(c, 0.08, R2, HUB, 2, 35, I1, R, [K.EncryptedPayload(bytes(200), 35)], flags=0x08, msgid=1)
    ike(c, 0.10, HUB, R2, 2, 35, I1, R, [K.EncryptedPayload(bytes(180), 36)], flags=0x20, msgid=1)
    c.ip(0.2, R2, HUB, 50, esp(0x1001, 1))
    c.ip(0.3, HUB, R2, 50, esp(0x2002, 1))
    _, a = c.run()
    [n] = a.ike
    assert n.retransmits == 0 and n.established is not None
    assert n.steps == ["IKE_SA_INIT request", "IKE_SA_INIT response", "IKE_AUTH request", "IKE_AUTH response"]
    # RFC 7296 1.2: the retry belongs to the same negotiation, which came up
    assert n.failure is None and n.state == "established"
    [f] = [f for f in a.findings if f.code == "ike-invalid-ke"]
    assert sorted(f.frames) == [1, 2] and f.severity == "info"
    assert "used DH group ecp256 (group 19); 172.16.15.2 asks for modp2048 (group 14)" in f.message
    assert {s.spi: s.paired_spi for s in a.sas} == {"0x00001001": "0x00002002", "0x00002002": "0x00001001"}


def _v2_init(c: Cap, t: float, ispi: bytes, *, auth: bool = True) -> None:
    ike(c, t, R2, HUB, 2, 34, ispi, bytes(8), [K.NoncePayload(bytes(32))], flags=0x08)
    ike(c, t + 0.02, HUB, R2, 2, 34, ispi, R, [K.NoncePayload(bytes(32))], flags=0x20)
    if auth:
        ike(c, t + 0.04, R2, HUB, 2, 35, ispi, R, [K.EncryptedPayload(bytes(200), 35)], flags=0x08, msgid=1)
        ike(c, t + 0.06, HUB, R2, 2, 35, ispi, R, [K.EncryptedPayload(bytes(40), 41)], flags=0x20, msgid=1)


def test_ikev2_auth_failed_is_inferred():
    c = Cap()
    _v2_init(c, 0.0, I1)
    _v2_init(c, 10.0, I2)
    _, a = c.run()
    first, second = a.ike
    assert first.state == "failed" and "AUTHENTICATION_FAILED" in first.failure
    assert second.state == "established"  # the last one: nothing says otherwise yet
    [f] = a.findings
    assert f.code == "ike-auth-failed" and sorted(f.frames) == [3, 4]


def test_ikev2_fragments_are_not_retransmissions():
    c = Cap()
    _v2_init(c, 0.0, I1, auth=False)
    for j, k in enumerate((1, 2, 1)):  # fragments 1/2 and 2/2, then fragment 1 again
        ike(c, 0.1 + j * 0.01, R2, HUB, 2, 35, I1, R,
            [K.EncryptedFragmentPayload(k, 2, bytes(100), 35 if k == 1 else 0)], flags=0x08, msgid=1)
    _, a = c.run()
    [n] = a.ike
    assert n.retransmits == 1 and [m.retransmit for m in n.messages] == [False, False, False, False, True]


def test_dpd_timeout_ikev1_and_ikev2():
    c = Cap()
    t = main_mode(c, 0.0, R2, HUB, I1)
    for k in range(4):
        ike(c, t + 10 * k, R2, HUB, 1, 5, I1, R, [K.NotifyPayload(36136, 1, I1 + R, b"\0\0\0\1", 1)],
            msgid=100 + k)
    _, a = c.run()
    [f] = a.findings
    assert f.code == "dpd-timeout" and len(f.frames) == 4 and a.ike[0].dpd == 4
    # answered: no finding
    c = Cap()
    t = main_mode(c, 0.0, R2, HUB, I1)
    for k in range(4):
        ike(c, t + 10 * k, R2, HUB, 1, 5, I1, R, [K.NotifyPayload(36136, 1, I1 + R, b"", 1)], msgid=100 + k)
        ike(c, t + 10 * k + 0.02, HUB, R2, 1, 5, I1, R, [K.NotifyPayload(36137, 1, I1 + R, b"", 1)],
            msgid=200 + k)
    _, a = c.run()
    assert a.findings == [] and a.ike[0].dpd_acks == 4
    # IKEv2: an INFORMATIONAL request retransmitted, never answered
    c = Cap()
    _v2_init(c, 0.0, I1)
    for k in range(3):
        ike(c, 30.0 + 5 * k, R2, HUB, 2, 37, I1, R, [K.EncryptedPayload(bytes(32), 0)], flags=0x08, msgid=2)
    _, a = c.run()
    assert [f.code for f in a.findings] == ["dpd-timeout"]


def test_esp_rekey_gaps_resets_and_without_ike():
    c = Cap()
    for k in range(1, 6):
        c.ip(float(k), R2, HUB, 50, esp(0x1001, k))
        c.ip(k + 0.1, HUB, R2, 50, esp(0x2002, k))
    for k in range(1, 6):  # the new pair takes over, the old one still sends once at 5.5
        c.ip(5.2 + k, R2, HUB, 50, esp(0x3003, k * 2))  # every other sequence number lost
        c.ip(5.3 + k, HUB, R2, 50, esp(0x4004, k))
    c.ip(5.5, R2, HUB, 50, esp(0x1001, 6))
    c.ip(20.0, R2, HUB, 50, esp(0x3003, 1))  # the counter starts again
    _, a = c.run()
    sas = {s.spi: s for s in a.sas}
    assert sas["0x00003003"].rekey_of == "0x00001001" and sas["0x00004004"].rekey_of == "0x00002002"
    assert sas["0x00003003"].overlap == pytest.approx(5.5 - 6.2)
    assert sas["0x00001001"].paired_spi == "0x00002002" and sas["0x00003003"].paired_spi == "0x00004004"
    assert sas["0x00003003"].gaps == 4 and sas["0x00003003"].resets == 1
    assert not any(s.ike for s in a.sas)
    cs = codes(a)
    assert cs.count("esp-rekey") == 2 and cs.count("esp-without-ike") == 1
    [wi] = [f for f in a.findings if f.code == "esp-without-ike"]
    assert wi.severity == "info" and "4 ESP SA(s) between 1 peer pair(s)" in wi.message
    assert not [f for f in a.findings if f.severity == "error"]


def test_esp_one_way_after_ike_is_an_error():
    c = Cap()
    t = main_mode(c, 0.0, R3, HUB, I1)
    for k in range(1, 5):
        c.ip(t + k, R3, HUB, 50, esp(0x1001, k))
    _, a = c.run()
    [f] = [f for f in a.findings if f.code == "esp-one-way"]
    assert f.severity == "error" and sorted(f.frames) == [10, 13] and a.sas[0].one_way
    assert "esp-without-ike" not in codes(a)


def test_timeline_shows_ike(tmp_path):
    c = Cap()
    main_mode(c, 0.0, R2, HUB, I1, rtx={3: 1})
    doc = json.loads(run("timeline", str(c.write(tmp_path / "x.pcap")), "--format", "json").stdout)
    labels = [e["label"] for e in doc["events"] if e["kind"].startswith("ike")]
    assert labels[:2] == ["IKEv1 MM1", "IKEv1 MM2"]
    assert "IKEv1 MM3 (retransmission)" in labels
    assert labels.index("IKEv1 SAs with 172.16.15.2 agreed") == labels.index("IKEv1 QM2") + 1
    text = run("timeline", str(tmp_path / "x.pcap")).stdout
    assert "IKEv1 QM2" in text and "-->" in text


def test_analyze_json_ipsec_shape_and_report():
    r = run("analyze", str(CAPTURES / "ike-proposal-mismatch.pcapng"), "--format", "json")
    doc = json.loads(r.output[r.output.index("{"):])
    for n in doc["ipsec"]["ike"]:
        assert list(n)[:7] == ["initiator", "responder", "version", "state", "established",
                               "retransmits", "frames"]
    for s in doc["ipsec"]["sas"]:
        assert list(s)[:10] == ["spi", "src", "dst", "packets", "bytes", "first", "last", "decrypted",
                                "paired_spi", "frames"]
    r = run("analyze", str(CAPTURES / "ike-proposal-mismatch.pcapng"))
    assert "IPsec: IKE negotiations" in r.output and "NO_PROPOSAL_CHOSEN" in r.output
    assert "ike-no-proposal-chosen" in r.output


# -- the simulator's other IKE fault variants, round trip with the truth ------------------


@pytest.mark.parametrize("name,change,code", [
    ("ike-proposal-mismatch", ('ike = "ikev2"', 'ike = "ikev1"'), "ike-no-proposal-chosen"),
    ("ike-psk-mismatch", ('ike = "ikev1"', 'ike = "ikev2"'), "ike-auth-failed"),
    ("nat-t-blocked", ('ike = "ikev1"', 'ike = "ikev2"'), "nat-t-blocked"),
])
def test_other_ike_version_round_trip(tmp_path, name, change, code):
    from test_analyze_cli import compare

    from nhrpscope.sim.run import Options, simulate, write_outputs
    from nhrpscope.sim.scenario import builtin_text, parse_scenario

    text = builtin_text(name).replace(*change)
    sc = parse_scenario(text, f"{name}.toml")
    paths = write_outputs(simulate(sc, Options()), str(tmp_path / name))
    truth = json.loads(paths[1].read_text())
    keys = [str(p) for p in paths if p.suffix == ".esp_sa"]
    r = run("analyze", str(paths[0]), "--format", "json", *(["-k", keys[0]] if keys else []))
    doc = json.loads(r.stdout)
    bad = compare(truth, doc, [code])
    if code == "ike-auth-failed" and "ikev2" in change[1]:
        # IKEv2: the AUTHENTICATION_FAILED is inside SK; the wire shows it only when a fresh
        # IKE_SA_INIT follows (issue 7), which the last attempt of the capture lacks
        last = max(n["frames"][0] for n in truth["ipsec"]["ike"])
        bad = [b for b in bad if f", {last})" not in b]
    assert bad == []
    assert code in {f["code"] for f in doc["findings"]}


def test_quick_mode_never_answered():
    c = Cap()
    t = main_mode(c, 0.0, R4, HUB, I1, upto=7, rtx={7: 2})
    _, a = c.run(end=t + 60)
    [n] = a.ike
    assert (n.state, n.ios_state, n.phase1 is not None) == ("failed", "QM_IDLE", True)
    assert "quick mode unanswered" in n.failure and n.retransmits == 2


def test_ike_sa_set_up_before_the_capture():
    c = Cap()
    c.ip(0.5, R2, HUB, 50, esp(0x1001, 100))
    for k in range(2):
        ike(c, 1.0 + 40 * k, R2, HUB, 1, 5, I1, R, [K.EncryptedBody(bytes(48), 8)], flags=1, msgid=9 + k)
        ike(c, 1.02 + 40 * k, HUB, R2, 1, 5, I1, R, [K.EncryptedBody(bytes(48), 8)], flags=1, msgid=20 + k)
    _, a = c.run(end=200.0)
    [n] = a.ike
    assert (n.mode, n.state, n.established, n.ios_state, n.setup_seen) == (
        "informational", "established", None, "QM_IDLE", False)
    assert not [f for f in a.findings if f.code.startswith(("ike-", "dpd"))]
    assert "esp-without-ike" in codes(a)
