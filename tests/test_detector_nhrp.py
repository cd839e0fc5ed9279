"""The NHRP detectors, fed facts directly (they are sans-I/O): one test each,
plus the helpers the other detector tests share."""

from __future__ import annotations

from typing import Any

from nhrpscope.replay.detectors import DETECTORS, RULES, Context
from nhrpscope.replay.detectors import error_indication as error_indication_
from nhrpscope.replay.detectors import hop_count_exceeded as hop_count_exceeded_
from nhrpscope.replay.detectors import nat_detected as nat_detected_
from nhrpscope.replay.detectors import purge_unanswered as purge_unanswered_
from nhrpscope.replay.detectors import redirect_ignored as redirect_ignored_
from nhrpscope.replay.detectors import registration_expired as registration_expired_
from nhrpscope.replay.detectors import registration_rejected as registration_rejected_
from nhrpscope.replay.detectors import registration_unanswered as registration_unanswered_
from nhrpscope.replay.detectors import resolution_nak as resolution_nak_
from nhrpscope.replay.detectors import resolution_unanswered as resolution_unanswered_
from nhrpscope.replay.detectors import unique_address_conflict as unique_address_conflict_
from nhrpscope.replay.facts.nhrp import (
    ErrorIndicationSent,
    HopCountZero,
    NatDetected,
    PurgeUnanswered,
    RedirectIgnored,
    RegistrationExpired,
    RegistrationRejected,
    RegistrationUnanswered,
    ResolutionNak,
    ResolutionUnanswered,
    UniqueAddressConflict,
)
from nhrpscope.replay.findings import CODES, Finding, FindingSet

HUB, R2, R3 = "172.16.15.2", "172.16.25.2", "172.16.35.2"
TUNNELS = {HUB: "192.168.0.1", R2: "192.168.0.2", R3: "192.168.0.3"}


def name(nbma: str | None) -> str:
    if not nbma:
        return "?"
    return f"{nbma} ({TUNNELS[nbma]})" if nbma in TUNNELS else nbma


def context() -> Context:
    return Context(FindingSet(), name)


def judge(detector: Any, *facts: Any, ctx: Context | None = None) -> list[Finding]:
    """The findings ``detector`` raises on ``facts``."""
    ctx = ctx or context()
    for f in facts:
        assert isinstance(f, detector.READS), f"{detector.__name__} does not read {type(f)}"
        detector.on(ctx, f)
    return ctx.findings.sorted()


def test_every_rule_registers_its_severity_and_module_name():
    for m in DETECTORS:
        assert m.__name__.rsplit(".", 1)[1] == m.RULE.code.replace("-", "_")
        assert CODES[m.RULE.code] == m.RULE.severity and m.RULE.summary and m.READS
    assert {"registration-unanswered", "esp-replay", "malformed-nhrp"} <= set(RULES)


def test_registration_unanswered_one_finding_per_pair():
    [f] = judge(registration_unanswered_, RegistrationUnanswered(R2, HUB, 10.0, (1, 2)),
                RegistrationUnanswered(R2, HUB, 10.0, (5,)))
    assert (f.code, f.severity, f.frames, f.time) == ("registration-unanswered", "error",
                                                      [1, 2, 5], 10.0)
    assert f.message.startswith("Spoke 172.16.25.2 (192.168.0.2) sent registration requests "
                                "to NHS 172.16.15.2 (192.168.0.1) that got no reply")
    assert f.routers == [R2, HUB]


def test_registration_rejected_names_the_code():
    [f] = judge(registration_rejected_, RegistrationRejected(R2, HUB, 4, "administratively "
                                                             "prohibited", 3.0, (1, 2)))
    assert f.severity == "error" and f.frames == [1, 2]
    assert "(code 4 administratively prohibited)" in f.message


