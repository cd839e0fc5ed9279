"""`nhrpscope decode` as a user runs it: exit codes, JSON shape, filters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nhrpscope.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nhrpscope", *args], capture_output=True,
                          text=True, timeout=120)


def test_jsonl_shape_on_nhrp_registration(reference):
    r = run("decode", str(reference / "NHRP_registration.pcap"), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["frame"] for o in objs] == [1, 2, 3, 4]
    o = objs[0]
    assert set(o) >= {"frame", "time", "wire_len", "layers", "problems"}
    assert o["time"] == pytest.approx(1422174105.190210)
    protos = [la["proto"] for la in o["layers"]]
    assert protos == ["eth", "vlan", "ipv4", "gre", "nhrp"]
    gre = o["layers"][3]
    assert gre["key"] == 2 and gre["seq"] is None and gre["checksum_ok"] is None
    assert gre["protocol_type"] == 8193
    nhrp = o["layers"][4]
    assert nhrp["type"] == "registration-request" and nhrp["type_code"] == 3
    assert nhrp["request_id"] == 1 and nhrp["hop_count"] == 255 and nhrp["checksum_ok"] is True
    assert "unique" in nhrp["flags"]
    assert (nhrp["src_nbma"], nhrp["src_proto"], nhrp["dst_proto"]) == (
        "169.254.100.1", "155.1.0.1", "155.1.0.5")
    assert nhrp["cies"][0] == {**nhrp["cies"][0], "code": 0, "prefix_len": 32, "mtu": 17912,
                               "holding_time": 7200, "preference": 0}
    reply = objs[1]["layers"][4]
    exts = {e["name"]: e for e in reply["extensions"]}
    assert exts["authentication"]["password"] == "NHRPAUTH"
    assert exts["authentication"]["spi"] == 1
    nat = exts["cisco-nat-address"]["cies"][0]
    assert (nat["client_nbma"], nat["client_proto"]) == ("169.254.100.5", "155.1.0.5")


@pytest.mark.parametrize("name", ["pb_nhrp_1.pcap", "gre-heapoverflow-1.pcap",
                                  "gre-heapoverflow-2.pcap", "esp_truncated.pcap"])
def test_malformed_reference_captures_report_problems_exit_0(reference, name):
    r = run("decode", str(reference / name), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert any(o["problems"] for o in objs)
    t = run("decode", str(reference / name), "-v")
    assert t.returncode == 0 and "malformed" in t.stdout


def test_esp_truncated_is_reported_as_truncated(reference):
    r = run("decode", str(reference / "esp_truncated.pcap"), "--format", "jsonl")
    o = json.loads(r.stdout.splitlines()[0])
    esp = [la for la in o["layers"] if la["proto"] == "esp"]
    assert esp and esp[0]["spi"] == 0xC0F7D4C3
    assert any("trunc" in p["reason"] or "cut short" in p["reason"] for p in o["problems"])


def test_pb_nhrp_over_ip_protocol_54(reference):
    r = run("decode", str(reference / "pb_nhrp_1.pcap"), "--format", "jsonl")
    o = json.loads(r.stdout)
    nh = [la for la in o["layers"] if la["proto"] == "nhrp"]
    assert nh and nh[0]["type"] == "resolution-request" and nh[0]["hop_count"] == 103


def test_various_gre_every_frame_decodes(reference):
    r = run("decode", str(reference / "various_gre.pcap"))
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 100
    assert sum("keepalive" in ln for ln in lines) > 0


def test_count_and_only(reference):
    r = CliRunner().invoke(main, ["decode", str(reference / "nhrp-trace.pcap"), "-c", "2",
                                  "--format", "jsonl"])
    assert r.exit_code == 0 and len(r.output.splitlines()) == 2
    r = CliRunner().invoke(main, ["decode", str(reference / "various_gre.pcap"), "--only", "nhrp"])
    assert r.exit_code == 0 and r.output == ""
    r = CliRunner().invoke(main, ["decode", str(reference / "various_gre.pcap"), "--only", "gre",
                                  "--format", "jsonl"])
    assert all(any(la["proto"] == "gre" for la in json.loads(x)["layers"])
               for x in r.output.splitlines())


def test_unreadable_file_one_line_exit_2(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a capture\n")
    for path in (str(bad), str(tmp_path / "missing.pcap")):
        r = run("decode", path)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert r.stderr.startswith("nhrpscope: error: ")


def test_verbose_tree_names_layers(reference):
    r = run("decode", str(reference / "NHRP_registration.pcap"), "-v", "-c", "2")
    assert "Next Hop Resolution Protocol" in r.stdout
    assert "NHRPAUTH" in r.stdout


def test_stdin(reference):
    data = (reference / "ios_nhrp.pcap").read_bytes()
    r = subprocess.run([sys.executable, "-m", "nhrpscope", "decode", "-", "--format", "jsonl"],
                       input=data, capture_output=True, timeout=60)
    assert r.returncode == 0
    assert json.loads(r.stdout)["layers"][-1]["request_id"] == 5
