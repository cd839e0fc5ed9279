"""What every dissector shares: problems, decode results, address helpers.

A decoder is a pure function ``decode(buf: bytes) -> Decoded``: it reads what
it can, never raises on malformed input, and reports what was wrong as
``Problem`` values (offset relative to the start of its own layer). The frame
chain (``dissectors.frame``) shifts offsets to the frame and carries on.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache, partial
from typing import Any, ClassVar, Literal, TypeVar

# How bad a problem is, as Wireshark's expert info grades it: an ``error``
# makes the packet malformed, a ``warning`` is odd but readable, a ``note``
# only says what the decoder did (e.g. left a cut packet encrypted).
Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a packet: where (byte offset), why (``reason``,
    for people), and what (``id``: a stable dotted name such as
    ``nhrp.checksum``, for programs; the reason's wording may change, the id
    does not)."""

    offset: int
    reason: str
    layer: str
    id: str
    severity: Severity = "error"

    def shifted(self, by: int, layer: str = "") -> Problem:
        return Problem(self.offset + by, self.reason, self.layer or layer, self.id, self.severity)


@dataclass(frozen=True, slots=True)
class Layer:
    """Base class of every decoded layer record; ``proto`` names it in JSON."""

    proto: ClassVar[str] = "layer"


@dataclass(slots=True)
class Decoded:
    """A decoder's answer: the record (None if not even a header could be
    read), what follows the header for the next decoder, and the problems."""

    record: Any
    payload: bytes = b""
    problems: list[Problem] = field(default_factory=list)
    # Offset of ``payload`` inside the buffer given to the decoder.
    payload_offset: int = 0


class Malformed(Exception):
    """Raised inside a decoder to stop reading; never escapes a decoder."""

    def __init__(self, offset: int, reason: str, id: str, severity: Severity = "error") -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason
        self.id = id
        self.severity = severity


# A DMVPN capture names a few thousand addresses millions of times: one
# string each (a cache hit beats inet_ntop, and the records share the string).
# A bounded lru_cache rather than state a caller owns: the formatter is a pure
# function of its 4 bytes, so the cache cannot change any answer, and every
# decoder (not only FrameDecoder's) gains from it without passing it around.
_v4_cached = lru_cache(maxsize=65536)(partial(socket.inet_ntop, socket.AF_INET))


def ipv4_str(b: bytes) -> str:
    try:
        return _v4_cached(b)
    except TypeError:  # a bytearray or memoryview: unhashable
        return socket.inet_ntop(socket.AF_INET, b)


def ipv6_str(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, b)


def addr_str(b: bytes) -> str:
    """An address as people write it: dotted IPv4, IPv6, else hex bytes."""
    if len(b) == 4:
        return ipv4_str(b)
    if len(b) == 16:
        return ipv6_str(b)
    return b.hex()


def addr_bytes(s: str) -> bytes:
    """The inverse of ``addr_str``."""
    try:
        return ipaddress.ip_address(s).packed
    except ValueError:
        return bytes.fromhex(s)


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's complement sum, as IPv4, GRE and NHRP use it.

    Sums native-order 16-bit words (fast: no per-word Python work) and swaps
    the folded result on little-endian hosts, which RFC 1071 (section 2B)
    shows is the same sum."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    try:  # bytes and bytearray as they are: no copy
        total = sum(memoryview(data).cast("H"))
    except TypeError:  # a memoryview of another shape
        total = sum(memoryview(bytes(data)).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    if _LITTLE:
        total = ((total & 0xFF) << 8) | (total >> 8)
    return ~total & 0xFFFF


_LITTLE = sys.byteorder == "little"

_T = TypeVar("_T")


def slot_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of the frozen, slotted dataclass ``cls`` taking every
    field positionally, defaults and ``__post_init__`` not applied. It sets
    the slots through their descriptors: a frozen dataclass's ``__init__``
    goes through ``object.__setattr__`` once a field, which makes a 34-field
    NHRP record cost 6.7 us against 2.3 here. For decoders that build many
    records from values they hold whole (a memo's, with a field or two new);
    the record is equal to ``cls(*values)``, as tests check."""
    n = len(fields(cls))  # type: ignore[arg-type]
    return _slot_builder(cls, [f"a{i}" for i in range(n)], [f"a{i}" for i in range(n)], "new")


def slot_replacer(cls: type[_T], *names: str) -> Callable[..., _T]:
    """``new(values, x, y, ...)``: the record of ``cls`` whose field values
    are ``values`` (every field, in order) but for the fields ``names``,
    which are ``x, y, ...``. As ``slot_constructor``, through the slots'
    descriptors; the values are read by index, not unpacked into a call,
    which for a record with two new fields out of 32 saves a third of the
    cost (the argument list built anew each time). Equal to
    ``dataclasses.replace(cls(*values), **dict(zip(names, (x, y, ...))))``,
    as tests check."""
    fnames = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    new_at = {fnames.index(name): i for i, name in enumerate(names)}
    values = [f"n{new_at[i]}" if i in new_at else f"v[{i}]" for i in range(len(fnames))]
    return _slot_builder(cls, ["v", *(f"n{i}" for i in range(len(names)))], values, "replace")


def _slot_builder(cls: type[_T], params: list[str], values: list[str], kind: str
                  ) -> Callable[..., _T]:
    """``def new(params): o = cls.__new__(cls); o.<field i> = values[i] ...``
    through each slot's descriptor, compiled once."""
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = []
    for i, f in enumerate(fields(cls)):  # type: ignore[arg-type]
        env[f"_s{i}"] = cls.__dict__[f.name].__set__
        body.append(f"    _s{i}(o, {values[i]})\n")
    exec(f"def new({', '.join(params)}):\n    o = _new(_cls)\n{''.join(body)}    return o\n",  # noqa: S102
         env)
    new: Callable[..., _T] = env["new"]
    new.__qualname__ = new.__name__ = f"{kind}_{cls.__name__}"
    return new
