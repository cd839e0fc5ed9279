"""Captures whose snap length cut frames (issue 12, item 4): one
capture-truncated warning that counts them, nothing inferred from what was
cut, the checksum "unverified" rather than bad (as tshark says it), never
``None`` in text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.gre import PT_NHRP, decode_gre, encode_gre
from nhrpscope.dissectors.nhrp import (
    PROBLEM_CHECKSUM_UNVERIFIED,
    decode_nhrp,
    encode_nhrp,
    make_cie,
    make_packet,
)
from test_replay_build import HUB, HUB_T, R2, R2_T, Cap

from nhrpscope import api
from nhrpscope.capture import CaptureReader, PcapngWriter
from nhrpscope.cli import main
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.fastpath import Classifier

CAPTURES = Path(__file__).parents[1] / "captures"


def cut(src: Path, dst: Path, snap: int) -> tuple[int, list[int]]:
    """``src`` rewritten with every frame kept to ``snap`` bytes (as
    ``editcap -s`` does): its wire length stays. The frames cut."""
    cut_frames = []
    with open(dst, "wb") as fh:
        w = PcapngWriter(fh)
        for f in CaptureReader(src):
            if len(f.data) > snap:
                cut_frames.append(f.number)
            w.write(f.time, f.data[:snap], f.linktype, f.wire_len)
    return snap, cut_frames


def cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def roles(result: api.Result) -> dict[str, str]:
    return {r.nbma: r.role for r in result.analysis.routers if r.role != "unknown"}


def truncated(result: api.Result) -> list:
    return [f for f in result.analysis.findings if f.code == "capture-truncated"]


@pytest.mark.parametrize("snap", [96, 110, 128])
def test_seed_lab_cut_counts_the_frames_and_infers_no_other_role(tmp_path: Path, snap: int):
    src = CAPTURES / "seed-lab.pcapng"
    _, frames = cut(src, tmp_path / "cut.pcapng", snap)
    assert frames  # the snap length cuts some frames
    whole = api.analyze(src)
    r = api.analyze(tmp_path / "cut.pcapng")
    (f,) = truncated(r)
    assert f.severity == "warning"
    assert f.message.startswith(f"{len(frames)} of {r.analysis.capture.frames} frames are cut")
    assert f"kept to {snap} bytes" in f.message
    assert list(f.frames) == frames[:len(f.frames)] and f.frames
    # roles may be fewer than in the whole capture, never different
    assert roles(r).items() <= roles(whole).items()
    assert not truncated(whole)
    # a cut NHRP packet is not malformed: it is cut
    assert not [x for x in r.analysis.findings if x.code == "malformed-nhrp"]


def test_cut_nhrp_moves_no_state(tmp_path: Path):
    """At 96 bytes every NHRP packet of the lab is cut inside its CIE: none
    is replayed, so no router, registration or resolution is invented."""
    cut(CAPTURES / "seed-lab.pcapng", tmp_path / "cut.pcapng", 96)
    r = api.analyze(tmp_path / "cut.pcapng")
    a = r.analysis
    assert not a.routers and not a.registrations and not a.resolutions
    (f,) = truncated(r)
    nhrp = sum(1 for p in api.decode(tmp_path / "cut.pcapng") if p.has("nhrp"))
    assert f"{nhrp} NHRP packets were cut short and not replayed" in f.message


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_none_in_the_report_of_a_cut_capture(tmp_path: Path, fmt: str):
    for snap in (96, 128):
        cut(CAPTURES / "seed-lab.pcapng", tmp_path / f"cut{snap}.pcapng", snap)
        code, out, err = cli("analyze", str(tmp_path / f"cut{snap}.pcapng"), "--format", fmt)
        assert code == 0, err
        assert "capture-truncated" in out
        if fmt == "text":
            assert "None" not in out
        else:
            doc = json.loads(out)
            assert [f for f in doc["findings"] if f["code"] == "capture-truncated"]


def test_decode_says_unverified_not_bad(tmp_path: Path):
    cut(CAPTURES / "seed-lab.pcapng", tmp_path / "cut.pcapng", 96)
    code, out, err = cli("decode", str(tmp_path / "cut.pcapng"), "-c", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert all("[checksum unverified]" in x and "bad checksum" not in x for x in lines)
    code, out, _ = cli("decode", str(tmp_path / "cut.pcapng"), "-c", "1", "-v")
    assert "! note at offset" in out and "checksum unverified: the packet is cut" in out
    nhrp_tree = out[out.index("Next Hop Resolution Protocol"):]
    assert "checksum_ok" not in nhrp_tree.split("\n  !")[0]  # unknown: not printed as None
    assert "None" not in out
    # the whole capture's checksums verify
    code, out, _ = cli("decode", str(CAPTURES / "seed-lab.pcapng"), "-c", "2")
    assert "checksum" not in out


def test_tshark_agrees_the_checksum_is_unverified(tmp_path: Path, tshark: str):
    cut(CAPTURES / "seed-lab.pcapng", tmp_path / "cut.pcapng", 96)
    out = subprocess.run([tshark, "-V", "-r", str(tmp_path / "cut.pcapng"), "-c", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "[NHRP Packet Checksum Status: Unverified]" in out
    pkt = next(iter(api.decode(tmp_path / "cut.pcapng")))
    assert pkt.layer("nhrp").checksum_ok is None


def _registration() -> bytes:
    return encode_nhrp(make_packet("registration-request", request_id=7, flags=("unique",),
                                   src_nbma=R2, src_proto=R2_T, dst_proto=HUB_T,
                                   cies=[make_cie(prefix_len=32, mtu=1514, holding_time=300)]))


def test_nhrp_checksum_unverified_only_when_bytes_are_missing():
    wire = _registration()
    whole = decode_nhrp(wire)
    assert whole.record.checksum_ok is True
    d = decode_nhrp(wire[:40])
    assert d.record.checksum_ok is None
    (p,) = [p for p in d.problems if p.id == PROBLEM_CHECKSUM_UNVERIFIED]
    assert p.severity == "note" and f"40 of its {len(wire)} bytes" in p.reason
    bad = bytearray(wire)
    bad[12] ^= 0xFF
    b = decode_nhrp(bytes(bad))
    assert b.record.checksum_ok is False
    assert not [p for p in b.problems if p.id == PROBLEM_CHECKSUM_UNVERIFIED]


def test_gre_checksum_unverified_when_the_capture_cut_it():
    gre = encode_gre(PT_NHRP, _registration(), checksum=True)
    assert decode_gre(gre).record.checksum_ok is True
    short = gre[:30]
    assert decode_gre(short).record.checksum_ok is False  # not known to be cut: wrong
    d = decode_gre(short, cut=True)
    assert d.record.checksum_ok is None
    assert [p.id for p in d.problems] == ["gre.checksum-unverified"]
    # through the frame chain: the IP header's length tells the cut
    c = Cap()
    c.ip(0.0, R2, HUB, 47, gre)
    data = c.items[0].data
    pkt = FrameDecoder().decode(c.items[0].linktype, data[:60], wire_len=len(data))
    assert pkt.layer("gre").checksum_ok is None
    assert "gre.checksum-unverified" in {p.id for p in pkt.problems}


def _records(path: Path) -> list[tuple]:
    return [(f.number, f.time, f.linktype, f.data, f.wire_len, None)
            for f in CaptureReader(path)]


def test_counted_the_same_frame_by_frame_in_batches_and_undecoded(tmp_path: Path):
    _, frames = cut(CAPTURES / "seed-lab.pcapng", tmp_path / "cut.pcapng", 128)
    recs = _records(tmp_path / "cut.pcapng")
    msgs = []
    for feed in ("records", "batches", "slow"):
        eng = Engine(fast=feed != "slow")
        if feed == "batches":
            eng.feed_batches([recs[:7], recs[7:]])
        else:
            eng.feed_records(recs)
        eng.finish()
        (f,) = [f for f in eng.analysis(["x"]).findings if f.code == "capture-truncated"]
        msgs.append(f.message)
        assert eng.cuts.frames == len(frames)
    assert len(set(msgs)) == 1


def test_items_classified_elsewhere_give_a_lower_bound(tmp_path: Path):
    """The reading process counts GRE data on its own: the frames decoded
    here are all this process sees, so the count says "at least"."""
    cut(CAPTURES / "seed-lab.pcapng", tmp_path / "cut.pcapng", 128)
    recs = _records(tmp_path / "cut.pcapng")
    classify = Classifier(None).classify_batch
    eng = Engine()
    eng.feed_items(classify(recs))
    eng.finish()
    (f,) = [f for f in eng.analysis(["x"]).findings if f.code == "capture-truncated"]
    assert f.message.startswith("at least ")


def test_a_lying_packet_size_in_a_whole_frame_is_still_malformed():
    """Not cut by the capture (the frame is whole): a packet size past the
    bytes is the sender's fault, and the receiver drops it."""
    c = Cap()
    wire = bytearray(_registration())
    wire[10:12] = (len(wire) + 20).to_bytes(2, "big")
    c.ip(1.0, R2, HUB, 47, encode_gre(PT_NHRP, bytes(wire)))
    _, a = c.run()
    assert [f.code for f in a.findings] == ["malformed-nhrp"]


