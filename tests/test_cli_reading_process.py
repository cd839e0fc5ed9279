"""A big capture is read by a second process (``CaptureSource.staged``);
when that process dies (the OOM killer, say) the user gets one line naming
the file and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_replay_build import Cap

from nhrpscope import api
from nhrpscope.cli import main
from nhrpscope.replay import source
from nhrpscope.replay.source import CaptureSource


@pytest.fixture
def killed_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A capture that goes to the reading process, which is killed (SIGKILL)
    as soon as it starts."""
    c = Cap()
    c.lab()
    cap = c.write(tmp_path / "lab.pcap")
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nkill -9 $$\n")
    python.chmod(0o755)
    monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 0)  # every file is big
    monkeypatch.setattr(source, "usable_cores", lambda: 2)
    monkeypatch.setattr(sys, "executable", str(python))  # the reading process runs this
    return cap


def test_the_library_raises_a_reading_process_error(killed_reader):
    with pytest.raises(api.ReadingProcessError, match=str(killed_reader)) as e:
        api.analyze(killed_reader)
    assert "exit -9" in str(e.value)


@pytest.mark.parametrize("args", [["analyze", "--format", "json"], ["decode", "--only", "nhrp"]])
def test_the_cli_prints_one_line_and_exits_2(killed_reader, args):
    r = CliRunner().invoke(main, [*args[:1], str(killed_reader), *args[1:]])
    assert r.exit_code == 2, (r.output, r.exception)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"nhrpscope: error: {killed_reader}: the reading process stopped")
