"""``--at``, ``--from`` and ``--to`` (issue 12 item 12, issue 13): a point no
capture can hold, one before the capture or a frame past its last, is a
one-line error (exit 2); a time past the end shows the last frame's state
and says that nothing after it is known; never a traceback, an empty
table or a silent clamp."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nhrpscope import api
from nhrpscope.cli import main
from nhrpscope.points import parse_point

CAPTURES = Path(__file__).parents[1] / "captures"
LAB = str(CAPTURES / "seed-lab.pcapng")  # 30 frames, 101.062 s
IPSEC = str(CAPTURES / "seed-lab-ipsec.pcapng")

SHOWS = [("show", "dmvpn", LAB), ("show", "nhrp", LAB), ("show", "crypto", "isakmp", "sa", IPSEC),
         ("show", "crypto", "ipsec", "sa", IPSEC)]


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nhrpscope: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("cmd", SHOWS, ids=lambda c: " ".join(c[:-1]))
@pytest.mark.parametrize("at", ["nan", "inf", "-inf", "1e18", "1e309", "+nan", "+-5", "-5",
                                "frame:0", "frame:x", "yesterday"])
def test_impossible_points_are_one_line_errors(cmd: tuple[str, ...], at: str):
    code, out, err = run(*cmd, "--at", at)
    one_line_error(code, out, err, f"--at {at!r}")


@pytest.mark.parametrize("cmd", SHOWS, ids=lambda c: " ".join(c[:-1]))
def test_before_the_capture_and_past_its_last_frame_are_errors(cmd: tuple[str, ...]):
    code, out, err = run(*cmd, "--at", "2026-01-01T00:00:00Z")
    one_line_error(code, out, err, "before the capture's first frame", "frame 1")
    code, out, err = run(*cmd, "--at", "frame:999")
    one_line_error(code, out, err, "past the capture's last frame")


def test_past_the_end_shows_the_last_frame_and_says_so():
    code, out, err = run("show", "dmvpn", LAB, "--at", "+1000")
    assert code == 0, err
    note, *rest = out.splitlines()
    assert note.startswith("% nhrpscope: --at '+1000'") and "nothing after it is known" in note
    assert "frame 30" in note
    # the table is the end's, not one aged by 900 s with no frame to show it
    _, end, _ = run("show", "dmvpn", LAB)
    assert "\n".join(rest) == end.rstrip("\n")
    # JSON stays JSON: the note goes to stderr
    code, out, err = run("show", "dmvpn", LAB, "--at", "+1000", "--format", "json")
    assert code == 0 and out.lstrip().startswith("[") and "nothing after it is known" in err


def test_the_last_frame_itself_is_no_note():
    code, out, err = run("show", "dmvpn", LAB, "--at", "frame:30")
    assert code == 0 and "% nhrpscope" not in out and not err.strip()
    code, out, err = run("show", "dmvpn", LAB, "--at", "+101.06")
    assert code == 0 and "nothing after" not in out + err


def test_no_router_yet_says_when():
    code, out, err = run("show", "dmvpn", LAB, "--at", "+0")
    assert code == 0, err
    assert "% show dmvpn of" in out or out.startswith("% nhrpscope: no NHRP router seen by --at")
    code, out, err = run("show", "crypto", "isakmp", "sa", LAB, "--at", "+0")
    assert code == 0 and out.startswith("% nhrpscope: no IKE or ESP seen by --at '+0' (frame 1")


@pytest.mark.parametrize("opts, needle", [
    (("--from", "nan"), "--from 'nan'"),
    (("--to", "inf"), "--to 'inf'"),
    (("--from", "1e18"), "--from '1e18'"),
    (("--to", "1e309"), "--to '1e309'"),
    (("--to", "+-1"), "--to '+-1'"),
    (("--from", "x"), "--from 'x'"),
    (("--from", "+50", "--to", "+10"), "--from '+50' is after --to '+10'"),
    (("--from", "frame:20", "--to", "frame:5"), "--from 'frame:20' is after --to 'frame:5'"),
    (("--from", "frame:10", "--to", "+3"), "after --to '+3'"),
    (("--from", "frame:999"), "after the capture's last frame (frame 30)"),
    (("--from", "+1000"), "after the capture's last frame"),
    (("--to", "frame:999"), "past the capture's last frame"),
    (("--to", "0"), "before the capture's first frame"),
])
def test_timeline_bad_ranges_are_one_line_errors(opts: tuple[str, ...], needle: str):
    code, out, err = run("timeline", LAB, *opts)
    one_line_error(code, out, err, needle)


def test_timeline_to_past_the_end_says_so():
    code, out, err = run("timeline", LAB, "--to", "+1000", "--format", "json")
    assert code == 0
    assert "nothing after it is known" in err and "frame 30" in err
    code, full, _ = run("timeline", LAB, "--format", "json")
    assert out == full


def test_the_api_refuses_the_same_points():
    with pytest.raises(api.UserError, match="not a finite number"):
        api.cache_at(LAB, "172.16.15.2", float("nan"))
    with pytest.raises(api.UserError, match="before the capture's first frame"):
        api.analyze(LAB, stop=1.0)
    with pytest.raises(api.UserError, match="past the capture's last frame"):
        api.analyze(LAB, stop="frame:31")
    r = api.analyze(LAB, stop="+500")
    assert r.past_end is not None and r.end == r.analysis.capture.last and r.end_frame == 30
    assert api.analyze(LAB, stop="+50").past_end is None


def test_parse_point_keeps_what_was_written():
    p = parse_point(" +5 ", "--to")
    assert (p.kind, p.value) == ("rel", 5.0) and p.name() == "--to ' +5 '"
