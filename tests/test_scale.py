"""The scale scenario, clear and under ESP: what the benchmarks read."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from nhrpscope.capture import CaptureReader
from nhrpscope.pipeline import replay
from nhrpscope.sim.run import Options, simulate, write_outputs
from nhrpscope.sim.scenario import load_scenario


def make(tmp: Path, name: str, *, ipsec: bool, seed: int = 4, spokes: int = 20,
         packets: int = 3000) -> Path:
    res = simulate(load_scenario("scale"), Options(spokes=spokes, packets=packets, seed=seed, ipsec=ipsec))
    return write_outputs(res, str(tmp / name), "pcap")[0]


@pytest.fixture(scope="module")
def esp() -> Iterator[Path]:
    # tcpdump drops privileges before it opens the -E secrets file: a directory
    # anyone may read (pytest's own are private)
    d = Path(tempfile.mkdtemp(prefix="nhrpscope-scale-"))
    d.chmod(0o755)
    try:
        yield make(d, "s", ipsec=True)
    finally:
        shutil.rmtree(d, True)


def _esp_packets(path: Path) -> list[tuple[int, int, int]]:
    """(frame, SPI, sequence number) of every ESP frame."""
    out = []
    with CaptureReader(path) as r:
        for f in r:
            b = f.data
            if b[23] == 50:
                out.append((f.number, int.from_bytes(b[34:38], "big"), int.from_bytes(b[38:42], "big")))
    return out


def test_esp_scale_every_icv_verifies_and_sequence_numbers_rise(esp):
    from _simcaps import decode

    pk = decode(esp, esp.with_suffix(".esp_sa"))
    layers = [p.layer("esp") for p in pk if p.has("esp")]
    assert len(layers) > 0.95 * len(pk)
    assert all(la.decrypted and la.icv_ok for la in layers)
    assert sum(p.has("nhrp") for p in pk) > 50 and sum(p.has("gre") for p in pk) > 0.95 * len(pk)
    seqs: dict[int, list[int]] = defaultdict(list)
    for _, spi, seq in _esp_packets(esp):
        seqs[spi].append(seq)
    assert len(seqs) > 40
    for s in seqs.values():
        assert s == list(range(1, len(s) + 1))


def test_esp_scale_analysis_matches_truth(esp):
    truth = json.loads(esp.with_suffix(".truth.json").read_text())
    a = replay((str(esp),), (str(esp.with_suffix(".esp_sa")),), (), verify_all=True).analysis.json()
    assert a["capture"]["frames"] == truth["capture"]["frames"] and a["capture"]["duplicates"] == 0
    got = {s["spi"]: s for s in a["ipsec"]["sas"]}
    assert len(got) == len(truth["ipsec"]["sas"])
    for t in truth["ipsec"]["sas"]:
        g = got[t["spi"]]
        for k in ("src", "dst", "packets", "bytes", "first", "last", "frames", "decrypted"):
            assert g[k] == t[k], (t["spi"], k)
        assert g["icv_failed"] == g["replays"] == g["no_key"] == 0
    assert not [f for f in a["findings"] if f["severity"] == "error"]
    assert {(r["spoke_nbma"], r["code"]) for r in a["registrations"]} == \
        {(r["spoke_nbma"], r["code"]) for r in truth["registrations"]}


def test_esp_scale_icvs_verify_in_tshark(esp, tshark):
    rows = [r for r in esp.with_suffix(".esp_sa").read_text().splitlines() if r and not r.startswith("#")]
    uat = [x for r in rows for x in ("-o", f"uat:esp_sa:{r}")]
    out = subprocess.run([tshark, "-r", str(esp), "-o", "esp.enable_encryption_decode:TRUE",
                          "-o", "esp.enable_authentication_check:TRUE", *uat, "-Y", "esp",
                          "-T", "fields", "-e", "esp.icv_good", "-e", "esp.icv_bad"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    results = [ln.split("\t") for ln in out.splitlines()]
    assert len(results) == len(_esp_packets(esp))
    assert all(r[0] == "1" and r[1] in ("0", "") for r in results)


def test_esp_scale_decrypts_in_tcpdump(esp, tcpdump):
    r = subprocess.run([tcpdump, "-nr", str(esp), "-E", f"file {esp.with_suffix('.secrets')}"],
                       capture_output=True, text=True, timeout=120)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    esp_lines = [ln for ln in lines if "ESP(" in ln]
    assert len(esp_lines) == len(_esp_packets(esp))
    assert all("GREv0" in ln for ln in esp_lines)


def test_scale_is_deterministic_per_seed(tmp_path):
    for ipsec in (False, True):
        a, b = make(tmp_path, f"a{ipsec}", ipsec=ipsec), make(tmp_path, f"b{ipsec}", ipsec=ipsec)
        assert a.read_bytes() == b.read_bytes()
        if ipsec:
            for ext in (".esp_sa", ".secrets", ".xfrm"):
                assert a.with_suffix(ext).read_text() == b.with_suffix(ext).read_text()
        c = make(tmp_path, f"c{ipsec}", ipsec=ipsec, seed=5)
        assert c.read_bytes() != a.read_bytes()


def test_scale_data_packets_are_distinct(tmp_path):
    """Real senders number their packets: no data packet repeats byte for
    byte within a second, so none is taken for a duplicate."""
    for ipsec in (False, True):
        p = make(tmp_path, f"d{ipsec}", ipsec=ipsec, spokes=5, packets=4000)
        keys = (str(p.with_suffix(".esp_sa")),) if ipsec else ()
        a = replay((str(p),), keys, ()).analysis
        assert a.capture.duplicates == 0
        ids: dict[tuple[bytes, bytes], list[int]] = defaultdict(list)
        with CaptureReader(p) as r:
            for f in r:
                ids[(f.data[26:30], f.data[30:34])].append(int.from_bytes(f.data[18:20], "big"))
        for seen in ids.values():
            assert len(set(seen)) > 0.9 * len(seen)
