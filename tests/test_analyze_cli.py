"""`nhrpscope analyze` and `timeline` as a user runs them, and the round trip
with the generator: analyze's JSON agrees with each built-in scenario's truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_replay_build import HUB, R2, R2_T, R4, R4_T, Cap

from nhrpscope.capture import CaptureReader
from nhrpscope.cli import main


def run(*args: str, input: bytes | None = None):  # noqa: ANN201
    r = CliRunner().invoke(main, list(args), input=input)
    assert "Traceback" not in (r.stderr or ""), r.stderr
    return r


def lab_capture(tmp_path: Path, *, unanswered: bool = False) -> Path:
    c = Cap()
    c.lab()
    c.resolve(10.0, R2, R2_T, R4, R4_T, 2)
    c.data(11.0, R2, R4, R2_T, R4_T)
    if unanswered:
        c.reg_request(20.0, "172.16.55.2", "192.168.0.5", 1)
        c.reg_request(30.0, "172.16.55.2", "192.168.0.5", 2)
        c.data(40.0, R2, R4, R2_T, R4_T, seq=3)
    return c.write(tmp_path / "lab.pcap")


def test_analyze_json_shape_and_exit_codes(tmp_path):
    cap = lab_capture(tmp_path)
    r = run("analyze", str(cap), "--format", "json", "--fail-on", "warning")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc)[:10] == ["capture", "routers", "registrations", "resolutions", "shortcuts",
                              "redirects", "purges", "errors", "ipsec", "findings"]
    assert doc["ipsec"] == {"ike": [], "sas": [], "sas_not_tracked": None}
    assert doc["capture"]["frames"] == 10
    assert len(doc["registrations"]) == 3 and len(doc["shortcuts"]) == 1

    bad = lab_capture(tmp_path, unanswered=True)
    r = run("analyze", str(bad), "--format", "json", "--fail-on", "error")
    assert r.exit_code == 1
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["registration-unanswered"]
    assert run("analyze", str(bad), "--format", "json").exit_code == 0


def test_analyze_text_report(tmp_path):
    r = run("analyze", str(lab_capture(tmp_path, unanswered=True)))
    assert r.exit_code == 0
    for text in ("Routers", "Registrations", "Resolutions", "Shortcuts", "registration-unanswered",
                 "172.16.55.2", "frames: 11, 12"):
        assert text in r.stdout


def test_bad_input_is_one_line_exit_2(tmp_path):
    p = tmp_path / "x.pcap"
    p.write_bytes(b"not a capture")
    r = run("analyze", str(p))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "error" in r.stderr
    r = run("show", "dmvpn", str(lab_capture(tmp_path)), "--at", "yesterday")
    assert r.exit_code == 2 and "--at" in r.stderr


def test_stdin_and_follow(tmp_path):
    import subprocess
    import sys

    data = lab_capture(tmp_path, unanswered=True).read_bytes()
    code = ("import sys; from nhrpscope.cli import main; "
            "sys.argv[0] = 'nhrpscope'; main()")
    r = subprocess.run([sys.executable, "-c", code, "analyze", "-", "--follow", "--format", "json"],
                       input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"[error] registration-unanswered" in r.stderr
    assert json.loads(r.stdout)["capture"]["file"] == "<stdin>"


def test_merge_dedup_and_write_merged(tmp_path):
    a = Cap()
    a.lab()
    b = Cap()
    # the same registrations seen at a second tap, one hop later (TTL lower)
    for it in a.items:
        d = bytearray(it.data)
        d[8] -= 1
        b.items.append(type(it)(it.number, it.time + 0.0002, it.linktype, bytes(d), it.wire_len))
    b.data(5.0, R2, HUB, R2_T, "10.9.9.9")
    pa, pb = a.write(tmp_path / "a.pcap"), b.write(tmp_path / "b.pcap")
    out = tmp_path / "merged.pcapng"
    r = run("analyze", str(pa), str(pb), "--format", "json", "--write-merged", str(out))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["capture"]["frames"] == 7 and doc["capture"]["duplicates"] == 6
    assert [reg["frames"] for reg in doc["registrations"]] == [[1, 2], [3, 4], [5, 6]]
    frames = list(CaptureReader(str(out)))
    assert len(frames) == 7 and frames[0].comment == "a.pcap frame 1"
    # without de-duplication every copy counts
    r = run("analyze", str(pa), str(pb), "--format", "json", "--no-dedup")
    assert json.loads(r.stdout)["capture"]["frames"] == 13


def test_reorder_buffer_puts_small_inversions_right(tmp_path):
    c = Cap()
    c.register(0.0, R2, R2_T, 1)
    c.items[0], c.items[1] = c.items[1], c.items[0]  # the reply written before the request
    r = run("analyze", str(c.write(tmp_path / "inv.pcap")), "--format", "json")
    [reg] = json.loads(r.stdout)["registrations"]
    assert reg["state"] == "registered" and reg["frames"] == [2, 1]


def test_timeline_formats(tmp_path):
    cap = str(lab_capture(tmp_path))
    text = run("timeline", cap).stdout
    assert "Reg Request id=1" in text and "#1" in text and "hub" in text.splitlines()[1]
    mer = run("timeline", cap, "--format", "mermaid").stdout
    assert mer.startswith("sequenceDiagram") and "->>" in mer
    doc = json.loads(run("timeline", cap, "--format", "json").stdout)
    assert [e["frame"] for e in doc["events"] if e["kind"] == "nhrp"][:2] == [1, 2]
    only = json.loads(run("timeline", cap, "--format", "json", "--router", R4_T).stdout)
    assert all(R4 in (e["src"], e["dst"]) for e in only["events"])
    part = json.loads(run("timeline", cap, "--format", "json", "--from", "frame:7",
                          "--to", "frame:8").stdout)
    assert {e["frame"] for e in part["events"]} == {7, 8}
    late = json.loads(run("timeline", cap, "--format", "json", "--from", "+8", "--no-data").stdout)
    assert late["events"] and all(e["time"] >= late["capture"]["first"] + 8 for e in late["events"])
    assert {e["frame"] for e in late["events"]} == {7, 8, 9}


# -- the round trip with the generator ---------------------------------------------------

def _scenarios() -> list[str]:
    """The built-in scenarios a round trip can run (the scale one writes
    its own kind of capture and has its own tests)."""
    from nhrpscope.sim.scenario import builtin_names, load_scenario

    return [n for n in builtin_names() if getattr(load_scenario(n), "scale", None) is None]


def _simulate(name: str, tmp_path: Path, ipsec: bool | None = None):  # noqa: ANN202
    from nhrpscope.sim.run import Options, simulate, write_outputs
    from nhrpscope.sim.scenario import load_scenario

    sc = load_scenario(name)
    res = simulate(sc, Options(ipsec=ipsec))
    paths = write_outputs(res, str(tmp_path / name))
    return paths, json.loads(paths[1].read_text()), list(sc.expect)


def _close(a: float | None, b: float | None) -> bool:
    return (a is None) == (b is None) and (a is None or abs(a - b) < 1e-5)


def compare(truth: dict, got: dict, expect: list[str] | None = None) -> list[str]:
    """What analyze's JSON gets wrong against the truth (empty: agreement).

    Findings: every truth finding whose code the scenario expects must be
    found (same code, a frame in common); analyze may not raise a code the
    truth does not have. (The truth also lists findings the scenario does
    not ask for, where the generator's reading can differ: a registration
    refused with a NAK counts there as unanswered.)"""
    bad = []
    if got["capture"]["frames"] != truth["capture"]["frames"]:
        bad.append(f"frames: {got['capture']['frames']} != {truth['capture']['frames']}")
    routers = {r["nbma"]: r for r in got["routers"]}
    for r in truth["routers"]:
        g = routers.get(r["nbma"])
        if g is not None and (g["tunnel"], g["role"]) != (r["tunnel"], r["role"]):
            bad.append(f"router {r['nbma']}: {g['tunnel']} {g['role']} != {r['tunnel']} {r['role']}")

    def key_reg(x: dict) -> tuple:
        return (x["spoke_nbma"], x["hub_nbma"], x["request_id"], x["frames"][0])

    regs = {key_reg(x): x for x in got["registrations"]}
    for t in truth["registrations"]:
        g = regs.get(key_reg(t))
        if g is None:
            bad.append(f"registration missing: {key_reg(t)}")
            continue
        for k in ("spoke_tunnel", "holding_time", "code"):
            if g[k] != t[k]:
                bad.append(f"registration {key_reg(t)} {k}: {g[k]} != {t[k]}")
        for k in ("request_time", "reply_time"):
            if not _close(g[k], t[k]):
                bad.append(f"registration {key_reg(t)} {k}: {g[k]} != {t[k]}")
        if sorted(g["frames"]) != sorted(t["frames"])[:20]:
            bad.append(f"registration {key_reg(t)} frames: {g['frames']} != {t['frames']}")
    if len(got["registrations"]) != len(truth["registrations"]):
        bad.append(f"{len(got['registrations'])} registrations, truth has "
                   f"{len(truth['registrations'])}")

    def key_res(x: dict) -> tuple:
        return (x["requester_nbma"], x["target_tunnel"], x["request_id"])

    res = {key_res(x): x for x in got["resolutions"]}
    for t in truth["resolutions"]:
        g = res.get(key_res(t))
        if g is None:
            bad.append(f"resolution missing: {key_res(t)}")
            continue
        for k in ("resolved_nbma", "code"):
            if g[k] != t[k]:
                bad.append(f"resolution {key_res(t)} {k}: {g[k]} != {t[k]}")
        for k in ("request_time", "reply_time"):
            if not _close(g[k], t[k]):
                bad.append(f"resolution {key_res(t)} {k}: {g[k]} != {t[k]}")
        if sorted(g["frames"]) != sorted(t["frames"]):
            bad.append(f"resolution {key_res(t)} frames: {g['frames']} != {t['frames']}")
    if len(got["resolutions"]) != len(truth["resolutions"]):
        bad.append(f"{len(got['resolutions'])} resolutions, truth has {len(truth['resolutions'])}")

    scs = {frozenset((x["a_nbma"], x["b_nbma"])): x for x in got["shortcuts"]}
    for t in truth["shortcuts"]:
        g = scs.get(frozenset((t["a_nbma"], t["b_nbma"])))
        if g is None:
            bad.append(f"shortcut missing: {t['a_nbma']} <-> {t['b_nbma']}")
            continue
        for k in ("established", "first_direct_data"):
            if not _close(g[k], t[k]):
                bad.append(f"shortcut {k}: {g[k]} != {t[k]}")
        if g["phase"] != t.get("phase", g["phase"]) or sorted(g["frames"]) != sorted(t["frames"]):
            bad.append(f"shortcut phase/frames: {g['phase']} {g['frames']} != "
                       f"{t.get('phase')} {t['frames']}")
    if len(got["shortcuts"]) != len(truth["shortcuts"]):
        bad.append(f"{len(got['shortcuts'])} shortcuts, truth has {len(truth['shortcuts'])}")

    mine = {}
    for f in got["findings"]:
        mine.setdefault(f["code"], []).append(f)
    for t in truth["findings"]:
        if expect is not None and t["code"] not in expect:
            continue
        cands = mine.get(t["code"], [])
        if not any(set(f["frames"]) & set(t["frames"]) for f in cands):
            bad.append(f"finding {t['code']} at frames {t['frames']} not found "
                       f"(have {[f['frames'] for f in cands]})")
    extra = {f["code"] for f in got["findings"]} - {t["code"] for t in truth["findings"]}
    if extra:
        bad.append(f"findings the truth does not have: {sorted(extra)}")

    sas = {(s["spi"], s["src"], s["dst"]): s for s in got["ipsec"]["sas"]}
    for t in truth["ipsec"]["sas"]:
        g = sas.get((t["spi"], t["src"], t["dst"]))
        if g is None:
            bad.append(f"SA missing: {t['spi']}")
            continue
        for k in ("packets", "bytes", "decrypted", "paired_spi", "frames"):
            if g[k] != t[k]:
                bad.append(f"SA {t['spi']} {k}: {g[k]} != {t[k]}")

    def key_ike(x: dict) -> tuple:
        return (x["initiator"], x["responder"], x["frames"][0])

    ikes = {key_ike(x): x for x in got["ipsec"]["ike"]}
    for t in truth["ipsec"]["ike"]:
        g = ikes.get(key_ike(t))
        if g is None:
            bad.append(f"IKE negotiation missing: {key_ike(t)}")
            continue
        for k in ("version", "state", "retransmits", "frames"):
            if g[k] != t[k]:
                bad.append(f"IKE {key_ike(t)} {k}: {g[k]} != {t[k]}")
        if not _close(g["established"], t["established"]):
            bad.append(f"IKE {key_ike(t)} established: {g['established']} != {t['established']}")
    if len(got["ipsec"]["ike"]) != len(truth["ipsec"]["ike"]):
        bad.append(f"{len(got['ipsec']['ike'])} IKE negotiations, truth has {len(truth['ipsec']['ike'])}")
    return bad


@pytest.mark.parametrize("name", _scenarios())
def test_round_trip_with_the_generator(name, tmp_path):
    paths, truth, expect = _simulate(name, tmp_path)
    keys = ["-k", str(paths[2])] if len(paths) > 2 and paths[2].suffix == ".esp_sa" else []
    r = run("analyze", str(paths[0]), "--format", "json", *keys)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert compare(truth, doc, expect) == []
    assert set(expect) <= {f["code"] for f in doc["findings"]}


def test_round_trip_under_ipsec(tmp_path):
    name = "seed-lab"
    paths, truth, expect = _simulate(name, tmp_path, ipsec=True)
    r = run("analyze", str(paths[0]), "-k", str(paths[2]), "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert compare(truth, json.loads(r.stdout), expect) == []
    # without the keys: esp-no-key, and nothing invented
    doc = json.loads(run("analyze", str(paths[0]), "--format", "json").stdout)
    assert doc["routers"] == [] and doc["registrations"] == [] and doc["shortcuts"] == []
    assert {f["code"] for f in doc["findings"]} == {"esp-no-key"}
    assert sum(s["undecrypted"] for s in doc["ipsec"]["sas"]) == \
        sum(s["packets"] for s in truth["ipsec"]["sas"])
