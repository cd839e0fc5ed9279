"""FRR `show ip nhrp cache` without duplicate rows; FRR's and Cisco's
`show ip nhrp shortcut` for phase 3 (captures/phase3.pcapng)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nhrpscope.cli import main

CAPS = Path(__file__).resolve().parents[1] / "captures"
PHASE3 = CAPS / "phase3.pcapng"
HUB, R2, R4 = "172.16.15.2", "172.16.25.2", "172.16.45.2"


def show(*args: str) -> str:
    r = CliRunner().invoke(main, ["show", "nhrp", *args])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture(autouse=True)
def _phase3() -> None:
    if not PHASE3.exists():
        pytest.skip("captures/phase3.pcapng is not in this checkout")


@pytest.mark.parametrize("name", ["phase3", "seed-lab", "dual-hub", "nat-spoke", "unique-conflict"])
def test_frr_cache_has_one_row_per_protocol_address(name):
    doc = json.loads(show(str(CAPS / f"{name}.pcapng"), "--style", "frr", "--format", "json"))
    assert doc
    for router in doc:
        protos = [row["protocol"] for row in router["cache"]["table"]]
        assert len(protos) == len(set(protos)), (router["cache"]["router"], protos)
    text = show(str(CAPS / f"{name}.pcapng"), "--style", "frr")
    for block in text.split("\n\n"):
        rows = [ln for ln in block.splitlines()[2:] if ln.startswith("Tunnel")]
        assert len(rows) == len(set(rows)), block


def test_frr_cache_on_a_phase3_spoke():
    out = show(str(PHASE3), "--router", R2, "--style", "frr").splitlines()
    assert [ln.split()[:4] for ln in out[2:4]] == [["Tunnel0", "nhs", "192.168.0.1", HUB],
                                                   ["Tunnel0", "cached", "192.168.0.4", R4]]
    assert out[4] == ""  # the /24 behind R4 is a shortcut, not a second row for 192.168.0.4


def test_frr_shortcut_layout():
    out = show(str(PHASE3), "--router", R2, "--style", "frr", "--shortcut").splitlines()
    assert out[0].startswith("% show ip nhrp shortcut of 172.16.25.2")
    assert out[1] == "%-8s %-24s %-24s %s" % ("Type", "Prefix", "Via", "Identity")  # noqa: UP031
    assert out[2:] == ["%-8s %-24s %-24s %s" % ("cached", "10.0.4.0/24", "192.168.0.4", "")]  # noqa: UP031
    other = show(str(PHASE3), "--router", R4, "--style", "frr", "--shortcut").splitlines()
    assert other[2].split() == ["cached", "10.0.2.0/24", "192.168.0.2"]
    hub = show(str(PHASE3), "--router", HUB, "--style", "frr", "--shortcut").splitlines()
    assert hub[1:] == ["% No entries"]  # the hub resolves nothing for itself
    [doc] = json.loads(show(str(PHASE3), "--router", R2, "--style", "frr", "--shortcut",
                            "--format", "json"))
    assert doc["shortcut"]["attr"] == {"entriesCount": 1}
    assert doc["shortcut"]["table"] == [{"type": "cached", "prefix": "10.0.4.0/24",
                                         "via": "192.168.0.4", "identity": ""}]


def test_cisco_shortcut_view():
    out = show(str(PHASE3), "--router", R2, "--shortcut").splitlines()
    assert out[0].startswith("% show ip nhrp shortcut of 172.16.25.2")
    assert out[1].startswith("10.0.4.0/24 via 192.168.0.4, Tunnel0 created 00:00:0")
    assert out[2] == "  Type: dynamic, Flags: router rib used"
    assert out[3] == f"  NBMA address: {R4}"
    assert len(out) == 4  # the implicit 192.168.0.4/32 and the NHS are no shortcuts
    [doc] = json.loads(show(str(PHASE3), "--router", R2, "--shortcut", "--format", "json"))
    assert [e["prefix"] for e in doc["entries"]] == ["10.0.4.0/24"]


def test_phase2_has_no_shortcuts():
    out = show(str(CAPS / "seed-lab.pcapng"), "--router", R2, "--style", "frr", "--shortcut")
    assert out.splitlines()[1:] == ["% No entries"]
