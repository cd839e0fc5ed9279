"""Captures and helpers shared by the cluster tests (analyze --workers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nhrpscope.capture import CaptureReader, PcapWriter
from nhrpscope.cli import main


def generate(out: Path, *args: str) -> None:
    r = CliRunner().invoke(main, ["generate", *args, "-o", str(out), "--force"])
    assert r.exit_code == 0, r.output


def cut(src: Path, n: int, *, shift: float = 0.0, lo: float = 0.0, hi: float = 1.0,
        name: str = "part") -> list[Path]:
    """The records of ``src`` from fraction ``lo`` to ``hi`` cut into ``n``
    time-consecutive pcap files (times moved by ``shift``)."""
    with CaptureReader(src) as r:
        recs = list(r.records())
    recs = recs[int(len(recs) * lo):int(len(recs) * hi)]
    size = -(-len(recs) // n)
    out = []
    for i in range(n):
        p = src.with_name(f"{src.stem}.{name}{i}.pcap")
        with open(p, "wb") as fh:
            w = PcapWriter(fh, recs[0][2])
            for rec in recs[i * size:(i + 1) * size]:
                w.write(rec[1] + shift, rec[3], rec[4])
        out.append(p)
    return out


def analyze(*args: Any) -> tuple[int, Any]:
    """``nhrpscope analyze ARGS --format json``: exit code and document (or output)."""
    r = CliRunner().invoke(main, ["analyze", *map(str, args), "--format", "json"])
    if r.exit_code == 0:
        return 0, json.loads(r.stdout)
    return r.exit_code, r.output


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class InProcessClient:
    """What ``cluster.run`` asks of a Dask client, staging here: the merge
    and splitting tested without Dask."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def scheduler_info(self) -> dict:
        return {"workers": dict.fromkeys(range(self.workers))}

    def map(self, fn: Any, parts: list, **kw: Any) -> list[_Done]:
        kw.pop("pure", None)
        return [_Done(fn(p, **kw)) for p in parts]


def in_process(workers: int) -> Any:
    @contextmanager
    def connect(_workers: int | None, _scheduler: str | None) -> Iterator[InProcessClient]:
        yield InProcessClient(_workers or workers)

    return connect
