"""ike-fragments-dropped: the fact worded, and captures built for it: an IKE
message sent as IP fragments (the fragments made with the dissectors' IPv4
encoder) that nothing answers, on UDP 500 and on UDP 4500 (NAT-T)."""

from __future__ import annotations

from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.ike import encode_ike_message, make_ike_header
from nhrpscope.dissectors.ip import encode_ipv4
from nhrpscope.dissectors.udp import encode_udp
from test_ipsec_state import I1, R, ike
from test_replay_build import HUB, R2, Cap

from nhrpscope.replay.detectors import ike_fragments_dropped as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import IkeFragmentsDropped
from nhrpscope.replay.findings import FindingSet

MTU_PAYLOAD = 1480  # what one fragment of a 1500-byte MTU carries


def fragmented(c: Cap, t: float, src: str, dst: str, xtype: int, msgid: int, size: int, *,
               natt: bool = False, flags: int = 0x08) -> list[int]:
    """One IKEv2 message (a request unless ``flags`` say otherwise) of ``size``
    bytes of SK payload, sent as IP fragments."""
    body = encode_ike_message(make_ike_header(2, xtype, I1, R, flag_bits=flags, message_id=msgid),
                              [K.EncryptedPayload(bytes(size), 35)])
    port = 4500 if natt else 500
    dgram = encode_udp(port, port, (b"\0" * 4 if natt else b"") + body)
    c._ident += 1
    frames = []
    for off in range(0, len(dgram), MTU_PAYLOAD):
        piece = dgram[off:off + MTU_PAYLOAD]
        more = off + MTU_PAYLOAD < len(dgram)
        frames.append(c.add(t + off / 1e6, encode_ipv4(src, dst, 17, piece, ident=c._ident,
                                                       mf=more, frag_offset=off)))
    return frames


def init(c: Cap, *, natt: bool = False) -> None:
    """IKE_SA_INIT, small and answered: the responder is up and reachable."""
    ike(c, 0.0, R2, HUB, 2, 34, I1, bytes(8), [K.NoncePayload(bytes(32))], flags=0x08)
    ike(c, 0.02, HUB, R2, 2, 34, I1, R, [K.NoncePayload(bytes(32))], flags=0x20)


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), IkeFragmentsDropped(R2, HUB, 2, "ike-sa-init", R2, "IKE_AUTH request",
                                               3, True, 1.0, (3, 4, 5, 6, 7, 8)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-fragments-dropped", "error", [3, 4, 5, 6, 7, 8], 1.0, [R2, HUB])
    assert f.message == (
        "IKEv2 ike-sa-init between 172.16.25.2 and 172.16.15.2: 172.16.25.2 sent its IKE_AUTH "
        "request as IP fragments 3 time(s) and got no answer; 172.16.15.2 answered the earlier, "
        "unfragmented messages, so the fragments are lost on the path. Check the path MTU and "
        "that firewalls/NAT on the path pass IP fragments, or enable IKEv2 fragmentation "
        "(RFC 7383: 'crypto ikev2 fragmentation', strongSwan fragmentation=yes).")
    fs = FindingSet()
    D.on(Context(fs, str), IkeFragmentsDropped(R2, HUB, 1, "main-mode", R2, "MM1", 2, False,
                                               1.0, (1, 2, 3, 4)))
    [f] = fs.sorted()
    assert f.severity == "warning" and "may also be down or unreachable" in f.message
    assert "'crypto isakmp fragmentation'" in f.message


def test_fragmented_ike_auth_never_answered():
    c = Cap()
    init(c)
    frames = [fr for k in range(3) for fr in fragmented(c, 1.0 + 2 * k, R2, HUB, 35, 1, 3000)]
    _, a = c.run(end=60.0)
    [n] = a.ike
    assert (n.state, n.retransmits, n.reached) == ("failed", 2, "IKE_AUTH request")
    [f] = a.findings
    assert (f.code, f.severity, f.frames) == ("ike-fragments-dropped", "error", frames)
    assert len(frames) == 9 and "sent its IKE_AUTH request as IP fragments 3 time(s)" in f.message


def test_on_udp_4500_it_is_fragments_not_only_nat_t():
    c = Cap()
    init(c)
    frames = [fr for k in range(3) for fr in fragmented(c, 1.0 + 2 * k, R2, HUB, 35, 1, 3000,
                                                          natt=True)]
    _, a = c.run(end=60.0)
    ike_codes = [(f.code, f.frames) for f in a.findings if f.code != "mtu-fragmentation"]
    assert ike_codes == [("ike-fragments-dropped", frames)]  # not nat-t-blocked


def test_small_messages_unanswered_too_is_not_fragments():
    """A small message on the same path unanswered as well: not the fragments."""
    c = Cap()
    init(c)
    fragmented(c, 1.0, R2, HUB, 35, 1, 3000)
    ike(c, 3.0, R2, HUB, 2, 35, I1, R, [K.EncryptedPayload(bytes(200), 35)], flags=0x08, msgid=1)
    fragmented(c, 5.0, R2, HUB, 35, 1, 3000)
    _, a = c.run(end=60.0)
    assert D.RULE.code not in {f.code for f in a.findings}


def test_one_try_as_the_capture_ends_is_too_soon():
    c = Cap()
    init(c)
    fragmented(c, 1.0, R2, HUB, 35, 1, 3000)
    _, a = c.run(end=2.0)
    [n] = a.ike
    assert n.state == "incomplete" and a.findings == []


def test_answered_fragments_are_healthy():
    c = Cap()
    init(c)
    fragmented(c, 1.0, R2, HUB, 35, 1, 3000)
    ike(c, 1.1, HUB, R2, 2, 35, I1, R, [K.EncryptedPayload(bytes(200), 36)], flags=0x20, msgid=1)
    _, a = c.run(end=60.0)
    [n] = a.ike
    assert n.state == "established" and a.findings == []


def test_fragmented_answer_the_peer_never_got():
    """A tap by the responder: its IKE_AUTH response (certificates) goes out as IP
    fragments, and the initiator keeps re-sending its request: the response never
    arrived, so the IKE SA is not up, whatever the tap saw leave."""
    c = Cap()
    init(c)
    frames = []
    for k in range(3):
        ike(c, 1.0 + 2 * k, R2, HUB, 2, 35, I1, R, [K.EncryptedPayload(bytes(300), 35)],
            flags=0x08, msgid=1)
        frames += fragmented(c, 1.01 + 2 * k, HUB, R2, 35, 1, 3000, flags=0x20)
    _, a = c.run(end=60.0)
    [n] = a.ike
    assert (n.state, n.established) == ("failed", None)
    [f] = a.findings
    assert (f.code, f.severity, f.frames) == ("ike-fragments-dropped", "error", frames)
    assert ("172.16.15.2 sent its IKE_AUTH response as IP fragments 3 time(s) and it never "
            "arrived; 172.16.25.2 re-sent its earlier message 2 time(s) after it, so it never got "
            "it") in f.message
