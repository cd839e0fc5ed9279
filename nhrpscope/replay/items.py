"""What the replay's fast path hands on per frame (``fastpath.Classifier``).

Three layouts, told apart by their length (the engine's loop dispatches on
``len(item)``: 5, 9 or 6):

- ``GreData``: a GRE data packet, only counted per NBMA pair;
- ``EspData``: an ESP packet, counted per SA (and per pair when its GRE
  packet could be seen without decrypting it all);
- ``RawFrame``: a frame to decode in full, the capture record as read.

``Classifier.classify`` (one frame) returns these types. The bulk path,
``Classifier.classify_batch`` and the staging process behind it, hands on
plain tuples in the same layouts: building a NamedTuple costs about 1 us a
frame more than a plain tuple (measured: more than the 5 % a frame the
replay's hot loop may lose), and ``marshal``, which carries the staged
batches between processes, refuses tuple subclasses. ``kind_of`` names the
layout of either form, ``typed`` gives the typed view of a plain one.
"""

from __future__ import annotations

from typing import NamedTuple


class GreData(NamedTuple):
    number: int  # the frame number
    time: float
    wire_len: int
    # the outer source and destination (4 bytes each), then the GRE header's
    # first 4 bytes and its key (when it has one): the engine's per-pair key
    pair: bytes
    inner_dst: int | None  # the inner IPv4 destination; None for IPv6


class EspData(NamedTuple):
    number: int
    time: float
    wire_len: int
    pair: bytes | None  # as GreData's; None: the GRE inside was not seen (no key ...)
    inner_dst: int | None
    # the outer addresses and the SPI, and a byte 1 for NAT-T (whose ports follow)
    esp: bytes
    seq: int  # the 32-bit sequence number on the wire
    sport: int  # NAT-T's UDP ports, else 0
    dport: int


class RawFrame(NamedTuple):
    """A capture record (``CaptureSource.records``), to decode in full."""

    number: int
    time: float
    linktype: int
    data: bytes
    wire_len: int
    comment: str | None


Item = GreData | EspData | RawFrame

GRE_DATA_LEN = len(GreData._fields)
ESP_DATA_LEN = len(EspData._fields)
RAW_FRAME_LEN = len(RawFrame._fields)
_BY_LEN: dict[int, type[GreData] | type[EspData] | type[RawFrame]] = {
    GRE_DATA_LEN: GreData, ESP_DATA_LEN: EspData, RAW_FRAME_LEN: RawFrame}


def kind_of(item: tuple) -> type[GreData] | type[EspData] | type[RawFrame]:
    """The layout of a fast path item, typed or plain."""
    return _BY_LEN[len(item)]


def typed(item: tuple) -> Item:
    """The typed view of a fast path item (itself when it is typed already)."""
    if isinstance(item, GreData | EspData | RawFrame):
        return item
    return kind_of(item)._make(item)
