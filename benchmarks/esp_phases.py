"""Where the time of ``nhrpscope analyze FILE -k KEYS`` goes, in one process.

    taskset -c 0 .venv/bin/python benchmarks/esp_phases.py FILE KEYS [--repeat 3]

Times (CPU seconds of this process: on a shared machine the wall clock
also counts the neighbours) each stage on its own, then the whole replay
with the second reading process disabled (one core): loading the keys;
reading, reordering and de-duplicating (``CaptureSource.record_batches``);
``Classifier.classify_batch`` over those batches; ``TunnelObserver.run``
over the classified items (the control frames decoded in full included);
``Engine.finish`` and the ``Analysis``; then ``pipeline.replay``. Best of
``--repeat`` runs each. Compare with ``taskset -c 0 tcpdump -nr FILE -v -E
"file SECRETS"`` (its user + system time).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from nhrpscope import pipeline
from nhrpscope.keystore import load_keys
from nhrpscope.replay import source
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.source import CaptureSource


def best(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("keys")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    r = a.repeat

    def read() -> list:
        with CaptureSource([a.capture]) as src:
            return list(src.record_batches())

    secs, store = best(r, lambda: load_keys([a.keys]))
    print(f"load_keys ({len(store.db)} SAs)      {secs:6.3f}")
    secs, batches = best(r, read)
    gc.collect()
    gc.freeze()
    print(f"read+reorder+dedup            {secs:6.3f}  ({sum(map(len, batches))} frames)")

    def classify() -> list:
        c = Classifier(load_keys([a.keys]).db.lookup)
        gc.disable()  # as the engine's loop runs it
        try:
            return [it for b in batches for it in c.classify_batch(b)]
        finally:
            gc.enable()

    secs, items = best(r, classify)
    gc.collect()
    gc.freeze()  # the million tuples kept here are no garbage for the collector to walk
    kinds = {n: sum(1 for it in items if len(it) == n) for n in (5, 9, 6)}
    print(f"classify_batch                {secs:6.3f}  (GRE {kinds[5]}, ESP {kinds[9]}, "
          f"decoded {kinds[6]})")

    def run() -> Engine:
        eng = Engine(load_keys([a.keys]).db.lookup)
        eng.feed_items(items)
        return eng

    secs, eng = best(r, run)
    print(f"TunnelObserver.run            {secs:6.3f}")
    secs, _ = best(1, lambda: (eng.finish(), eng.analysis([a.capture])))
    print(f"finish+analysis               {secs:6.3f}")
    source.CaptureSource.stageable = lambda self: False  # type: ignore[method-assign]
    secs, _ = best(r, lambda: pipeline.replay([a.capture], [a.keys]))
    print(f"pipeline.replay, one process  {secs:6.3f}")


if __name__ == "__main__":
    main()
