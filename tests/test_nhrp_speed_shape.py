"""The NHRP frame's quick ways (issue: 30 us per NHRP frame) answer what the
frame chain answers: the whole-frame memo (``ShapeMemo``) and the shaped
decode, the cached CIEs and extensions, the records built through slot
descriptors. No timing here (benchmarks/nhrp_frame.py measures)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
from nhrpscope.dissectors import nhrp as nhrp_mod
from nhrpscope.dissectors.base import internet_checksum, slot_constructor
from nhrpscope.dissectors.frame import FrameDecoder, Packet, shape_key
from nhrpscope.dissectors.gre import PT_NHRP, encode_gre
from nhrpscope.dissectors.ip import IPv4, encode_ipv4
from nhrpscope.dissectors.nhrp import (
    NhrpPacket,
    encode_nhrp,
    make_auth_extension,
    make_cie,
    make_cie_extension,
    make_end_extension,
    make_packet,
)

from nhrpscope.capture import CaptureReader

REPO = Path(__file__).resolve().parents[1]
ETH = bytes.fromhex("00005e0001020000 5e0001010800".replace(" ", ""))


def chain(linktype: int, data: bytes) -> Packet:
    """The frame chain alone: no shape memo, no shaped decode, no NHRP memo."""
    fd = FrameDecoder()
    pkt = Packet(0, 0.0, len(data))
    fd._chain(pkt, "eth" if linktype == 1 else "ip", data, 0)
    return pkt


def same(a: Packet, b: Packet) -> None:
    assert a.layers == b.layers
    assert a.problems == b.problems
    assert a.offsets == b.offsets


def registration(rid: int, spoke: int = 1, *, key: int | None = None) -> bytes:
    n = make_packet("registration-request", request_id=rid, flags=["unique", "cisco-nat"],
                    src_nbma=f"198.51.100.{spoke}", src_proto=f"10.0.0.{spoke}",
                    dst_proto="10.0.0.254", cies=[make_cie(prefix_len=32, mtu=1400,
                                                           holding_time=7200)],
                    extensions=[make_cie_extension(3), make_cie_extension(4),
                                make_cie_extension(5),
                                make_cie_extension(9, [make_cie(client_nbma="203.0.113.9",
                                                                client_proto="10.0.0.1")]),
                                make_auth_extension(password="cisco"), make_end_extension()])
    gre = encode_gre(PT_NHRP, encode_nhrp(n), key=key)
    return ETH + encode_ipv4(f"198.51.100.{spoke}", "198.51.100.254", 47, gre, ident=rid)


@pytest.mark.parametrize("key", [None, 7])
def test_repeats_answer_as_the_chain(key):
    fd = FrameDecoder()
    frames = [registration(rid, spoke, key=key) for rid in range(1, 4) for spoke in (1, 2)]
    for data in frames + frames:
        assert shape_key(data) is not None
        same(fd.decode(1, data), chain(1, data))
    assert len(fd.shape_memo.entries) == 2  # one per spoke: ids and checksums left out
    hit = fd.shaped_nhrp(frames[0])
    want = chain(1, frames[0]).layers
    assert hit == (want[1].src, want[1].dst, key, want[3])


def test_a_wrong_checksum_is_no_hit():
    fd = FrameDecoder()
    good = registration(5)
    fd.decode(1, good)
    o = 38
    for at in (24, 25, o + 12, o + 30):  # the IPv4 checksum, NHRP's, an NHRP byte it covers
        bad = bytearray(good)
        bad[at] ^= 0x40
        bad = bytes(bad)
        if at == o + 30:  # a covered byte is in the key: no entry; fix NHRP's sum elsewhere
            continue
        got = fd.decode(1, bad)
        same(got, chain(1, bad))
        assert got.problems  # the chain says what is wrong
        assert fd.shaped_nhrp(bad) is None


def test_the_word_sums_agree_with_internet_checksum():
    fd = FrameDecoder()
    data = registration(9)
    fd.decode(1, data)
    key, o = shape_key(data)
    *_, ip_rest, nhrp_rest = fd.shape_memo.entries[key]
    assert internet_checksum(data[14:34]) == 0
    rid = int.from_bytes(data[o + 24:o + 28], "big")
    total = nhrp_rest + ((data[o + 12] << 8) | data[o + 13]) + (rid >> 16) + (rid & 0xFFFF)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


def captures() -> list[Path]:
    ref = REPO.parent / "shared" / "captures" / "reference"
    out = sorted((REPO / "captures").glob("*.pcapng"))
    if ref.is_dir():
        out += sorted(ref.glob("*.pcap*"))
    return out


@pytest.mark.parametrize("path", captures(), ids=lambda p: p.name)
def test_every_frame_of_the_captures_decodes_as_the_chain_does(path):
    fd = FrameDecoder()
    frames = []
    with CaptureReader(path) as r:
        for batch in r.batches():
            frames += [(rec[2], rec[3]) for rec in batch]
    for lt, data in frames[:3000] * 2:  # twice: the second time from the memos
        got = fd.decode(lt, data)
        if lt in (1, 101) and shape_key(data) is not None:
            same(got, chain(lt, data))


def test_slot_constructor_builds_the_record_init_builds():
    n = nhrp_mod.decode_nhrp(registration(3)[38:]).record
    assert isinstance(n, NhrpPacket)
    values = [getattr(n, f.name) for f in fields(NhrpPacket)]
    assert slot_constructor(NhrpPacket)(*values) == NhrpPacket(*values) == n
    ip = chain(1, registration(3)).layers[1]
    assert isinstance(ip, IPv4)
    values = [getattr(ip, f.name) for f in fields(IPv4)]
    assert slot_constructor(IPv4)(*values) == ip
    with pytest.raises(FrozenInstanceError):  # still frozen
        ip.ttl = 1  # type: ignore[misc]


def test_cached_cies_and_extensions_shift_their_problems():
    # a CIE whose client address does not fit IPv4: its problem at its place, twice
    cie = make_cie(client_nbma="0011223344", client_proto="10.0.0.1")
    n = make_packet("registration-request", request_id=1, src_nbma="198.51.100.1",
                    src_proto="10.0.0.1", dst_proto="10.0.0.2", cies=[cie],
                    extensions=[make_cie_extension(3, [cie]), make_end_extension()])
    wire = encode_nhrp(n)
    a = nhrp_mod.decode_nhrp(wire)
    b = nhrp_mod.decode_nhrp(wire)
    assert a.record == b.record and a.problems == b.problems
    assert sorted(p.offset for p in a.problems) == sorted({p.offset for p in a.problems})
    assert len(a.problems) == 2 and a.problems[0].offset != a.problems[1].offset


def replayed(path: Path, *, shaped: bool) -> tuple[object, list]:
    """The analysis document and the timeline events of a replay; ``shaped``
    False makes the engine decode and walk every NHRP frame in full."""
    from nhrpscope.replay.engine import Engine
    from nhrpscope.replay.source import CaptureSource

    events: list = []
    eng = Engine(None, on_event=events.append)
    if not shaped:
        eng.decoder.shaped_nhrp = lambda data: None  # type: ignore[method-assign]
    with CaptureSource([str(path)]) as src:
        eng.feed_batches(src.record_batches())
    eng.finish()
    return eng.analysis([str(path)]).json(), events


@pytest.mark.parametrize("path", sorted((REPO / "captures").glob("*.pcapng")),
                         ids=lambda p: p.name)
def test_the_replay_of_shaped_frames_is_the_full_walk(path):
    assert replayed(path, shaped=True) == replayed(path, shaped=False)
