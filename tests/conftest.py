"""Shared fixtures: where the reference captures live, and tool discovery."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "captures" / "reference"


@pytest.fixture
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference captures not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture
def tshark() -> str:
    path = shutil.which("tshark")
    if not path:
        pytest.skip("tshark is not installed (.ci/run installs it)")
    return path


@pytest.fixture
def tcpdump() -> str:
    path = shutil.which("tcpdump")
    if not path:
        pytest.skip("tcpdump is not installed (.ci/run installs it)")
    return path
