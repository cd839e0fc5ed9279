"""Each dissector's peek agrees with its full decoder on encoded packets.

A peek reads the fixed fields the replay's fast path needs with no record
made; the decoder beside it reads the same fields with the same layout.
These properties hold the two to the same answer.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import gre, ip, link, udp
from nhrpscope.dissectors.esp import SecurityAssociation, decode_esp, encode_esp, peek_esp

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
v4 = st.builds(lambda b: ".".join(map(str, b)), st.binary(min_size=4, max_size=4))
v6 = st.builds(lambda b: ip.ipv6_str(b), st.binary(min_size=16, max_size=16))
payloads = st.binary(max_size=64)
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(st.sampled_from([gre.PT_IPV4, gre.PT_IPV6, gre.PT_NHRP, gre.PT_TEB, 0, 0x1234]), payloads,
       st.one_of(st.none(), u32), st.one_of(st.none(), u32), st.booleans(),
       st.sampled_from([0, 1]), st.one_of(st.none(), u32), st.one_of(st.none(), u16),
       st.integers(0, 7), st.one_of(st.none(), st.just(b"\0\0\0\0")))
def test_peek_gre_agrees_with_decode_gre(pt, payload, key, seq, checksum, version, ack, call_id,
                                         recursion, routing):
    wire = gre.encode_gre(pt, payload, key=key, seq=seq, checksum=checksum, version=version,
                          ack=ack, call_id=call_id, recursion=recursion, routing=routing)
    h = gre.peek_gre(wire)
    d = gre.decode_gre(wire)
    rec = d.record
    assert h is not None and rec is not None
    assert (h.version, h.protocol_type, h.key) == (rec.version, rec.protocol_type, rec.key)
    assert ((h.flags >> 8) & 7) == rec.recursion
    names = {n for bit, n in gre._FLAG_NAMES if h.flags & bit}
    assert names == set(rec.flags)
    # the source route entries, when there are some, follow the fixed words
    sre = len(rec.routing) if "routing" in rec.flags and rec.version == 0 else 0
    assert h.header_len + sre == d.payload_offset
    # a peek at a header cut short says nothing, where the decoder reports it
    cut = wire[:h.header_len - 1]
    assert gre.peek_gre(cut) is None
    assert gre.decode_gre(cut).problems


@FAST
@given(v4, v4, u8, payloads, u8, u16, st.booleans(), st.booleans(), st.integers(0, 0x1FFF),
       st.binary(max_size=40).map(lambda b: b[:len(b) // 4 * 4]))
def test_peek_ipv4_agrees_with_decode_ipv4(src, dst, proto, payload, ttl, ident, df, mf, fo,
                                           options):
    wire = ip.encode_ipv4(src, dst, proto, payload, ttl=ttl, ident=ident, df=df, mf=mf,
                          frag_offset=fo * 8, options=options)
    h = ip.peek_ipv4(b"pad" + wire, 3)
    rec, d, frag = ip.decode_ipv4(wire)
    assert h is not None and rec is not None
    assert (h.version, h.ihl, h.total_length, h.protocol) == (4, rec.ihl, rec.total_length,
                                                              rec.protocol)
    assert (ip.ipv4_str(h.src), ip.ipv4_str(h.dst)) == (rec.src, rec.dst)
    assert h.is_fragment == (frag is not None)
    assert ip.peek_ipv4(wire[:19]) is None
    # the fast path's view of the same header: IPV4_HEADER's tested fields
    vihl, total, fl, proto_ = ip.IPV4_TESTED.unpack_from(wire)
    assert ((vihl >> 4), (vihl & 15) * 4, total, fl, proto_) == (
        h.version, h.ihl, h.total_length, h.flags_fragment, h.protocol)


@FAST
@given(v6, v6, u8, payloads, u8)
def test_peek_ipv6_agrees_with_decode_ipv6(src, dst, nh, payload, hop_limit):
    wire = ip.encode_ipv6(src, dst, nh, payload, hop_limit=hop_limit)
    h = ip.peek_ipv6(wire)
    rec, _d, _frag = ip.decode_ipv6(wire)
    assert h is not None and rec is not None
    assert (h.version, h.payload_length, h.next_header) == (6, rec.payload_length,
                                                            rec.next_header)
    assert (ip.ipv6_str(h.src), ip.ipv6_str(h.dst)) == (rec.src, rec.dst)
    assert ip.peek_ipv6(wire[:39]) is None


@FAST
@given(u16, u16, payloads, st.one_of(st.none(), u16), st.one_of(st.none(), u16))
def test_peek_udp_agrees_with_decode_udp(sport, dport, payload, length, checksum):
    wire = udp.encode_udp(sport, dport, payload, length=length, checksum=checksum)
    h = udp.peek_udp(wire)
    rec = udp.decode_udp(wire).record
    assert h is not None and rec is not None
    assert tuple(h) == (rec.src_port, rec.dst_port, rec.length, rec.checksum)
    assert udp.UDP_PORTS.unpack_from(wire) == (rec.src_port, rec.dst_port)
    assert udp.peek_udp(wire[:7]) is None


@FAST
@given(st.integers(1, 0xFFFFFFFF), u32, payloads, st.sampled_from(["aes-cbc", "aes-ctr", "null"]))
def test_peek_esp_agrees_with_decode_esp(spi, seq, payload, enc):
    key = bytes(range(20 if enc == "aes-ctr" else 16)) if enc != "null" else b""
    sa = SecurityAssociation(spi, "192.0.2.1", "192.0.2.2", enc, key, "hmac-sha1-96", bytes(20))
    wire = encode_esp(sa, seq, payload, 4)
    h = peek_esp(wire)
    rec = decode_esp(wire, None).record  # no key: the clear fields only
    assert h is not None and (h.spi, h.seq) == (rec.spi, rec.seq) == (spi, seq)
    assert decode_esp(wire, sa).record.seq == h.seq
    assert peek_esp(wire[:7]) is None


ip_packets = st.one_of(
    st.builds(lambda s, d, p: ip.encode_ipv4(s, d, 47, p), v4, v4, payloads),
    st.builds(lambda s, d, p: ip.encode_ipv6(s, d, 47, p), v6, v6, payloads))
vlan_tags = st.lists(st.builds(lambda tpid, vid: link.Vlan(tpid, 0, 0, vid, 0),
                               st.sampled_from(link.ETH_VLAN), st.integers(0, 4095)), max_size=3)


def _ethertype(pkt: bytes) -> int:
    return link.ETH_IPV6 if pkt[0] >> 4 == 6 else link.ETH_IPV4


@FAST
@given(ip_packets, vlan_tags)
def test_ip_offset_agrees_with_decode_ethernet(pkt, vlans):
    et = _ethertype(pkt)
    vlans = [link.Vlan(v.tpid, 0, 0, v.vid, et) for v in vlans]
    frame = link.encode_ethernet(link.Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", et),
                                 pkt, tuple(vlans))
    _layers, d = link.decode_ethernet(frame)
    assert link.ip_offset(link.LINKTYPE_ETHERNET, frame) == d.payload_offset
    assert frame[d.payload_offset:] == pkt


@FAST
@given(ip_packets, st.sampled_from(["sll", "sll2", "null", "loop", "raw"]))
def test_ip_offset_agrees_with_the_other_link_decoders(pkt, kind):
    et = _ethertype(pkt)
    if kind == "sll":
        frame = link.encode_sll(link.LinuxSll(0, 1, "00:00:5e:00:53:01", et), pkt)
        lt, d = link.LINKTYPE_LINUX_SLL, link.decode_sll(frame)[1]
    elif kind == "sll2":
        frame = link.encode_sll2(link.LinuxSll2(et, 2, 1, 0, "00:00:5e:00:53:01"), pkt)
        lt, d = link.LINKTYPE_LINUX_SLL2, link.decode_sll2(frame)[1]
    elif kind in ("null", "loop"):
        frame = link.encode_null(2 if et == link.ETH_IPV4 else 24, pkt)
        lt = link.LINKTYPE_NULL if kind == "null" else link.LINKTYPE_LOOP
        d = link.decode_null(frame)[1]
    else:
        frame, lt = pkt, link.LINKTYPE_RAW
        assert link.ip_offset(lt, frame) == 0
        return
    assert d.record == et
    assert link.ip_offset(lt, frame) == d.payload_offset


def test_ip_offset_says_none_for_what_is_not_ip():
    arp = link.encode_ethernet(link.Ethernet("ff:ff:ff:ff:ff:ff", "00:00:5e:00:53:01", 0x0806),
                               bytes(28))
    assert link.ip_offset(link.LINKTYPE_ETHERNET, arp) is None
    assert link.ip_offset(link.LINKTYPE_ETHERNET, arp[:13]) is None
    assert link.ip_offset(link.LINKTYPE_LINUX_SLL, bytes(15)) is None
    assert link.ip_offset(link.LINKTYPE_NULL, bytes(4)) is None
    assert link.ip_offset(147, bytes(64)) is None  # a user link type
