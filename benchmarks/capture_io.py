"""capture.py's pcap/pcapng reader and writer against dpkt's, on one large
capture (issue 11 item 8; the figures are in docs/capture-io.md).

    .venv/bin/python benchmarks/capture_io.py /tmp/bench/s300k.pcap [--repeat 2]

Reads the classic pcap with each reader, writes it as pcap and as pcapng
with each writer (to a scratch file beside it, removed after), and reads the
pcapng back with each reader. Each reader touches every frame's bytes and
time, nothing more; best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dpkt

from nhrpscope.capture import CaptureReader, PcapngWriter, PcapWriter


def ours_read(path: Path) -> int:
    n = 0
    with CaptureReader(path) as r:
        for batch in r.batches():
            n += len(batch)
    return n


def ours_frames(path: Path) -> int:
    n = 0
    with CaptureReader(path) as r:
        for f in r:
            n += f.time > -1 and len(f.data) >= 0
    return n


def dpkt_read(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        kind = dpkt.pcapng.Reader if fh.read(4) == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader
        fh.seek(0)
        for ts, buf in kind(fh):
            n += ts > -1 and len(buf) >= 0
    return n


def frames(path: Path) -> Iterator[tuple[float, bytes]]:
    with CaptureReader(path) as r:
        for batch in r.batches():
            for rec in batch:
                yield rec[1], rec[3]


def ours_write_pcap(src: Path, dst: Path) -> int:
    with open(dst, "wb") as fh:
        w = PcapWriter(fh, 1)
        n = 0
        for t, data in frames(src):
            w.write(t, data)
            n += 1
    return n


def dpkt_write_pcap(src: Path, dst: Path) -> int:
    with open(dst, "wb") as fh:
        w = dpkt.pcap.Writer(fh, snaplen=262144, linktype=1)
        n = 0
        for t, data in frames(src):
            w.writepkt_time(data, t)
            n += 1
    return n


def ours_write_pcapng(src: Path, dst: Path) -> int:
    with open(dst, "wb") as fh:
        w = PcapngWriter(fh)
        n = 0
        for t, data in frames(src):
            w.write(t, data, 1)
            n += 1
    return n


def dpkt_write_pcapng(src: Path, dst: Path) -> int:
    with open(dst, "wb") as fh:
        w = dpkt.pcapng.Writer(fh, snaplen=262144, linktype=1)
        n = 0
        for t, data in frames(src):
            w.writepkt_time(data, t)
            n += 1
    return n


def best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t0)
    return min(times), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap", type=Path)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="capture-io-", dir=a.pcap.parent))
    ng = scratch / "copy.pcapng"
    out = scratch / "out"
    rows = [
        ("read pcap", "ours (records)", lambda: ours_read(a.pcap)),
        ("read pcap", "ours (Frame objects)", lambda: ours_frames(a.pcap)),
        ("read pcap", "dpkt.pcap.Reader", lambda: dpkt_read(a.pcap)),
        ("write pcap", "ours PcapWriter", lambda: ours_write_pcap(a.pcap, out)),
        ("write pcap", "dpkt.pcap.Writer", lambda: dpkt_write_pcap(a.pcap, out)),
        ("write pcapng", "dpkt.pcapng.Writer", lambda: dpkt_write_pcapng(a.pcap, out)),
        ("write pcapng", "ours PcapngWriter", lambda: ours_write_pcapng(a.pcap, ng)),
        ("read pcapng", "ours (records)", lambda: ours_read(ng)),
        ("read pcapng", "dpkt.pcapng.Reader", lambda: dpkt_read(ng)),
    ]
    print(f"python {sys.version.split()[0]}, dpkt {dpkt.__version__}, "
          f"{a.pcap.name} {a.pcap.stat().st_size / 1e6:.0f} MB, best of {a.repeat}")
    try:
        for task, who, fn in rows:
            secs, n = best(fn, a.repeat)
            print(f"{task:13} {who:22} {secs:7.2f} s  {n / secs / 1e3:7.0f} k frames/s  ({n} frames)",
                  flush=True)
    finally:
        for p in (ng, out):
            if p.exists():
                os.unlink(p)
        scratch.rmdir()


if __name__ == "__main__":
    main()
