"""Real IKE captures from other implementations (../shared/captures/reference,
README section "IPsec and GRE captures from other implementations"): one test
per capture asserting what an expert concludes, the IKE findings with their
frames and the negotiations' states, and no other warning or error; and that
analyze, its JSON and `show crypto isakmp sa` give each negotiation one state.
Skipped when the reference folder is absent (the ``reference`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

from nhrpscope.api import analyze
from nhrpscope.render.show_crypto import isakmp_rows, result_crypto_views, show_crypto_isakmp_sa

# The finding codes the IKE observer and its ESP pairing raise.
IKE_DOMAIN = frozenset({
    "ike-auth-failed", "ike-invalid-ke", "ike-no-proposal-chosen", "ike-retransmits",
    "ike-unanswered", "ike-fragments-dropped", "ike-redirect", "nat-t-blocked", "dpd-timeout",
    "esp-one-way", "esp-rekey", "esp-without-ike"})


def run(path: Path):  # noqa: ANN201
    result = analyze([str(path)])
    a = result.analysis
    views_agree(result)
    mine = sorted((f.code, f.severity, tuple(f.frames)) for f in a.findings if f.code in IKE_DOMAIN)
    loud = sorted((f.code, tuple(f.frames)) for f in a.findings if f.severity != "info")
    return a, mine, loud


def views_agree(result) -> None:  # noqa: ANN001
    """One verdict per negotiation: the analysis, its JSON and the ISAKMP rows."""
    a = result.analysis
    doc = json.loads(json.dumps(a.json(), default=str))
    assert [n["state"] for n in doc["ipsec"]["ike"]] == [n.state for n in a.ike]
    for v in result_crypto_views(result):
        for row in isakmp_rows(v):
            [n] = [n for n in a.ike if n.version == 1 and (n.initiator, n.responder) == (
                row["src"], row["dst"]) and n.ios_state == row["state"] and n.frames[0] ==
                row["frames"][0]]
            assert row["negotiation_state"] == n.state
            assert (row["state"] == "QM_IDLE") == (n.state == "established")


def test_ikev1_certs_juniper_to_openswan(reference):
    a, mine, loud = run(reference / "ikev1-certs.pcap")
    [n] = a.ike
    assert (n.version, n.mode, n.state, n.ios_state) == (1, "main-mode", "established", "QM_IDLE")
    assert n.steps[:6] == ["MM1", "MM2", "MM3", "MM4", "MM5", "MM6"]
    # quick mode 1 (frame 7) re-sent as frame 8 ten seconds later, then answered
    assert mine == [("ike-retransmits", "warning", (8,))]
    assert loud == [("ike-retransmits", (8,))]


def test_fortigate_ikev1_ipv6(reference):
    a, mine, loud = run(reference / "fortigate-ikev1-ipv6.pcap")
    first, second = a.ike
    assert (first.initiator, first.responder, first.state, first.frames) == (
        "2003:51:6012::2", "2003:51:6012::4", "unanswered", [1])
    assert (second.initiator, second.responder, second.state) == (
        "2003:51:6012::4", "2003:51:6012::2", "established")
    assert second.quick_modes == 2
    # ESP flows both ways between the peers: no esp-one-way
    assert mine == [("ike-unanswered", "error", (1,))]
    assert loud == [("ike-unanswered", (1,))]


def test_fortigate_show_crypto_isakmp_sa_lists_ipv6_apart(reference):
    [v] = result_crypto_views(analyze([str(reference / "fortigate-ikev1-ipv6.pcap")]),
                              "2003:51:6012::2")
    out = show_crypto_isakmp_sa(v).splitlines()
    at = out.index("IPv6 Crypto ISAKMP SA")
    assert out[1:at] == ["IPv4 Crypto ISAKMP SA",
                         "dst             src             state          conn-id slot status", ""]
    assert out[at + 1:at + 5] == ["", " dst: 2003:51:6012::2", " src: 2003:51:6012::4",
                                  " state: QM_IDLE         conn-id:   1001 status: ACTIVE"]


def test_ikev2_notify_redirect(reference):
    a, mine, loud = run(reference / "ikev2_notify_redirect.pcap")
    first, second = a.ike
    assert (first.responder, first.state, first.redirect) == (
        "10.5.2.52", "failed", "moneybin.duckburg.disney.com")
    assert (second.responder, second.state, second.failure) == (
        "10.5.2.53", "failed", "NO_PROPOSAL_CHOSEN")
    assert mine == [("ike-no-proposal-chosen", "error", (3, 4)), ("ike-redirect", "info", (1, 2))]
    assert loud == [("ike-no-proposal-chosen", (3, 4))]


def test_ikev2_nat_t_from_the_first_packet(reference):
    a, mine, loud = run(reference / "ikev2_nat_t.pcapng")
    assert [(n.version, n.state, n.natt) for n in a.ike] == [(2, "established", True)] * 3
    # the INFORMATIONAL exchanges (frames 13-18) belong to the first IKE SA
    assert {13, 14, 15, 16, 17, 18} <= set(a.ike[0].frames)
    assert all(s.paired_spi is not None for s in a.sas) and len(a.sas) == 6
    # each new IKE SA's child SA takes over from the previous one: info only
    assert mine == [("esp-rekey", "info", (fr,)) for fr in (23, 24, 41, 42)]
    assert loud == []


def test_isakmp4500_openswan_nat_t_zero_timestamps(reference):
    a, mine, loud = run(reference / "isakmp4500.pcap")
    [n] = a.ike
    assert (n.version, n.state, n.natt, n.ios_state) == (1, "established", True, "QM_IDLE")
    [sa] = a.sas
    assert (sa.src, sa.dst, sa.packets) == ("192.1.2.254", "192.1.2.23", 8)
    # one way only, as the capture shows; every timestamp is zero, so no fault is claimed
    assert mine == [("esp-one-way", "info", (12, 31))]
    assert loud == []


def test_ikev2pi2_pending_on_a_null_link(reference):
    a, mine, loud = run(reference / "ikev2pI2.pcap")
    [n] = a.ike
    # IKE_SA_INIT and IKE_AUTH from the initiator; its IKE_AUTH carries the responder's
    # SPI, so IKE_SA_INIT was answered: pending, not unanswered
    assert (n.version, n.state, n.ios_state) == (2, "incomplete", "IN-NEG")
    assert n.steps == ["IKE_SA_INIT request", "IKE_AUTH request"]
    assert mine == [] and loud == []
