"""The malformed reference captures (fuzzer output that once crashed
tcpdump): reported as cut or malformed, and nothing inferred from them
(the reference README: "a clear malformed report, no crash")."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhrpscope import api

REFERENCE = (Path(__file__).resolve().parents[1] / ".." / "shared" / "captures" /
             "reference").resolve()

EXPECTED = {
    # one ESP-in-UDP fragment, cut, its IPv4 header checksum wrong: no
    # evidence of path-MTU trouble from a packet the next hop drops
    "esp_truncated.pcap": {"capture-truncated"},
    "gre-heapoverflow-1.pcap": {"capture-truncated"},
    "gre-heapoverflow-2.pcap": {"capture-truncated"},
    "pb_nhrp_1.pcap": {"capture-truncated", "malformed-nhrp"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_reference_capture(name: str) -> None:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference captures not found at {REFERENCE}")
    a = api.analyze(path).analysis
    assert {f.code for f in a.findings} == EXPECTED[name]
    assert not a.registrations and not a.resolutions and not a.routers
