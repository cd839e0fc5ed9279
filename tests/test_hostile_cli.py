"""Issue 13, tracebacks and terminal safety: standard output full or closed,
standard input closed, a reader who leaves (``| head``), timestamps no date
can hold, and escape sequences carried by a capture."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from nhrpscope.dissectors.nhrp import make_auth_extension
from test_replay_build import HUB, R2, R2_T, Cap

from nhrpscope.capture import CaptureReader
from nhrpscope.render.safe_text import printable
from nhrpscope.render.timefmt import utc

CMD = [sys.executable, "-m", "nhrpscope"]
# a window title, a screen clear, a colour, a C1 CSI and a bidi override
HOSTILE = "x\x1b]0;PWNED\x07y\x1b[2J\x1b[31m\x9b1m\u202ez"


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode()
    assert r.returncode == 2, (r.returncode, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nhrpscope: error: "), err
    for w in words:
        assert w in lines[0]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    c = Cap()
    c.lab()
    return c.write(tmp_path / "in.pcap")


# ----------------------------------------------------------------- stdout and stdin


@pytest.mark.parametrize("args", [["decode"], ["decode", "-v"], ["analyze", "--format", "json"],
                                  ["analyze"], ["timeline", "--format", "json"]])
def test_a_full_stdout_is_one_line(capture, args):
    with open("/dev/full", "w") as full:
        r = subprocess.run([*CMD, *args, str(capture)], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    one_line_error(r, "standard output", "space")


@pytest.mark.parametrize("args", [["decode"], ["analyze"], ["show", "dmvpn"]])
def test_a_closed_stdout_is_one_line(capture, args):
    r = subprocess.run(["sh", "-c", '"$@" >&-', "sh", *CMD, *args, str(capture)],
                       stderr=subprocess.PIPE, text=True, timeout=120)
    one_line_error(r, "standard output")


@pytest.mark.parametrize("args", [["analyze", "-"], ["decode", "-"], ["decrypt", "-", "-o", "-"]])
def test_a_closed_stdin_is_one_line(args):
    r = subprocess.run(["sh", "-c", '"$@" <&-', "sh", *CMD, *args],
                       capture_output=True, text=True, timeout=120)
    one_line_error(r, "standard input")


@pytest.mark.parametrize("args", [["analyze"], ["analyze", "--format", "json"], ["decode", "-v"],
                                  ["show", "dmvpn"]])
def test_a_reader_who_leaves_is_exit_0_not_the_fail_on_code(capture, args):
    """`analyze | head -1`: the pipe closes before anything is written; exit
    1 is --fail-on's (a finding), a broken pipe is not one."""
    p = subprocess.Popen([*CMD, *args, str(capture)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(120) == 0, err
    assert err == ""


# ----------------------------------------------------------------- times no date holds


def _pcapng_far(tmp_path: Path, capture: Path, *, shift_us: int = 0, tsoffset: int | None = None) -> Path:
    """``capture``'s frames in a pcapng whose interface counts microseconds,
    moved by ``shift_us`` and (``tsoffset``) by an if_tsoffset option."""
    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsoffset is not None:
        opts += struct.pack("<HHq", 14, 8, tsoffset)
    out += block(1, struct.pack("<HHI", 101, 0, 65535) + opts + b"\0\0\0\0")
    with CaptureReader(capture) as r:
        for f in r:
            ts = round(f.time * 1_000_000) + shift_us
            out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f.data),
                                        len(f.data)) + f.data)
    p = tmp_path / "far.pcapng"
    p.write_bytes(out)
    return p


@pytest.mark.parametrize("far", [dict(shift_us=300_000_000_000 * 1_000_000),
                                 dict(tsoffset=100_000_000_000), dict(tsoffset=-100_000_000_000)])
@pytest.mark.parametrize("args", [["analyze"], ["show", "dmvpn"], ["decode"], ["timeline"]])
def test_a_time_past_year_9999_is_no_traceback(capture, tmp_path, far, args):
    path = _pcapng_far(tmp_path, capture, **far)
    r = subprocess.run([*CMD, *args, str(path)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr
    assert r.returncode in (0, 2), r.stderr
    if r.returncode == 2:
        one_line_error(r)


def test_the_time_helper_never_raises():
    assert utc(1_700_000_000.25, "%Y-%m-%d %H:%M:%S", millis=True) == "2023-11-14 22:13:20.250"
    for t in (3e11, -1e11, 1e300, float("inf"), float("nan"), -62135596801.0):
        assert utc(t).startswith("@")


def test_writing_a_far_time_is_one_line(capture, tmp_path):
    path = _pcapng_far(tmp_path, capture, shift_us=300_000_000_000 * 1_000_000)
    r = subprocess.run([*CMD, "decrypt", str(path), "-o", str(tmp_path / "o.pcapng")],
                       capture_output=True, text=True, timeout=120)
    one_line_error(r, "cannot be written in pcapng")
    assert not (tmp_path / "o.pcapng").exists()


# ----------------------------------------------------------------- escape sequences


def test_printable_escapes_every_control():
    assert printable(HOSTILE) == "x\\x1b]0;PWNED\\x07y\\x1b[2J\\x1b[31m\\x9b1m\\u202ez"
    assert printable("a\\b\tc\n") == "a\\\\b\\x09c\\x0a"
    assert printable("plain café → ok") == "plain café → ok"


def _no_escapes(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\x9b\u202e"), repr(text)


def test_decode_v_escapes_a_pcapng_comment(tmp_path, capture):
    from nhrpscope.capture import PcapngWriter

    path = tmp_path / "c.pcapng"
    with CaptureReader(capture) as r, open(path, "wb") as fh:
        w = PcapngWriter(fh)
        for f in r:
            w.write(f.time, f.data, f.linktype, comment=HOSTILE)
    r2 = subprocess.run([*CMD, "decode", "-v", str(path)], capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0, r2.stderr
    _no_escapes(r2.stdout + r2.stderr)
    assert "comment: x\\x1b]0;PWNED\\x07y" in r2.stdout


def test_an_nhrp_password_with_controls_reaches_no_terminal(tmp_path):
    c = Cap()
    c.register(1.0, R2, R2_T, 1, exts=[make_auth_extension(password="\x1b]0;PWNED\x07\x1b[2J")])
    path = c.write(tmp_path / "auth.pcap")
    for args in (["analyze"], ["decode", "-v"], ["show", "dmvpn"], ["timeline"]):
        r = subprocess.run([*CMD, *args, str(path)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (args, r.stderr)
        _no_escapes(r.stdout + r.stderr)
    r = subprocess.run([*CMD, "analyze", str(path)], capture_output=True, text=True, timeout=120)
    assert "1b5d303b50574e4544071b5b324a" in r.stdout and HUB in r.stdout  # not text: hex
