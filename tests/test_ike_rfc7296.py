"""IKEv2 as RFC 7296 defines it, on captures built for it: one negotiation per
IKE SA (initiator SPI) whatever a COOKIE round (2.6) adds; IKE_AUTH answered
without AUTHENTICATION_FAILED is established (1.2); CREATE_CHILD_SA exchanges
are child SAs and rekeys (1.3); INFORMATIONAL exchanges belong to their IKE
SA (1.4); message ids count per sender (2.2). The Openswan shape is that of
tcpdump's ikev2four test (cookie, IKE_AUTH, seven CREATE_CHILD_SA, one
INFORMATIONAL delete), once with the R flag and once without it, as the
early Openswan that made that capture sent its responses."""

from __future__ import annotations

import pytest
from nhrpscope.dissectors import ike_payloads as K
from test_ipsec_state import I1, I2, R, ike
from test_replay_build import Cap, esp

INI, RESP = "192.168.1.2", "192.168.1.1"
IFLAG, RSP = 0x08, 0x20  # RFC 7296 3.1 flags: Initiator, Response
COOKIE = 16390


def sk(size: int, first: int = 35) -> list:
    return [K.EncryptedPayload(bytes(size), first)]


def openswan(c: Cap, *, r_flag: bool) -> None:
    rf = RSP if r_flag else 0
    t = 0.0
    ike(c, t, INI, RESP, 2, 34, I1, bytes(8), [K.KePayload(bytes(128), 2), K.NoncePayload(bytes(32))],
        flags=IFLAG)
    ike(c, t + 0.01, RESP, INI, 2, 34, I1, bytes(8), [K.NotifyPayload(COOKIE, data=bytes(24))],
        flags=rf)
    ike(c, t + 0.02, INI, RESP, 2, 34, I1, bytes(8),
        [K.NotifyPayload(COOKIE, data=bytes(24)), K.KePayload(bytes(128), 2),
         K.NoncePayload(bytes(32))], flags=IFLAG)
    ike(c, t + 0.03, RESP, INI, 2, 34, I1, R, [K.KePayload(bytes(128), 2), K.NoncePayload(bytes(32))],
        flags=rf)
    ike(c, t + 0.04, INI, RESP, 2, 35, I1, R, sk(200), flags=IFLAG, msgid=1)
    ike(c, t + 0.05, RESP, INI, 2, 35, I1, R, sk(120, 36), flags=rf, msgid=1)
    # seven CREATE_CHILD_SA exchanges, two outstanding at a time (RFC 7296 2.3 window)
    t, mid = 1.0, 2
    for pair in ((2, 3), (4, 5), (6, 7), (8,)):
        for k, m in enumerate(pair):
            ike(c, t + 0.01 * k, INI, RESP, 2, 36, I1, R, sk(220, 33), flags=IFLAG, msgid=m)
        for k, m in enumerate(pair):
            ike(c, t + 0.05 + 0.01 * k, RESP, INI, 2, 36, I1, R, sk(170, 33), flags=rf, msgid=m)
        t += 1.0
        mid = pair[-1] + 1
    ike(c, t, INI, RESP, 2, 37, I1, R, sk(56, 42), flags=IFLAG, msgid=mid)  # a Delete, at the end


@pytest.mark.parametrize("r_flag", [True, False])
def test_openswan_cookie_auth_children_informational(r_flag):
    c = Cap()
    openswan(c, r_flag=r_flag)
    _, a = c.run()
    [n] = a.ike
    assert (n.state, n.failure, n.retransmits) == ("established", None, 0)
    assert n.quick_modes == 8  # IKE_AUTH's child SA and seven CREATE_CHILD_SA
    assert n.steps[:4] == ["IKE_SA_INIT request", "IKE_SA_INIT response", "IKE_AUTH request",
                           "IKE_AUTH response"]
    assert n.informational == 1 and n.ios_state == "READY"
    assert [f.code for f in a.findings] == []


