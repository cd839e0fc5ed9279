"""One generic JSON mapping for every record: dataclass field names are the
JSON names, a layer's ``proto`` class attribute comes first, bytes are hex."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass
from typing import Any

from nhrpscope.dissectors.base import Problem


def to_jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if is_dataclass(obj):
        cls = type(obj)
        shape = _SHAPES.get(cls)
        if shape is None:  # once per class: its proto and its public field names
            proto = getattr(cls, "proto", None)
            shape = _SHAPES[cls] = (
                proto if isinstance(proto, str) and not issubclass(cls, Problem) else None,
                tuple(f.name for f in fields(obj) if not f.name.startswith("_")))
        out: dict[str, Any] = {}
        if shape[0] is not None:
            out["proto"] = shape[0]
        for name in shape[1]:
            out[name] = to_jsonable(getattr(obj, name))
        return out
    return str(obj)


# Per dataclass: (its "proto" or None, its public field names). dataclasses.fields()
# builds its tuple anew on every call: decode --format jsonl asks millions of times.
_SHAPES: dict[type, tuple[str | None, tuple[str, ...]]] = {}


def packet_json(pkt: Any) -> dict[str, Any]:
    """The public per-frame shape of ``decode --format jsonl`` (DESIGN.md)."""
    out = {
        "frame": pkt.frame,
        "time": round(pkt.time, 9),
        "wire_len": pkt.wire_len,
        "layers": [to_jsonable(la) for la in pkt.layers],
        "problems": [to_jsonable(p) for p in pkt.problems],
    }
    if pkt.comment:
        out["comment"] = pkt.comment
    return out


def dumps(obj: Any, *, indent: int | None = None) -> str:
    return json.dumps(to_jsonable(obj), indent=indent,
                      ensure_ascii=False)
