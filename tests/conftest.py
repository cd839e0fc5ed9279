"""Shared fixtures: where the reference captures live, and tool discovery;
the fuzz suite's hypothesis profile and its count of inputs tried."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "captures" / "reference"

# The fuzz suite (tests/test_fuzz.py) runs a bounded, reproducible number of
# examples per target so CI stays quick and a failure replays on any machine;
# NHRPSCOPE_FUZZ_EXAMPLES raises the count for a longer run by hand.
FUZZ_EXAMPLES = int(os.environ.get("NHRPSCOPE_FUZZ_EXAMPLES", "200"))
settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)

# Inputs fed to each fuzz target in this run, reported in the summary.
_FUZZ_TRIED: Counter[str] = Counter()


@pytest.fixture(scope="session")
def fuzz_tried() -> Counter[str]:
    """Fuzz tests add 1 to their target's count per input they feed it."""
    return _FUZZ_TRIED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FUZZ_TRIED:
        terminalreporter.write_line(
            f"fuzz: {sum(_FUZZ_TRIED.values())} inputs tried across {len(_FUZZ_TRIED)} targets")


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
