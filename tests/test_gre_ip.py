"""GRE, ERSPAN, IPv4/IPv6 and reassembly: round trips, checks, damage."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import gre, ip
from nhrpscope.dissectors.frame import FrameDecoder, decode_ip
from nhrpscope.dissectors.link import Ethernet, Vlan, decode_ethernet, encode_ethernet

gre_args = st.fixed_dictionaries({
    "protocol_type": st.sampled_from([0x0800, 0x86DD, 0x2001, 0x6558, 0x1234]),
    "key": st.none() | st.integers(0, 2**32 - 1),
    "seq": st.none() | st.integers(0, 2**32 - 1),
    "checksum": st.booleans(),
    "recursion": st.integers(0, 7),
})


@settings(max_examples=300, deadline=None)
@given(gre_args, st.binary(max_size=64))
def test_gre_v0_round_trip(args, payload):
    raw = gre.encode_gre(payload=payload, **args)
    d = gre.decode_gre(raw)
    r = d.record
    assert d.problems == []
    assert (r.version, r.key, r.seq, r.protocol_type, r.recursion) == (
        0, args["key"], args["seq"], args["protocol_type"], args["recursion"])
    assert r.checksum_ok is (True if args["checksum"] else None)
    assert d.payload == payload
    assert gre.encode_gre_record(r, d.payload) == raw


@settings(max_examples=200, deadline=None)
@given(st.none() | st.integers(0, 65535), st.none() | st.integers(0, 2**32 - 1),
       st.none() | st.integers(0, 2**32 - 1), st.binary(max_size=40))
def test_gre_v1_round_trip(call_id, seq, ack, payload):
    raw = gre.encode_gre(0x880B, payload, version=1, call_id=call_id, seq=seq, ack=ack)
    r = gre.decode_gre(raw).record
    assert (r.version, r.call_id, r.seq, r.ack) == (1, call_id, seq, ack)
    if call_id is not None:
        assert r.payload_length == len(payload)
    assert gre.encode_gre_record(r, payload) == raw


def test_gre_routing_sre_round_trip():
    sre = bytes.fromhex("0800 00 04 0a000001") + bytes(4)  # one IPv4 SRE then the NULL SRE
    raw = gre.encode_gre(0x0800, b"xyz", routing=sre, checksum=True)
    d = gre.decode_gre(raw)
    assert d.record.routing == sre and d.payload == b"xyz" and d.record.checksum_ok


def test_gre_bad_checksum_and_truncation():
    raw = bytearray(gre.encode_gre(0x2001, b"payload", checksum=True, key=5))
    raw[4] ^= 0xFF
    d = gre.decode_gre(bytes(raw))
    assert d.record.checksum_ok is False
    assert any("checksum" in p.reason for p in d.problems)
    d = gre.decode_gre(bytes(raw[:6]))
    assert d.record is not None and d.payload == b""
    assert any("cut short" in p.reason for p in d.problems)
    assert gre.decode_gre(b"\x00").record is None


def test_keepalive_recognised():
    # The keepalive a router sends: outer 10.0.0.1 → 10.0.0.2 carrying an IPv4
    # packet 10.0.0.2 → 10.0.0.1 whose payload is a bare GRE header.
    inner = ip.encode_ipv4("10.0.0.2", "10.0.0.1", 47, gre.encode_gre(0, b""))
    outer = ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, gre.encode_gre(0x0800, inner))
    layers, problems = decode_ip(outer)
    assert problems == []
    gres = [la for la in layers if la.proto == "gre"]
    assert gres[0].keepalive and gres[1].keepalive


def test_erspan2_is_decapsulated():
    eth = encode_ethernet(Ethernet("00:00:00:00:00:02", "00:00:00:00:00:01", 0x0800),
                          ip.encode_ipv4("1.1.1.1", "2.2.2.2", 17, b"\0" * 8))
    raw = ip.encode_ipv4("9.9.9.9", "8.8.8.8", 47,
                         gre.encode_gre(0x88BE, gre.encode_erspan2(eth, session_id=7), seq=1))
    layers, _ = decode_ip(raw)
    protos = [la.proto for la in layers]
    assert protos[:4] == ["ipv4", "gre", "erspan", "eth"]
    assert layers[2].session_id == 7 and layers[4].src == "1.1.1.1"


def test_vlan_qinq_round_trip():
    vl = (Vlan(0x88A8, 0, 0, 100, 0x8100), Vlan(0x8100, 3, 0, 200, 0x0800))
    frame = encode_ethernet(Ethernet("aa:bb:cc:dd:ee:ff", "11:22:33:44:55:66", 0x88A8), b"IP", vl)
    layers, d = decode_ethernet(frame)
    assert [la.proto for la in layers] == ["eth", "vlan", "vlan"]
    assert layers[2].vid == 200 and layers[2].pcp == 3 and d.record == 0x0800 and d.payload == b"IP"


def test_ipv4_options_and_checksum():
    raw = ip.encode_ipv4("1.2.3.4", "5.6.7.8", 47, b"data", options=b"\x94\x04\x00\x00")
    rec, d, frag = ip.decode_ipv4(raw)
    assert rec.ihl == 24 and rec.options == b"\x94\x04\x00\x00" and rec.checksum_ok
    assert d.payload == b"data" and frag is None
    bad = bytearray(raw)
    bad[8] = 1  # TTL changed, checksum now wrong
    rec, d, _ = ip.decode_ipv4(bytes(bad))
    assert rec.checksum_ok is False and "checksum" in d.problems[0].reason


def test_ipv6_extension_headers():
    hbh = bytes([47, 0]) + bytes(6)
    raw = ip.encode_ipv6("2001:db8::1", "2001:db8::2", 0, hbh + gre.encode_gre(0x2001, b"n"))
    rec, d, _ = ip.decode_ipv6(raw)
    assert rec.protocol == 47 and rec.extensions[0].name == "hop-by-hop"
    assert gre.decode_gre(d.payload).record.protocol_type == 0x2001


def _fragments(payload: bytes, size: int, ident: int = 9) -> list[bytes]:
    out = []
    for off in range(0, len(payload), size):
        piece = payload[off: off + size]
        out.append(ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, piece, ident=ident, frag_offset=off,
                                  mf=off + size < len(payload)))
    return out


def test_ipv4_reassembly_in_any_order():
    inner = gre.encode_gre(0x0800, ip.encode_ipv4("192.168.0.2", "192.168.0.4", 1, b"p" * 1400))
    frags = _fragments(inner, 512)
    random.Random(1).shuffle(frags)
    dec = FrameDecoder()
    pkts = [dec.decode(228, f, frame=i + 1, time=1.0) for i, f in enumerate(frags)]
    last = pkts[-1]
    v4 = last.layers[0]
    assert v4.reassembled_from == tuple(range(1, len(frags) + 1))
    assert [la.proto for la in last.layers][:3] == ["ipv4", "gre", "ipv4"]
    assert all(p.layers[-1].proto == "data" or p.layers[1].proto == "gre" for p in pkts[:-1])
    assert dec.finish() == []


def test_reassembly_reports_missing_and_overlap():
    inner = b"z" * 1200
    frags = _fragments(inner, 400)
    dec = FrameDecoder()
    dec.decode(228, frags[0], frame=1, time=0.0)
    p = dec.decode(228, frags[0][:20] + b"q" * 10 + frags[0][30:], frame=2, time=0.1)
    assert p.problems == []  # an exact duplicate piece is not an overlap
    over = ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, b"o" * 400, ident=9, frag_offset=200, mf=True)
    p = dec.decode(228, over, frame=3, time=0.2)
    assert any("overlaps" in pr.reason for pr in p.problems)
    left = dec.finish()
    assert len(left) == 1 and "never completed" in left[0] and "frames 1, 2, 3" in left[0]


def test_reassembly_times_out_and_is_bounded():
    r = ip.Reassembler(timeout=5, max_datagrams=3)
    for i in range(10):
        frag = ip.Fragment((4, "a", "b", i, 47), 0, True, b"x" * 8, 47)
        r.add(frag, i, float(i))
    assert len(r.pending) <= 3
    assert len(r.flush()) == 10


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([0, 1, 101, 108, 113, 228, 229, 276, 999]))
def test_frame_chain_never_raises_on_random_bytes(data, linktype):
    FrameDecoder().decode(linktype, data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_frame_chain_never_raises_on_mutated_gre(data):
    inner = ip.encode_ipv4("192.168.0.2", "192.168.0.1", 1, b"ping")
    pkt = bytearray(ip.encode_ipv4("1.1.1.1", "2.2.2.2", 47,
                                   gre.encode_gre(0x0800, inner, key=7, seq=3, checksum=True)))
    for _ in range(data.draw(st.integers(1, 6))):
        pkt[data.draw(st.integers(0, len(pkt) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(pkt)))
    FrameDecoder().decode(228, bytes(pkt[:cut]))


def test_deep_nesting_is_bounded():
    pkt = ip.encode_ipv4("192.168.0.2", "192.168.0.1", 1, b"ping")
    for _ in range(1000):
        pkt = ip.encode_ipv4("1.1.1.1", "2.2.2.2", 47, gre.encode_gre(0x0800, pkt))
    p = FrameDecoder().decode(228, pkt)
    assert any("nested" in pr.reason for pr in p.problems)
    assert len(p.layers) < 60


@given(st.binary(max_size=100))
def test_internet_checksum_matches_rfc1071_definition(data):
    from nhrpscope.dissectors.base import internet_checksum

    padded = data + b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(padded[i:i + 2], "big") for i in range(0, len(padded), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert internet_checksum(data) == ~total & 0xFFFF


def _nhrp_over_gre() -> bytes:
    return ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, gre.encode_gre(0x0800, b""))


def test_every_link_type_reaches_ip():
    from nhrpscope.dissectors.link import (
        LinuxSll,
        LinuxSll2,
        encode_null,
        encode_sll,
        encode_sll2,
    )

    pkt = _nhrp_over_gre()
    v6 = ip.encode_ipv6("2001:db8::1", "2001:db8::2", 47, gre.encode_gre(0x86DD, b""))
    cases = {
        1: encode_ethernet(Ethernet("00:00:00:00:00:01", "00:00:00:00:00:02", 0x0800), pkt),
        113: encode_sll(LinuxSll(0, 778, "00:00:00:00:00:02", 0x0800), pkt),
        276: encode_sll2(LinuxSll2(0x0800, 3, 778, 0, "00:00:00:00:00:02"), pkt),
        0: encode_null(2, pkt),
        108: (2).to_bytes(4, "big") + pkt,
        101: pkt,
        228: pkt,
        12: pkt,
    }
    for lt, frame in cases.items():
        p = FrameDecoder().decode(lt, frame)
        assert any(la.proto == "ipv4" and la.src == "10.0.0.1" for la in p.layers), lt
        assert p.problems == [], (lt, p.problems)
    for lt, frame in ((229, v6), (101, v6), (0, encode_null(30, v6))):
        p = FrameDecoder().decode(lt, frame)
        assert any(la.proto == "ipv6" for la in p.layers), lt


def test_first_fragment_decoded_quietly_then_whole_in_the_last():
    from nhrpscope.dissectors.transport import encode_icmp_echo

    ping = encode_icmp_echo(1, 1, b"p" * 1400)
    inner = gre.encode_gre(0x0800, ip.encode_ipv4("192.168.0.2", "192.168.0.4", 1, ping))
    frags = _fragments(inner, 1000)
    dec = FrameDecoder()
    first = dec.decode(228, frags[0], frame=1)
    # Decoded as far as it goes, as tcpdump and tshark do, with no complaint
    # about what the fragmentation (not the capture) cut off.
    assert [la.proto for la in first.layers] == ["ipv4", "gre", "ipv4", "icmp"]
    assert first.problems == []
    last = dec.decode(228, frags[1], frame=2)
    assert last.layers[0].reassembled_from == (1, 2) and last.problems == []
    assert last.layers[-1].checksum_ok is True
