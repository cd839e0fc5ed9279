"""Generated captures shared by the simulator's tests: each built-in scenario
(but scale) is simulated once per test session, written as pcapng with its
key files, truth and narrative, and read back with nhrpscope's own decoder."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nhrpscope.dissectors.frame import FrameDecoder, Packet

from nhrpscope.capture import CaptureReader
from nhrpscope.sim.run import Options, Result, simulate, write_outputs
from nhrpscope.sim.scenario import builtin_names, load_scenario

SCENARIOS = [n for n in builtin_names() if n != "scale"]
IPSEC = [n for n in SCENARIOS if load_scenario(n).ipsec.enabled]


@dataclass
class Generated:
    name: str
    base: Path
    result: Result
    truth: dict[str, Any]
    packets: list[Packet] = field(default_factory=list)

    @property
    def capture(self) -> Path:
        return self.base.with_name(self.base.name + ".pcapng")

    def path(self, ext: str) -> Path:
        return self.base.with_name(self.base.name + ext)


@functools.cache
def _dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="nhrpscope-sim-"))
    d.chmod(0o755)  # tcpdump drops privileges before it opens the -E secrets file
    atexit.register(shutil.rmtree, d, True)
    return d


def decode(path: Path, keys: Path | None = None) -> list[Packet]:
    lookup = None
    if keys is not None:
        from nhrpscope.keys import SADatabase, load_key_file

        db = SADatabase()
        for sa in load_key_file(str(keys)):
            db.add(sa)
        lookup = db.lookup
    dec = FrameDecoder(lookup)
    with CaptureReader(path) as r:
        return [dec.decode(f.linktype, f.data, frame=f.number, time=f.time, wire_len=f.wire_len,
                           comment=f.comment) for f in r]


@functools.cache
def generated(name: str, **kw: Any) -> Generated:
    opts = Options(**kw)
    sc = load_scenario(name)
    res = simulate(sc, opts)
    suffix = "".join(f"-{k}{v}" for k, v in sorted(kw.items()))
    base = _dir() / f"{name}{suffix}"
    write_outputs(res, str(base), "pcapng", explain=True)
    g = Generated(name, base, res, json.loads(base.with_name(base.name + ".truth.json").read_text()))
    keys = g.path(".esp_sa") if res.ipsec else None
    g.packets = decode(g.capture, keys)
    return g


def first_fragment(p: Packet) -> bool:
    """An IPv4 first fragment: nhrpscope's decoder reads into the cut inner
    packet (as it documents) and reports it cut short; tshark does not."""
    ip = p.layer("ipv4")
    return ip is not None and "mf" in ip.flags and ip.frag_offset == 0  # type: ignore[attr-defined]


def nhrp_of(p: Packet) -> Any:
    return p.layer("nhrp")
