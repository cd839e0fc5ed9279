"""docs/json.md, rendered from the schemas' own descriptions so the two
cannot drift: ``python -m nhrpscope.schemas > docs/json.md``."""

from __future__ import annotations

import json
from typing import Any

from nhrpscope.schemas import DOCUMENTS, load

INTRO = """\
# nhrpscope's JSON output: the contract

Every JSON document nhrpscope writes has a JSON Schema (draft 2020-12)
shipped inside the package, in `nhrpscope/schemas/`:

{files}

Validate what you read against the version you run:

```python
import json, subprocess
import jsonschema                      # pip install jsonschema
from nhrpscope.schemas import load

doc = json.loads(subprocess.run(["nhrpscope", "analyze", "capture.pcap", "--format", "json"],
                                capture_output=True, text=True).stdout)
jsonschema.validate(doc, load("analyze"))
```

## Compatibility promise

Within a major version of nhrpscope, fields are only added: a field is
never renamed or removed, and never changes its type or its unit. An enum
(a severity, a state, a role, a finding code) may gain values, and an
object may gain fields, so a reader should ignore what it does not know
(the schemas allow additional properties for that reason). A change that
breaks this comes with a new major version and new schema `$id`s.

## Conventions

- **Times** are capture times in seconds since the epoch (1970-01-01 UTC),
  as numbers with a fraction (rounded to the microsecond in analyze,
  timeline, show dmvpn and show nhrp; to the nanosecond in decode).
  **Durations** (rtt, holding times, up_for ...) are seconds.
- **Frame numbers** are the ones to open in Wireshark: 1 is the capture's
  first frame. Several files given at once are numbered in the merged
  stream (`--write-merged` writes it, with each frame's source file and
  number in its comment).
- **Addresses** are strings (`172.16.15.2`, `2001:db8::1`). An *NBMA*
  address is the underlay (public) one, a *tunnel* address the overlay
  (NHRP protocol) one. ESP SPIs are `0x` and 8 hex digits in analyze and
  show, numbers in decode.
- **Bytes** from the wire (decode) are lowercase hex strings.
- **null** means the capture does not show the value; each field says when.
  A field marked *optional* may be absent; every other field is always
  present.

The tables below list every field of each document: its JSON type, its
unit, whether it can be null, and what it means.
"""


def _type(p: dict[str, Any], top: bool = True) -> str:
    """The type in words; null is left to the null column at the top level."""
    if "$ref" in p:
        name = p["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{{doc}}-{name.lower()})"
    if "const" in p:
        return f"`{json.dumps(p['const'])}`"
    if "enum" in p:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in p["enum"])
    if "anyOf" in p:
        return " or ".join(_type(x, top) for x in p["anyOf"] if not (top and x == {"type": "null"}))
    t = p.get("type", "any")
    types = [t] if isinstance(t, str) else list(t)
    out = []
    for x in types:
        if x == "null" and top:
            continue
        if x == "array" and "items" in p:
            out.append(f"array of {_type(p['items'], False)}")
        elif x == "object" and isinstance(p.get("additionalProperties"), dict):
            out.append(f"object of {_type(p['additionalProperties'], False)}")
        else:
            out.append(x)
    return " or ".join(out) or "null"


def _nullable(p: dict[str, Any]) -> bool:
    t = p.get("type")
    return t == "null" or (isinstance(t, list) and "null" in t) or (
        "anyOf" in p and any(x.get("type") == "null" for x in p["anyOf"]))


def _table(obj: dict[str, Any], doc: str) -> list[str]:
    return ["| field | type | unit | null | meaning |", "|---|---|---|---|---|", *_rows(obj, doc, "")]


def _rows(obj: dict[str, Any], doc: str, prefix: str) -> list[str]:
    """One row per property; an object written inline (not a $ref) adds its
    own properties below it, named by their path (``ipsec.sas``, ``table[].nbma``)."""
    required = set(obj.get("required", ()))
    rows = []
    for name, p in obj.get("properties", {}).items():
        kind = _type(p).replace("{doc}", doc).replace("|", "\\|")
        null = "yes" if _nullable(p) else ""
        if name not in required:
            null = (null + ", " if null else "") + "optional"
        desc = p.get("description", "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | {kind} | {p.get('x-unit', '')} | {null} | {desc} |")
        if "properties" in p:
            rows += _rows(p, doc, f"{prefix}{name}.")
        elif "properties" in p.get("items", {}):
            rows += _rows(p["items"], doc, f"{prefix}{name}[].")
    return rows


def render() -> str:
    files = "\n".join(f"- `{name}.schema.json`: `{cmd}`" for name, cmd in DOCUMENTS.items())
    out = [INTRO.format(files=files)]
    for name, cmd in DOCUMENTS.items():
        schema = load(name)
        out += [f"## {name}", "", f"`{cmd}`; schema `nhrpscope/schemas/{name}.schema.json`.", ""]
        top = schema
        if schema.get("type") == "array":
            out += ["The document is an array with one object per router (or IPsec peer):", ""]
            top = schema["items"]
        elif name == "decode":
            out += ["Each line is one object (one per frame):", ""]
        out += _table(top, name) + [""]
        if name == "decode":
            out += ["Each entry of `layers` is one of the layer objects below, chosen by its",
                    "`proto`; an `ike` layer's `payloads` are the payload objects after them,",
                    "each named by its `payload`.", ""]
        for dname, d in schema.get("$defs", {}).items():
            if "properties" not in d:
                continue
            out += [f"### {name}: {dname}", ""]
            if d.get("description"):
                out += [d["description"], ""]
            out += _table(d, name) + [""]
    return "\n".join(out).rstrip() + "\n"
