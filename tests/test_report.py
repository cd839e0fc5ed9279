"""`nhrpscope report`: the page's content, its snapshots against cache_at,
escaping, and the command's edges (no browser here: test_report_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nhrpscope import api
from nhrpscope.cli import main
from nhrpscope.render.html.common import Frames
from nhrpscope.render.html.ladder import messages
from nhrpscope.render.html.page import build
from nhrpscope.render.show import RouterView, peer_rows
from nhrpscope.replay.cache import ios_duration
from nhrpscope.replay.findings import Finding
from nhrpscope.replay.model import Event
from nhrpscope.snapshots import pick_instants, take_snapshots

ROOT = Path(__file__).resolve().parents[1]
CAPS = ROOT / "captures"
REFERENCE = (ROOT / ".." / "shared" / "captures" / "reference").resolve()


def analyzed(path: Path) -> tuple[api.Result, list[Event]]:
    events: list[Event] = []
    return api.analyze(path, on_event=events.append), events


def show_rows(result: api.Result, nbma: str, t: float) -> list[tuple]:
    """``show dmvpn``'s rows of router ``nbma`` at ``t``, by cache_at (a replay);
    none before the router's first frame."""
    try:
        c = api.cache_at(result, nbma, t)
    except api.UserError as e:
        assert f"no router {nbma}" in str(e)
        return []
    return [(p.ent, p.nbma, p.tunnel, p.state, p.attrb, ios_duration(p.updn))
            for p in peer_rows(RouterView(c.router, c.time, c.entries))]


@pytest.mark.parametrize("name", ["seed-lab", "phase3", "seed-lab-ipsec"])
def test_snapshots_are_cache_at_at_every_instant(name: str) -> None:
    rp, events = analyzed(CAPS / f"{name}.pcapng")
    snaps = take_snapshots(rp, events)
    assert snaps.times[-1] == rp.end and len(snaps.times) > 5
    changed = 0
    for r in snaps.routers:
        seen = set()
        for i, t in enumerate(snaps.times):
            got = [(*row[:5], ios_duration(t - row[5])) for row in snaps.table_at(r.nbma, i)]
            assert got == show_rows(rp, r.nbma, t), (r.nbma, i, t)
            seen.add(tuple(x[:5] for x in got))
        changed += len(seen) > 1
    assert changed >= 2  # the tables do change over time


def test_instants_are_capped_evenly_and_keep_the_end() -> None:
    evs = [Event(float(i), i, "nhrp", "a", "b", "x") for i in range(2000)]
    evs.append(Event(5000.0, 1, "esp", "a", "b", "data"))  # not a cache event
    times = pick_instants(evs, 3000.0, limit=500)
    assert len(times) == 500 and times[0] == 0.0 and times[-1] == 3000.0
    assert 5000.0 not in times
    gaps = {round(b - a) for a, b in zip(times[:-2], times[1:-1], strict=True)}
    assert gaps <= {4, 5}  # evenly chosen


def write(args: list[str]) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["report", *args])
    return r.exit_code, r.output


def test_report_page_holds_every_section(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, text = write([str(CAPS / "hub-down.pcapng"), "-o", str(out)])
    assert code == 0, text
    page = out.read_text()
    rp, events = analyzed(CAPS / "hub-down.pcapng")
    for anchor in ("findings", "capture", "routers", "chart", "ladder-h", "slider-h", "sas"):
        assert f"id={anchor}>" in page
    assert page.count("<tr><td><span class=sev-") == len(rp.analysis.findings) > 0
    assert page.count('<g class="msg"') == len(messages(events))
    assert "registration-unanswered" in page and "hub-down.pcapng" in page
    # nothing to fetch: no src= at all, links are to the page's own anchors
    assert not re.search(r"\ssrc=", page)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))


def test_report_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("keep me")
    code, text = write([str(CAPS / "seed-lab.pcapng"), "-o", str(out)])
    assert code == 2 and "exists" in text and len(text.strip().splitlines()) == 1
    assert out.read_text() == "keep me"
    code, text = write([str(CAPS / "seed-lab.pcapng"), "-o", str(out), "--force"])
    assert code == 0, text
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_report_never_overwrites_its_input(tmp_path: Path) -> None:
    cap = tmp_path / "in.pcapng"
    cap.write_bytes((CAPS / "seed-lab.pcapng").read_bytes())
    code, text = write([str(cap), "-o", str(cap), "--force"])
    assert code == 2 and "Traceback" not in text
    assert cap.read_bytes() == (CAPS / "seed-lab.pcapng").read_bytes()


def test_report_refuses_standard_input(tmp_path: Path) -> None:
    code, text = write(["-", "-o", str(tmp_path / "r.html")])
    assert code == 2 and "standard input" in text and not (tmp_path / "r.html").exists()


def test_report_takes_the_key_options(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, text = write([str(CAPS / "ipsec-wrong-key.pcapng"), "--no-capture-keys",
                        "-k", str(CAPS / "seed-lab-ipsec.esp_sa"), "-o", str(out)])
    assert code == 0, text
    assert "IPsec SAs" in out.read_text()


def test_several_files_say_which_file_a_frame_is_in(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, text = write([str(CAPS / "seed-lab.pcapng"), str(CAPS / "hub-down.pcapng"),
                        "-o", str(out)])
    assert code == 0, text
    page = out.read_text()
    assert re.search(r"hub-down\.pcapng frame \d+ \(merged \d+\)", page)
    assert re.search(r"seed-lab\.pcapng frame \d+ \(merged \d+\)", page)
    assert "merged frame" not in page  # every cited frame's file is known


def test_capture_text_is_escaped() -> None:
    rp, events = analyzed(CAPS / "seed-lab.pcapng")
    hostile = '</script><script>alert(1)</script><img src=x onerror=alert(2)>'
    rp.analysis.findings.append(Finding("error", "x-test", hostile, [1]))
    rp.analysis.capture.warnings.append(hostile)
    events.append(Event(rp.end, 1, "nhrp", "172.16.15.2", "172.16.25.2", hostile))
    page = build(rp, events, take_snapshots(rp, events), Frames(rp.files))
    assert hostile not in page and "<img" not in page
    assert page.count("<script") == 2  # the data block and the page's own script
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="no reference captures (../shared)")
def test_report_of_every_reference_capture(tmp_path: Path) -> None:
    caps = sorted(p for p in REFERENCE.iterdir() if p.suffix in (".pcap", ".pcapng"))
    assert caps
    for cap in caps:
        out = tmp_path / (cap.name + ".html")
        code, text = write([str(cap), "-o", str(out)])
        assert code == 0, (cap.name, text)
        assert out.read_text().endswith("</html>\n"), cap.name
