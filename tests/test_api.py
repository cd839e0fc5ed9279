"""The library API (`nhrpscope.api`): what tests and notebooks call, and
what the commands print, so each agrees with its command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_replay_build import HUB, HUB_T, R2, R2_T, R4, R4_T, Cap

from nhrpscope import api
from nhrpscope.capture import CaptureError, CaptureReader
from nhrpscope.cli import main


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """Three spokes register; R2 resolves R4 at +20 s and they talk directly."""
    c = Cap()
    c.lab()
    c.resolve(20.0, R2, R2_T, R4, R4_T, 2)
    c.resolve(20.03, R4, R4_T, R2, R2_T, 2)
    for i in range(3):
        c.data(21.0 + i, R2, R4, R2_T, R4_T, seq=i + 2)
    return c.write(tmp_path / "lab.pcap")


def cli(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, (r.output, r.stderr)
    return r.stdout


def peers(c: api.RouterCache) -> list[tuple]:
    return [(e.nbma, e.proto, e.type) for e in c.entries]


def test_analyze_is_what_the_command_prints(lab):
    r = api.analyze(lab)
    assert r.analysis.json() == json.loads(cli("analyze", str(lab), "--format", "json"))
    assert r.files == [str(lab)] and r.end_frame == r.analysis.capture.frames
    assert r.end == r.analysis.capture.last


def test_analyze_stops_where_told(lab):
    whole = api.analyze(lab)
    first = whole.analysis.capture.first
    at_frame = api.analyze([lab], stop="frame:3")
    assert at_frame.end_frame == 3 and at_frame.analysis.capture.frames == 3
    at_time = api.analyze(lab, stop=first + 10.0)
    assert at_time.end == first + 10.0
    assert len(at_time.analysis.resolutions) == 0 < len(whole.analysis.resolutions)
    assert api.analyze(lab, stop="+10").analysis.json() == at_time.analysis.json()


def test_cache_at_the_end_and_before(lab):
    r = api.analyze(lab)
    end = api.cache_at(r, R2_T)  # by tunnel address; the end: no replay
    assert end.router.nbma == R2 and end.time == r.end
    assert peers(end) == [(HUB, HUB_T, "static"), (R4, R4_T, "dynamic")]
    assert end.nhs_status == {HUB_T: "RE"}
    t = r.analysis.capture.first + 10.0
    before = api.cache_at(r, R2, t)  # replayed again, up to t
    assert before.time == t and peers(before) == [(HUB, HUB_T, "static")]
    assert peers(api.cache_at(lab, R2, "+10")) == peers(before)  # from the paths
    # what show dmvpn prints is the same cache
    shown = json.loads(cli("show", "dmvpn", str(lab), "--router", R2, "--at", "+10",
                           "--format", "json"))
    assert [p["nbma"] for p in shown[0]["peers"]] == [HUB]


def test_cache_at_needs_the_input_again_for_another_time(lab):
    r = api.analyze(lab)
    piped = dataclasses.replace(r, options=dataclasses.replace(r.options, paths=("-",)))
    assert peers(api.cache_at(piped, R2, r.end)) == peers(api.cache_at(r, R2))
    with pytest.raises(api.UserError, match="standard input"):
        api.cache_at(piped, R2, "+10")
    with pytest.raises(api.UserError, match="no router 10.9.9.9"):
        api.cache_at(r, "10.9.9.9")


def test_decode_yields_the_packets_the_command_prints(lab):
    lines = cli("decode", str(lab), "--format", "jsonl").splitlines()
    pkts = list(api.decode(lab))
    assert [p.frame for p in pkts] == [json.loads(x)["frame"] for x in lines]
    only = api.decode(lab, only="nhrp", count=5)
    got = list(only)
    assert got and all(p.has("nhrp") and p.frame <= 5 for p in got)
    assert only.first == pkts[0].time and only.warnings == []


def test_decrypt_writes_the_clear_capture(tmp_path):
    from nhrpscope.sim.run import Options, simulate, write_outputs
    from nhrpscope.sim.scenario import load_scenario

    res = simulate(load_scenario("seed-lab-ipsec"), Options(duration=30))
    cap = Path(write_outputs(res, str(tmp_path / "lab"), "pcap")[0])
    out = tmp_path / "clear.pcap"
    n = api.decrypt(str(cap), str(out), keys=[str(cap.with_suffix(".esp_sa"))])
    assert n.decrypted > 0 and n.kept == 0 and n.frames == res.truth["capture"]["frames"]
    with CaptureReader(out) as rd:
        assert sum(1 for _ in rd) == n.frames
    assert not any(p.has("esp") for p in api.decode(out))
    with pytest.raises(api.UserError, match="exists"):
        api.decrypt(str(cap), str(out))


def test_errors_are_library_exceptions(tmp_path):
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"not a capture")
    with pytest.raises(CaptureError):
        api.analyze(bad)
    with pytest.raises(api.UserError, match="--at"):
        api.parse_point("yesterday")
    with pytest.raises(api.UserError, match="only once"):
        api.analyze(["-", "-"])
    from nhrpscope.cli import UserError

    assert UserError is api.UserError  # the old name still works


def _imports(root: Path) -> dict[str, set[str]]:
    """Each nhrpscope module and the nhrpscope modules it imports, lazily or not."""
    import ast

    mods = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        out = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom) and node.module in mods:
                out.add(node.module)
                out |= {f"{node.module}.{a.name}" for a in node.names
                        if f"{node.module}.{a.name}" in mods}
    return graph


def test_no_import_cycles_through_the_cli_api_and_commands():
    """DESIGN.md's floors: commands -> render -> api -> replay, no cycle, lazy imports included."""
    import nhrpscope

    graph = _imports(Path(nhrpscope.__file__).parent)
    mine = [m for m in graph if (m.split(".") + [""])[1] in
            ("cli", "__main__", "api", "pipeline", "decoding", "rewrite", "keystore", "errors",
             "points", "commands", "render")]

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo += graph.get(m, ())
        return False

    assert [m for m in mine if reaches(m, m)] == []
    assert not reaches("nhrpscope.api", "nhrpscope.render.show")
    assert not any(reaches(m, "nhrpscope.cli") for m in graph if m.startswith("nhrpscope.commands"))
