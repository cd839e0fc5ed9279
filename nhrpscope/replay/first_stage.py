"""The replay's first stage, run ahead of it in another process: ``python -m
nhrpscope.replay.first_stage`` reads one capture, reorders and de-duplicates
it as ``CaptureSource`` does, classifies each frame (``fastpath``) and writes
the results (marshalled batches) for ``CaptureSource.staged`` to replay; the
two cores then share the work (DESIGN.md, "Growing past one machine").
``StageKeys`` is also the cluster's workers' (``cluster.task``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from nhrpscope.replay.fastpath import Classifier

_BATCH = 1024


class StageKeys:
    """The keys a first stage (``stage``, ``cluster.task``) classifies with:
    the key files and ``-E`` specs, then those the capture carries. The key
    store, and the cryptography it brings, is made only when there is a key."""

    def __init__(self, classifier: Classifier, key_files: Iterable[str] = (),
                 esp_specs: Iterable[str] = ()) -> None:
        self.classifier = classifier
        self.db: Any = None
        key_files, esp_specs = list(key_files), list(esp_specs)
        if key_files or esp_specs:
            from nhrpscope.keys import load_key_file, parse_tcpdump_spec

            for kf in key_files:
                self.add(load_key_file(kf))
            for i, spec in enumerate(esp_specs, 1):
                self.add(parse_tcpdump_spec(spec, where=f"-E #{i}"))

    def add(self, sas: Iterable[Any]) -> None:
        for sa in sas:
            if self.db is None:
                from nhrpscope.keys import SADatabase

                self.db = SADatabase()
                self.classifier.set_keys(self.db.lookup)
            self.db.add(sa)

    def carried(self, stype: int, data: bytes, where: str) -> None:
        """Keys the capture carries (a Decryption Secrets Block)."""
        from nhrpscope.keys import parse_dsb

        try:
            self.add(parse_dsb(stype, data, where))
        except Exception:  # noqa: BLE001 - the replay parses it again and reports it
            pass


def stage(path: str, key_files: list[str], esp_specs: list[str], *, dedup: bool = True,
          dedup_window: float = 1.0, reorder_window: float = 0.5, reorder_max: int = 4096,
          verify_all: bool = False, skip: tuple[int, ...] = (), capture_keys: bool = True
          ) -> Iterator[list]:
    """Batches of what ``CaptureSource.staged`` replays: per frame the
    classification or the frame itself. With ``skip`` (for ``decode
    --only``), frames only: the first, and those not classified as one of
    the kinds in ``skip`` (by length), each as it was read. ``capture_keys``
    False: keys in the capture are passed on but not used here (the replay
    ignores them too: --no-capture-keys). Alone in their batch:
    ``("secrets", type, data, where)`` where the capture carries keys (before
    the frames read after them), and last ``("end", stats)`` or ``("error",
    message)``."""
    from nhrpscope.capture import CaptureError
    from nhrpscope.replay.source import CaptureSource

    classifier = Classifier(None, verify_all=verify_all)
    keys = StageKeys(classifier, key_files, esp_specs)
    batch: list = []
    pending: list = []

    def on_secrets(stype: int, data: bytes, where: str) -> None:
        pending.append(("secrets", stype, bytes(data), where))
        if capture_keys:
            keys.carried(stype, data, where)

    classify, classify_batch = classifier._classify, classifier.classify_batch
    end: tuple[str, Any]
    try:
        with CaptureSource([path], on_secrets=on_secrets, dedup=dedup, dedup_window=dedup_window,
                           reorder_window=reorder_window, reorder_max=reorder_max) as src:
            first = True
            for recs in src.record_batches():
                if pending:  # keys read before these frames: the replay learns them first
                    yield batch
                    for x in pending:
                        yield [x]
                    batch = []
                    pending.clear()
                if skip:
                    for rec in recs:
                        m = classify(rec)
                        if m is None or len(m) not in skip or first:
                            batch.append(rec)
                            first = False
                else:
                    batch += classify_batch(recs)
                if len(batch) >= _BATCH:
                    yield batch
                    batch = []
            yield batch
            for x in pending:
                yield [x]
            end = ("end", {"frames": src.frames, "read": src.read, "duplicates": src.duplicates,
                           "first": src.first, "last": src.last, "warnings": src.warnings})
    except CaptureError as e:
        end = ("error", str(e))
    yield [end]


def main(argv: list[str] | None = None) -> None:
    """``python -m nhrpscope.replay.first_stage JSON``: run ``stage`` and write
    its batches to standard output, each marshalled (tuples of numbers,
    bytes and strings: marshal is the quickest) behind its 8-byte length."""
    import gc
    import json
    import marshal
    import sys

    # A million small tuples made and dropped, none in a cycle: the cyclic
    # collector would only walk them (a sixth of the time, measured).
    gc.disable()
    args = json.loads((argv if argv is not None else sys.argv[1:])[0])
    out = sys.stdout.buffer
    for batch in stage(args["path"], args["keys"], args["specs"], dedup=args["dedup"],
                       dedup_window=args["dedup_window"], reorder_window=args["window"],
                       reorder_max=args["max"], verify_all=args["verify_all"],
                       skip=tuple(args.get("skip", ())), capture_keys=args.get("capture_keys", True)):
        data = marshal.dumps(batch)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
    out.flush()


if __name__ == "__main__":
    main()
