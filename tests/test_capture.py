"""Capture reading and writing: pcap in both byte orders and resolutions,
pcapng with several interfaces, SPBs, comments and secrets; gzip; damage."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhrpscope.capture import (
    BLOCK_DSB,
    BLOCK_SPB,
    BlockLengthError,
    CaptureError,
    CaptureReader,
    PcapngWriter,
    PcapWriter,
    _block,
)


def _pcap(endian: str, magic: int, recs: list[tuple[int, int, bytes]], linktype: int = 1) -> bytes:
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data in recs:
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data) + 10) + data
    return out


def _frames(tmp_path: Path, blob: bytes, name: str = "c.pcap", **kw):
    p = tmp_path / name
    p.write_bytes(blob)
    r = CaptureReader(p, **kw)
    with r:
        return list(r), r


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("magic,div", [(0xA1B2C3D4, 1e6), (0xA1B23C4D, 1e9)])
def test_pcap_byte_orders_and_resolutions(tmp_path, endian, magic, div):
    blob = _pcap(endian, magic, [(100, 5, b"abc"), (101, 7, b"")], linktype=101)
    frames, r = _frames(tmp_path, blob)
    assert [f.data for f in frames] == [b"abc", b""]
    assert frames[0].time == pytest.approx(100 + 5 / div)
    assert frames[0].wire_len == 13
    assert frames[0].linktype == 101 and r.format == "pcap"
    assert [f.number for f in frames] == [1, 2]


def test_pcap_cut_short_yields_whole_frames_then_warns(tmp_path):
    blob = _pcap("<", 0xA1B2C3D4, [(1, 0, b"x" * 50), (2, 0, b"y" * 50)])
    frames, r = _frames(tmp_path, blob[:-20])
    assert len(frames) == 1
    assert len(r.warnings) == 1 and "cut short in frame 2" in r.warnings[0]


def test_pcap_absurd_length_is_an_error_not_a_huge_read(tmp_path):
    blob = _pcap("<", 0xA1B2C3D4, [(1, 0, b"ok")])
    blob += struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"z" * 10
    p = tmp_path / "bad.pcap"
    p.write_bytes(blob)
    got = []
    with pytest.raises(CaptureError, match=r"bad.pcap: frame 2 .*absurd"):
        for f in CaptureReader(p):
            got.append(f)
    assert len(got) == 1


def test_not_a_capture(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello world")
    with pytest.raises(CaptureError, match="x.txt: not a pcap or pcapng"):
        list(CaptureReader(p))
    with pytest.raises(CaptureError, match="cannot open"):
        list(CaptureReader(tmp_path / "missing.pcap"))


def test_gzip(tmp_path):
    blob = _pcap("<", 0xA1B2C3D4, [(1, 0, b"gz")])
    frames, _ = _frames(tmp_path, gzip.compress(blob), "c.pcap.gz")
    assert frames[0].data == b"gz"


def test_pcapng_round_trip_several_interfaces_comments_secrets(tmp_path):
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    w.secrets(0x12345678, b"secret rows")
    w.write(1.5, b"\x45" + b"\0" * 19, 101, comment="first")
    w.write(2.25, b"eth-frame-data", 1, wire_len=100)
    w.write(3.000000001, b"more", 101)
    seen = []
    frames, r = _frames(tmp_path, buf.getvalue(), "c.pcapng",
                        on_secrets=lambda t, d, where: seen.append((t, d)))
    assert seen == [(0x12345678, b"secret rows")]
    assert [(f.linktype, f.interface) for f in frames] == [(101, 0), (1, 1), (101, 0)]
    assert frames[0].comment == "first" and frames[1].comment is None
    assert frames[1].wire_len == 100
    assert frames[2].time == pytest.approx(3.000000001, abs=1e-9)
    assert r.linktypes == {1, 101}


def test_pcapng_tsresol_binary_and_offset_and_spb(tmp_path):
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack("<HH", 9, 1) + b"\x84\0\0\0"  # 2^-4 s ticks
    opts += struct.pack("<HH", 14, 8) + struct.pack("<q", 1000) + struct.pack("<HH", 0, 0)
    idb = _block(1, struct.pack("<HHI", 1, 0, 0) + opts)
    ts = 32  # 32 ticks of 1/16 s = 2 s
    epb = _block(6, struct.pack("<IIIII", 0, 0, ts, 3, 3) + b"abc\0")
    spb = _block(BLOCK_SPB, struct.pack("<I", 5) + b"hello\0\0\0")
    frames, _ = _frames(tmp_path, shb + idb + epb + spb, "c.pcapng")
    assert frames[0].time == pytest.approx(1002.0)
    assert frames[1].data == b"hello" and frames[1].wire_len == 5


def test_pcapng_big_endian_section(tmp_path):
    def blk(t: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack(">II", t, len(body) + 12) + body + struct.pack(">I", len(body) + 12)

    shb = blk(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = blk(1, struct.pack(">HHI", 101, 0, 0))
    epb = blk(6, struct.pack(">IIIII", 0, 0, 1_000_000, 2, 2) + b"hi")
    frames, _ = _frames(tmp_path, shb + idb + epb, "c.pcapng")
    assert frames[0].data == b"hi" and frames[0].time == pytest.approx(1.0)


def test_pcapng_bad_block_length_is_an_error(tmp_path):
    buf = io.BytesIO()
    PcapngWriter(buf)
    blob = buf.getvalue() + struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 40
    p = tmp_path / "bad.pcapng"
    p.write_bytes(blob)
    with pytest.raises(CaptureError, match="impossible length"):
        list(CaptureReader(p))
    blob = buf.getvalue() + struct.pack("<II", 6, 7)
    p.write_bytes(blob)
    with pytest.raises(CaptureError, match="impossible length"):
        list(CaptureReader(p))


def test_pcapng_bad_block_length_names_the_block(tmp_path):
    buf = io.BytesIO()
    PcapngWriter(buf)
    head = buf.getvalue()
    p = tmp_path / "bad.pcapng"
    p.write_bytes(head + struct.pack("<II", BLOCK_DSB, 0xFFFFFFF0) + b"\0" * 40)
    with pytest.raises(BlockLengthError) as e:
        list(CaptureReader(p))
    assert (e.value.offset, e.value.block_type, e.value.length) == (len(head), BLOCK_DSB, 0xFFFFFFF0)


def test_pcapng_damaged_secrets_blocks_are_listed(tmp_path):
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    good_at = len(buf.getvalue())
    w.secrets(0x45535053, b"good")
    bad_at = len(buf.getvalue())
    buf.write(_block(BLOCK_DSB, struct.pack("<II", 0x45535053, 99) + b"abcd"))  # claims 99 of 4
    w.write(1.0, b"a" * 40, 101)
    cut_at = len(buf.getvalue())
    w.secrets(0x45535053, b"x" * 40)
    got: list[tuple[int, bytes, str, int]] = []
    p = tmp_path / "c.pcapng"
    p.write_bytes(buf.getvalue()[:-10])
    with CaptureReader(p) as r:
        r.on_secrets = lambda t, d, where: got.append((t, d, where, r.block_offset))
        frames = list(r)
    assert len(frames) == 1
    assert got == [(0x45535053, b"good", f"{p}: block at offset {good_at}", good_at)]
    assert r.bad_secrets == [(bad_at, "length wrong"), (cut_at, "cut short")]
    assert len(r.warnings) == 2


def test_pcapng_cut_short(tmp_path):
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    w.write(1.0, b"a" * 40, 101)
    w.write(2.0, b"b" * 40, 101)
    frames, r = _frames(tmp_path, buf.getvalue()[:-10], "c.pcapng")
    assert len(frames) == 1 and "cut short" in r.warnings[0]


def test_pcap_writer_round_trip(tmp_path):
    buf = io.BytesIO()
    w = PcapWriter(buf, 1, nanosecond=True)
    w.write(12.000000123, b"abcd", 60)
    frames, _ = _frames(tmp_path, buf.getvalue())
    assert frames[0].time == pytest.approx(12.000000123, abs=1e-9)
    assert frames[0].data == b"abcd" and frames[0].wire_len == 60


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["pcap", "pcapng"]))
def test_random_bytes_never_raise_anything_but_capture_error(tmp_path_factory, junk, kind):
    if kind == "pcap":
        blob = _pcap("<", 0xA1B2C3D4, []) + junk
    else:
        buf = io.BytesIO()
        PcapngWriter(buf)
        blob = buf.getvalue() + junk
    p = tmp_path_factory.mktemp("fz") / "f"
    p.write_bytes(blob)
    try:
        with CaptureReader(p) as r:
            for _ in r:
                pass
    except CaptureError:
        pass
