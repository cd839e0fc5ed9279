"""`nhrpscope annotate`: the capture copied frame for frame, the findings and
the NHRP story in the frame comments, read back by tshark as Wireshark's
``frame.comment`` filter and column would show them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nhrpscope import api
from nhrpscope.annotate import finding_note, one_line
from nhrpscope.capture import CaptureReader, Frame, PcapngWriter, PcapWriter
from nhrpscope.keys import DSB_ESP_SA

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
SHIPPED = sorted(CAPTURES.glob("*.pcapng"))


def nhrpscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nhrpscope", *args], capture_output=True,
                          text=True, timeout=120)


def frames(path: Path) -> list[Frame]:
    with CaptureReader(path) as r:
        return list(r)


def tshark_comments(tshark: str, path: Path) -> dict[int, list[str]]:
    """frame number -> its comments, in order, as tshark reads them."""
    r = subprocess.run([tshark, "-r", str(path), "-T", "json", "-e", "frame.number",
                        "-e", "frame.comment"], capture_output=True, text=True, timeout=120,
                       check=True)
    out = {}
    for pkt in json.loads(r.stdout):
        layers = pkt["_source"]["layers"]
        out[int(layers["frame.number"][0])] = layers.get("frame.comment", [])
    return out


def assert_same_frames(original: list[Frame], copy: list[Frame]) -> None:
    assert len(copy) == len(original)
    for a, b in zip(original, copy, strict=True):
        assert (b.number, b.time, b.linktype, b.data, b.wire_len) == \
               (a.number, a.time, a.linktype, a.data, a.wire_len), a.number
        assert b.comments[:len(a.comments)] == a.comments, a.number  # the originals first


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_frame_copied_as_it_was_with_findings_on_the_frames_they_cite(path, tmp_path):
    out = tmp_path / "out.pcapng"
    counts = api.annotate(str(path), str(out))
    original, copy = frames(path), frames(out)
    assert_same_frames(original, copy)
    assert counts.frames == len(original)
    added = {f.number: f.comments[len(o.comments):] for o, f in zip(original, copy, strict=True)}
    assert counts.comments == sum(map(len, added.values())) > 0
    for finding in api.analyze(str(path)).analysis.findings:
        note = finding_note(finding)
        assert {n for n, c in added.items() if note in c} == set(finding.frames), finding.code


def test_unanswered_registrations_filtered_by_tshark(tshark, tmp_path):
    path, out = CAPTURES / "hub-down.pcapng", tmp_path / "hub-down.pcapng"
    r = nhrpscope("annotate", str(path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    cited = {n for f in api.analyze(str(path)).analysis.findings
             if f.code == "registration-unanswered" for n in f.frames}
    assert cited
    got = subprocess.run([tshark, "-r", str(out), "-Y",
                          'frame.comment contains "registration-unanswered"', "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, check=True)
    assert {int(n) for n in got.stdout.split()} == cited
    comments = tshark_comments(tshark, out)
    assert "registration 3 of spoke 172.16.25.2 to NHS 172.16.15.2, unanswered" in comments[9]
    assert "retransmission of frame 10 (registration 3 of spoke 172.16.35.2 to NHS " \
           "172.16.15.2)" in comments[13]


def test_seed_lab_story_read_back_by_tshark(tshark, tmp_path):
    path, out = CAPTURES / "seed-lab.pcapng", tmp_path / "seed-lab.pcapng"
    assert nhrpscope("annotate", str(path), "-o", str(out)).returncode == 0
    comments = tshark_comments(tshark, out)
    own = {f.number: list(f.comments) for f in frames(path)}
    assert comments[1] == [*own[1], "registration 1 of spoke 172.16.25.2 to NHS 172.16.15.2, "
                                    "answered by frame 2"]
    assert comments[2] == [*own[2], "registration reply to frame 1"]
    assert comments[8][-1] == "resolution request for 192.168.0.4 by 172.16.25.2, answered " \
                              "by frame 13"
    assert comments[10][-1] == "resolution request for 192.168.0.4 by 172.16.25.2 (frame 8) " \
                               "passed on by 172.16.15.2 to 172.16.45.2"
    assert comments[13][-1] == "resolution reply to frame 8: 192.168.0.4 is at 172.16.45.2"
    assert comments[17] == own[17]  # data, no part in the NHRP story: only its own comment


def test_several_original_comments_kept_first(tshark, tmp_path):
    src, path, out = CAPTURES / "seed-lab.pcapng", tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    with path.open("wb") as fh:
        w = PcapngWriter(fh)
        for f in frames(src):
            w.write(f.time, f.data, f.linktype, f.wire_len,
                    ["first, note", "second note"] if f.number == 1 else None)
    api.annotate(str(path), str(out))
    assert tshark_comments(tshark, out)[1] == [
        "first, note", "second note",
        "registration 1 of spoke 172.16.25.2 to NHS 172.16.15.2, answered by frame 2"]
    assert frames(out)[1].comments[-1] == "registration reply to frame 1"


def test_pcap_input_gives_pcapng_with_the_same_times(tmp_path):
    src, path, out = CAPTURES / "hub-down.pcapng", tmp_path / "in.pcap", tmp_path / "out.pcapng"
    original = frames(src)
    with path.open("wb") as fh:
        w = PcapWriter(fh, original[0].linktype)  # microseconds: a float time's ns are not round
        for f in original:
            w.write(f.time, f.data, f.wire_len)
    api.annotate(str(path), str(out))
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a section header block: pcapng
    assert_same_frames(frames(path), frames(out))


def test_decryption_secrets_kept(reference, tmp_path):
    keyed, out = tmp_path / "keyed.pcapng", tmp_path / "out.pcapng"
    api.decrypt(str(reference / "02-sunrise-sunset-esp.pcap"), str(keyed), embed_keys=True,
                esp=["0x12345678@192.1.2.45 3des-cbc-hmac96:"
                     "0x4043434545464649494a4a4c4c4f4f515152525454575758"])
    api.annotate(str(keyed), str(out))

    def secrets(path: Path) -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []
        with CaptureReader(path, on_secrets=lambda t, d, _w: got.append((t, d))) as r:
            list(r)
        return got

    assert secrets(out) == secrets(keyed) and secrets(out)[0][0] == DSB_ESP_SA
    assert_same_frames(frames(keyed), frames(out))


def test_every_reference_capture(reference, tmp_path):
    paths = sorted(p for p in reference.iterdir() if p.suffix in (".pcap", ".pcapng"))
    assert paths
    for i, path in enumerate(paths):
        out = tmp_path / f"{i}.pcapng"
        counts = api.annotate(str(path), str(out))
        original = frames(path)
        assert counts.frames == len(original), path.name
        assert_same_frames(original, frames(out))


def test_refusals_are_one_line(tmp_path):
    path, out = str(CAPTURES / "seed-lab.pcapng"), tmp_path / "out.pcapng"
    out.write_bytes(b"precious")
    for args, words in [
        ((path, "-o", str(out)), "--force"),
        ((path, path, "-o", str(tmp_path / "new.pcapng")), "one capture, not 2"),
        ((path, "-o", path, "--force"), "is an input"),
        (("-", "-o", str(tmp_path / "new.pcapng")), "standard input"),
    ]:
        r = nhrpscope("annotate", *args)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert out.read_bytes() == b"precious" and not (tmp_path / "new.pcapng").exists()
    r = nhrpscope("annotate", path, "-o", str(out), "--force")
    assert r.returncode == 0 and f"{out}: 30 frames, 18 comments added to 18 of them" in r.stderr
    assert len(frames(out)) == 30


def test_one_line():
    assert one_line("a\nb\t\x1b[31mc ") == "a b [31mc"
    long = "Spoke 1 got no reply: check the hub " + "and more " * 30
    assert one_line(long, 60) == "Spoke 1 got no reply: check the hub and more and more and…"
    assert one_line("x" * 20 + ": " + "y " * 40, 30) == "x" * 20 + "…"  # at the clause
    assert len(one_line("word " * 100, 50)) <= 50
