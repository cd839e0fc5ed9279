"""Captures decoded frame by frame, in the order of the file (no merging,
no de-duplication): what ``nhrpscope decode`` prints."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from nhrpscope.capture import CaptureReader, Record
from nhrpscope.dissectors.esp import EspHeader
from nhrpscope.dissectors.frame import FrameDecoder, Packet
from nhrpscope.keystore import KeyStore, load_keys, secrets_handler
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.source import CaptureSource
from nhrpscope.staging import guarded_staged

# --only LAYER: the layers that make a frame wanted
ONLY = {"nhrp": ("nhrp",), "gre": ("gre",), "esp": ("esp",), "ike": ("ike",),
        "ipsec": ("esp", "ike", "nat-keepalive")}


def skippable(wanted: tuple[str, ...], esp_stats: bool) -> tuple[int, ...]:
    """Which of ``fastpath.Classifier``'s results (by their length) need no
    decoding for ``--only``: GRE data (5) unless GRE itself is wanted; ESP
    (9: GRE data inside, or no key) unless ESP or GRE is, or every ESP
    packet is to be counted (``esp_stats``)."""
    if not wanted or "gre" in wanted:
        return ()
    if "esp" in wanted or esp_stats:
        return (5,)
    return (5, 9)


@dataclass
class Decoding:
    """Iterate it for the packets; afterwards ``warnings``, ``key_notes``
    and (with ``count_esp``) ``esp_stats`` tell the rest."""

    paths: list[str]
    keys: tuple[str, ...] = ()
    esp: tuple[str, ...] = ()
    capture_keys: bool = True
    only: str | None = None  # a key of ONLY
    count: int | None = None  # the first N frames of each file
    count_esp: bool = False  # fill esp_stats with every ESP packet, shown or not
    first: float | None = None  # the first frame's time (set once iterating)
    warnings: list[str] = field(default_factory=list)
    esp_stats: dict[int, dict[str, int]] = field(default_factory=dict)  # by SPI
    _store: KeyStore | None = None

    @property
    def key_notes(self) -> list[str]:
        return list(self._store.from_capture) if self._store is not None else []

    def __iter__(self) -> Generator[Packet, None, None]:
        self._store = load_keys(self.keys, self.esp)
        for path in self.paths:
            yield from self._one(path, self._store)

    def _one(self, path: str, store: KeyStore) -> Iterator[Packet]:
        on_secrets = secrets_handler(store, use=self.capture_keys)
        reader = CaptureReader(path, on_secrets=on_secrets)
        decoder = FrameDecoder(store.db.lookup)
        wanted = ONLY[self.only] if self.only else ()
        skip = skippable(wanted, self.count_esp)
        classify = None
        records: Iterator[Record] | Iterator[tuple] = reader.records()
        source = None
        if skip:
            source = CaptureSource([path], on_secrets=on_secrets, dedup=False,
                                   reorder_window=0.0, reorder_max=0)
            if source.stageable():
                # a big file: a second process reads and classifies it, and hands
                # on only the frames to decode
                records = guarded_staged(source, self.keys, self.esp, skip=skip,
                                         capture_keys=self.capture_keys)
            else:
                source.close()
                source = None
                classify = Classifier(store.db.lookup).classify
        try:
            with reader:
                for rec in records:
                    number, t, lt, data, wl, comment = rec
                    if self.count is not None and number > self.count:
                        break
                    if self.first is None:
                        self.first = t
                    if classify is not None:
                        m = classify(rec)
                        if m is not None and len(m) in skip:
                            continue  # its headers show it holds none of the wanted layers
                    pkt = decoder.decode(lt, data, frame=number, time=t, wire_len=wl,
                                         comment=comment)
                    if self.count_esp:
                        _count_esp(pkt, self.esp_stats)
                    if wanted and not any(pkt.has(w) for w in wanted):
                        continue
                    yield pkt
        finally:
            if source is not None:
                source.close()  # with -c N, the reading process stops too
        self.warnings += (source.warnings if source is not None else reader.warnings)
        self.warnings += decoder.finish()


def _count_esp(pkt: Packet, stats: dict[int, dict[str, int]]) -> None:
    for la in pkt.layers:
        if isinstance(la, EspHeader):
            s = stats.setdefault(la.spi, {"frames": 0, "decrypted": 0, "icv_ok": 0,
                                          "icv_failed": 0, "no_key": 0, "failed": 0})
            s["frames"] += 1
            if la.status == "decrypted":
                s["decrypted"] += 1
            elif la.status == "no-key":
                s["no_key"] += 1
            elif la.status == "decryption-failed":
                s["failed"] += 1
            if la.icv_ok is True:
                s["icv_ok"] += 1
            elif la.icv_ok is False:
                s["icv_failed"] += 1
