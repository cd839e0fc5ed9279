"""Issue 13, "Memory and time bounded on hostile input": every cache, buffer
and memo held while reading is bounded in bytes, repeated warnings are
counted, and findings are capped with a total. Each case is the issue's
hostile input built small (past the bound, not to its full size) and run
under a time limit and, where memory is the point, a memory cap."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from _limits import check_exit, peak_memory, run_cli, time_limit
from nhrpscope.dissectors import ip
from nhrpscope.dissectors.base import internet_checksum
from nhrpscope.dissectors.nhrp import (
    MEMO_MAX_BYTES,
    MEMO_MAX_PACKET,
    NhrpMemo,
    decode_nhrp,
    encode_nhrp,
    make_cie,
    make_packet,
)

from nhrpscope.capture import MAX_FRAME, MAX_SAME_WARNINGS, CaptureReader, PcapngWriter, PcapWriter
from nhrpscope.replay import findings as findings_mod
from nhrpscope.replay.findings import MAX_FINDINGS_PER_CODE, FindingSet
from nhrpscope.replay.source import DEDUP_MAX_ENTRIES, REORDER_MAX_BYTES, CaptureSource, _in_order

MB = 1 << 20


def nhrp_registration(rid: int, cies: int) -> bytes:
    """A registration request with a right checksum, distinct by its
    source protocol address (not by the request id, which the memo ignores)."""
    pkt = make_packet("registration-request", request_id=rid, src_nbma="172.16.0.1",
                      src_proto=f"10.{rid >> 16 & 255}.{rid >> 8 & 255}.{rid & 255}",
                      dst_proto="10.255.255.254",
                      cies=[make_cie(prefix_len=32, mtu=1400, holding_time=7200)] * cies)
    return encode_nhrp(pkt)


# -- NHRP decode memo ---------------------------------------------------------------


def test_nhrp_memo_keeps_no_packet_past_its_size_limit():
    # 3,000 distinct 64 KB packets held 1.87 GB: a packet that large is never kept.
    big = nhrp_registration(1, 2400)
    assert len(big) > MEMO_MAX_PACKET
    memo = NhrpMemo()
    d = decode_nhrp(big, memo=memo)
    assert d.record is not None and d.record.checksum_ok
    assert memo.entries == {} and memo.held == 0


def test_nhrp_memo_is_bounded_in_bytes():
    memo = NhrpMemo(max_size=1 << 20, max_bytes=256 * 1024)  # entries never the limit here
    wires = [nhrp_registration(i, 150) for i in range(300)]  # ~1.9 KB each, all distinct
    assert all(len(w) <= MEMO_MAX_PACKET for w in wires)
    top = 0
    for w in wires:
        decode_nhrp(w, memo=memo)
        top = max(top, memo.held)
    assert 0 < top <= 256 * 1024
    assert len(memo.entries) < 300
    # the default budget is what the 100 MB target leaves room for
    assert MEMO_MAX_BYTES <= 16 * MB


def test_nhrp_memo_budget_holds_its_real_size():
    """The byte estimate is not a fiction: decoding distinct packets through
    a memo of 1 MiB (filled four times over) allocates under 2 MiB in all."""
    wires = [nhrp_registration(i, 150) for i in range(260)]
    memo = NhrpMemo(max_bytes=MB)
    with time_limit(30, "260 distinct NHRP packets"), peak_memory() as peak:
        for w in wires:
            decode_nhrp(w, memo=memo)
    assert peak[0] < 2 * MB, peak[0]


# -- IP reassembly ----------------------------------------------------------------


def frag(ident: int, offset: int, data: bytes, more: bool = True) -> ip.Fragment:
    return ip.Fragment((4, "10.0.0.1", "10.0.0.2", ident, 47), offset, more, data, 47)


def test_overlapping_fragments_keep_only_what_they_add():
    # 2,000 overlapping 60 KB fragments of one datagram held 996 MB (each kept).
    r = ip.Reassembler()
    with time_limit(10, "overlapping 60 KB fragments"), peak_memory() as peak:
        for i in range(2000):
            _, _, notes = r.add(frag(1, (i % 600) * 8, b"x" * 60_000), i, 0.0)
            assert len(notes) <= 1  # one note per fragment, not one per piece it overlaps
    assert r.held <= ip.MAX_DATAGRAM
    assert peak[0] < 4 * MB, peak[0]


def test_overlap_keeps_the_first_copy_and_completes():
    r = ip.Reassembler()
    r.add(frag(2, 0, b"a" * 16), 1, 0.0)
    _, _, notes = r.add(frag(2, 8, b"b" * 16), 2, 0.0)  # bytes 8-15 held already
    assert notes == ["fragment at offset 8 overlaps the piece at offset 0"]
    whole, frames, _ = r.add(frag(2, 24, b"c" * 8, more=False), 3, 0.0)
    assert whole == b"a" * 16 + b"b" * 8 + b"c" * 8 and frames == (1, 2, 3)
    assert r.held == 0 and r.pending == {}


def test_reassembly_is_bounded_in_bytes_over_all_datagrams():
    r = ip.Reassembler(max_bytes=2 * MB)
    with peak_memory() as peak:
        for i in range(500):  # 500 datagrams of 60 KB, none complete
            r.add(frag(i, 0, b"y" * 60_000), i, 0.0)
            assert r.held <= 2 * MB
    assert peak[0] < 4 * MB, peak[0]
    left = r.flush()
    assert left[-1].startswith("490 more IP datagram(s) never completed")


def test_fragments_that_never_complete_are_counted_not_listed():
    # 250,000 such fragments made 250,000 warning lines and took 20 s.
    r = ip.Reassembler(timeout=1.0)
    with time_limit(15, "100,000 fragments never completed"):
        for i in range(100_000):
            r.add(frag(i & 0xFFFF, 0, b"z" * 8), i, i * 0.01)
        left = r.flush()
    assert len(left) == ip.MAX_EXPIRED_SHOWN + 1
    assert all("never completed" in line for line in left)
    assert left[-1].startswith(f"{100_000 - ip.MAX_EXPIRED_SHOWN} more IP datagram(s)")


def fragments_pcap(path: Path, n: int) -> Path:
    """``n`` overlapping IPv4 fragments of one datagram, raw IP link type."""
    with open(path, "wb") as f:
        w = PcapWriter(f, 228)
        for i in range(n):
            w.write(1.0 + i * 1e-3, ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, b"q" * 1400,
                                                   ident=5, frag_offset=(i % 100) * 8, mf=True))
    return path


def test_overlapping_fragments_make_bounded_jsonl(tmp_path):
    # decode --format jsonl wrote 249 MB: a note per earlier piece, per frame.
    p = fragments_pcap(tmp_path / "overlap.pcap", 800)
    code, out = run_cli(["decode", "--format", "jsonl", str(p)], 30)
    check_exit(code, out, "decode jsonl")
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert len(lines) == 800
    assert len(out) < 800 * 3000, len(out)  # a few KB a frame, not growing with the frame number
    assert max(out.count("overlaps") for out in out.splitlines()) <= 1


# -- reading: records, reorder buffer, duplicate filter --------------------------------


def test_records_over_the_snapshot_ceiling_are_skipped_not_held(tmp_path):
    # six 256 MiB records held 2.1 GB. Here two of 256 MiB (a sparse file)
    # between good frames, and a pcapng block of 8 MiB.
    p = tmp_path / "huge.pcap"
    good = bytes(60)
    claim = 256 * MB
    with open(p, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        f.write(struct.pack("<IIII", 1, 0, len(good), len(good)) + good)
        for _ in range(2):
            f.write(struct.pack("<IIII", 2, 0, claim, claim))
            f.seek(claim, 1)
        f.write(struct.pack("<IIII", 3, 0, len(good), len(good)) + good)
    with time_limit(20, "two 256 MiB records"), peak_memory() as peak:
        with CaptureReader(p) as r:
            numbers = [rec[0] for rec in r.records()]
    assert peak[0] < 8 * MB, peak[0]
    assert numbers == [1, 4]  # the skipped keep their numbers, as Wireshark counts them
    assert len(r.warnings) == 2 and all(f"over the {MAX_FRAME}" in w for w in r.warnings)

    q = tmp_path / "huge.pcapng"
    with open(q, "wb") as f:
        w = PcapngWriter(f)
        w.write(1.0, good, 1)
        w.write(2.0, bytes(8 * MB), 1)
        w.write(3.0, good, 1)
    with peak_memory() as peak, CaptureReader(q) as r:
        numbers = [rec[0] for rec in r.records()]
    assert peak[0] < 4 * MB, peak[0]
    assert numbers == [1, 3] and len(r.warnings) == 1 and "frame 2 skipped" in r.warnings[0]


def test_repeated_record_warnings_are_counted(tmp_path):
    p = tmp_path / "many.pcap"
    with open(p, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i in range(40):
            f.write(struct.pack("<IIII", i, 0, MAX_FRAME + 4, MAX_FRAME + 4) + bytes(MAX_FRAME + 4))
    with CaptureReader(p) as r:
        assert list(r.records()) == []
    assert len(r.warnings) == MAX_SAME_WARNINGS + 1
    assert r.warnings[-1].endswith(f"{40 - MAX_SAME_WARNINGS} more record(s) over {MAX_FRAME} bytes skipped")


def test_reorder_buffer_is_bounded_in_bytes():
    # 4,096 frames of 256 KiB at one timestamp held 1.23 GB.
    size = 256 * 1024

    def frames():
        for i in range(400):  # 100 MiB in all, one at a time as pcapng hands them over
            yield [(i + 1, 5.0, 1, b"\1" * size, size, None)]

    held = 0
    with time_limit(20, "400 frames of 256 KiB"), peak_memory() as peak:
        for out in _in_order(frames(), 0.5, 4096, REORDER_MAX_BYTES):
            held += len(out)
    assert held == 400
    assert peak[0] < REORDER_MAX_BYTES + 4 * MB, peak[0]


def test_duplicate_filter_is_bounded(tmp_path, monkeypatch):
    # 1,000,000 distinct frames with one timestamp held 267 MB. The bound
    # made small, so ten times it is a quick test.
    from nhrpscope.replay import source

    assert DEDUP_MAX_ENTRIES <= 1 << 16
    monkeypatch.setattr(source, "DEDUP_MAX_ENTRIES", 4096)
    n = 40_000
    p = tmp_path / "one-time.pcap"
    with open(p, "wb") as f:
        w = PcapWriter(f, 228)
        for i in range(n):
            w.write(7.0, ip.encode_ipv4("10.0.0.1", "10.0.0.2", 17, i.to_bytes(4, "big")))
    peaks = []
    for dedup in (False, True):
        with time_limit(60, f"{n} frames at one time"), peak_memory() as peak:
            with CaptureSource([str(p)], dedup=dedup) as src:
                kept = sum(len(b) for b in src.record_batches())
        assert kept == n and src.duplicates == 0
        peaks.append(peak[0])
    # what the filter adds: about 200 bytes a packet remembered, so unbounded
    # it would be about 8 MB here
    assert peaks[1] - peaks[0] < 3 * MB, peaks


# -- findings ----------------------------------------------------------------------


def test_findings_are_capped_with_a_total():
    fs = FindingSet()
    n = MAX_FINDINGS_PER_CODE + 250
    for spi in range(n):
        fs.raise_("esp-no-key", (spi,), f"no key for SPI {spi}", [spi], severity="warning")
        fs.raise_("esp-no-key", (spi,), f"no key for SPI {spi}", [spi + 1], severity="warning")  # a repeat
    kept = [f for f in fs if f.code == "esp-no-key"]
    left = [f for f in fs if f.code == "findings-left-out"]
    assert len(kept) == MAX_FINDINGS_PER_CODE
    assert len(left) == 1 and left[0].message.startswith("250 more esp-no-key finding(s) left out")
    assert left[0].severity == "info" and fs.left_out == {"esp-no-key": 250}


def test_findings_cap_reaches_the_report(tmp_path, monkeypatch):
    """Through ``analyze``: ESP to 120 distinct SPIs, no keys, a cap of 50."""
    from nhrpscope.dissectors.link import Ethernet, encode_ethernet

    monkeypatch.setattr(findings_mod, "MAX_FINDINGS_PER_CODE", 50)
    p = tmp_path / "spis.pcap"
    with open(p, "wb") as f:
        w = PcapWriter(f, 1)
        for spi in range(120):
            esp = struct.pack("!II", 0x1000 + spi, 1) + bytes(64)
            w.write(1.0 + spi * 0.01, encode_ethernet(
                Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", 0x0800),
                ip.encode_ipv4("172.16.0.1", "172.16.0.2", 50, esp)))
    code, out = run_cli(["analyze", "--format", "json", str(p)], 30)
    check_exit(code, out, "analyze")
    report = json.loads(out)
    codes = [f["code"] for f in report["findings"]]
    left = [f for f in report["findings"] if f["code"] == "findings-left-out"]
    assert left, codes
    for f in left:
        capped = f["message"].split()[2]
        assert codes.count(capped) == 50, (capped, codes.count(capped))


def test_internet_checksum_helper_is_the_one_nhrp_checks():
    # guards nhrp_registration above: a wrong checksum would keep every packet out of the memo
    w = nhrp_registration(3, 1)
    assert internet_checksum(w) == 0


@pytest.mark.parametrize("n", [1, MEMO_MAX_PACKET // 12])
def test_memo_hit_is_the_packet_decoded_afresh(n):
    w = nhrp_registration(9, n)
    memo = NhrpMemo()
    first = decode_nhrp(w, memo=memo).record
    again = decode_nhrp(w, memo=memo).record
    assert first == again == decode_nhrp(w).record
