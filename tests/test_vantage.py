"""A capture taken on one router's port: what it cannot see is no finding."""

from __future__ import annotations

import json

from click.testing import CliRunner

from nhrpscope.cli import main


def test_hub_port_capture_does_not_call_direct_replies_unanswered(tmp_path):
    out = tmp_path / "hub"
    r = CliRunner().invoke(main, ["generate", "seed-lab", "-o", str(out), "--tap", "172.16.15.2"])
    assert r.exit_code == 0, r.output
    a = CliRunner().invoke(main, ["analyze", str(out) + ".pcap", "--format", "json"])
    doc = json.loads(a.output)
    # The hub forwarded both resolution requests; the replies went spoke to
    # spoke, past the hub's port.
    assert len(doc["resolutions"]) == 2
    assert all(res["reply_time"] is None for res in doc["resolutions"])
    assert [f["code"] for f in doc["findings"]] == []
    # The same lab from the core sees the replies.
    core = tmp_path / "core"
    CliRunner().invoke(main, ["generate", "seed-lab", "-o", str(core)])
    doc = json.loads(CliRunner().invoke(main, ["analyze", str(core) + ".pcap", "--format", "json"]).output)
    assert all(res["reply_time"] is not None for res in doc["resolutions"])
