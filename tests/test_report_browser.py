"""The report in a real browser: Debian's chromium driven by Playwright.

Each page must load with no console error and no request but the file
itself; its finding rows and ladder arrows must be the analysis'; moving
the time slider must show the engine's snapshot (checked against
``api.cache_at``); a 300-spoke report must stay small and quick. The
screenshots are left in each test's tmp_path."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nhrpscope import api
from nhrpscope.cli import main
from nhrpscope.render.html.ladder import messages
from nhrpscope.render.show import RouterView, peer_rows
from nhrpscope.replay.cache import ios_duration
from nhrpscope.replay.model import Event

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(pip install -e '.[test]')")
CHROMIUM = "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
                allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
CAPS = ROOT / "captures"
REFERENCE = (ROOT / ".." / "shared" / "captures" / "reference").resolve()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Loaded:
    """A report open in a page, with what the page said and asked for."""

    def __init__(self, browser: Any, html: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 1400})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = html.resolve().as_uri()
        t = time.monotonic()
        self.page.goto(self.url, wait_until="load")
        self.seconds = time.monotonic() - t

    def slide_to(self, i: int) -> list[list[str]]:
        self.page.eval_on_selector("#slider", "(s, i) => { s.value = String(i); "
                                   "s.dispatchEvent(new Event('input')); }", i)
        return self.page.eval_on_selector_all(
            "#snap-body tr", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))")


def report(tmp_path: Path, *caps: Path) -> Path:
    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", *map(str, caps), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def shown(result: api.Result, nbma: str, t: float) -> list[list[str]]:
    """The slider table's cells for ``nbma`` at ``t``, from ``api.cache_at``."""
    try:
        c = api.cache_at(result, nbma, t)
    except api.UserError:
        return [["(no NHRP peers)"]]
    rows = [[str(p.ent), p.nbma, p.tunnel, p.state, ios_duration(p.updn), p.attrb]
            for p in peer_rows(RouterView(c.router, c.time, c.entries))]
    return rows or [["(no NHRP peers)"]]


@pytest.mark.parametrize("name", ["seed-lab", "phase3", "hub-down", "seed-lab-ipsec"])
def test_report_in_a_browser(browser: Any, tmp_path: Path, name: str) -> None:
    cap = CAPS / f"{name}.pcapng"
    html = report(tmp_path, cap)
    events: list[Event] = []
    rp = api.analyze(cap, on_event=events.append)
    view = Loaded(browser, html)
    view.page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    assert view.errors == []
    assert view.requests == [view.url]  # the document itself, nothing else
    assert view.page.locator("#findings-table tbody tr").count() == len(rp.analysis.findings)
    arrows = view.page.locator("#ladder g.msg")
    assert arrows.count() == len(messages(events)) > 0
    # the router filter keeps that router's arrows only
    spoke = next(r.nbma for r in rp.analysis.routers if r.role == "spoke")
    view.page.select_option("#ladder-router", spoke)
    mine = [e for e in messages(events) if spoke in (e.src, e.dst)]
    assert view.page.locator("#ladder g.msg:visible").count() == len(mine) < arrows.count()


@pytest.mark.parametrize("name", ["seed-lab", "phase3"])
def test_slider_shows_the_engines_snapshot(browser: Any, tmp_path: Path, name: str) -> None:
    cap = CAPS / f"{name}.pcapng"
    view = Loaded(browser, report(tmp_path, cap))
    rp = api.analyze(cap)
    times = view.page.evaluate("JSON.parse(document.getElementById('snapshots').textContent)"
                               ".times")
    routers = view.page.eval_on_selector_all("#snap-router option", "os => os.map(o => o.value)")
    nbmas = [o.split(" ")[0] for o in view.page.eval_on_selector_all(
        "#snap-router option", "os => os.map(o => o.textContent)")]
    tables = set()
    for value, nbma in list(zip(routers, nbmas, strict=True))[:2]:
        view.page.select_option("#snap-router", value)
        for i in range(0, len(times), max(1, len(times) // 6)):
            got = view.slide_to(i)
            assert got == shown(rp, nbma, times[i]), (nbma, i)
            tables.add(repr(got))
    assert len(tables) > 2  # moving the slider changes the table
    view.page.screenshot(path=str(tmp_path / "slider.png"))
    assert view.errors == []


def test_several_files_and_reference_captures(browser: Any, tmp_path: Path) -> None:
    caps = [CAPS / "seed-lab.pcapng", CAPS / "hub-down.pcapng"]
    if REFERENCE.is_dir():
        caps += [REFERENCE / "nhrp-trace.pcap", REFERENCE / "ikev2_nat_t.pcapng"]
    for cap in caps:
        folder = tmp_path / cap.stem
        folder.mkdir()
        view = Loaded(browser, report(folder, cap))
        assert view.errors == [] and view.requests == [view.url], cap.name
    view = Loaded(browser, report(tmp_path, *caps[:2]))
    assert view.errors == [] and view.requests == [view.url]
    # a finding of hub-down cites its frames by file
    assert "hub-down.pcapng frame" in view.page.inner_text("#findings-table")


def test_300_spokes_stay_small_and_quick(browser: Any, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["generate", "scale", "--spokes", "300", "--packets", "30000",
                                  "-o", str(tmp_path / "scale")])
    assert r.exit_code == 0, r.output
    html = report(tmp_path, tmp_path / "scale.pcap")
    assert html.stat().st_size < 3 << 20
    view = Loaded(browser, html)
    view.page.screenshot(path=str(tmp_path / "scale.png"))
    assert view.seconds < 5.0
    assert view.errors == [] and view.requests == [view.url]
    lanes = view.page.locator("#chart-p0 g.lane").count()
    assert 0 < lanes <= 200  # a page of lanes at a time
    assert view.page.locator("#chart-page option").count() >= 2
    last = view.page.evaluate("document.getElementById('slider').max")
    assert int(last) >= 100
    hub = view.slide_to(int(last) // 2)
    assert len(hub) > 50  # the hub holds many spokes mid-capture
