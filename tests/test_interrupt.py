"""Ctrl-C (SIGINT) during a command: one line on stderr, exit 130, no
traceback, no output file left behind (not even the temporary one the
output routine writes to), no reading process left running."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nhrpscope.dissectors import ip
from nhrpscope.dissectors.link import Ethernet, encode_ethernet

from nhrpscope.capture import PcapWriter
from nhrpscope.cli import INTERRUPTED
from nhrpscope.replay.source import CaptureSource

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX signals")


def big_capture(path: Path, frames: int) -> Path:
    """ESP on one SA, sequence numbers 1 up: ~250 bytes a frame, quick to write."""
    eth = Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", 0x0800)
    frame = bytearray(encode_ethernet(eth, ip.encode_ipv4(
        "172.16.0.1", "172.16.0.2", 50, struct.pack("!II", 0x1000, 1) + bytes(200))))
    with open(path, "wb") as f:
        w = PcapWriter(f, 1)
        for i in range(frames):
            struct.pack_into("!I", frame, 38, i + 1)  # the ESP sequence number
            w.write(1.0 + i * 1e-4, bytes(frame))
    return path


def start(args: list[str]) -> subprocess.Popen[bytes]:
    # its own session: a signal to its group reaches it and its reading
    # process, as Ctrl-C in a terminal does
    return subprocess.Popen([sys.executable, "-m", "nhrpscope", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def wait_for_file(folder: Path, proc: subprocess.Popen[bytes], limit: float = 90) -> list[str]:
    """The names in ``folder`` once the command has begun writing there."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        names = os.listdir(folder)
        if names:
            return names
        assert proc.poll() is None, ("ended before writing", proc.communicate())
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"nothing written in {folder} after {limit} s")


def children(pid: int) -> list[int]:
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def interrupt(proc: subprocess.Popen[bytes], group: bool) -> tuple[int, str, str]:
    assert proc.poll() is None, "the command ended before it could be interrupted"
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("still running 60 s after SIGINT")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"  # a zombie has ended
    except FileNotFoundError:
        return True


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # past the size at which a second process reads ahead: that process must go too
    frames = CaptureSource.STAGE_MIN_BYTES // 250 * 4
    return big_capture(tmp_path_factory.mktemp("big") / "big.pcap", frames)


def check_interrupted(code: int, out: str, err: str) -> None:
    assert code == INTERRUPTED, (code, err[-2000:])
    assert err == "nhrpscope: interrupted\n", err[-2000:]
    assert "Traceback" not in out


@pytest.mark.parametrize("group", [False, True], ids=["pid", "process-group"])
def test_ctrl_c_during_analyze_writing_a_file(big, tmp_path, group):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = start(["analyze", str(big), "--format", "json", "--write-merged",
                  str(out_dir / "merged.pcap")])
    names = wait_for_file(out_dir, proc)
    assert all(n.endswith(".tmp") for n in names), names  # the merged capture, still being written
    time.sleep(0.3)
    code, out, err = interrupt(proc, group)
    check_interrupted(code, out, err)
    assert out == ""  # the JSON document comes at the end: nothing of it
    assert os.listdir(out_dir) == []  # no merged.pcap, no temporary file


@pytest.mark.parametrize("group", [False, True], ids=["pid", "process-group"])
def test_ctrl_c_during_analyze_stops_the_reading_process(big, group):
    proc = start(["analyze", str(big), "--format", "json"])
    t0 = time.monotonic()
    while not (readers := children(proc.pid)):
        assert proc.poll() is None and time.monotonic() - t0 < 60, "no reading process started"
        time.sleep(0.02)
    time.sleep(0.5)  # the replay under way
    code, out, err = interrupt(proc, group)
    check_interrupted(code, out, err)
    assert out == ""
    assert all(gone(p) for p in readers), readers


@pytest.mark.parametrize("group", [False, True], ids=["pid", "process-group"])
def test_ctrl_c_during_generate(tmp_path, group):
    proc = start(["generate", "scale", "--packets", "200000", "-o", str(tmp_path / "scale")])
    names = wait_for_file(tmp_path, proc)
    assert all(n.startswith(".") and n.endswith(".tmp") for n in names), names
    code, out, err = interrupt(proc, group)
    check_interrupted(code, out, err)
    assert os.listdir(tmp_path) == []  # neither the capture, nor its truth, nor a temporary file
