"""`show dmvpn` rows sit in the columns of IOS's dashed ruler, compared column by
column with the classic lab's own printed tables (router-show-outputs.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nhrpscope.cli import main
from nhrpscope.render.show import DASHES, HEADER

SEED = Path(__file__).resolve().parents[1] / "captures" / "seed-lab.pcapng"

# The lab's printed rows (R1 the hub; R2 after its ping to R4), as its write-up
# shows them: a web page collapsed the runs of spaces, so only the fields count.
LAB = {
    "172.16.15.2": [" 1     172.16.25.2     192.168.0.2    UP 00:57:47 D    ",
                    " 1     172.16.35.2     192.168.0.3    UP 00:45:56 D    ",
                    " 1     172.16.45.2     192.168.0.4    UP 00:45:46 D    "],
    "172.16.25.2": [" 1     172.16.15.2     192.168.0.1    UP 01:08:27 S    ",
                    " 1     172.16.45.2     192.168.0.4    UP 00:00:03 D    "],
}
TIME = re.compile(r"^(\d\d:\d\d:\d\d|\d+d\d\dh|\d+w\dd|never)$")
NAMES = ["# Ent", "Peer NBMA Addr", "Peer Tunnel Add", "State", "UpDn Tm", "Attrb"]


def groups() -> list[tuple[int, int]]:
    """The ruler's dash groups: (first column, one past the last)."""
    return [(m.start(), m.end()) for m in re.finditer(r"-+", DASHES)]


def test_header_names_sit_in_the_ruler_groups():
    spans = groups()
    assert len(spans) == len(NAMES)
    for (a, b), name in zip(spans, NAMES, strict=True):
        at = HEADER.index(name)
        assert at >= a - 1 and at + len(name) <= b, (name, a, b)  # header names end in their group


def dmvpn_rows(router: str) -> list[str]:
    r = CliRunner().invoke(main, ["show", "dmvpn", str(SEED), "--router", router])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    i = lines.index(DASHES)
    return [ln for ln in lines[i + 1:] if ln.strip()]


@pytest.mark.parametrize("router", sorted(LAB))
def test_seed_lab_rows_match_the_lab_column_by_column(router):
    if not SEED.exists():
        pytest.skip("captures/seed-lab.pcapng is not in this checkout")
    ours = dmvpn_rows(router)
    assert len(ours) == len(LAB[router])
    spans = groups()
    for row, printed in zip(ours, LAB[router], strict=True):
        want = printed.split()
        got = [row[a:b].strip() for a, b in spans]
        assert len(row.rstrip()) <= spans[-1][1]
        for (a, b), name, g, w in zip(spans, NAMES, got, want, strict=True):
            if name == "UpDn Tm":
                assert TIME.match(g), (name, row)  # the lab's uptime is its own
            else:
                assert g == w, (name, row)
            if name == "Attrb":
                assert row[a] != " ", row  # left-aligned
            else:
                assert row[b - 1] != " " and row[a - 1] == " ", (name, row)  # right-aligned
