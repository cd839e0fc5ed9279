"""Round trips for the decoders whose encoders were only partial: ERSPAN
(types I, II and III) and ICMP / ICMPv6 of any type."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import gre, ip, transport

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
FAST = settings(max_examples=150, deadline=None)
frames = st.binary(min_size=14, max_size=80)


@st.composite
def erspans(draw: st.DrawFn) -> gre.Erspan:
    kind = draw(st.sampled_from([1, 2, 3]))
    if kind == 1:
        return gre.Erspan(1)
    session, vlan, cos = draw(st.integers(0, 0x3FF)), draw(st.integers(0, 0xFFF)), draw(st.integers(0, 7))
    if kind == 2:
        return gre.Erspan(2, session, vlan, cos, draw(st.integers(0, 0xFFFFF)))
    return gre.Erspan(3, session, vlan, cos, None, draw(u32), draw(st.integers(0, 0x3F)),
                      draw(st.sampled_from(["ingress", "egress"])))


@FAST
@given(erspans(), frames)
def test_erspan_round_trip(rec, frame):
    wire = gre.encode_erspan(rec, frame)
    pt = gre.PT_ERSPAN3 if rec.type == 3 else gre.PT_ERSPAN2
    d = gre.decode_erspan(wire, pt, seq_present=rec.type != 1)
    assert d.problems == []
    assert d.record == rec
    assert d.payload == frame


@FAST
@given(erspans(), frames)
def test_erspan_through_the_frame_chain(rec, frame):
    """Inside GRE, as a SPAN session sends it: the mirrored frame follows."""
    from nhrpscope.dissectors.frame import FrameDecoder

    pt = gre.PT_ERSPAN3 if rec.type == 3 else gre.PT_ERSPAN2
    g = gre.encode_gre(pt, gre.encode_erspan(rec, frame), seq=None if rec.type == 1 else 1)
    pkt = FrameDecoder().decode(101, ip.encode_ipv4("192.0.2.1", "192.0.2.2", 47, g))
    assert pkt.layers[2] == rec


@FAST
@given(u8, u8, u32, st.binary(max_size=60), st.booleans())
def test_icmp_round_trip(type_, code, rest, data, v6):
    wire = transport.encode_icmp(type_, code, rest, data, v6=v6)
    d = transport.decode_icmp(wire, v6)
    rec = d.record
    assert isinstance(rec, transport.Icmpv6 if v6 else transport.Icmp)
    assert (rec.type, rec.code, rec.data_length) == (type_, code, len(data))
    assert rec.checksum_ok is (None if v6 else True) and d.problems == []
    a, b = rest >> 16, rest & 0xFFFF
    if (not v6 and type_ in (0, 8)) or (v6 and type_ in (128, 129)):
        assert (rec.id, rec.seq) == (a, b)
    if not v6 and (type_, code) == (3, 4):
        assert rec.mtu == b
    if v6 and type_ == 2:
        assert rec.mtu == rest


def test_icmp_encoders_agree_with_the_general_one():
    original = ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, bytes(8))
    assert transport.encode_icmp_frag_needed(1400, original) == transport.encode_icmp(
        3, 4, 1400, original[:28])
    assert transport.encode_icmp_echo(7, 9, b"ping") == transport.encode_icmp(8, 0, 7 << 16 | 9,
                                                                              b"ping")