def test_message_ids_count_per_sender():
    """Both peers start INFORMATIONAL exchanges with message id 2 (RFC 7296 2.2):
    neither is a retransmission of the other."""
    c = Cap()
    ike(c, 0.0, INI, RESP, 2, 34, I1, bytes(8), [K.NoncePayload(bytes(32))], flags=IFLAG)
    ike(c, 0.01, RESP, INI, 2, 34, I1, R, [K.NoncePayload(bytes(32))], flags=RSP)
    ike(c, 0.02, INI, RESP, 2, 35, I1, R, sk(200), flags=IFLAG, msgid=1)
    ike(c, 0.03, RESP, INI, 2, 35, I1, R, sk(120, 36), flags=RSP, msgid=1)
    for t, (src, dst, fl) in enumerate(((INI, RESP, IFLAG), (RESP, INI, 0))):
        ike(c, 5.0 + t, src, dst, 2, 37, I1, R, sk(40, 0), flags=fl, msgid=2)
        ike(c, 5.01 + t, dst, src, 2, 37, I1, R, sk(40, 0), flags=(fl ^ IFLAG) | RSP, msgid=2)
    _, a = c.run()
    [n] = a.ike
    assert n.retransmits == 0 and n.dpd == 2 and n.dpd_acks == 2
    assert a.findings == []


def test_capture_starting_inside_an_ike_sa_names_the_initiator_by_the_i_flag():
    """The first message seen is the responder's request (I flag clear)."""
    c = Cap()
    ike(c, 0.0, RESP, INI, 2, 37, I1, R, sk(40, 0), flags=0, msgid=0)
    ike(c, 0.01, INI, RESP, 2, 37, I1, R, sk(40, 0), flags=IFLAG | RSP, msgid=0)
    _, a = c.run()
    [n] = a.ike
    assert (n.initiator, n.responder, n.state) == (INI, RESP, "established")


def test_auth_failed_not_inferred_when_the_ike_sa_was_used():
    """IKE_AUTH answered, a CREATE_CHILD_SA in that IKE SA, no ESP in the capture, then a
    new IKE_SA_INIT: the IKE SA was up (an AUTHENTICATION_FAILED answer ends it)."""
    c = Cap()
    for k, ispi in enumerate((I1, I2)):
        t = 10.0 * k
        ike(c, t, INI, RESP, 2, 34, ispi, bytes(8), [K.NoncePayload(bytes(32))], flags=IFLAG)
        ike(c, t + 0.01, RESP, INI, 2, 34, ispi, R, [K.NoncePayload(bytes(32))], flags=RSP)
        ike(c, t + 0.02, INI, RESP, 2, 35, ispi, R, sk(200), flags=IFLAG, msgid=1)
        ike(c, t + 0.03, RESP, INI, 2, 35, ispi, R, sk(120, 36), flags=RSP, msgid=1)
        if k == 0:
            ike(c, t + 1, INI, RESP, 2, 36, ispi, R, sk(220, 33), flags=IFLAG, msgid=2)
            ike(c, t + 1.01, RESP, INI, 2, 36, ispi, R, sk(170, 33), flags=RSP, msgid=2)
    _, a = c.run()
    assert [n.state for n in a.ike] == ["established", "established"]
    assert a.findings == []


def test_auth_failed_on_the_notify():
    """An AUTHENTICATION_FAILED notify the wire shows (RFC 7296 3.10.1, type 24)."""
    c = Cap()
    ike(c, 0.0, INI, RESP, 2, 34, I1, bytes(8), [K.NoncePayload(bytes(32))], flags=IFLAG)
    ike(c, 0.01, RESP, INI, 2, 34, I1, R, [K.NoncePayload(bytes(32))], flags=RSP)
    ike(c, 0.02, INI, RESP, 2, 35, I1, R, sk(200), flags=IFLAG, msgid=1)
    ike(c, 0.03, RESP, INI, 2, 35, I1, R, [K.NotifyPayload(24)], flags=RSP, msgid=1)
    _, a = c.run()
    [n] = a.ike
    assert (n.state, n.failure) == ("failed", "AUTHENTICATION_FAILED")
    [f] = a.findings
    assert f.code == "ike-auth-failed" and sorted(f.frames) == [3, 4]


def test_esp_after_the_openswan_exchanges_pairs():
    c = Cap()
    openswan(c, r_flag=True)
    c.ip(9.0, INI, RESP, 50, esp(0x1001, 1))
    c.ip(9.1, RESP, INI, 50, esp(0x2002, 1))
    _, a = c.run()
    assert a.ike[0].state == "established"
    assert {s.spi: s.paired_spi for s in a.sas} == {"0x00001001": "0x00002002",
                                                   "0x00002002": "0x00001001"}
    assert [f.code for f in a.findings if f.severity != "info"] == []
