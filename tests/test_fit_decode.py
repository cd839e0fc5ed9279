"""`decode` on a terminal prints one line per frame, cut to the terminal's
width between words: every address it keeps is whole."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

CAPS = Path(__file__).resolve().parents[1] / "captures"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def on_terminal(args: list[str], columns: int) -> list[str]:
    """What the command shows on a terminal ``columns`` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    p = subprocess.Popen([sys.executable, "-m", "nhrpscope", *args], stdout=slave,
                         stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert p.wait(timeout=120) == 0
    os.close(master)
    text = ANSI.sub("", b"".join(chunks).decode())
    return [ln for ln in text.replace("\r\n", "\n").split("\n") if ln]


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", ["seed-lab-ipsec", "nat-spoke", "phase3"])
def test_one_line_per_frame_within_the_width(name, columns):
    cap = CAPS / f"{name}.pcapng"
    if not cap.exists():
        pytest.skip(f"captures/{name}.pcapng is not in this checkout")
    lines = on_terminal(["decode", str(cap)], columns)
    full = subprocess.run([sys.executable, "-m", "nhrpscope", "decode", str(cap), "--format",
                           "jsonl"], capture_output=True, text=True, timeout=120, check=True)
    frames = [json.loads(ln)["frame"] for ln in full.stdout.splitlines()]
    assert [int(ln.split()[0]) for ln in lines] == frames  # one line each, in order
    assert max(len(ln) for ln in lines) <= columns
    piped = subprocess.run([sys.executable, "-m", "nhrpscope", "decode", str(cap)],
                           capture_output=True, text=True, timeout=120, check=True)
    for shown, whole in zip(lines, piped.stdout.splitlines(), strict=True):
        kept = shown.removesuffix(" …")
        assert whole.startswith(kept), (shown, whole)  # a cut is only ever the tail
        assert IPV4.findall(kept) == IPV4.findall(whole)[:len(IPV4.findall(kept))]
        if shown != whole:
            assert shown.endswith(" …") and whole[len(kept)] == " "  # cut between words
