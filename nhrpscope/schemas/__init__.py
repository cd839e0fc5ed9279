"""The JSON Schemas (draft 2020-12) of every JSON document nhrpscope writes.

One file per document, shipped inside the package so that a script can
validate what it reads against the version it runs; docs/json.md says what
each field means. Within a major version fields are only added.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

# document name -> the command that writes it
DOCUMENTS: dict[str, str] = {
    "analyze": "nhrpscope analyze --format json",
    "timeline": "nhrpscope timeline --format json",
    "show-dmvpn": "nhrpscope show dmvpn --format json",
    "show-nhrp": "nhrpscope show nhrp --format json",
    "show-nhrp-frr": "nhrpscope show nhrp --style frr --format json",
    "show-crypto-isakmp-sa": "nhrpscope show crypto isakmp sa --format json",
    "show-crypto-ipsec-sa": "nhrpscope show crypto ipsec sa --format json",
    "decode": "nhrpscope decode --format jsonl (each line)",
}


def load(name: str) -> dict[str, Any]:
    """The schema of document ``name`` (a key of DOCUMENTS)."""
    if name not in DOCUMENTS:
        raise KeyError(f"no JSON schema named {name!r}; known: {', '.join(DOCUMENTS)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
