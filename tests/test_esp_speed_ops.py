"""``decode_esp`` with an SA's contexts made once (``SaOps``: a long-lived
CBC decryptor fed the IV first, a keyed HMAC copied per packet) decodes
exactly as with everything made per packet, under every algorithm, with
right and wrong keys, extended sequence numbers, odd paddings and bytes
flipped anywhere."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import esp as esp_mod
from nhrpscope.dissectors.esp import SaOps, SecurityAssociation, decode_esp, encode_esp
from nhrpscope.dissectors.gre import PT_IPV4, encode_gre
from nhrpscope.dissectors.ip import encode_ipv4
from test_esp import COMBOS

SEEDS = settings(max_examples=40, deadline=None)


def _sa(rng: random.Random, enc: str, ek: int, integ: str, ik: int, esn: bool) -> SecurityAssociation:
    return SecurityAssociation(rng.randrange(256, 1 << 32), "192.0.2.1", "192.0.2.2", enc,
                               rng.randbytes(ek), integ, rng.randbytes(ik), esn=esn)


def _packets(rng: random.Random, sa: SecurityAssociation, n: int) -> list[bytes]:
    out = []
    seq = rng.randrange(1, 1 << 32) if sa.esn else rng.randrange(1, 1 << 20)
    for _ in range(n):
        seq += rng.choice([1, 1, 1, 7, 1 << 31])
        if not sa.esn:
            seq %= 1 << 32
        inner = encode_ipv4("10.0.0.1", "10.0.0.2", 17, rng.randbytes(rng.randrange(8, 300)))
        payload, nh = rng.choice([(encode_gre(PT_IPV4, inner, key=5), 47), (inner, 4),
                                  (rng.randbytes(rng.randrange(0, 64)), rng.choice([47, 59, 6]))])
        align = sa.algorithm.align
        esp = encode_esp(sa, max(seq, 1), payload, nh, pad_to=rng.choice([None, 4 * align]))
        r = rng.random()
        if r < 0.2:
            b = bytearray(esp)
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            esp = bytes(b)
        elif r < 0.25:
            esp = esp[:rng.randrange(len(esp))]
        out.append(esp)
    return out


def _decoded(d: Any) -> tuple:
    return d.record, d.payload, d.problems, d.payload_offset


@pytest.mark.parametrize("enc,ek,integ,ik", COMBOS)
@SEEDS
@given(seed=st.integers(0, 2**32 - 1), esn=st.booleans(), wrong=st.booleans())
def test_sa_ops_decode_as_made_per_packet(enc, ek, integ, ik, seed, esn, wrong):
    rng = random.Random(seed)
    sender = _sa(rng, enc, ek, integ, ik, esn)
    packets = _packets(rng, sender, 6)
    key = rng.randbytes(ek) if wrong and ek else sender.enc_key
    cached, fresh = (SecurityAssociation(sender.spi, sender.src, sender.dst, enc, key, integ,
                                         sender.auth_key, esn=esn) for _ in range(2))
    for esp in packets:
        want = _decoded(_without_ops(esp, fresh))
        assert _decoded(decode_esp(esp, cached)) == want
        assert cached.esn_hint == fresh.esn_hint
    assert cached.ops is not None


def _without_ops(esp: bytes, sa: SecurityAssociation) -> Any:
    """decode_esp as it was: contexts made per packet (SaOps unavailable)."""
    def refuse(sa: SecurityAssociation) -> SaOps:
        raise ValueError("no SaOps")

    saved = SaOps.for_sa
    SaOps.for_sa = staticmethod(refuse)  # type: ignore[method-assign,assignment]
    try:
        return decode_esp(esp, sa)
    finally:
        SaOps.for_sa = saved  # type: ignore[method-assign]


def test_sa_ops_follow_a_key_change():
    """An SA given other keys makes its contexts again (``for_sa``)."""
    rng = random.Random(1)
    sa = _sa(rng, "aes-cbc", 16, "hmac-sha1-96", 20, False)
    esp = encode_esp(sa, 1, encode_ipv4("10.0.0.1", "10.0.0.2", 17, bytes(20)), 4)
    assert decode_esp(esp, sa).record.status == "decrypted"
    first = sa.ops
    sa.enc_key = rng.randbytes(16)
    assert decode_esp(esp, sa).record.status == "decryption-failed"
    assert sa.ops is not first and sa.ops is not None and sa.ops.enc_key is sa.enc_key


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       st.one_of(st.none(), st.tuples(st.one_of(st.none(), st.integers(0, 2**32 - 1)),
                                      st.integers(0, 2**32 - 1))),
       st.integers(0, 2**32 - 1))
def test_hi_candidates_shortcut_is_the_list(esn, seq_hi, hint, seq):
    sa = SecurityAssociation(1, None, None, "null", esn=esn, seq_hi=seq_hi)
    sa.esn_hint = hint
    assert list(esp_mod._hi_candidates(sa, seq)) == esp_mod._hi_list(sa, seq)
