"""The cluster's stage without Dask: byte ranges cut at record boundaries,
the merge of parts, the errors (``analyze --workers``). The parts are
staged in this process (``_cluster.in_process``); ``test_cluster_dask``
runs the same on a real local cluster."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from _cluster import analyze, cut, generate, in_process
from hypothesis import given, settings
from hypothesis import strategies as st

from nhrpscope.capture import CaptureReader, PcapWriter
from nhrpscope.cluster import run, split
from nhrpscope.cluster.split import pcap_sync, plan


@pytest.fixture(scope="module")
def caps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cluster")
    generate(d / "scale", "scale", "--packets", "6000", "--spokes", "40")
    generate(d / "scaleng", "scale", "--packets", "4000", "--spokes", "30", "--format", "pcapng")
    generate(d / "lab", "seed-lab-ipsec", "--format", "pcapng")
    generate(d / "labpcap", "seed-lab-ipsec")
    return {"scale": d / "scale.pcap", "scaleng": d / "scaleng.pcapng", "lab": d / "lab.pcapng",
            "labpcap": d / "labpcap.pcap", "esp_sa": d / "labpcap.esp_sa"}


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any file is cut; the parts are staged here."""
    monkeypatch.setattr(split, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(run, "connect", in_process(2))


def _same(*args: object, workers: int = 2) -> dict:
    code, one = analyze(*args)
    assert code == 0, one
    code, many = analyze(*args, "--workers", workers)
    assert code == 0, many
    assert many == one
    return one


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_pcap_ranges_identical(caps: dict[str, Path], local: None, workers: int) -> None:
    parts = plan(str(caps["scale"]), 0, workers, 0)
    assert len(parts) == workers and parts[0].start == 0 and parts[-1].last
    assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))
    _same(caps["scale"], workers=workers)


@pytest.mark.parametrize("name", ["scaleng", "lab"])
def test_pcapng_ranges_identical(caps: dict[str, Path], local: None, name: str) -> None:
    parts = plan(str(caps[name]), 0, 3, 0)
    assert len(parts) == 3
    assert parts[1].prefix[:4] == b"\x0a\x0d\x0d\x0a" and parts[1].prefix_idbs >= 1
    if name == "lab":  # the keys it carries before its first packet reach every range
        assert parts[1].secrets and parts[2].secrets and not parts[0].secrets
    doc = _same(caps[name], workers=3)
    if name == "lab":
        assert doc["ipsec"]["sas"] and any(s["decrypted"] for s in doc["ipsec"]["sas"])


def test_time_consecutive_files_identical(caps: dict[str, Path], local: None) -> None:
    files = cut(caps["scale"], 4)
    doc = _same(*files)
    assert doc["capture"]["frames"] > 5000 and len(doc["capture"]["files"]) == 4


def test_overlapping_taps_identical(caps: dict[str, Path], local: None) -> None:
    a = cut(caps["scale"], 1, hi=0.7, name="tapa")
    b = cut(caps["scale"], 1, lo=0.3, shift=0.0004, name="tapb")
    doc = _same(*a, *b)
    assert doc["capture"]["duplicates"] > 1000


def test_esp_with_key_file_identical(caps: dict[str, Path], local: None) -> None:
    files = cut(caps["labpcap"], 2)
    doc = _same(*files, "-k", caps["esp_sa"])
    assert any(s["decrypted"] for s in doc["ipsec"]["sas"])


def test_cut_short_file_warns_as_one_process(caps: dict[str, Path], local: None,
                                             tmp_path: Path) -> None:
    data = caps["scale"].read_bytes()
    short = tmp_path / "short.pcap"
    short.write_bytes(data[:-37])
    doc = _same(short, workers=3)
    assert any("cut short" in w for w in doc["capture"]["warnings"])


def _fooling(path: Path, n: int = 300) -> list[int]:
    """A pcap whose every frame carries a run of record headers in its
    payload (a capture of a capture): what a resync may take for records.
    Its true record boundaries."""
    t0 = 1_700_000_000
    fake = b"".join(struct.pack("<IIII", t0 + 1, 0, 0, 0) for _ in range(12))
    bounds = []
    with open(path, "wb") as fh:
        w = PcapWriter(fh, 1)
        for i in range(n):
            bounds.append(fh.tell())
            w.write(t0 + i * 0.01, b"\xff" * 14 + fake + bytes(40))
        bounds.append(fh.tell())
    return bounds


def test_a_wrong_cut_is_caught(tmp_path: Path, local: None) -> None:
    path = tmp_path / "fool.pcap"
    bounds = _fooling(path)
    parts = plan(str(path), 0, 7, 0)
    assert any(p.start not in bounds for p in parts[1:])  # fooled ...
    _same(path, workers=7)  # ... and caught: the file is read again whole


