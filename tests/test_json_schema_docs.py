"""docs/json.md documents every field the schemas define, and is the
rendering of their descriptions (``python -m nhrpscope.schemas``); the
schemas themselves are well-formed and agree where they share a record."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nhrpscope.schemas import DOCUMENTS, load
from nhrpscope.schemas.doc import render

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "json.md"
PACKAGE = ROOT / "nhrpscope" / "schemas"


def properties(node: Any, where: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, name, schema) of every property, at any depth."""
    if isinstance(node, list):
        for x in node:
            yield from properties(x, where)
        return
    if not isinstance(node, dict):
        return
    for name, p in node.get("properties", {}).items():
        yield where, name, p
        yield from properties(p, f"{where}.{name}")
    for name, d in node.get("$defs", {}).items():
        yield from properties(d, name)
    for key in ("items", "then", "additionalProperties", "anyOf", "allOf", "prefixItems"):
        if key in node:
            yield from properties(node[key], where)


def test_every_document_has_its_schema_file() -> None:
    files = {p.name.removesuffix(".schema.json") for p in PACKAGE.glob("*.schema.json")}
    assert files == set(DOCUMENTS)


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_the_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_every_property_is_described(name: str) -> None:
    bare = [f"{w}.{n}" for w, n, p in properties(load(name)) if not p.get("description")]
    assert not bare, f"{name}: properties without a description: {bare}"


def test_the_doc_mentions_every_property() -> None:
    text = DOC.read_text()
    missing = sorted({f"{name}: {w}.{n}" for name in DOCUMENTS
                      for w, n, _p in properties(load(name))
                      if not re.search(rf"`([\w\[\].]*\.)?{re.escape(n)}`", text)})
    assert not missing, "docs/json.md does not mention:\n" + "\n".join(missing)


def test_the_doc_is_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/json.md is stale: python -m nhrpscope.schemas > docs/json.md")


def test_the_doc_states_the_compatibility_promise() -> None:
    text = DOC.read_text()
    assert "## Compatibility promise" in text
    assert "never renamed or removed" in text and "may gain values" in text


def test_shared_records_agree_between_schemas() -> None:
    """A record in several schemas (the SAs, the routers, the cache
    entries) is copied so each file stands alone: the copies must not drift."""
    seen: dict[str, tuple[str, str]] = {}
    bad = []
    for name in DOCUMENTS:
        for dname, d in load(name).get("$defs", {}).items():
            text = json.dumps(d, sort_keys=True)
            if dname in seen and seen[dname][1] != text:
                bad.append(f"{dname}: {seen[dname][0]} and {name} differ")
            seen.setdefault(dname, (name, text))
    assert not bad, "\n".join(bad)


def test_the_doc_says_which_fields_can_be_null() -> None:
    text = DOC.read_text()
    bad = []
    for name in DOCUMENTS:
        for w, n, p in properties(load(name)):
            t = p.get("type")
            if not (isinstance(t, list) and "null" in t):
                continue
            rows = re.findall(rf"^\| `(?:[\w\[\].]*\.)?{re.escape(n)}` \|[^\n]*$", text, re.M)
            if not any(re.search(r"\| yes[ ,]", r) for r in rows):
                bad.append(f"{name}: {w}.{n}")
    assert not bad, "nullable, and docs/json.md does not say so:\n" + "\n".join(bad)
