"""Findings: what went wrong, said once per subject, citing frames.

A finding has a severity, a fixed kebab-case code (the list below is public:
scripts match on it, so codes are never renamed), a one-sentence message that
names the routers and says what to check, and the frames that show it.

The same problem repeated (a spoke retrying an unanswered registration every
few seconds for an hour) is one finding whose frame list is capped
(``MAX_FRAMES`` first frames, plus the total count), so memory does not grow
with the number of packets.
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
}

MAX_FRAMES = 20


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

    def raise_(self, code: str, subject: tuple, message: str, frames: Iterable[int] = (), *,
               time: float | None = None, routers: Iterable[str] = (),
               severity: str | None = None) -> Finding:
        key = (code, *subject)
        f = self._by_key.get(key)
        if f is None:
            f = Finding(severity or CODES[code], code, message, time=time,
                        routers=[r for r in routers if r])
            self._by_key[key] = f
            f.add_frames(frames)
            if self.on_new is not None:
                self.on_new(f)
        else:
            f.add_frames(frames)
            if severity and SEVERITY_ORDER[severity] < SEVERITY_ORDER[f.severity]:
                f.severity = severity
                f.message = message
        return f

    def get(self, code: str, subject: tuple) -> Finding | None:
        return self._by_key.get((code, *subject))

    def discard(self, code: str, subject: tuple) -> None:
        self._by_key.pop((code, *subject), None)

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