def test_unique_address_conflict_names_both_claimants():
    [f] = judge(unique_address_conflict_,
                UniqueAddressConflict(HUB, "192.168.0.9", R2, R3, 5.0, (3, 7)))
    assert f.message.startswith("Hub 172.16.15.2 (192.168.0.1) has tunnel address 192.168.0.9 "
                                "registered (unique) by 172.16.25.2 and 172.16.35.2 registers")
    assert f.routers == [HUB, R2, R3]


def test_registration_expired_gives_the_holding_time():
    [f] = judge(registration_expired_, RegistrationExpired(R2, HUB, 300, 310.0, (2,)))
    assert f.severity == "warning" and "(holding time 300 s)" in f.message and f.time == 310.0


def test_resolution_unanswered_names_the_nhs_or_not():
    [f] = judge(resolution_unanswered_, ResolutionUnanswered(R2, "192.168.0.3", HUB, 1.0, (4,)))
    assert "check that the NHS 172.16.15.2 (192.168.0.1) can reach" in f.message
    [g] = judge(resolution_unanswered_, ResolutionUnanswered(R2, "192.168.0.3", None, 1.0, (4,)))
    assert "check that the NHS ? can reach" in g.message


def test_resolution_nak():
    [f] = judge(resolution_nak_, ResolutionNak(R2, HUB, "192.168.0.3", 12, "no binding", 2.0,
                                               (1, 2)))
    assert f.message.startswith("172.16.15.2 (192.168.0.1) answered 172.16.25.2 (192.168.0.2)'s "
                                "resolution of 192.168.0.3 with a NAK (code 12 no binding)")


def test_hop_count_exceeded_from_a_zero_hop_count_and_from_code_15():
    zero = HopCountZero("resolution-request", R2, HUB, R3, 1.0, 9)
    code15 = ErrorIndicationSent(HUB, R2, 15, "hop count exceeded", "resolution-request", 7, 2.0,
                                 10, (8,))
    other = ErrorIndicationSent(HUB, R2, 6, "protocol error", None, None, 2.0, 11, ())
    f1, f2 = judge(hop_count_exceeded_, zero, code15, other)
    assert f1.message.startswith("NHRP Resolution Request from 172.16.25.2 (192.168.0.2) "
                                 "reached 172.16.35.2 (192.168.0.3) with hop count 0")
    assert "about its Resolution Request id=7: hop count exceeded" in f2.message
    assert f2.frames == [8, 10]


def test_error_indication_one_per_code():
    fs = judge(error_indication_,
               ErrorIndicationSent(HUB, R2, 6, "protocol error", None, None, 2.0, 11, ()),
               ErrorIndicationSent(HUB, R2, 6, "protocol error", None, None, 3.0, 12, ()),
               ErrorIndicationSent(HUB, R2, 8, None, None, None, 4.0, 13, ()))
    assert [(f.frames, f.message.split(": ")[1].split(";")[0]) for f in fs] == \
        [([11, 12], "protocol error"), ([13], "8")]


def test_redirect_ignored():
    [f] = judge(redirect_ignored_, RedirectIgnored(HUB, R2, "10.2.2.2", "10.3.3.3", 1.0, (4,)))
    assert "for 10.2.2.2 -> 10.3.3.3, but no resolution request followed" in f.message


def test_purge_unanswered_is_info():
    [f] = judge(purge_unanswered_, PurgeUnanswered(HUB, R2, 1.0, (3,)))
    assert f.severity == "info" and f.message == (
        "Purge request from 172.16.15.2 (192.168.0.1) to 172.16.25.2 (192.168.0.2) got no "
        "purge reply.")


def test_nat_detected_once_per_router():
    ev = "it claims NBMA 172.16.25.2 but its registration came from 10.0.0.2"
    [f] = judge(nat_detected_, NatDetected(R2, "10.0.0.2", ev, 1.0, 1),
                NatDetected(R2, "10.0.0.2", ev, 2.0, 5))
    assert f.severity == "info" and f.frames == [1, 5]
    assert f"is behind NAT: {ev}; its peers must reach it at 10.0.0.2" in f.message
