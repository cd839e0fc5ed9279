"""The IKE dissector: payloads by name, encoder beside decoder (hypothesis
round trips), and decoders that never raise on random or mutated bytes."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.ike import (
    HEADER_LEN,
    IkeHeader,
    decode_ike_message,
    encode_ike_message,
    make_ike_header,
    payload_summary,
)

SPI = bytes.fromhex("0102030405060708")
u8, u16, u32 = st.integers(0, 255), st.integers(0, 65535), st.integers(0, 2**32 - 1)
small = st.binary(max_size=24)

# -- strategies ----------------------------------------------------------------------


def attributes() -> st.SearchStrategy:
    tv = st.builds(K.Attribute, st.integers(0, 0x7FFF), u16)
    tlv = st.builds(K.Attribute, st.integers(0, 0x7FFF), st.binary(max_size=12))
    return st.lists(st.one_of(tv, tlv), max_size=4).map(tuple)


def transforms(version: int) -> st.SearchStrategy:
    if version == 1:
        return st.builds(K.Transform, u8, st.just(0), u8, attributes())
    return st.builds(K.Transform, st.just(0), u8, u16, attributes())


def proposals(version: int) -> st.SearchStrategy:
    return st.builds(K.Proposal, u8, u8, st.binary(max_size=8),
                     st.lists(transforms(version), max_size=4).map(tuple))


def payloads(version: int) -> st.SearchStrategy:
    props = st.lists(proposals(version), max_size=3).map(tuple)
    v1 = version == 1
    common = [
        st.builds(K.SaPayload, props, u32 if v1 else st.none(), u32 if v1 else st.none(), st.booleans()),
        st.builds(K.KePayload, small, st.none() if v1 else u16, st.booleans()),
        st.builds(K.NoncePayload, small, st.booleans()),
        st.builds(K.VendorIdPayload, small, st.booleans()),
        st.builds(K.IdPayload, u8, small, u8 if v1 else st.just(0), u16 if v1 else st.just(0),
                  st.just(False) if v1 else st.booleans(), st.booleans()),
        st.builds(K.NotifyPayload, u16, u8, st.binary(max_size=8), small,
                  u32 if v1 else st.none(), st.booleans()),
        st.integers(0, 8).flatmap(lambda n: st.builds(
            K.DeletePayload, u8, st.just(n), st.lists(st.binary(min_size=n, max_size=n), max_size=3)
            .map(tuple), u32 if v1 else st.none(), st.booleans())),
    ]
    known = {1, 4, 5, 8, 10, 11, 12, 13, 20, 130} if v1 else {33, 34, 35, 36, 40, 41, 42, 43, 46, 53}
    generic = st.builds(K.GenericPayload, st.integers(1, 255).filter(lambda t: t not in known), small,
                        st.booleans())
    common.append(generic)
    if v1:
        common += [st.builds(K.NatDPayload, small, st.booleans(), st.just(""), st.booleans()),
                   st.builds(K.HashPayload, small, st.booleans())]
    return st.one_of(common)


def chains(version: int) -> st.SearchStrategy:
    base = st.lists(payloads(version), max_size=6)
    if version == 1:
        return base
    sk = st.one_of(st.builds(K.EncryptedPayload, small, u8, st.booleans()),
                   st.builds(K.EncryptedFragmentPayload, u16, u16, small, u8, st.booleans()))
    return st.tuples(base, st.one_of(st.none(), sk)).map(lambda x: x[0] + ([x[1]] if x[1] else []))


# -- round trips ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(version=st.sampled_from([1, 2]), data=st.data())
def test_payload_chain_round_trip(version: int, data) -> None:  # noqa: ANN001
    chain = data.draw(chains(version))
    first, body = K.encode_payloads(version, chain)
    got, problems = K.decode_payloads(version, first, body)
    assert problems == []
    assert got == chain
    assert K.encode_payloads(version, got) == (first, body)


@settings(max_examples=100, deadline=None)
@given(version=st.sampled_from([1, 2]), xtype=u8, flags=u8, msgid=u32, data=st.data())
def test_message_round_trip(version: int, xtype: int, flags: int, msgid: int, data) -> None:  # noqa: ANN001
    if version == 1:
        flags &= ~1  # the E flag: see test_ikev1_encrypted_body
    chain = tuple(data.draw(chains(version)))
    hdr = make_ike_header(version, xtype, SPI, bytes(8)[::-1], flag_bits=flags, message_id=msgid)
    raw = encode_ike_message(hdr, chain)
    d = decode_ike_message(raw)
    assert d.problems == []
    assert d.record.payloads == chain
    assert encode_ike_message(d.record) == raw
    assert d.record.length == len(raw)


def test_ikev1_encrypted_body() -> None:
    hdr = make_ike_header(1, 2, SPI, SPI, flag_bits=0x01)
    raw = encode_ike_message(hdr, [K.EncryptedBody(bytes(range(48)), 5)])
    d = decode_ike_message(raw)
    assert d.record.next_payload == 5 and d.record.encrypted
    [body] = d.record.payloads
    assert isinstance(body, K.EncryptedBody) and body.data == bytes(range(48)) and body.inner == 5
    assert encode_ike_message(d.record) == raw
    assert payload_summary(d.record) == "<encrypted 48 bytes>"


# -- names -----------------------------------------------------------------------------


def _v1_policy() -> K.SaPayload:
    attrs = (K.Attribute(1, 7), K.Attribute(14, 128), K.Attribute(2, 2), K.Attribute(3, 1),
             K.Attribute(4, 2), K.Attribute(11, 1), K.Attribute(12, (86400).to_bytes(4, "big")))
    return K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(1, 0, 1, attrs),)),))


def test_ikev1_main_mode_names() -> None:
    vids = [bytes.fromhex(h) for h in ("4a131c81070358455c5728f20e95452f",
                                       "90cb80913ebb696e086381b5ec427b1f",
                                       "afcad71368a1f1c96b8696fc77570100",
                                       "12f5f28c457168a9702d9fe274cc0100",
                                       "09002689dfd6b712",
                                       "4048b7d56ebce88525e7de7f00d6c2d380000000",
                                       "00112233")]
    hdr = make_ike_header(1, 2, SPI)
    d = decode_ike_message(encode_ike_message(hdr, [_v1_policy(), *[K.VendorIdPayload(v) for v in vids]]))
    sa = d.record.payloads[0]
    [t] = sa.proposals[0].transforms
    assert sa.payload == "SA" and sa.proposals[0].protocol == "ISAKMP" and t.name == "KEY_IKE"
    assert [(a.name, a.value_name) for a in t.attributes] == [
        ("encryption", "aes-cbc"), ("key-length", ""), ("hash", "sha"), ("auth-method", "pre-shared"),
        ("dh-group", "modp1024"), ("life-type", "seconds"), ("life-duration", "86400")]
    assert K.transform_summary(1, t) == "aes-cbc-128 sha pre-shared modp1024 86400s"
    assert [p.name for p in d.record.payloads[1:]] == [
        "RFC 3947 NAT-T", "draft-ietf-ipsec-nat-t-ike-02\\n", "RFC 3706 DPD", "Cisco Unity 1.0",
        "XAUTH", "Cisco Fragmentation", ""]


def test_ikev1_quick_mode_attributes_are_ipsec_doi() -> None:
    attrs = (K.Attribute(1, 1), K.Attribute(2, 3600), K.Attribute(4, 2), K.Attribute(5, 2),
             K.Attribute(6, 256))
    sa = K.SaPayload((K.Proposal(1, 3, b"\x11\x22\x33\x44", (K.Transform(1, 0, 12, attrs),)),))
    [got], _ = K.decode_payloads(1, 1, K.encode_payloads(1, [sa])[1])
    assert isinstance(got, K.SaPayload)
    t = got.proposals[0].transforms[0]
    assert got.proposals[0].protocol == "ESP" and t.name == "ESP_AES"
    assert [(a.name, a.value_name) for a in t.attributes] == [
        ("life-type", "seconds"), ("life-duration", ""), ("encapsulation-mode", "transport"),
        ("auth-algorithm", "hmac-sha"), ("key-length", "")]
    assert K.transform_summary(1, t) == "ESP_AES-256 transport hmac-sha 3600s"


def test_ikev2_names_notifies_and_delete() -> None:
    sa = K.SaPayload((K.Proposal(1, 1, b"", (
        K.Transform(0, 1, 12, (K.Attribute(14, 256),)), K.Transform(0, 2, 5), K.Transform(0, 3, 12),
        K.Transform(0, 4, 19))),), None, None)
    chain = [sa, K.KePayload(bytes(64), 19), K.NoncePayload(bytes(32)),
             K.NotifyPayload(16388, data=bytes(20)), K.NotifyPayload(16389, data=bytes(20)),
             K.NotifyPayload(16390, data=b"cookie"), K.NotifyPayload(14), K.NotifyPayload(17, data=b"\x00\x0e"),
             K.NotifyPayload(16430), K.DeletePayload(3, 4, (b"\xaa\xbb\xcc\xdd",)),
             K.VendorIdPayload(bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb"))]
    hdr = make_ike_header(2, 34, SPI, flag_bits=0x20)
    d = decode_ike_message(encode_ike_message(hdr, chain))
    pl = d.record.payloads
    assert [t.name for t in pl[0].proposals[0].transforms] == [
        "AES_CBC", "PRF_HMAC_SHA2_256", "AUTH_HMAC_SHA2_256_128", "DH ecp256"]
    assert K.transform_summary(2, pl[0].proposals[0].transforms[0]) == "AES_CBC-256"
    assert pl[1].dh_group_name == "ecp256"
    assert [p.name for p in pl[3:9]] == ["NAT_DETECTION_SOURCE_IP", "NAT_DETECTION_DESTINATION_IP",
                                         "COOKIE", "NO_PROPOSAL_CHOSEN", "INVALID_KE_PAYLOAD",
                                         "IKEV2_FRAGMENTATION_SUPPORTED"]
    assert pl[9].spis == (b"\xaa\xbb\xcc\xdd",) and pl[10].name == "strongSwan"
    assert d.record.is_response
    s = payload_summary(d.record)
    assert "N(NO_PROPOSAL_CHOSEN)" in s and "N(COOKIE)" in s and "D(1 SPI)" in s


def test_ikev2_sk_and_fragments() -> None:
    hdr = make_ike_header(2, 35, SPI, SPI, flag_bits=0x08, message_id=1)
    d = decode_ike_message(encode_ike_message(hdr, [K.EncryptedPayload(bytes(80), 35)]))
    assert d.record.encrypted and d.record.payloads[0].inner == 35 and d.problems == []
    frags = [K.EncryptedFragmentPayload(i, 3, bytes(40), 35 if i == 1 else 0) for i in (1, 2, 3)]
    for f in frags:
        d = decode_ike_message(encode_ike_message(hdr, [f]))
        assert d.record.payloads == (f,) and d.record.encrypted
        assert payload_summary(d.record) == f"SKF({f.fragment_number}/3)"


def test_ikev1_notifications_by_name() -> None:
    for nt, name in ((14, "NO-PROPOSAL-CHOSEN"), (36136, "R-U-THERE"), (36137, "R-U-THERE-ACK"),
                     (24578, "INITIAL-CONTACT"), (24, "AUTHENTICATION-FAILED"), (9999, "NOTIFY-9999")):
        hdr = make_ike_header(1, 5, SPI)
        d = decode_ike_message(encode_ike_message(hdr, [K.NotifyPayload(nt, 1, SPI * 2, b"", 1)]))
        assert d.record.payloads[0].name == name and d.record.exchange == "informational"


def test_problems_have_message_offsets() -> None:
    hdr = make_ike_header(1, 2, SPI)
    raw = bytearray(encode_ike_message(hdr, [_v1_policy()]))
    raw[HEADER_LEN + 4 + 8 + 2: HEADER_LEN + 4 + 8 + 4] = b"\x00\x05"  # proposal length 5
    d = decode_ike_message(bytes(raw))
    assert d.record is not None and d.problems
    assert d.problems[0].offset == HEADER_LEN + 4 + 8 + 2 and "proposal length" in d.problems[0].reason
    assert isinstance(d.record.payloads[0], K.GenericPayload)


def test_on_udp_500_and_4500_in_the_frame_chain() -> None:
    from nhrpscope.dissectors.udp import encode_udp

    msg = encode_ike_message(make_ike_header(2, 34, SPI, flag_bits=0x08),
                             [K.NoncePayload(bytes(16)), K.NotifyPayload(16388, data=bytes(20))])
    for sport, dport, body in ((500, 500, msg), (4500, 4500, b"\0\0\0\0" + msg)):
        udp = encode_udp(sport, dport, body)
        ip = (bytes.fromhex("45000000000000004011") + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2]))
        ip = ip[:2] + (20 + len(udp)).to_bytes(2, "big") + ip[4:]
        pkt = FrameDecoder().decode(101, ip + udp)
        ike = pkt.layer("ike")
        assert isinstance(ike, IkeHeader) and [p.payload for p in ike.payloads] == ["Nonce", "N"]
        assert not [p for p in pkt.problems if p.layer == "ike"]


# -- never raise ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    d = decode_ike_message(data)
    assert d.record is None or isinstance(d.record, IkeHeader)
    for v in (1, 2):
        K.decode_payloads(v, data[0] if data else 1, data[1:])


def test_mutated_messages_never_raise() -> None:
    rng = random.Random(7)
    seeds = [
        encode_ike_message(make_ike_header(1, 2, SPI), [_v1_policy(), K.VendorIdPayload(bytes(16)),
                                                        K.NatDPayload(bytes(20))]),
        encode_ike_message(make_ike_header(2, 34, SPI), [
            K.SaPayload((K.Proposal(1, 1, b"", (K.Transform(0, 1, 12, (K.Attribute(14, 128),)),)),), None, None),
            K.KePayload(bytes(32), 14), K.NotifyPayload(16390, data=b"x" * 8),
            K.DeletePayload(3, 4, (b"abcd",))]),
        encode_ike_message(make_ike_header(2, 35, SPI, SPI), [K.EncryptedFragmentPayload(1, 2, bytes(30), 35)]),
    ]
    for _ in range(3000):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            i = rng.randrange(len(raw))
            if op < 0.6:
                raw[i] = rng.randrange(256)
            elif op < 0.8:
                del raw[i:i + rng.randint(1, 8)]
            else:
                raw[i:i] = rng.randbytes(rng.randint(1, 8))
            if not raw:
                break
        d = decode_ike_message(bytes(raw))
        if d.record is not None:
            payload_summary(d.record)
