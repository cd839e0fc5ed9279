"""Every JSON document the commands write validates against the schema that
ships in nhrpscope/schemas/ (the contract docs/json.md describes): on every
shipped capture with its keys and without, every reference capture, and
generated ones. The schemas are precise enough to fail a broken document."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _simcaps import IPSEC, generated
from click.testing import CliRunner

from nhrpscope.cli import main
from nhrpscope.schemas import DOCUMENTS, load

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "captures" / "reference"

# document -> the command's arguments after the capture
COMMANDS: dict[str, tuple[str, ...]] = {
    "analyze": ("analyze", "{}", "--format", "json"),
    "timeline": ("timeline", "{}", "--format", "json"),
    "show-dmvpn": ("show", "dmvpn", "{}", "--format", "json"),
    "show-nhrp": ("show", "nhrp", "{}", "--format", "json"),
    "show-nhrp-frr": ("show", "nhrp", "{}", "--style", "frr", "--format", "json"),
    "show-crypto-isakmp-sa": ("show", "crypto", "isakmp", "sa", "{}", "--format", "json"),
    "show-crypto-ipsec-sa": ("show", "crypto", "ipsec", "sa", "{}", "--format", "json"),
    "decode": ("decode", "{}", "--format", "jsonl"),
}


@cache
def validator(name: str) -> Any:
    schema = load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def run(name: str, capture: Path, *extra: str) -> list[Any]:
    """The command's JSON documents (one per line for decode)."""
    args = [a.format(capture) for a in COMMANDS[name]] + list(extra)
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (0, 1), f"{' '.join(args)}: exit {r.exit_code}: {r.output[-300:]}"
    if name == "decode":
        return [json.loads(line) for line in r.stdout.splitlines()]
    return [json.loads(r.stdout)]


def errors(name: str, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator(name).iter_errors(doc)]


def check(capture: Path, *extra: str) -> None:
    bad = []
    for name in COMMANDS:
        docs = run(name, capture, *extra)
        assert docs, f"{name} wrote no JSON for {capture.name}"
        for doc in docs:
            bad += [f"{name}: {e}" for e in errors(name, doc)[:5]]
    assert not bad, f"{capture.name} {' '.join(extra)}:\n" + "\n".join(bad[:40])


def _shipped() -> list[Any]:
    out = []
    for cap in sorted((ROOT / "captures").glob("*.pcapng")):
        out.append(pytest.param(cap, (), id=cap.stem))
        keys = cap.with_suffix(".esp_sa")
        if keys.exists():  # the keys the pcapng embeds, ignored; then given as a file
            out.append(pytest.param(cap, ("--no-capture-keys",), id=f"{cap.stem}-nokeys"))
            out.append(pytest.param(cap, ("--no-capture-keys", "-k", str(keys)),
                                    id=f"{cap.stem}-keyfile"))
    return out


@pytest.mark.parametrize(("capture", "extra"), _shipped())
def test_shipped_captures_match_the_schemas(capture: Path, extra: tuple[str, ...]) -> None:
    check(capture, *extra)


def _reference() -> list[Any]:
    if not REFERENCE.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"the reference captures are not here ({REFERENCE})"), id="reference")]
    return [pytest.param(cap, id=cap.name) for cap in sorted(REFERENCE.glob("*.pcap*"))]


@pytest.mark.parametrize("capture", _reference())
def test_reference_captures_match_the_schemas(capture: Path) -> None:
    check(capture)


@pytest.mark.parametrize("scenario", ["phase3", IPSEC[0]])
def test_generated_captures_match_the_schemas(scenario: str) -> None:
    check(generated(scenario).capture)


def test_the_commands_cover_every_schema() -> None:
    assert set(COMMANDS) == set(DOCUMENTS)


# -- the schemas can fail -------------------------------------------------------


@cache
def _analyze() -> dict[str, Any]:
    doc = run("analyze", ROOT / "captures" / "hub-down.pcapng")[0]
    assert doc["findings"] and doc["registrations"] and not errors("analyze", doc)
    return doc


def _broken(change: Any) -> list[str]:
    doc = copy.deepcopy(_analyze())
    change(doc)
    return errors("analyze", doc)


def test_an_unknown_severity_fails() -> None:
    def fatal(d: dict) -> None:
        d["findings"][0]["severity"] = "fatal"
    assert any("fatal" in e for e in _broken(fatal))


def test_a_missing_required_field_fails() -> None:
    def drop(d: dict) -> None:
        del d["registrations"][0]["hub_nbma"]
    assert any("hub_nbma" in e for e in _broken(drop))

    def drop_top(d: dict) -> None:
        del d["ipsec"]
    assert any("ipsec" in e for e in _broken(drop_top))


def test_a_wrong_type_fails() -> None:
    def text_frames(d: dict) -> None:
        d["findings"][0]["frames"] = "1, 2"
    assert _broken(text_frames)

    def null_time(d: dict) -> None:
        d["capture"]["frames"] = None  # a count is never null
    assert _broken(null_time)


def test_an_added_field_is_allowed() -> None:
    """The compatibility promise: a later minor version may add fields."""
    def add(d: dict) -> None:
        d["routers"][0]["new_field"] = 1
        d["new_section"] = []
    assert _broken(add) == []


def test_a_decoded_layer_is_checked_by_its_proto() -> None:
    lines = run("decode", ROOT / "captures" / "seed-lab.pcapng")
    line = next(x for x in lines if any(la["proto"] == "nhrp" for la in x["layers"]))
    nhrp = next(la for la in line["layers"] if la["proto"] == "nhrp")
    nhrp["hop_count"] = "255"
    assert any("hop_count" in e or "'255'" in e for e in errors("decode", line))
    nhrp["hop_count"] = 255
    nhrp["proto"] = "nhrpv2"  # no such layer
    assert errors("decode", line)


def test_show_views_fail_on_a_bad_enum() -> None:
    doc = run("show-dmvpn", ROOT / "captures" / "seed-lab.pcapng")[0]
    assert doc and not errors("show-dmvpn", doc)
    doc[0]["role"] = "master"
    assert errors("show-dmvpn", doc)


def test_options_keep_the_shape() -> None:
    """Several files, an instant, a router, a range: the same documents."""
    caps = ROOT / "captures"
    one, two = caps / "seed-lab.pcapng", caps / "phase3.pcapng"
    cases = [
        ("analyze", [str(one), str(two), "--format", "json"]),
        ("timeline", [str(one), "--format", "json", "--no-data", "--from", "+1",
                      "--router", "172.16.15.2"]),
        ("show-dmvpn", [str(one), "--format", "json", "--at", "+5", "--detail"]),
        ("show-nhrp", [str(one), "--format", "json", "--router", "172.16.25.2"]),
        ("show-crypto-ipsec-sa", [str(caps / "seed-lab-ipsec.pcapng"), "--format", "json",
                                  "--at", "frame:30"]),
    ]
    bad = []
    for name, args in cases:
        cmd = [a for a in COMMANDS[name] if a not in ("{}", "--format", "json")]
        r = CliRunner().invoke(main, [*cmd, *args])
        assert r.exit_code in (0, 1), f"{name} {args}: {r.output[-300:]}"
        doc = json.loads(r.stdout)
        assert doc, f"{name} {args}: an empty document proves nothing"
        bad += [f"{name}: {e}" for e in errors(name, doc)]
    assert not bad, "\n".join(bad[:40])
