"""atheris harness: the scenario parser on the fuzzer's text. A
ScenarioError (FILE:LINE: ...) is the allowed way to fail; anything else is
a crash. See README.md."""

from __future__ import annotations

import sys

import _common
import atheris

with atheris.instrument_imports():
    from nhrpscope.sim.scenario import ScenarioError, parse_scenario


def test_one(data: bytes) -> None:
    try:
        parse_scenario(data.decode("utf-8", "replace"), "fuzz.toml")
    except ScenarioError as e:
        _common.one_line(e, "fuzz.toml:")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
