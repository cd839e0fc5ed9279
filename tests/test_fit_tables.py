"""Tables fit the width they are given (COLUMNS, the terminal's) without
cutting an address: the least important columns go first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console as RichConsole

from nhrpscope.cli import main
from nhrpscope.render import safe_text
from nhrpscope.render.safe_text import NO_TERMINAL_WIDTH, fit_line, output_width
from nhrpscope.render.terminal import Table

CAPS = Path(__file__).resolve().parents[1] / "captures"
SHIPPED = ["seed-lab", "seed-lab-ipsec", "nat-spoke", "dual-hub", "phase3", "ike-psk-mismatch",
           "unique-conflict"]
BOX = re.compile(r"^[┏┃┡│└]")
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


def analyze(name: str, columns: int, fmt: str = "text") -> str:
    r = CliRunner().invoke(main, ["analyze", str(CAPS / f"{name}.pcapng"), "--format", fmt],
                           env={"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", SHIPPED)
def test_analyze_keeps_every_router_address_whole(name, columns):
    if not (CAPS / f"{name}.pcapng").exists():
        pytest.skip(f"captures/{name}.pcapng is not in this checkout")
    doc = json.loads(analyze(name, columns, "json"))
    text = analyze(name, columns)
    found = set(IPV4.findall(text))
    addrs = {a for r in doc["routers"] for a in (r["nbma"], r.get("public_nbma"), *r["tunnels"])
             if a and ":" not in a}
    assert addrs and addrs <= found, sorted(addrs - found)
    table_lines = [ln for ln in text.splitlines() if BOX.match(ln)]
    assert table_lines
    assert max(map(len, table_lines)) <= columns
    for ln in table_lines:  # an address cut with an ellipsis would end a cell in '…'
        assert "…" not in ln, ln


def test_least_important_columns_go_first():
    text = analyze("seed-lab", 80)
    notes = [ln for ln in text.splitlines() if ln.startswith("(not shown at 80 columns: ")]
    assert notes and all(ln[26:].startswith(("frames", "RTT")) for ln in notes), notes
    wide = analyze("seed-lab", 200)
    assert "not shown" not in wide


def render(table: Table, width: int) -> list[str]:
    con = RichConsole(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    con.print(table)
    return con.export_text().splitlines()


def test_a_table_too_narrow_for_every_column_drops_frames_not_addresses():
    t = Table()
    for c in ("spoke", "NHS", "target", "frames"):
        t.add_column(c)
    t.add_row("172.16.125.122", "172.16.115.112", "192.168.100.104", "1, 2, 3, 4, 5, 6, 7")
    lines = render(t, 60)  # 55 for the addresses, 9 more for frames
    assert max(map(len, lines)) <= 60
    body = "\n".join(lines)
    for a in ("172.16.125.122", "172.16.115.112", "192.168.100.104"):
        assert a in body
    assert "(not shown at 60 columns: frames)" in body and "1, 2" not in body


def test_room_left_goes_to_wrapping_not_cutting():
    t = Table()
    for c in ("from -> to", "why"):
        t.add_column(c)
    t.add_row("172.16.125.122 -> 172.16.115.112", "the responder never answered this request")
    lines = render(t, 40)
    assert max(map(len, lines)) <= 40
    assert "172.16.125.122" in "\n".join(lines) and "172.16.115.112" in "\n".join(lines)
    assert "…" not in "\n".join(lines)


def test_output_width_prefers_columns_then_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "97")
    assert output_width() == 97
    monkeypatch.delenv("COLUMNS")

    class Tty:
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 99

    monkeypatch.setattr(safe_text.sys, "stdout", Tty())
    monkeypatch.setattr(safe_text.os, "get_terminal_size", lambda fd: __import__("os").terminal_size((133, 40)))
    assert output_width() == 133

    class Pipe:
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(safe_text.sys, "stdout", Pipe())
    monkeypatch.setattr(safe_text.sys, "stderr", Tty())  # piped: stderr is still the terminal
    assert output_width() == 133
    monkeypatch.setattr(safe_text.sys, "stderr", Pipe())
    monkeypatch.setattr(safe_text.sys, "stdin", Tty())  # 2>/dev/null | head: the one typed at
    assert output_width() == 133
    monkeypatch.setattr(safe_text.sys, "stdin", None)
    assert output_width() == NO_TERMINAL_WIDTH


def test_fit_line_cuts_between_words():
    line = "    12   1.000000 172.16.25.2 → 172.16.15.2   NHRP  110 Registration Request, id=1"
    assert fit_line(line, 200) == line
    words = line.split()
    for width in range(20, len(line)):
        cut = fit_line(line, width)
        assert len(cut) <= width and cut.endswith(" …"), (width, cut)
        kept = cut[:-2].split()
        assert kept == words[:len(kept)], (width, cut)  # whole words only
    assert fit_line(line, 60).endswith("172.16.15.2   NHRP  110 …")


def test_too_narrow_for_any_table_prints_each_row_as_a_block():
    t = Table(title="Routers")
    for c in ("role", "NBMA", "NHRP auth", "frames"):
        t.add_column(c)
    t.add_row("spoke", "172.16.25.2", "1b5d303b50574e4544071b5b324a", "1, 2")
    t.add_row("hub", "172.16.15.2", "-", "3")
    lines = render(t, 44)  # the table would need 63
    assert lines == ["Routers", "  role: spoke", "  NBMA: 172.16.25.2",
                     "  NHRP auth: 1b5d303b50574e4544071b5b324a", "  frames: 1, 2", "",
                     "  role: hub", "  NBMA: 172.16.15.2", "  NHRP auth: -", "  frames: 3"]


def test_json_output_never_loads_rich(tmp_path):
    """`analyze --format json` (what jq and the benchmarks read) builds no
    table: rich, about 5 MB of resident memory, stays unloaded."""
    import subprocess
    import sys
    from pathlib import Path

    capture = Path(__file__).resolve().parent.parent / "captures" / "seed-lab.pcapng"
    code = ("import sys, atexit\n"
            "from nhrpscope.cli import main\n"
            "atexit.register(lambda: sys.stderr.write('rich loaded: %s' % ('rich' in sys.modules)))\n"
            f"sys.argv = ['nhrpscope', 'analyze', {str(capture)!r}, '--format', 'json']\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.startswith("{"), out.stderr
    assert out.stderr.strip().endswith("rich loaded: False")