def test_reference_fuzzed_nhrp_is_malformed_though_its_frame_is_cut(reference: Path):
    """pb_nhrp_1: the frame lost 6 bytes to the capture, but its IP packet
    (64 bytes) is whole; the NHRP inside claims 30547 bytes: its sender's
    fault, not the capture's."""
    r = api.analyze(reference / "pb_nhrp_1.pcap")
    codes = sorted(f.code for f in r.analysis.findings)
    assert codes == ["capture-truncated", "malformed-nhrp"]
    (t,) = truncated(r)
    assert t.message.startswith("1 of 1 frames are cut") and "kept to" not in t.message
    assert "NHRP packet" not in t.message  # the NHRP was not cut: it is malformed


@pytest.mark.parametrize("name, cut_frames", [("esp_truncated.pcap", 1),
                                              ("gre-heapoverflow-1.pcap", 2),
                                              ("gre-heapoverflow-2.pcap", 2)])
def test_reference_cut_captures_are_reported(reference: Path, name: str, cut_frames: int):
    r = api.analyze(reference / name)
    (t,) = truncated(r)
    assert t.message.startswith(f"{cut_frames} of {r.analysis.capture.frames} frames are cut")
    assert not r.analysis.routers


@pytest.mark.parametrize("name", ["ios_nhrp.pcap", "NHRP_registration.pcap", "nhrp-trace.pcap",
                                  "various_gre.pcap", "gre-sample.pcap"])
def test_whole_reference_captures_are_not_truncated(reference: Path, name: str):
    assert not truncated(api.analyze(reference / name))


def test_cut_ike_moves_no_ike_state(tmp_path: Path):
    """Cut IKE messages lose the payloads that tell an exchange's step (at
    128 bytes, main mode 3 and 4 looked like retransmissions): they are not
    replayed, and the warning counts them."""
    _, frames = cut(CAPTURES / "seed-lab-ipsec.pcapng", tmp_path / "cut.pcapng", 128)
    r = api.analyze(tmp_path / "cut.pcapng")
    codes = {f.code for f in r.analysis.findings}
    assert "ike-retransmits" not in codes and "ike-auth-failed" not in codes
    assert not [f for f in r.analysis.findings if f.severity == "error"]
    (t,) = truncated(r)
    ike = sum(1 for p in api.decode(tmp_path / "cut.pcapng") if p.has("ike") and p.frame in frames)
    assert 0 < ike < len(frames)
    assert f"{ike} IKE messages were cut short and not replayed" in t.message
    # what IKE state there is rests on the messages captured whole
    assert r.analysis.ike and not {fr for n in r.analysis.ike for fr in n.frames} & set(frames)
