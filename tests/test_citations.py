"""`analyze` stays consistent with `decode` (issue 12): every frame a
finding cites decodes to what the finding says it is, on every shipped
capture (with and without its keys) and every reference capture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from nhrpscope.dissectors.frame import Packet

from nhrpscope import api
from nhrpscope.capture import CaptureReader

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / ".." / "shared" / "captures" / "reference").resolve()


def _protos(p: Packet) -> set[str]:
    return {la.proto for la in p.layers}


def _nhrp(*types: str) -> Callable[[Packet], bool]:
    def ok(p: Packet) -> bool:
        la = p.layer("nhrp")
        return la is not None and (not types or getattr(la, "type", None) in types)
    return ok


def _has(*protos: str) -> Callable[[Packet], bool]:
    return lambda p: bool(_protos(p) & set(protos))


# What each cited frame must hold, by finding code. A finding may also cite
# the frames that explain it (an error indication, the reply that did come):
# the rule is about the kind of packet, not its direction.
NHRP_ANY = _nhrp()
CITES: dict[str, Callable[[Packet], bool]] = {
    "registration-unanswered": _nhrp("registration-request"),
    "registration-rejected": _nhrp("registration-request", "registration-reply"),
    "registration-expired": _nhrp("registration-request", "registration-reply"),
    "resolution-unanswered": _nhrp("resolution-request"),
    "resolution-nak": _nhrp("resolution-request", "resolution-reply"),
    "purge-unanswered": _nhrp("purge-request"),
    "redirect-ignored": _nhrp("traffic-indication"),
    "malformed-nhrp": NHRP_ANY,
    "unique-address-conflict": NHRP_ANY,
    "authentication-failure": NHRP_ANY,
    "hop-count-exceeded": NHRP_ANY,
    "error-indication": NHRP_ANY,
    "nat-detected": _has("nhrp", "esp", "udp"),
    "answer-unreadable": _has("nhrp", "esp"),
    "gre-key-mismatch": _has("gre"),
    "esp-no-key": _has("esp"),
    "esp-icv-failed": _has("esp"),
    "esp-replay": _has("esp"),
    "esp-decryption-failed": _has("esp"),
    "esp-one-way": _has("esp"),
    "esp-rekey": _has("esp"),
    "esp-without-ike": _has("esp"),
    "ike-unanswered": _has("ike", "ipv4", "ipv6"),  # IKE in IP fragments: the pieces
    "ike-retransmits": _has("ike"),
    "ike-no-proposal-chosen": _has("ike"),
    "ike-invalid-ke": _has("ike"),
    "ike-auth-failed": _has("ike"),
    "ike-redirect": _has("ike"),
    "ike-fragments-dropped": _has("ipv4", "ipv6"),
    "nat-t-blocked": _has("ike", "udp"),
    "dpd-timeout": _has("ike"),
}


def _cases() -> list:
    out = []
    for cap in sorted((ROOT / "captures").glob("*.pcapng")):
        out.append(pytest.param(cap, False, id=f"{cap.stem}"))
        if cap.with_suffix(".esp_sa").exists():
            out.append(pytest.param(cap, True, id=f"{cap.stem}-nokeys"))
    if REFERENCE.is_dir():
        for cap in sorted(REFERENCE.glob("*.pcap*")):
            out.append(pytest.param(cap, False, id=f"ref-{cap.name}"))
    return out


@pytest.mark.parametrize(("capture", "no_keys"), _cases())
def test_cited_frames_are_what_the_finding_says(capture: Path, no_keys: bool) -> None:
    r = api.analyze(capture, capture_keys=not no_keys)
    packets = {p.frame: p for p in api.decode(capture, capture_keys=not no_keys)}
    cut = {f.number for f in CaptureReader(capture) if len(f.data) < f.wire_len}
    bad = []
    for f in r.analysis.findings:
        if f.code == "capture-truncated":
            bad += [f"capture-truncated: frame {n} is whole" for n in f.frames if n not in cut]
        assert f.frames or f.code in ("findings-left-out",), f"{f.code} cites no frame"
        check = CITES.get(f.code)
        if check is None:
            continue  # a rule over the whole capture (mtu-fragmentation, shortcut-unused ...)
        for n in f.frames:
            p = packets.get(n)
            assert p is not None, f"{f.code} cites frame {n}, past the capture"
            if not check(p):
                bad.append(f"{f.code}: frame {n} holds {[la.proto for la in p.layers]}")
    assert not bad, bad
