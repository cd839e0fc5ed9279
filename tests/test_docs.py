"""The documents that describe the code stay true to it."""

from __future__ import annotations

import re
from pathlib import Path

from nhrpscope.replay.detectors import RULES
from nhrpscope.replay.detectors.__main__ import reference
from nhrpscope.replay.findings import SUMMARIES

ROOT = Path(__file__).resolve().parent.parent


def test_findings_reference_is_current() -> None:
    """docs/findings.md is what the rules say (regenerate it with
    `python -m nhrpscope.replay.detectors > docs/findings.md`)."""
    assert (ROOT / "docs" / "findings.md").read_text() == reference()


def test_every_rule_is_documented_once() -> None:
    text = (ROOT / "docs" / "findings.md").read_text()
    for code in [*RULES, *SUMMARIES]:
        assert text.count(f"| `{code}` |") == 1, code


def test_paths_the_architecture_names_exist() -> None:
    """Every repository path the architecture map names in backquotes."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:nhrpscope|dissectors|tests|docs|\.ci|benchmarks)/[\w./*<>-]+)`",
                           text))
    assert named, "the map names no paths"
    missing = []
    for p in sorted(named):
        if "<" in p or "*" in p:
            continue
        if not (ROOT / p.rstrip("/")).exists():
            missing.append(p)
    assert not missing, missing
