"""The timeline ladder fits COLUMNS: a handful of routers side by side, more
folded into one lane per conversation; no event is lost either way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nhrpscope.cli import main

CAPS = Path(__file__).resolve().parents[1] / "captures"
FRAME = re.compile(r"  #(\d+)(?:  |$)")


def timeline(path: Path, columns: int, *opts: str) -> str:
    r = CliRunner().invoke(main, ["timeline", str(path), *opts], env={"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture(scope="module")
def scale50(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("s50") / "s50"
    r = CliRunner().invoke(main, ["generate", "scale", "--spokes", "50", "--packets", "3000",
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    [cap] = out.parent.glob("s50.pcap*")
    return cap


def frames_of(doc: dict) -> set[int]:
    return {e["frame"] for e in doc["events"] if e["frame"]}


@pytest.mark.parametrize("columns", [80, 120])
def test_fifty_spokes_fold_into_lanes_within_the_width(scale50, columns):
    text = timeline(scale50, columns)
    lines = text.splitlines()
    assert max(map(len, lines)) <= columns
    doc = json.loads(timeline(scale50, columns, "--format", "json"))
    pairs = {tuple(sorted({x for x in (e["src"], e["dst"]) if x})) for e in doc["events"]}
    heads = [ln for ln in lines if ln.startswith("== ")]
    assert len(heads) == len(pairs) > 6
    assert lines[0].startswith(f"{len({a for p in pairs for a in p})} routers, {len(pairs)} "
                               "conversations")
    assert {int(m) for ln in lines for m in FRAME.findall(ln)} == frames_of(doc)
    for ln in heads:  # each lane names its routers whole
        for addr in re.findall(r"\d+\.\d+\.\d+\.\d+", ln):
            assert any(addr in (e["src"], e["dst"]) for e in doc["events"]) or \
                any(addr == r.get("tunnel") for r in doc["routers"])


@pytest.mark.parametrize("columns", [80, 120])
def test_a_handful_of_routers_stay_side_by_side(columns):
    cap = CAPS / "seed-lab.pcapng"
    if not cap.exists():
        pytest.skip("captures/seed-lab.pcapng is not in this checkout")
    lines = timeline(cap, columns).splitlines()
    assert lines[0].split() == ["time", "(s)", "172.16.15.2", "172.16.25.2", "172.16.35.2",
                                "172.16.45.2"]
    assert max(map(len, lines)) <= columns
    times = [float(ln.split()[0]) for ln in lines[3:]]  # every line says when
    assert times == sorted(times)
    doc = json.loads(timeline(cap, columns, "--format", "json"))
    assert {int(m) for ln in lines for m in FRAME.findall(ln)} == frames_of(doc)
    labels = "\n".join(lines)  # a label too long for its arrow follows, wrapped, not cut
    for e in doc["events"]:
        if e["kind"] == "finding" or e["kind"] == "registered":
            assert e["label"] in labels


def test_wide_enough_for_columns_but_more_than_a_handful_still_folds(scale50):
    doc = json.loads(timeline(scale50, 1000, "--format", "json", "--router", "10.0.0.1"))
    assert len({x for e in doc["events"] for x in (e["src"], e["dst"]) if x}) > 6
    assert timeline(scale50, 1000).splitlines()[0].endswith(
        "a lane each (time: seconds after the first frame)")


def test_events_without_a_router_still_draw():
    from nhrpscope.render.ladder import ladder, lanes
    from nhrpscope.replay.model import Event

    ev = Event(5.0, 3, "finding", None, None, "warning capture-truncated " + "x" * 90, {})
    for width in (40, 80):
        out = ladder([ev], [], 0.0, width).splitlines()
        assert out[0] == "time (s)" and out[3].split() == ["5.000", "#3"]
        assert all(len(ln) <= width for ln in out) and out[4].startswith("    5.000  > warning")
        folded = lanes([ev], [], 0.0, width).splitlines()
        assert folded[2] == "== no router ==" and "#3" in folded[3]
