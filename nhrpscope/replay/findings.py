"""Findings: what went wrong, said once per subject, citing frames.

A finding has a severity, a fixed kebab-case code (the list below is public:
scripts match on it, so codes are never renamed), a one-sentence message that
names the routers and says what to check, and the frames that show it.

The same problem repeated (a spoke retrying an unanswered registration every
few seconds for an hour) is one finding whose frame list is capped
(``MAX_FRAMES`` first frames, plus the total count), so memory does not grow
with the number of packets. Findings themselves are capped too (a capture
of 100,000 distinct SPIs made a 41 MB report): at most
``MAX_FINDINGS_PER_CODE`` of one code and ``MAX_FINDINGS`` in all; what is
left out is counted in one ``findings-left-out`` finding per code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}

# Issue 5's codes, spelled exactly so (their severities are the detectors' rules).
REGISTRATION_UNANSWERED = "registration-unanswered"
REGISTRATION_REJECTED = "registration-rejected"
UNIQUE_ADDRESS_CONFLICT = "unique-address-conflict"
AUTHENTICATION_FAILURE = "authentication-failure"
GRE_KEY_MISMATCH = "gre-key-mismatch"
REGISTRATION_EXPIRED = "registration-expired"
RESOLUTION_NAK = "resolution-nak"
RESOLUTION_UNANSWERED = "resolution-unanswered"
ERROR_INDICATION = "error-indication"
HOP_COUNT_EXCEEDED = "hop-count-exceeded"
SHORTCUT_UNUSED = "shortcut-unused"
REDIRECT_IGNORED = "redirect-ignored"
NAT_DETECTED = "nat-detected"
MTU_FRAGMENTATION = "mtu-fragmentation"
ESP_NO_KEY = "esp-no-key"
ESP_ICV_FAILED = "esp-icv-failed"
ESP_REPLAY = "esp-replay"
# Beyond the list.
ESP_DECRYPTION_FAILED = "esp-decryption-failed"
PURGE_UNANSWERED = "purge-unanswered"
# Issue 7's (IKE and ESP without keys; raised by ipsec_state).
IKE_UNANSWERED = "ike-unanswered"
IKE_RETRANSMITS = "ike-retransmits"
IKE_NO_PROPOSAL_CHOSEN = "ike-no-proposal-chosen"
IKE_INVALID_KE = "ike-invalid-ke"
IKE_AUTH_FAILED = "ike-auth-failed"
NAT_T_BLOCKED = "nat-t-blocked"
ESP_ONE_WAY = "esp-one-way"
ESP_REKEY = "esp-rekey"
ESP_WITHOUT_IKE = "esp-without-ike"
DPD_TIMEOUT = "dpd-timeout"
# The cap's own (not a detector's: it is about the report, not the network),
# with its one-line summary for the generated docs (the detectors' is RULE.summary).
FINDINGS_LEFT_OUT = "findings-left-out"
SUMMARIES = {
    FINDINGS_LEFT_OUT: "The report kept the first findings of a code and counted the rest: the "
                       "capture raised more than a report can usefully list (often hostile or "
                       "corrupt input, or one fault on very many peers); filter it to the "
                       "routers concerned to see them all.",
}

# Each code's default severity. The detectors' rules (replay/detectors)
# fill in their own when loaded; the codes ipsec_state raises are here.
CODES: dict[str, str] = {
    IKE_UNANSWERED: ERROR,
    IKE_RETRANSMITS: WARNING,
    IKE_NO_PROPOSAL_CHOSEN: ERROR,
    IKE_INVALID_KE: WARNING,
    IKE_AUTH_FAILED: ERROR,
    NAT_T_BLOCKED: ERROR,
    ESP_ONE_WAY: ERROR,  # a warning when no IKE for the pair is in the capture
    ESP_REKEY: INFO,
    ESP_WITHOUT_IKE: INFO,
    DPD_TIMEOUT: WARNING,
    FINDINGS_LEFT_OUT: INFO,
}

MAX_FRAMES = 20
# Findings kept, of one code and in all: a large hub's real trouble is a few
# hundred findings; beyond these, a report is unreadable and memory grows
# with hostile input (one finding per forged SPI). Bytes: a finding is under
# a kilobyte with its capped frame list, so MAX_FINDINGS holds a few MB.
MAX_FINDINGS_PER_CODE = 1000
MAX_FINDINGS = 5000
# Subjects left out that are told apart (by hash; about 60 bytes each), so a
# repeat is not counted as a new one; past it the count says "at least".
MAX_LEFT_OUT_TRACKED = 50_000


@dataclass(slots=True)
class Finding:
    severity: str
    code: str
    message: str
    frames: list[int] = field(default_factory=list)
    # Beyond the public four keys: when it first showed, how many frames in
    # all (``frames`` keeps the first MAX_FRAMES), and the routers it names.
    time: float | None = None
    frames_total: int = 0
    routers: list[str] = field(default_factory=list)

    def add_frames(self, frames: Iterable[int]) -> None:
        for f in frames:
            if f in self.frames:
                continue
            self.frames_total += 1
            if len(self.frames) < MAX_FRAMES:
                self.frames.append(f)

    def json(self) -> dict:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "frames": sorted(self.frames), "time": self.time,
                "frames_total": self.frames_total, "routers": list(self.routers)}


class FindingSet:
    """Findings keyed by (code, subject): a repeat adds frames, not a finding.

    ``on_new`` is called with each finding when it is first raised (what
    ``--follow`` prints as it happens)."""

    def __init__(self, on_new: Callable[[Finding], None] | None = None) -> None:
        self._by_key: dict[tuple, Finding] = {}
        self.on_new = on_new
        self._per_code: dict[str, int] = {}
        self._kept = 0  # findings kept, the left-out summaries aside
        self.left_out: dict[str, int] = {}  # by code: subjects over the caps, not kept
        self._left_out_seen: set[int] = set()

    def raise_(self, code: str, subject: tuple, message: str, frames: Iterable[int] = (), *,
               time: float | None = None, routers: Iterable[str] = (),
               severity: str | None = None) -> Finding:
        key = (code, *subject)
        f = self._by_key.get(key)
        if f is None:
            f = Finding(severity or CODES[code], code, message, time=time,
                        routers=[r for r in routers if r])
            if self._kept >= MAX_FINDINGS or self._per_code.get(code, 0) >= MAX_FINDINGS_PER_CODE:
                self._leave_out(f, hash(key), frames)
                return f
            self._by_key[key] = f
            self._kept += 1
            self._per_code[code] = self._per_code.get(code, 0) + 1
            f.add_frames(frames)
            if self.on_new is not None:
                self.on_new(f)
        else:
            f.add_frames(frames)
            if severity and SEVERITY_ORDER[severity] < SEVERITY_ORDER[f.severity]:
                f.severity = severity
                f.message = message
        return f

    def _leave_out(self, f: Finding, subject: int, frames: Iterable[int]) -> None:
        """Count a finding over the caps in its code's summary; ``f`` is
        handed back to the caller but not kept."""
        seen = self._left_out_seen
        if subject in seen:
            return
        full = len(seen) >= MAX_LEFT_OUT_TRACKED
        if not full:
            seen.add(subject)
        n = self.left_out[f.code] = self.left_out.get(f.code, 0) + (not full)
        key = (FINDINGS_LEFT_OUT, f.code)
        s = self._by_key.get(key)
        more = f"at least {n}" if full else str(n)
        message = (f"{more} more {f.code} finding(s) left out of this report (it keeps "
                   f"{MAX_FINDINGS_PER_CODE} of one code, {MAX_FINDINGS} in all); "
                   f"filter the capture to the routers concerned to see them")
        if s is None:
            s = Finding(INFO, FINDINGS_LEFT_OUT, message, time=f.time)
            self._by_key[key] = s
            if self.on_new is not None:
                self.on_new(s)
        s.message = message
        s.add_frames(frames)

    def get(self, code: str, subject: tuple) -> Finding | None:
        return self._by_key.get((code, *subject))

    def discard(self, code: str, subject: tuple) -> None:
        f = self._by_key.pop((code, *subject), None)
        if f is not None and code != FINDINGS_LEFT_OUT:
            self._kept -= 1
            self._per_code[code] -= 1

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self._by_key)

    def sorted(self) -> list[Finding]:
        return sorted(self._by_key.values(),
                      key=lambda f: (SEVERITY_ORDER.get(f.severity, 9),
                                     f.time if f.time is not None else 0.0, f.code))


def at_or_above(findings: Iterable[Finding], level: str) -> list[Finding]:
    """Findings whose severity is ``level`` or worse (``--fail-on``)."""
    limit = SEVERITY_ORDER[level]
    return [f for f in findings if SEVERITY_ORDER.get(f.severity, 9) <= limit]
