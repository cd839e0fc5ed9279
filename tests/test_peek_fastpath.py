"""The fast path reads headers as the dissectors' peeks do, and types its results.

``fastpath``'s two fused layouts (``_OUTER``, ``_INNER``) read the commonest
frame in two unpacks; here they are held to the per-header peeks on
encoded frames, so the fields they read are the dissectors' own.
"""

from __future__ import annotations

import marshal

from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import gre, ip, link

from nhrpscope.replay import fastpath
from nhrpscope.replay.items import (
    ESP_DATA_LEN,
    GRE_DATA_LEN,
    RAW_FRAME_LEN,
    EspData,
    GreData,
    RawFrame,
    kind_of,
    typed,
)

u16, u32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
v4 = st.builds(lambda b: ".".join(map(str, b)), st.binary(min_size=4, max_size=4))
FAST = settings(max_examples=150, deadline=None)
ETH = link.Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", link.ETH_IPV4)


def _frame(outer_src: str, outer_dst: str, key: int | None, inner: bytes, *, df: bool = False
           ) -> bytes:
    g = gre.encode_gre(gre.PT_IPV4, inner, key=key)
    return link.encode_ethernet(ETH, ip.encode_ipv4(outer_src, outer_dst, ip.PROTO_GRE, g, df=df))


@FAST
@given(v4, v4, v4, v4, st.one_of(st.none(), u32), st.sampled_from([1, 6, 17, 47, 50, 89]),
       st.binary(min_size=4, max_size=40), st.booleans())
def test_the_fused_layouts_read_what_the_peeks_read(os_, od, is_, id_, key, proto, l4, df):
    inner = ip.encode_ipv4(is_, id_, proto, l4, df=df)
    b = _frame(os_, od, key, inner, df=df)
    et, vihl, total, fl, p, word = fastpath._OUTER.unpack_from(b)
    off = link.ip_offset(link.LINKTYPE_ETHERNET, b)
    outer = ip.peek_ipv4(b, off)
    assert off == 14 and outer is not None and et == link.ETH_IPV4
    assert (vihl >> 4, (vihl & 15) * 4, total, fl, p) == (
        outer.version, outer.ihl, outer.total_length, outer.flags_fragment, outer.protocol)
    h = gre.peek_gre(b, off + outer.ihl)
    assert h is not None and fastpath.only_counted(h)
    assert word == (h.flags | h.version) << 16 | h.protocol_type
    assert word in (fastpath._GRE_IPV4, fastpath._GRE_KEY_IPV4)
    q = off + outer.ihl + h.header_len
    assert q == (42 if key is not None else 38)
    ivihl, ifl, iproto, idst, first = fastpath._INNER.unpack_from(b, q)
    i = ip.peek_ipv4(b, q)
    assert i is not None
    assert (ivihl, ifl, iproto, idst) == (0x45, i.flags_fragment, i.protocol,
                                          int.from_bytes(i.dst, "big"))
    assert first == int.from_bytes(l4[:4], "big")


@FAST
@given(v4, v4, v4, v4, st.one_of(st.none(), u32), st.sampled_from([1, 6, 17, 47, 50, 89]),
       st.binary(min_size=4, max_size=40))
def test_batch_and_single_classification_agree(os_, od, is_, id_, key, proto, l4):
    """The inlined loop of classify_batch and classify (through the peeks)
    give the same answer, the one typed, the other a plain tuple."""
    b = _frame(os_, od, key, ip.encode_ipv4(is_, id_, proto, l4))
    rec = (7, 1.5, link.LINKTYPE_ETHERNET, b, len(b), None)
    c = fastpath.Classifier(None)
    [batch] = c.classify_batch([rec])
    one = c.classify(rec)
    if one is None:
        assert batch is rec
        assert proto in (47, 50) or (proto == 17 and {int.from_bytes(l4[:2], "big"),
                                                        int.from_bytes(l4[2:4], "big")} & {500, 4500}) \
            or (proto == 1 and l4[:2] == b"\x03\x04")
        return
    assert isinstance(one, GreData) and type(batch) is tuple
    assert one == batch
    assert one.pair == ip.encode_ipv4(os_, od, 0, b"")[12:20] + b[34:38] + (
        b"" if key is None else key.to_bytes(4, "big"))
    assert one.inner_dst == int.from_bytes(bytes(map(int, id_.split("."))), "big")
    assert (one.number, one.time, one.wire_len) == (7, 1.5, len(b))


def test_only_counted_sends_the_rest_to_the_full_decode():
    def peek(**kw: object) -> gre.GrePeek:
        h = gre.peek_gre(gre.encode_gre(**kw))  # type: ignore[arg-type]
        assert h is not None
        return h

    assert fastpath.only_counted(peek(protocol_type=gre.PT_IPV4, payload=b"", key=5, seq=1))
    assert fastpath.only_counted(peek(protocol_type=gre.PT_IPV6, payload=b"", checksum=True))
    assert not fastpath.only_counted(peek(protocol_type=gre.PT_NHRP, payload=b""))
    assert not fastpath.only_counted(peek(protocol_type=0, payload=b""))  # keepalive
    assert not fastpath.only_counted(peek(protocol_type=gre.PT_IPV4, payload=b"", version=1))
    assert not fastpath.only_counted(peek(protocol_type=gre.PT_IPV4, payload=b"",
                                          routing=b"\0\0\0\0"))


def test_items_have_the_engine_s_lengths_and_names():
    assert (GRE_DATA_LEN, ESP_DATA_LEN, RAW_FRAME_LEN) == (5, 9, 6)
    assert GreData._fields == ("number", "time", "wire_len", "pair", "inner_dst")
    assert EspData._fields == ("number", "time", "wire_len", "pair", "inner_dst", "esp", "seq",
                               "sport", "dport")
    assert RawFrame._fields == ("number", "time", "linktype", "data", "wire_len", "comment")
    raw = (1, 0.0, 1, b"x", 1, None)
    assert kind_of(raw) is RawFrame and typed(raw) == RawFrame(*raw)
    g = typed((1, 0.0, 60, b"p" * 12, None))
    assert isinstance(g, GreData) and g.pair == b"p" * 12 and typed(g) is g
    assert kind_of(EspData(1, 0.0, 60, None, None, b"e", 3, 0, 0)) is EspData


def test_a_batch_can_be_marshalled_for_the_staging_process():
    b = _frame("192.0.2.1", "192.0.2.2", 9, ip.encode_ipv4("10.0.0.1", "10.0.0.2", 6, bytes(20)))
    nhrp_like = link.encode_ethernet(ETH, ip.encode_ipv4("192.0.2.1", "192.0.2.2", 47,
                                                         gre.encode_gre(gre.PT_NHRP, bytes(20))))
    recs = [(1, 0.0, 1, b, len(b), None), (2, 0.1, 1, nhrp_like, len(nhrp_like), None)]
    out = fastpath.Classifier(None).classify_batch(recs)
    assert [len(x) for x in out] == [GRE_DATA_LEN, RAW_FRAME_LEN]
    assert marshal.loads(marshal.dumps(out)) == out
