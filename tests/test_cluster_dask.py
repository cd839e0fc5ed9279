"""analyze on a real Dask cluster: a LocalCluster of two worker processes
(one for the module) gives the one-process analysis, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _cluster import analyze, cut, generate

from nhrpscope.cluster import split

distributed = pytest.importorskip("dask.distributed", reason="the dask extra is not installed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def caps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dask")
    generate(d / "scale", "scale", "--packets", "6000", "--spokes", "40")
    generate(d / "lab", "seed-lab-ipsec", "--format", "pcapng")
    generate(d / "labpcap", "seed-lab-ipsec")
    return {"scale": d / "scale.pcap", "lab": d / "lab.pcapng", "labpcap": d / "labpcap.pcap",
            "esp_sa": d / "labpcap.esp_sa"}


def _same(*args: object, scheduler: str) -> dict:
    code, one = analyze(*args)
    assert code == 0, one
    code, many = analyze(*args, "--scheduler", scheduler)
    assert code == 0, many
    assert many == one
    return one


def test_four_files_two_taps_esp(caps: dict[str, Path], scheduler: str) -> None:
    """Four time-consecutive files of one tap; two overlapping taps (the
    same packets twice); ESP opened with a key file: as one process."""
    four = cut(caps["scale"], 4)
    _same(*four, scheduler=scheduler)
    a = cut(caps["scale"], 1, hi=0.7, name="tapa")
    b = cut(caps["scale"], 1, lo=0.3, shift=0.0004, name="tapb")
    assert _same(*a, *b, scheduler=scheduler)["capture"]["duplicates"] > 1000
    esp = cut(caps["labpcap"], 2)
    doc = _same(*esp, "-k", caps["esp_sa"], scheduler=scheduler)
    assert any(s["decrypted"] for s in doc["ipsec"]["sas"])


def test_one_file_in_byte_ranges(caps: dict[str, Path], scheduler: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """pcap and pcapng (keys carried inside), cut mid-record into two ranges."""
    monkeypatch.setattr(split, "SPLIT_MIN_BYTES", 0)
    assert len(split.plan(str(caps["scale"]), 0, 2)) == 2
    _same(caps["scale"], scheduler=scheduler)
    doc = _same(caps["lab"], scheduler=scheduler)
    assert any(s["decrypted"] for s in doc["ipsec"]["sas"])


def test_a_local_cluster_of_its_own(caps: dict[str, Path]) -> None:
    """--workers N starts (and stops) a local cluster."""
    four = cut(caps["scale"], 4, name="own")
    assert analyze(*four, "--workers", 2) == analyze(*four)


def test_worker_error_is_the_one_process_error(tmp_path: Path, scheduler: str) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20) + b"\xff" * 64)
    one = analyze(bad)
    assert one[0] == 2
    assert analyze(bad, "--scheduler", scheduler) == one


def test_unreachable_scheduler(caps: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from nhrpscope.cluster import run

    monkeypatch.setattr(run, "CONNECT_TIMEOUT", "1s")
    code, out = analyze(caps["scale"], "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "cannot connect" in out and len(out.strip().splitlines()) == 1
