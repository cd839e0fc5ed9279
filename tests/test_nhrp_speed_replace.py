"""The shaped frame's records rebuilt with their new fields
(``base.slot_replacer``) and its checksums checked by remainder
(``frame_shape.sound``) answer as the plain ways do. No timing here
(benchmarks/nhrp_frame.py measures)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from nhrpscope.dissectors.base import slot_replacer
from nhrpscope.dissectors.frame_shape import IPV4_WITH, NHRP_WITH, sound
from nhrpscope.dissectors.ip import IPV4_FIELDS, IPv4
from nhrpscope.dissectors.nhrp import PACKET_FIELDS, NhrpPacket, decode_nhrp, packet_values

from tests.test_nhrp_speed_shape import chain, registration


def fold(rest: int) -> bool:
    """RFC 1071's end-around carry, word by word: the reference ``sound`` keeps."""
    while rest >> 16:
        rest = (rest & 0xFFFF) + (rest >> 16)
    return rest == 0xFFFF


def test_the_replacer_is_dataclasses_replace():
    n = decode_nhrp(registration(3)[38:]).record
    assert isinstance(n, NhrpPacket)
    got = NHRP_WITH(packet_values(n), 0xDEADBEEF, 0x1234)
    assert got == dataclasses.replace(n, request_id=0xDEADBEEF, checksum=0x1234)
    assert type(got) is NhrpPacket
    ip = chain(1, registration(3)).layers[1]
    assert isinstance(ip, IPv4)
    values = tuple(getattr(ip, f) for f in IPV4_FIELDS)
    assert IPV4_WITH(values, 7, 9) == dataclasses.replace(ip, id=7, checksum=9)
    with pytest.raises(dataclasses.FrozenInstanceError):  # still frozen
        got.hop_count = 1  # type: ignore[misc]


def test_the_replacer_takes_the_fields_in_the_order_named():
    n = decode_nhrp(registration(4)[38:]).record
    swap = slot_replacer(NhrpPacket, "checksum", "request_id")
    assert swap(packet_values(n), 1, 2) == dataclasses.replace(n, checksum=1, request_id=2)
    assert PACKET_FIELDS.index("request_id") < PACKET_FIELDS.index("checksum")


def test_sound_is_the_fold():
    rnd = random.Random(2332)
    cases = [0xFFFF * k for k in range(1, 9)] + [0xFFFF * k + d for k in range(1, 9)
                                                   for d in (-1, 1, 0x8000)]
    cases += [rnd.randrange(1, 1 << 22) for _ in range(20000)]
    for rest in cases:
        assert sound(rest) == fold(rest), rest
