"""ESP opened inline in ``Classifier.classify_batch`` (``fastpath._EspFast``)
gives what ``EspPeek.peek_at`` and the rest of the classifier give, and
decides as the full decode does.

The loop copies ``EspPeek``'s CBC recipe (``CbcEnds``) and reads the
plaintext with fused layouts (``_ESP_AT``, ``_GRE_IP``); here each is held
to the parser it copies, on random packets under random keys."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import gre, ip
from nhrpscope.dissectors.esp import SecurityAssociation, encode_esp, peek_esp
from nhrpscope.dissectors.esp_peek import EspPeek
from nhrpscope.dissectors.gre import PT_IPV4, PT_IPV6, PT_NHRP, encode_gre
from nhrpscope.dissectors.ip import encode_ipv4

from nhrpscope.keys import SADatabase
from nhrpscope.replay import fastpath
from nhrpscope.replay.engine import Engine
from nhrpscope.sim.net import udp

HUB, S1 = "198.51.100.1", "172.16.0.6"
MAC = b"\x02\x00\xc6\x33\x64\x01\x02\x00\xac\x10\x00\x06\x08\x00"
FAST = settings(max_examples=300, deadline=None)
CBC = [("aes-cbc", 16), ("aes-cbc", 24), ("aes-cbc", 32), ("3des-cbc", 24), ("camellia-cbc", 16),
       ("des-cbc", 8), ("blowfish-cbc", 16)]
# what the inner IPv4 packet carries: what the loop counts and what it leaves to the full decode
INNER = ["udp", "tcp", "udp4500", "udp500", "icmp-echo", "icmp-frag", "frag", "ipip", "gre",
         "esp", "nhrp-ip", "ipv6"]


def _inner(kind: str, rng: random.Random) -> bytes:
    src, dst = "10.0.0.2", f"10.{rng.randrange(256)}.0.9"
    body = rng.randbytes(rng.randrange(0, 200))
    if kind.startswith("udp"):
        port = {"udp": rng.randrange(1024, 65536), "udp4500": 4500, "udp500": 500}[kind]
        ports = (port, 5001) if rng.random() < 0.5 else (5001, port)
        return encode_ipv4(src, dst, 17, udp(src, dst, *ports, body))
    if kind == "tcp":
        return encode_ipv4(src, dst, 6, rng.randbytes(20) + body)
    if kind == "icmp-echo":
        return encode_ipv4(src, dst, 1, bytes((8, 0, 0, 0)) + body)
    if kind == "icmp-frag":
        return encode_ipv4(src, dst, 1, bytes((3, 4, 0, 0, 0, 0, 5, 0x78)) + body)
    if kind == "frag":
        return encode_ipv4(src, dst, 17, body + bytes(8), mf=True)
    proto = {"ipip": 4, "gre": 47, "esp": 50, "nhrp-ip": 54, "ipv6": 41}[kind]
    return encode_ipv4(src, dst, proto, bytes(40) + body)


def _payload(rng: random.Random) -> tuple[bytes, int]:
    """An ESP payload and its next header: mostly GRE data, some of everything else."""
    r = rng.random()
    key = rng.choice([None, rng.randrange(1 << 32)])
    if r < 0.7:
        seq = rng.randrange(1 << 32) if rng.random() < 0.15 else None
        return encode_gre(PT_IPV4, _inner(rng.choice(INNER), rng), key=key, seq=seq), 47
    if r < 0.8:
        return encode_gre(PT_NHRP, rng.randbytes(rng.randrange(20, 120)), key=key), 47
    if r < 0.85:
        return encode_gre(PT_IPV6, rng.randbytes(rng.randrange(40, 120)), key=key), 47
    if r < 0.9:
        return _inner("udp", rng), 4
    return rng.randbytes(rng.randrange(0, 200)), rng.choice([47, 17, 59])


def _sa(rng: random.Random, enc: str, klen: int, spi: int) -> SecurityAssociation:
    return SecurityAssociation(spi, S1, HUB, enc, rng.randbytes(klen), "hmac-sha1-96",
                               rng.randbytes(20))


def _packet(rng: random.Random, sa: SecurityAssociation, seq: int) -> bytes:
    payload, nh = _payload(rng)
    align = sa.algorithm.align
    pad_to = rng.choice([None, align, 4 * align, (128 // align) * align])
    esp = encode_esp(sa, seq, payload, nh, pad_to=pad_to)
    r = rng.random()
    if r < 0.05:  # a wrong ICV
        esp = esp[:-1] + bytes((esp[-1] ^ 1,))
    elif r < 0.08:  # bytes flipped in the ciphertext
        b = bytearray(esp)
        b[rng.randrange(8, len(b))] ^= 1 << rng.randrange(8)
        esp = bytes(b)
    elif r < 0.1:  # not whole blocks
        esp = esp[:-rng.randrange(1, 8)]
    return MAC + encode_ipv4(S1, HUB, 50, esp, ident=seq & 0xFFFF)


def _rec(number: int, b: bytes) -> tuple:
    return (number, 1_700_000_000.0 + number, 1, b, len(b), None)


def _classifiers(db: SADatabase, verify_all: bool, first: tuple
                 ) -> tuple[fastpath.Classifier, fastpath.Classifier]:
    """One that opens ready SAs inline, one that never does; the SA's first
    packet went by both (with a key: to the full decode)."""
    fast = fastpath.Classifier(db.lookup, verify_all=verify_all)
    slow = fastpath.Classifier(db.lookup, verify_all=verify_all)
    slow._go_fast = lambda ek, es: None  # type: ignore[method-assign]
    out = fast.classify_batch([first])
    assert out == slow.classify_batch([first]) and (out == [first]) == bool(db)
    return fast, slow


def _spy(c: fastpath.Classifier) -> list[int]:
    """The frames ``c`` leaves to ``_esp_packet`` from now on (not opened inline)."""
    calls: list[int] = []
    esp_packet = c._esp_packet

    def spy(*a: object) -> object:
        calls.append(a[0])  # type: ignore[arg-type]
        return esp_packet(*a)  # type: ignore[arg-type]

    c._esp_packet = spy  # type: ignore[method-assign]
    return calls


@FAST
@given(st.sampled_from(CBC), st.integers(0, 2**32 - 1), st.booleans())
def test_inline_esp_equals_the_classifier_without_it(alg, seed, verify_all):
    rng = random.Random(seed)
    sa = _sa(rng, *alg, spi=rng.randrange(256, 1 << 32))
    db = SADatabase([sa])
    first = _rec(1, MAC + encode_ipv4(S1, HUB, 50, encode_esp(sa, 1, b"\0" * 40, 47)))
    fast, slow = _classifiers(db, verify_all, first)
    assert len(fast._fast) == 1 and not slow._fast
    recs = [_rec(i, _packet(rng, sa, i)) for i in range(2, 12)]
    calls = _spy(fast)
    got = fast.classify_batch(recs)
    assert got == slow.classify_batch(recs)
    for rec, it in zip(recs, got, strict=True):
        if len(it) == 9 and rec[0] not in calls:
            assert it[5] is fast._fast[it[5]].ek  # the one key object, every packet


def test_the_inline_path_takes_plain_gre_data():
    """Keyed and unkeyed GRE data under each CBC cipher is opened inline
    (``_esp_packet`` is not called) unless ``peek_at`` would decrypt it
    whole or its padding reaches past the last block; counted as the rest
    of the classifier counts it."""
    rng = random.Random(4)
    for alg in CBC:
        for key in (None, 77):
            sa = _sa(rng, *alg, spi=0x4000)
            db = SADatabase([sa])
            first = _rec(1, MAC + encode_ipv4(S1, HUB, 50, encode_esp(sa, 1, b"\0" * 40, 47)))
            fast, slow = _classifiers(db, False, first)
            recs, inline = [], []
            for i in range(2, 40):
                payload = encode_gre(PT_IPV4, _inner("udp", rng), key=key)
                esp = encode_esp(sa, i, payload, 47)
                recs.append(_rec(i, MAC + encode_ipv4(S1, HUB, 50, esp)))
                blk, ct = sa.algorithm.block, len(esp) - 8 - sa.algorithm.iv_len - 12
                pad = -(len(payload) + 2) % sa.algorithm.align
                if ct > EspPeek.HEAD + 2 * blk and pad + 2 <= blk:
                    inline.append(i)
            calls = _spy(fast)
            got = fast.classify_batch(recs)
            assert got == slow.classify_batch(recs)
            assert all(len(it) == 9 and it[3] is not None for it in got if it[0] in inline)
            assert len(inline) > 10 and not set(calls) & set(inline), alg


def test_inline_no_key_equals_the_classifier_without_it():
    rng = random.Random(9)
    sa = _sa(rng, "aes-cbc", 16, spi=0x5000)
    db = SADatabase()  # no key for it
    recs = [_rec(i, _packet(rng, sa, i)) for i in range(1, 40)]
    fast, slow = _classifiers(db, False, recs[0])
    assert len(fast._fast) == 1
    assert fast.classify_batch(recs[1:]) == slow.classify_batch(recs[1:])
    fast._esp_packet = None  # type: ignore[assignment,method-assign]
    assert all(it[3] is None and len(it) == 9 for it in fast.classify_batch(recs[1:]))


def test_a_key_added_sends_the_sa_back_to_the_full_decode():
    """Keys learned mid-capture (a pcapng secrets block) change what an SA
    is: its next packet is looked up again and goes the full way first."""
    rng = random.Random(3)
    sa = _sa(rng, "aes-cbc", 16, spi=0x6000)
    db = SADatabase()
    recs = [_rec(i, MAC + encode_ipv4(S1, HUB, 50, encode_esp(
        sa, i, encode_gre(PT_IPV4, _inner("udp", rng)), 47))) for i in range(1, 8)]
    c = fastpath.Classifier(db.lookup)
    assert [x[3] for x in c.classify_batch(recs[:3])[1:]] == [None, None]
    db.add(sa)
    out = c.classify_batch(recs[3:])
    assert out[0] is recs[3]  # the full decode checks its ICV
    assert all(x[3] is not None for x in out[1:])


def test_cbc_ends_is_peek_at():
    """The recipe ``CbcEnds`` states, followed by hand, gives ``peek_at``'s
    head bytes and accepts the trailers it accepts."""
    rng = random.Random(12)
    for alg in CBC:
        sa = _sa(rng, *alg, spi=0x7000)
        peek = EspPeek.for_sa(sa)
        assert peek is not None
        ends = peek.cbc_ends()
        assert ends is not None
        blk = ends.blk
        for i in range(300):
            esp = _packet(rng, sa, i + 1)[34:]
            s, e = ends.skip, len(esp) - ends.icv_len
            if e - s <= ends.whole or (e - s) % blk:
                continue
            p = ends.update(esp[s - blk:s + EspPeek.HEAD] + esp[e - 2 * blk:e])
            ok = p.endswith(ends.trailers[p[-2]])
            r = peek.peek_at(esp, 0, len(esp))
            if r is None:
                assert not ok or (p[blk:blk + 4] not in (b"\0\0\x08\0", b"\x20\0\x08\0"))
                continue
            buf, off, _glen, known = r
            assert ok and known == EspPeek.HEAD
            assert buf[off:off + known] == p[blk:blk + EspPeek.HEAD]
    assert EspPeek.for_sa(SecurityAssociation(1, None, None, "aes-ctr", bytes(20))).cbc_ends() is None  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4),
       st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       st.sampled_from([1, 6, 17, 47]), st.binary(min_size=4, max_size=8), st.booleans())
def test_the_fused_esp_layouts_read_what_the_peeks_read(src, dst, spi, seq, key, proto, l4, df):
    b = MAC + encode_ipv4(".".join(map(str, src)), ".".join(map(str, dst)), 50,
                          spi.to_bytes(4, "big") + seq.to_bytes(4, "big"))
    ek, q = fastpath._ESP_AT.unpack_from(b)
    h = peek_esp(b, fastpath._ESP_OFF)
    outer = ip.peek_ipv4(b, 14)
    assert h is not None and outer is not None and outer.ihl == 20 and fastpath._ESP_OFF == 34
    assert ek == outer.src + outer.dst + spi.to_bytes(4, "big") and q == h.seq == seq
    # the plaintext: GRE (with a key, or none) then IPv4, read at once
    inner = encode_ipv4("10.0.0.1", "10.9.8.7", proto, l4, df=df)
    g = encode_gre(PT_IPV4, inner, key=key)
    gw, gk, ivihl, ifl, iproto, idst, first = fastpath._GRE_IP.unpack_from(g + bytes(8))
    hg = gre.peek_gre(g)
    assert hg is not None
    assert gw == (hg.flags | hg.version) << 16 | hg.protocol_type
    assert gw == (fastpath._GRE_KEY_IPV4 if key is not None else fastpath._GRE_IPV4)
    if key is None:
        ivihl, ifl, iproto, idst, first = fastpath._INNER.unpack_from(g, 4)
    else:
        assert gk == hg.key == key
    i = ip.peek_ipv4(g, hg.header_len)
    assert i is not None
    assert (ivihl, ifl, iproto, idst) == (0x45, i.flags_fragment, i.protocol, int.from_bytes(i.dst, "big"))
    assert first == int.from_bytes(l4[:4], "big")


def test_engine_with_inline_esp_equals_the_full_decode():
    """Several CBC SAs, data and NHRP inside, wrong ICVs: the replay with the
    inline path gives the full decode's analysis wherever ICVs are right, and
    always with --verify-all."""
    rng = random.Random(21)
    db = SADatabase()
    frames: list[bytes] = []
    for i, alg in enumerate(CBC):
        sa = _sa(rng, *alg, spi=0x100 + i)
        db.add(sa)
        frames += [_packet(rng, sa, j) for j in range(1, 60)]
    recs = [_rec(i + 1, b) for i, b in enumerate(frames)]

    def doc(fast: bool, verify_all: bool, recs: list[tuple]) -> dict:
        for sa in db:
            sa.esn_hint = None
        eng = Engine(db.lookup, fast=fast, verify_all=verify_all)
        eng.feed_batches([recs[:100], recs[100:]])
        eng.finish()
        return eng.analysis(["x"], warnings=eng.decoder.finish()).json()

    assert doc(True, True, recs) == doc(False, False, recs)
    from nhrpscope.dissectors.frame import FrameDecoder

    decoder = FrameDecoder(db.lookup)
    good = [r for r in recs if all(getattr(la, "icv_ok", None) is not False
                                   for la in decoder.decode(1, r[3]).layers if la.proto == "esp")]
    assert len(good) < len(recs)
    assert doc(True, False, good) == doc(False, False, good)
