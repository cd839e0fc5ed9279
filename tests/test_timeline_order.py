"""`nhrpscope timeline` (issue 12 item 12): events in time order, a
finding at its own time however late its rule could tell, an expiry at
the end of the holding time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_replay_build import HUB, R2, R2_T, R3, R3_T, T0, Cap

from nhrpscope.cli import main

CAPTURES = Path(__file__).parents[1] / "captures"


def timeline(path: Path | str, *opts: str) -> dict:
    r = CliRunner().invoke(main, ["timeline", str(path), "--format", "json", *opts])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", ["gre-key-mismatch", "hub-down", "auth-mismatch",
                                  "ike-psk-mismatch", "holdtime-expiry"])
def test_events_come_in_time_order(name: str):
    events = timeline(CAPTURES / f"{name}.pcapng")["events"]
    times = [e["time"] for e in events]
    assert times == sorted(times)
    # the findings raised once their rule could tell sit at their own time
    assert any(e["kind"] == "finding" for e in events)


def test_text_ladder_in_time_order():
    r = CliRunner().invoke(main, ["timeline", str(CAPTURES / "gre-key-mismatch.pcapng")])
    rows = [line.split()[0] for line in r.stdout.splitlines()[3:]]
    assert [float(x) for x in rows] == sorted(float(x) for x in rows)


def test_expiry_at_the_end_of_the_holding_time(tmp_path: Path):
    """R3 registers (holding time 60 s) and is never heard again; R2 keeps
    refreshing, so frames go on past R3's expiry."""
    c = Cap()
    c.register(1.0, R2, R2_T, 1, ht=60)
    c.register(2.0, R3, R3_T, 1, ht=60)
    for i, t in enumerate((21.0, 41.0, 61.0, 81.0, 101.0)):
        c.register(t, R2, R2_T, i + 2, ht=60)
    doc = timeline(c.write(tmp_path / "x.pcap"))
    (ev,) = [e for e in doc["events"] if e["kind"] == "expired"]
    assert ev["label"] == f"registration of {R3_T} expired"
    assert ev["src"] == HUB and ev["dst"] == R3
    assert ev["time"] == pytest.approx(T0 + 2.01 + 60)  # the reply's time + holding time
    times = [e["time"] for e in doc["events"]]
    assert times == sorted(times)
    # it is fired by the frame after it, whose own events follow it
    i = doc["events"].index(ev)
    assert doc["events"][i + 1]["time"] == pytest.approx(T0 + 81.0)


def test_from_keeps_the_events_from_there_on():
    full = timeline(CAPTURES / "holdtime-expiry.pcapng")["events"]
    t = full[len(full) // 2]["time"]
    part = timeline(CAPTURES / "holdtime-expiry.pcapng", "--from", f"{t:.6f}")["events"]
    assert part and all(e["time"] >= t - 1e-6 for e in part)
    assert part == [e for e in full if e["time"] >= t - 1e-6]
