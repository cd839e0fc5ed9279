"""`nhrpscope generate` as a user runs it, and the committed captures/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nhrpscope.cli import main
from nhrpscope.sim.scenario import builtin_names, lesson_of, load_scenario

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
COMMITTED = [n for n in builtin_names() if n != "scale"]


def gen(*args: str):
    return CliRunner().invoke(main, ["generate", *args])


def test_list_names_every_builtin_with_its_lesson():
    r = gen("--list")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == len(builtin_names())
    for name in builtin_names():
        line = next(ln for ln in lines if ln.split()[0] == name)
        assert lesson_of(name) in line


def test_generate_seed_lab_writes_capture_and_truth(tmp_path):
    out = tmp_path / "lab"
    r = gen("seed-lab", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "lab.pcap").exists() and (tmp_path / "lab.truth.json").exists()
    assert not (tmp_path / "lab.esp_sa").exists()
    assert "frames" in r.output.splitlines()[0]
    truth = json.loads((tmp_path / "lab.truth.json").read_text())
    assert truth["capture"]["file"] == "lab.pcap"
    from nhrpscope.capture import CaptureReader

    with CaptureReader(tmp_path / "lab.pcap") as rd:
        frames = list(rd)
    assert len(frames) == truth["capture"]["frames"]
    assert rd.format == "pcap"


def test_refuses_to_overwrite_without_force(tmp_path):
    out = str(tmp_path / "lab")
    assert gen("seed-lab", "-o", out).exit_code == 0
    before = (tmp_path / "lab.pcap").read_bytes()
    r = gen("seed-lab", "-o", out, "--seed", "5")
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0
    assert r.output.startswith("nhrpscope: error: ") and "--force" in r.output
    assert (tmp_path / "lab.pcap").read_bytes() == before
    r = gen("seed-lab", "-o", out, "--seed", "5", "--force")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "lab.pcap").read_bytes() != before


def test_ipsec_pcapng_explain_outputs(tmp_path):
    out = str(tmp_path / "x")
    r = gen("seed-lab", "-o", out, "--ipsec", "--format", "pcapng", "--explain", "--duration", "30")
    assert r.exit_code == 0, r.output
    for ext in (".pcapng", ".truth.json", ".esp_sa", ".secrets", ".xfrm", ".explain.md"):
        assert (tmp_path / f"x{ext}").stat().st_size > 0, ext
    from nhrpscope.keys import parse_esp_sa, parse_tcpdump_secrets, parse_xfrm

    a = parse_esp_sa((tmp_path / "x.esp_sa").read_text())
    b = parse_xfrm((tmp_path / "x.xfrm").read_text())
    c = parse_tcpdump_secrets((tmp_path / "x.secrets").read_text())
    assert {s.spi for s in a} == {s.spi for s in b} == {s.spi for s in c}
    assert {(s.spi, s.enc_key, s.auth_key) for s in a} == {(s.spi, s.enc_key, s.auth_key) for s in b}
    truth = json.loads((tmp_path / "x.truth.json").read_text())
    assert truth["capture"]["ipsec"] is True and truth["capture"]["last"] - truth["capture"]["first"] < 30


@pytest.mark.parametrize("args,needle", [
    (("no-such-scenario", "-o", "X"), "no such built-in scenario"),
    (("seed-lab",), "-o OUT is required"),
    ((), "give a SCENARIO"),
    (("seed-lab", "-o", "X", "--spokes", "10"), "--spokes and --packets apply"),
    (("seed-lab", "-o", "X", "--tap", "R9"), "--tap R9: no router of that name"),
    (("scale", "-o", "X", "--tap", "HUB", "--spokes", "3", "--packets", "10"), "provider core only"),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, args, needle):
    args = tuple(str(tmp_path / a) if a == "X" else a for a in args)
    r = gen(*args)
    assert r.exit_code == 2, r.output
    assert r.output.startswith("nhrpscope: error: ") and needle in r.output
    assert r.output.strip().count("\n") == 0


def test_bad_scenario_file_names_file_line_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "bad"\n\n[[routers]]\nname = "H"\nrole = "hub"\nnbma = "1.2.3"\ntunnel = "10.0.0.1/24"\n')
    r = gen(str(p), "-o", str(tmp_path / "o"))
    assert r.exit_code == 2
    assert r.output.strip() == (f"nhrpscope: error: {p}:6: key routers[1].nbma: '1.2.3' is not an IPv4 address")


def test_scale_from_the_command_line(tmp_path):
    r = gen("scale", "-o", str(tmp_path / "s"), "--spokes", "10", "--packets", "3000")
    assert r.exit_code == 0, r.output
    truth = json.loads((tmp_path / "s.truth.json").read_text())
    assert abs(truth["capture"]["frames"] - 3000) < 50 and truth["capture"]["spokes"] == 10


def test_generated_scenarios_match_their_lessons():
    for name in builtin_names():
        assert load_scenario(name).lesson == lesson_of(name)


# -- captures/ -------------------------------------------------------------------------------


def test_captures_readme_lists_every_committed_capture():
    text = (CAPTURES / "README.md").read_text()
    for name in COMMITTED:
        assert f"`{name}.pcapng`" in text
        assert f"nhrpscope analyze captures/{name}.pcapng" in text


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_captures_regenerate_byte_for_byte(tmp_path, name):
    committed = sorted(p for p in CAPTURES.iterdir() if p.name.split(".")[0] == name)
    assert committed, f"captures/{name}.* missing"
    r = gen(name, "-o", str(tmp_path / name), "--format", "pcapng", "--explain")
    assert r.exit_code == 0, r.output
    fresh = sorted(tmp_path.iterdir())
    assert [p.name for p in fresh] == [p.name for p in committed]
    for a, b in zip(committed, fresh, strict=True):
        assert a.read_bytes() == b.read_bytes(), (
            f"{a.name} changed: regenerate with `nhrpscope generate {name} -o captures/{name} "
            "--format pcapng --explain --force` if the change is deliberate")
    assert (CAPTURES / f"{name}.pcapng").stat().st_size < 64 * 1024


@pytest.mark.parametrize("name", COMMITTED)
def test_analyze_agrees_with_the_truth(name):
    """The round trip: the replay engine, reading only the capture (and its keys),
    finds what the simulator knows happened."""
    args = ["analyze", str(CAPTURES / f"{name}.pcapng"), "--format", "json"]
    if (CAPTURES / f"{name}.esp_sa").exists():
        args += ["-k", str(CAPTURES / f"{name}.esp_sa")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    a = json.loads(r.output[r.output.index("{"):])
    t = json.loads((CAPTURES / f"{name}.truth.json").read_text())

    def regs(d):
        # FRR reuses a request id: a spoke's ids repeat, unanswered ones have no code
        return sorted((x["spoke_tunnel"], x["request_id"], -1 if x["code"] is None else x["code"],
                       tuple(x["frames"])) for x in d["registrations"])

    def res(d):
        return sorted((x["requester_tunnel"], x["target_tunnel"], x["resolved_nbma"], tuple(x["frames"]))
                      for x in d["resolutions"])

    def shortcuts(d):
        return sorted((tuple(sorted((s["a_nbma"], s["b_nbma"]))), s["established"], s["first_direct_data"])
                      for s in d["shortcuts"])

    def findings(d):
        # gre-key-mismatch: the truth cites every dropped frame, analyze the first that shows it
        return sorted((f["code"], () if f["code"] == "gre-key-mismatch" else tuple(f["frames"]))
                      for f in d["findings"])

    assert regs(a) == regs(t)
    assert res(a) == res(t)
    assert shortcuts(a) == shortcuts(t)
    assert findings(a) == findings(t)
