"""A reply the snap length cut is unreadable, not missing (issue 12, items 3
and 4): the request it answers is `answer-unreadable`, citing the cut frame,
never `registration-unanswered` or `resolution-unanswered`."""

from __future__ import annotations

from pathlib import Path

from nhrpscope import api
from nhrpscope.capture import CaptureReader, PcapngWriter

LAB = Path(__file__).parents[1] / "captures" / "seed-lab.pcapng"


def cut_frames(dst: Path, frames: dict[int, int]) -> None:
    """The lab with the frames ``frames`` (number -> bytes kept) cut."""
    with open(dst, "wb") as fh:
        w = PcapngWriter(fh)
        for f in CaptureReader(LAB):
            data = f.data[:frames[f.number]] if f.number in frames else f.data
            w.write(f.time, data, f.linktype, f.wire_len)


def codes(r: api.Result) -> dict[str, list]:
    return {f.code: f for f in r.analysis.findings}


def test_cut_registration_reply_is_unreadable_not_unanswered(tmp_path: Path) -> None:
    # frame 2: the hub's registration reply to spoke 172.16.25.2 (frame 1)
    cut_frames(tmp_path / "cut.pcapng", {2: 60})
    found = codes(api.analyze(tmp_path / "cut.pcapng"))
    assert "registration-unanswered" not in found
    f = found["answer-unreadable"]
    assert f.severity == "warning"
    assert 1 in f.frames and 2 in f.frames
    assert "cut by the snap length" in f.message
    assert "larger snap length" in f.message and "key" not in f.message
    assert "capture-truncated" in found


def test_cut_resolution_reply_is_unreadable_not_unanswered(tmp_path: Path) -> None:
    # frame 13: the resolution reply to 172.16.25.2's request (frame 8)
    cut_frames(tmp_path / "cut.pcapng", {13: 60})
    found = codes(api.analyze(tmp_path / "cut.pcapng"))
    assert "resolution-unanswered" not in found
    f = found["answer-unreadable"]
    assert 13 in f.frames and "resolution request" in f.message


def test_an_uncut_lab_has_no_unreadable_answer() -> None:
    assert "answer-unreadable" not in codes(api.analyze(LAB))
