"""NHRP transactions as real implementations run them (issue 12, items 1-3
and 11): FRR reuses one request id for every refresh and retry, IOS has
several requests outstanding, an answer that may sit in unreadable frames
is no proof of silence, and findings cite every request they rest on."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_replay_build import HUB, HUB_T, R2, R2_T, Cap, codes

from nhrpscope import api
from nhrpscope.render.report import registration_summary
from nhrpscope.replay.findings import MAX_FRAMES

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _frr_spoke() -> tuple[Cap, list[int]]:
    """An FRR spoke: seven refreshes with request id 1, each answered, then
    five requests with id 1 over 136 s that nothing answers."""
    c = Cap()
    for i in range(7):
        c.register(20.0 * i, R2, R2_T, 1, ht=60)
    lost = [c.reg_request(t, R2, R2_T, 1, ht=60) for t in (140.0, 142.0, 146.0, 154.0, 276.0)]
    return c, lost


def test_frr_same_id_after_the_reply_is_a_new_registration():
    c, lost = _frr_spoke()
    _, a = c.run(290.0)
    assert [r.state for r in a.registrations] == ["registered"] * 7 + ["unanswered"]
    assert all(r.retransmits == 0 for r in a.registrations[:7])
    assert a.registrations[7].retransmits == 4
    [row] = registration_summary(a)
    assert (row["requests"], row["answered"], row["unanswered"]) == (12, 7, 1)
    assert row["last_refresh"] == pytest.approx(c.items[13].time)  # the 7th reply, frame 14
    assert row["cadence"] == pytest.approx(20.0)
    [f] = [f for f in a.findings if f.code == "registration-unanswered"]
    assert sorted(f.frames) == lost and f.frames_total == 5
    assert codes(a) == ["registration-unanswered"]


def test_frr_refreshes_alone_give_no_finding():
    c = Cap()
    for i in range(7):
        c.register(20.0 * i, R2, R2_T, 1, ht=60)
    _, a = c.run(130.0)
    assert [r.state for r in a.registrations] == ["registered"] * 7
    assert a.findings == []


def test_cisco_two_requests_outstanding_both_answered():
    """IOS sends ids 6 and 7 12 ms apart; the hub answers both, 24 ms and 36 ms later."""
    c = Cap()
    q6 = c.reg_request(0.0, R2, R2_T, 6)
    q7 = c.reg_request(0.012, R2, R2_T, 7)
    p6 = c.reg_reply(0.024, R2, R2_T, 6)
    p7 = c.reg_reply(0.036, R2, R2_T, 7)
    _, a = c.run(30.0)
    assert [(r.request_id, r.state, r.frames) for r in a.registrations] == [
        (6, "registered", [q6, p6]), (7, "registered", [q7, p7])]
    assert [round(r.rtt or 0, 3) for r in a.registrations] == [0.024, 0.024]
    assert a.findings == []


def test_reply_answers_its_own_id_even_when_the_later_request_is_unanswered():
    c = Cap()
    c.reg_request(0.0, R2, R2_T, 6)
    q7 = c.reg_request(0.012, R2, R2_T, 7)
    c.reg_reply(0.024, R2, R2_T, 6)
    _, a = c.run(30.0)
    assert [r.state for r in a.registrations] == ["registered", "unanswered"]
    [f] = [f for f in a.findings if f.code == "registration-unanswered"]
    assert f.frames == [q7]


def test_unanswered_finding_cites_every_request_and_the_last():
    c = Cap()
    sent = [c.reg_request(2.0 * i, R2, R2_T, 3) for i in range(MAX_FRAMES + 5)]
    _, a = c.run(2.0 * len(sent) + 10)
    [f] = [f for f in a.findings if f.code == "registration-unanswered"]
    assert f.frames_total == len(sent)
    assert sent[-1] in f.frames and len(f.frames) == MAX_FRAMES
    assert f.json()["frames_total"] == len(sent)


def _reduced_keys(tmp_path: Path, name: str, drop: tuple[str, str]) -> Path:
    """The shipped key file of ``name`` without the SA from drop[0] to drop[1]."""
    rows = (CAPTURES / f"{name}.esp_sa").read_text().splitlines()
    kept = [r for r in rows if f'"{drop[0]}","{drop[1]}"' not in r]
    assert len(kept) == len(rows) - 1
    p = tmp_path / f"{name}.esp_sa"
    p.write_text("\n".join(kept) + "\n")
    return p


def test_answer_in_undecrypted_esp_is_unreadable_not_unanswered(tmp_path):
    keys = _reduced_keys(tmp_path, "seed-lab-ipsec", (HUB, R2))
    res = api.analyze(str(CAPTURES / "seed-lab-ipsec.pcapng"), keys=[str(keys)],
                      capture_keys=False)
    a = res.analysis
    found = {f.code: f for f in a.findings}
    assert "registration-unanswered" not in found
    assert "resolution-unanswered" not in found
    f = found["answer-unreadable"]
    assert f.severity == "warning"
    [sa] = [s for s in a.sas if s.src == HUB and s.dst == R2]
    assert sa.spi in f.message and f"{HUB} -> {R2}" in f.message
    assert "no key for that SA" in f.message and "None" not in f.message
    assert sa.frames[0] in f.frames  # the unreadable frame where the reply may be
    states = {r.state for r in a.registrations if r.spoke_nbma == R2}
    assert "unreadable" in states and "unanswered" not in states
    # with every key the same capture is healthy
    full = api.analyze(str(CAPTURES / "seed-lab-ipsec.pcapng"),
                       keys=[str(CAPTURES / "seed-lab-ipsec.esp_sa")], capture_keys=False)
    fa = full.analysis
    assert [x for x in fa.findings if x.severity in ("error", "warning")] == []


def test_resolution_answer_in_undecrypted_esp_is_unreadable(tmp_path):
    """R4 answers R2's resolution straight over their own SA; without its key
    the resolution is not 'unanswered'."""
    r4 = "172.16.45.2"
    keys = _reduced_keys(tmp_path, "seed-lab-ipsec", (r4, R2))
    a = api.analyze(str(CAPTURES / "seed-lab-ipsec.pcapng"), keys=[str(keys)],
                    capture_keys=False).analysis
    [res] = [r for r in a.resolutions if r.requester_nbma == R2]
    assert res.state == "unreadable"
    assert "resolution-unanswered" not in codes(a)
    [f] = [f for f in a.findings if f.code == "answer-unreadable"]
    [sa] = [s for s in a.sas if s.src == r4 and s.dst == R2]
    assert sa.spi in f.message and "resolution request(s) for 192.168.0.4" in f.message
    assert set(res.frames) <= set(f.frames) and sa.frames[0] in f.frames


def test_one_way_esp_stays_unanswered(tmp_path):
    """Nothing at all comes back from the hub: no unreadable frame could hold a reply."""
    res = api.analyze(str(CAPTURES / "esp-one-way.pcapng"),
                      keys=[str(CAPTURES / "esp-one-way.esp_sa")], capture_keys=False)
    a = res.analysis
    assert "registration-unanswered" in codes(a) and "answer-unreadable" not in codes(a)


def test_hub_still_blamed_when_its_esp_decrypts():
    """A decrypted SA from the hub carrying no reply leaves the request unanswered."""
    c = Cap()
    c.reg_request(0.0, R2, R2_T, 1)
    _, a = c.run(10.0)
    assert codes(a) == ["registration-unanswered"]
    assert HUB in a.findings[0].message and HUB_T in a.findings[0].message