@settings(max_examples=60, deadline=None)
@given(lens=st.lists(st.integers(0, 1600), min_size=split.RUN + 4, max_size=30),
       at=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_pcap_sync_finds_the_next_record(lens: list[int], at: float, seed: int) -> None:
    import random

    rnd = random.Random(seed)
    t0 = 1_600_000_000.0
    buf = b""
    bounds = []
    for i, n in enumerate(lens):
        payload = rnd.randbytes(n)
        bounds.append(len(buf))
        buf += struct.pack("<IIII", int(t0) + i, 0, n, n + 4) + payload
    nominal = int(at * bounds[-split.RUN - 1])  # a full run after it
    found = pcap_sync(buf[nominal:], "<", 262144, 1_000_000, t0)
    assert found is not None
    # never past the next record; before it only where a payload reads as records
    # (the range before then ends inside a record, and the file is read whole)
    assert nominal + found <= min(b for b in bounds if b >= nominal)


def test_gzip_and_small_files_are_not_cut(caps: dict[str, Path], tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "scale.pcap.gz"
    gz.write_bytes(gzip.compress(caps["scale"].read_bytes()))
    assert len(plan(str(gz), 0, 4, 0)) == 1
    assert len(plan(str(caps["scale"]), 0, 4)) == 1  # under SPLIT_MIN_BYTES
    assert len(plan("-", 0, 4, 0)) == 1


def test_records_of_ranges_are_the_file(caps: dict[str, Path]) -> None:
    from nhrpscope.cluster.task import RangeReader

    with CaptureReader(caps["scaleng"]) as r:
        whole = [rec[1:] for rec in r.records()]
    got = []
    for p in plan(str(caps["scaleng"]), 0, 4, 0):
        with RangeReader(p) as r:
            got += [rec[1:] for rec in r.records()]
            assert not r.warnings
    assert got == whole


def test_unreadable_file_same_error(tmp_path: Path, local: None) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is no capture at all" * 10)
    one = analyze(bad)
    many = analyze(bad, "--workers", 2)
    assert one[0] == many[0] == 2 and one[1] == many[1]
    assert "bad.pcap" in many[1] and len(many[1].strip().splitlines()) == 1
    missing = tmp_path / "missing.pcap"
    assert analyze(missing, "--workers", 2)[1] == analyze(missing)[1]


@pytest.mark.parametrize("args, says", [
    (["-", "--workers", "2"], "standard input"),
    (["x.pcap", "--workers", "2", "--follow"], "--follow"),
    (["x.pcap", "--workers", "2", "--scheduler", "tcp://h:8786"], "give one"),
    (["x.pcap", "--workers", "2", "--write-merged", "m.pcapng"], "--write-merged"),
])
def test_usage_errors(args: list[str], says: str) -> None:
    code, out = analyze(*args)
    assert code == 2 and says in out and len(out.strip().splitlines()) == 1
    assert "Traceback" not in out


def test_without_dask_says_how_to_install(caps: dict[str, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_dask(name: str, *a: object, **k: object) -> object:
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_dask)
    code, out = analyze(caps["scale"], "--workers", "2")
    assert code == 2
    assert out.strip() == ("nhrpscope: error: --workers and --scheduler need Dask; install it "
                           "with: pip install 'nhrpscope[dask]'")


@pytest.mark.parametrize("staged", [False, True])
def test_frames_cut_by_the_snap_length(caps: dict[str, Path], local: None, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, staged: bool) -> None:
    """Cut frames are counted as one process counts them: every one in a
    merged stream; among those decoded only where one process would read
    the file in its second process (a big file)."""
    from nhrpscope.replay.source import CaptureSource

    if staged:
        monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 0)
    cutf = tmp_path / "cut.pcap"
    with CaptureReader(caps["scale"]) as r, open(cutf, "wb") as fh:
        w = PcapWriter(fh, 1)
        for i, rec in enumerate(r.records()):
            w.write(rec[1], rec[3][:90] if i % 5 == 0 else rec[3], rec[4])
    doc = _same(cutf, workers=3)
    found = [f for f in doc["findings"] if f["code"] == "capture-truncated"]
    assert found and ("at least" in found[0]["message"]) == staged


def test_options_carry_workers_and_a_stop_replays_here(caps: dict[str, Path], local: None) -> None:
    """Result.options keep --workers; replaying again to a stop point (show,
    cache_at) runs in one process, with the same answer."""
    from nhrpscope import api

    files = [str(p) for p in cut(caps["scale"], 2, name="again")]
    many = api.analyze(files, workers=2)
    one = api.analyze(files)
    assert many.options.workers == 2 and many.analysis.json() == one.analysis.json()
    hub = one.analysis.routers[0].nbma
    t = (one.analysis.capture.first or 0) + 60
    assert api.cache_at(many, hub, t) == api.cache_at(one, hub, t)


def test_few_files_cut_into_ranges_for_the_replay_to_start(caps: dict[str, Path], local: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With few files for the workers, a file bigger than RANGE_BYTES is cut
    into about size / RANGE_BYTES ranges even with one worker, so the replay
    starts on the first; with many files each is one part. Same analysis."""
    size = caps["scale"].stat().st_size
    monkeypatch.setattr(run, "RANGE_BYTES", size // 4)
    parts = run._plan((str(caps["scale"]),), 1, 0)
    assert len(parts) in (4, 5) and parts[-1].last  # ceil(size / (size // 4)) ranges, or whole
    assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))
    many = (str(caps["scale"]),) * (run.FEW_FILES * 2)
    assert len(run._plan(many, 2, 0)) == len(many)
    _same(caps["scale"], workers=1)
