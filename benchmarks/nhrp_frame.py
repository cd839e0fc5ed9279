"""Microseconds per NHRP frame: the frame chain's decode alone, and decode +
replay (the engine's walk and the NHRP observers), on one capture.

    .venv/bin/python benchmarks/nhrp_frame.py [CAPTURE ...] [--repeat 5] [--keep DIR]
    taskset -c 0 .venv/bin/python benchmarks/nhrp_frame.py /tmp/bench/s300k.pcap

With no capture, one is generated first (``nhrpscope generate scale
--spokes 300 --packets 100000``) in a scratch directory (``--keep DIR``
keeps it there). Frames are read and classified once (``fastpath``), as the
replay does; the frames the classifier leaves to the engine (6-tuples) are
the ones decoded in full and walked. The figures count the time spent in
``Engine.walk_frame`` on frames holding an NHRP packet (the deadline heap's
timeouts fire in the loop, outside it, and are not counted), divided by
their number; CPU time of this thread (``time.thread_time``), so other
processes sharing the core weigh less. Best of ``--repeat`` runs, each with
a fresh decoder and engine, and the decoders' caches emptied (so the
memos start empty, as they do in ``nhrpscope analyze``). Small captures are replayed again until a run has
taken about a second, and the best run's figure is kept.

No test times anything (DESIGN.md, "Speed by design"); this is for people.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nhrpscope.dissectors.frame import FrameDecoder

from nhrpscope.keystore import load_keys, secrets_handler
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.source import CaptureSource

_clock = time.thread_time


def load(path: str) -> tuple[list[tuple], object]:
    """The classified items of ``path`` and the SA lookup (keys the capture embeds)."""
    store = load_keys((), ())
    items: list[tuple] = []
    with CaptureSource([path], on_secrets=secrets_handler(store)) as src:
        classifier = Classifier(store.db.lookup)
        for batch in src.record_batches():
            items += classifier.classify_batch(batch)
    return items, store.db.lookup


def nhrp_frames(items: list[tuple], lookup: object) -> set[int]:
    """Frame numbers of the walked frames that hold an NHRP packet."""
    dec = FrameDecoder(lookup)  # type: ignore[arg-type]
    out = set()
    for it in items:
        if len(it) == 6:
            pkt = dec.decode(it[2], it[3], frame=it[0], time=it[1], wire_len=it[4], comment=it[5])
            if any(la.proto == "nhrp" for la in pkt.layers):
                out.add(it[0])
    return out


def cold() -> None:
    """Empty the decoders' process-wide caches (pure functions' lru_caches),
    so that every run starts as ``nhrpscope analyze`` does."""
    from nhrpscope.dissectors import base, nhrp

    from nhrpscope.replay.observers import nhrp_fields

    for mod, name in ((base, "_v4_cached"), (nhrp, "flag_names"), (nhrp, "_cie_once"),
                      (nhrp, "_extension_once"), (nhrp_fields, "network")):
        clear = getattr(getattr(mod, name, None), "cache_clear", None)
        if clear is not None:
            clear()


def time_decode(ctrl: list[tuple], nhrp: set[int], lookup: object) -> float:
    """Seconds decoding the NHRP frames (the other walked frames decoded too, untimed)."""
    cold()
    dec = FrameDecoder(lookup)  # type: ignore[arg-type]
    decode, clock = dec.decode, _clock
    spent = 0.0
    gc.disable()  # as the replay loop runs (TunnelObserver.run)
    try:
        for it in ctrl:
            if it[0] in nhrp:
                t0 = clock()
                decode(it[2], it[3], frame=it[0], time=it[1], wire_len=it[4], comment=it[5])
                spent += clock() - t0
            else:
                decode(it[2], it[3], frame=it[0], time=it[1], wire_len=it[4], comment=it[5])
    finally:
        gc.enable()
    return spent


def time_replay(items: list[tuple], nhrp: set[int], lookup: object) -> float:
    """Seconds in ``walk_frame`` (decode + walk + observers) on the NHRP frames."""
    cold()
    eng = Engine(lookup)  # type: ignore[arg-type]
    walk, clock = eng.walk_frame, _clock
    spent = [0.0]

    def timed(it: tuple) -> None:
        if it[0] in nhrp:
            t0 = clock()
            walk(it)
            spent[0] += clock() - t0
        else:
            walk(it)

    eng.walk_frame = timed  # type: ignore[method-assign]
    eng.feed_items(items)
    eng.finish()
    return spent[0]


def best(run: object, repeat: int) -> float:
    """The best of ``repeat`` rounds; a round repeats a short run until it took ~1 s."""
    out = float("inf")
    for _ in range(repeat):
        n, total, low = 0, 0.0, float("inf")
        while n == 0 or total < 1.0:
            s = run()  # type: ignore[operator]
            low = min(low, s)
            total += s
            n += 1
            if n >= 200:
                break
        out = min(out, low)
    return out


def measure(path: str, repeat: int) -> None:
    items, lookup = load(path)
    ctrl = [it for it in items if len(it) == 6]
    nhrp = nhrp_frames(items, lookup)
    if not nhrp:
        print(f"{path}: {len(items)} frames, no NHRP frame walked")
        return
    n = len(nhrp)
    dec = best(lambda: time_decode(ctrl, nhrp, lookup), repeat)
    rep = best(lambda: time_replay(items, nhrp, lookup), repeat)
    print(f"{path}: {len(items)} frames, {len(ctrl)} walked, {n} NHRP: "
          f"decode {dec / n * 1e6:.1f} us, decode + replay {rep / n * 1e6:.1f} us per NHRP frame")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("captures", nargs="*")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="generate the default capture here")
    args = ap.parse_args()
    paths = list(args.captures)
    scratch = None
    if not paths:
        if args.keep:
            out = Path(args.keep)
            out.mkdir(parents=True, exist_ok=True)
        else:
            scratch = tempfile.TemporaryDirectory(prefix="nhrp-frame-")
            out = Path(scratch.name)
        base = out / "scale-300-100000"
        if not base.with_suffix(".pcap").exists():
            subprocess.run([sys.executable, "-m", "nhrpscope", "generate", "scale", "--spokes",
                            "300", "--packets", "100000", "-o", str(base), "--force"],
                           check=True, stdout=subprocess.DEVNULL)
        paths = [str(base.with_suffix(".pcap"))]
    try:
        for p in paths:
            measure(p, args.repeat)
    finally:
        if scratch is not None:
            scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
