"""The IKE observer fed directly (sans-INI/O, no engine): messages placed
along the RFC 2409 / RFC 7296 tables, retransmissions, the verdict at the
end of the capture, and the events it emits."""

from __future__ import annotations

from typing import Any

import pytest
from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.ike import decode_ike_message, encode_ike_message, make_ike_header

from nhrpscope.replay.observers import ike_verdict
from nhrpscope.replay.observers.ike import PHASE1, QUICK, IkeObserver
from nhrpscope.replay.observers.ike_records import IkeNegotiation

INI, RESP = "10.0.0.1", "10.0.0.2"
ISPI, RSPI = bytes.fromhex("1111111111111111"), bytes.fromhex("aaaaaaaaaaaaaaaa")


def msg(version: int, xtype: int, payloads: list, *, rspi: bytes = RSPI, flags: int = 0,
        msgid: int = 0, ispi: bytes = ISPI) -> Any:
    """An IKE header with its payloads, as the dissector gives it to the replay."""
    wire = encode_ike_message(make_ike_header(version, xtype, ispi, rspi, flag_bits=flags,
                                              message_id=msgid), payloads)
    return decode_ike_message(wire).record


def sa() -> K.SaPayload:
    attrs = (K.Attribute(1, 7), K.Attribute(14, 128), K.Attribute(2, 2), K.Attribute(3, 1),
             K.Attribute(4, 2))
    return K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(1, 0, 1, attrs),)),))


CARRIES = {"sa": ([sa()], 0), "ke": ([K.KePayload(bytes(128)), K.NoncePayload(bytes(20))], 0),
           "encrypted": ([K.EncryptedBody(bytes(64), 5)], 1)}


@pytest.mark.parametrize("row", sorted(PHASE1.items()))
def test_phase1_table_rows_place_the_message(row):
    (xtype, carries, side), step = row
    obs = IkeObserver()
    obs.ike(0.0, 1, msg(1, xtype, [sa()], rspi=bytes(8)), INI, RESP, 500, 500)  # who starts
    payloads, flags = CARRIES[carries]
    src, dst = (INI, RESP) if side == "i" else (RESP, INI)
    neg = obs.ike(1.0, 2, msg(1, xtype, payloads, flags=flags), src, dst, 500, 500)
    assert neg is not None and neg.messages[-1].step == step


def test_main_mode_and_quick_mode_events_and_retransmissions():
    events: list[tuple] = []
    obs = IkeObserver(lambda *a, **k: events.append(a[2:6]))
    t = 0.0
    for n in range(1, 7):
        src, dst = (INI, RESP) if n % 2 else (RESP, INI)
        payloads, flags = CARRIES[("sa", "ke", "encrypted")[(n - 1) // 2]]
        for _ in range(2 if n == 3 else 1):
            obs.ike(t, len(events) + 1, msg(1, 2, payloads, flags=flags), src, dst, 500, 500)
            t += 0.1
    for size, src, dst in ((160, INI, RESP), (128, RESP, INI), (32, INI, RESP), (32, INI, RESP)):
        obs.ike(t, 20, msg(1, 32, [K.EncryptedBody(bytes(size), 8)], flags=1, msgid=7),
                src, dst, 500, 500)
        t += 0.1
    [neg] = obs.negotiations
    assert neg.steps == ["MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM1", "QM2", "QM3"]
    assert [m.step for m in neg.messages if m.retransmit] == ["MM3", "QM3"]
    assert neg.retransmits == 2 and neg.phase1 is not None and neg.quick_modes == 1
    assert neg.established == neg.messages[-2].time  # the exchange completes with QM3
    assert neg.conn_ids == {INI: 1001, RESP: 1001}
    labels = [e[3] for e in events]
    assert labels[:3] == ["IKEv1 MM1", "IKEv1 MM2", "IKEv1 MM3"]
    assert "IKEv1 MM3 (retransmission)" in labels
    assert labels.index("IKEv1 SAs with 10.0.0.2 agreed") == labels.index("IKEv1 QM2") + 1
    assert set(QUICK.values()) == {"QM1", "QM2", "QM3"}


def test_ikev2_answer_first_names_the_initiator_and_notify_fails():
    obs = IkeObserver()
    neg = obs.ike(0.0, 1, msg(2, 34, [K.NotifyPayload(14)], rspi=bytes(8), flags=0x20), RESP, INI,
                  500, 500)
    assert neg is not None and (neg.initiator, neg.responder) == (INI, RESP)
    assert (neg.state, neg.failure, neg.messages[0].step) == (
        "failed", "NO_PROPOSAL_CHOSEN", "IKE_SA_INIT response")


def test_a_newer_negotiation_abandons_the_open_one():
    obs = IkeObserver()
    obs.ike(0.0, 1, msg(1, 2, [sa()], rspi=bytes(8)), INI, RESP, 500, 500)
    obs.ike(5.0, 2, msg(1, 2, [sa()], rspi=bytes(8), ispi=bytes(range(8))), INI, RESP, 500, 500)
    first, second = obs.negotiations
    assert first._abandoned and not second._abandoned
    ike_verdict.close(first, 5.0, second, [])
    ike_verdict.close(second, 5.0, None, [])
    assert (first.state, first.ios_state) == ("unanswered", "MM_NO_STATE")
    assert (second.state, second.ios_state) == ("unanswered", "MM_NO_STATE")


@pytest.mark.parametrize("end,answered,state", [(10.0, False, "unanswered"),
                                                (10.0, True, "incomplete"),
                                                (40.0, False, "unanswered"),
                                                (40.0, True, "failed")])
def test_verdict_at_the_end_of_the_capture(end, answered, state):
    obs = IkeObserver()
    neg = obs.ike(0.0, 1, msg(1, 2, [sa()], rspi=bytes(8)), INI, RESP, 500, 500)
    if answered:
        neg = obs.ike(0.1, 2, msg(1, 2, [sa()]), RESP, INI, 500, 500)
    assert isinstance(neg, IkeNegotiation)
    ike_verdict.close(neg, end, None, [])
    assert neg.state == state
    assert neg.ios_state == ("MM_SA_SETUP" if answered else "MM_NO_STATE")
