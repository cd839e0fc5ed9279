"""What really happened: the simulator's ledger, and the truth file made from it.

Routers write into the ledger as they act (a registration sent, a reply
received, a shortcut installed), citing the ``Wire`` objects they sent. They
write through the ledger's methods only: a transaction two routers take part
in (a registration, a resolution, a purge, a redirect) is found here by what
the RFC matches on (source address + request id), never through another
router's state. Once
the tap's frames are numbered, ``Ledger.truth()`` turns the ledger into a
document in the shape of ``nhrpscope analyze --format json`` (DESIGN.md),
keeping only what the tap could see: every item cites frame numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nhrpscope.sim.wire import Wire

SEVERITY = {
    "registration-unanswered": "error",
    "registration-rejected": "error",
    "unique-address-conflict": "error",
    "authentication-failure": "error",
    "gre-key-mismatch": "error",
    "registration-expired": "warning",
    "resolution-nak": "warning",
    "resolution-unanswered": "warning",
    "error-indication": "warning",
    "hop-count-exceeded": "error",
    "shortcut-unused": "warning",
    "redirect-ignored": "warning",
    "nat-detected": "info",
    "mtu-fragmentation": "warning",
    "esp-no-key": "info",
    "esp-icv-failed": "error",
    "esp-replay": "error",
    "ike-unanswered": "error",
    "ike-retransmits": "warning",
    "ike-no-proposal-chosen": "error",
    "ike-invalid-ke": "warning",
    "ike-auth-failed": "error",
    "nat-t-blocked": "error",
    "esp-one-way": "error",
    "esp-rekey": "info",
    "esp-without-ike": "info",
    "dpd-timeout": "warning",
}


def _frames(wires: Sequence[Wire | None], *, opaque: bool = False) -> list[int]:
    """The frames that show these packets. A packet the written keys cannot
    decrypt (``meta["opaque"]``) shows nothing of what is inside it, so it is
    cited only when ``opaque`` says the finding is about that very fact."""
    out: set[int] = set()
    for w in wires:
        if w is not None and (opaque or not w.meta.get("opaque")):
            out.update(w.frames)
    return sorted(out)


def _seen(w: Wire | None) -> bool:
    return w is not None and w.seen and not w.meta.get("opaque")


@dataclass(eq=False)
class RegistrationTxn:
    spoke: str
    spoke_nbma: str
    spoke_tunnel: str
    hub: str
    hub_nbma: str
    hub_tunnel: str
    request_id: int
    holding_time: int
    requests: list[Wire] = field(default_factory=list)
    reply: Wire | None = None
    code: int | None = None


@dataclass(eq=False)
class ResolutionTxn:
    requester: str
    requester_nbma: str
    requester_tunnel: str
    target_tunnel: str
    request_id: int
    request: Wire | None = None
    forwards: list[Wire] = field(default_factory=list)
    reply: Wire | None = None
    code: int | None = None
    resolved_nbma: str | None = None
    resolved_tunnel: str | None = None
    prefix_len: int | None = None
    responder: str | None = None
    trigger: str = ""


@dataclass(eq=False)
class ShortcutRec:
    a: str
    b: str
    a_nbma: str
    b_nbma: str
    via: Wire | None  # the resolution reply that set it up
    first_direct: Wire | None = None
    direct_packets: int = 0
    via_hub_after: int = 0
    phase: int = 2


@dataclass(eq=False)
class Finding:
    code: str
    message: str
    wires: list[Wire]
    time: float
    severity: str = ""
    opaque: bool = False  # the finding is about undecryptable packets: cite them


class Ledger:
    def __init__(self, epoch: float) -> None:
        self.epoch = epoch
        self.registrations: list[RegistrationTxn] = []
        self.resolutions: list[ResolutionTxn] = []
        self.shortcuts: dict[frozenset[str], ShortcutRec] = {}
        self.redirects: list[dict[str, Any]] = []
        self.purges: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.findings: list[Finding] = []
        self.routers: list[dict[str, Any]] = []
        self.ike: list[dict[str, Any]] = []
        self.sas: list[dict[str, Any]] = []
        self.events: list[tuple[float, str, list[Wire]]] = []  # for the narrative
        self.drops: list[tuple[float, str, Wire | None]] = []  # packets that vanished, and why
        self._gathered: dict[tuple[Any, ...], Finding] = {}
        # The transactions by what the RFC matches on: (source protocol address, request id).
        self._reg_by_id: dict[tuple[str, int], RegistrationTxn] = {}
        self._res_by_id: dict[tuple[str, int], ResolutionTxn] = {}
        self._purge_by_id: dict[tuple[str, int], dict[str, Any]] = {}
        self._redirect_by_wire: dict[int, dict[str, Any]] = {}
        self._nat_reported: set[str] = set()

    # -- what routers record --------------------------------------------------------

    def drop(self, t: float, why: str, wire: Wire | None) -> None:
        self.drops.append((t, why, wire))

    def open_registration(self, txn: RegistrationTxn) -> None:
        self.registrations.append(txn)
        self._reg_by_id[(txn.spoke_tunnel, txn.request_id)] = txn

    def registration_answered(self, spoke_tunnel: str, request_id: int, reply: Wire, code: int) -> None:
        txn = self._reg_by_id.get((spoke_tunnel, request_id))
        if txn is not None:
            txn.reply = reply
            txn.code = code

    def open_resolution(self, txn: ResolutionTxn) -> None:
        self.resolutions.append(txn)
        self._res_by_id[(txn.requester_tunnel, txn.request_id)] = txn

    def resolution_forwarded(self, requester_tunnel: str, request_id: int, wire: Wire) -> None:
        txn = self._res_by_id.get((requester_tunnel, request_id))
        if txn is not None:
            txn.forwards.append(wire)

    def resolution_answered(self, requester_tunnel: str, request_id: int, reply: Wire, responder: str) -> None:
        txn = self._res_by_id.get((requester_tunnel, request_id))
        if txn is not None:
            txn.reply = reply
            txn.responder = responder

    def shortcut_installed(self, rec: ShortcutRec) -> None:
        """The first resolution reply between two routers sets their shortcut up."""
        self.shortcuts.setdefault(frozenset((rec.a, rec.b)), rec)

    def direct_data(self, a: str, b: str, wire: Wire) -> None:
        """Data sent straight from ``a`` to ``b``: the shortcut between them is used."""
        s = self.shortcuts.get(frozenset((a, b)))
        if s is None:
            return
        if s.first_direct is None:
            s.first_direct = wire
        s.direct_packets += 1

    def redirect_sent(self, rec: dict[str, Any], wire: Wire) -> None:
        self.redirects.append(rec)
        self._redirect_by_wire[id(wire)] = rec

    def redirect_acted(self, wire: Wire) -> None:
        rec = self._redirect_by_wire.get(id(wire))
        if rec is not None:
            rec["acted"] = True

    def purge_sent(self, rec: dict[str, Any], tunnel: str, request_id: int) -> None:
        self.purges.append(rec)
        self._purge_by_id[(tunnel, request_id)] = rec

    def purge_answered(self, tunnel: str, request_id: int, reply: Wire) -> None:
        rec = self._purge_by_id.get((tunnel, request_id))
        if rec is not None:
            rec["_wires"].append(reply)

    def error_sent(self, rec: dict[str, Any]) -> None:
        self.errors.append(rec)

    def ike_started(self, rec: dict[str, Any]) -> None:
        self.ike.append(rec)

    def sa_seen(self, rec: dict[str, Any]) -> None:
        self.sas.append(rec)

    def nat_reported(self, tunnel: str | None) -> bool:
        return tunnel in self._nat_reported

    def report_nat(self, tunnel: str) -> None:
        self._nat_reported.add(tunnel)

    def gathered(self, key: tuple[Any, ...], code: str) -> bool:
        """Is there already a finding ``code`` for ``key`` (see ``gather``)?"""
        return (code, *key) in self._gathered

    def note(self, t: float, text: str, wires: list[Wire] | None = None) -> None:
        self.events.append((t, text, list(wires or [])))

    def gather(self, key: tuple[Any, ...], code: str, message: str, wires: list[Wire], t: float) -> Finding:
        """One finding per ``key`` (the same fault seen again): later wires join the first."""
        f = self._gathered.get((code, *key))
        if f is None:
            f = self._gathered[(code, *key)] = self.finding(code, message, [], t)
        f.wires += wires
        return f

    def finding(self, code: str, message: str, wires: Sequence[Wire | None], t: float, *,
                opaque: bool = False) -> Finding:
        """A finding citing ``wires`` (a packet not sent yet, None, cites nothing)."""
        f = Finding(code, message, [w for w in wires if w is not None], t, SEVERITY.get(code, "warning"), opaque)
        self.findings.append(f)
        return f

    # -- the document -----------------------------------------------------------

    def _t(self, w: Wire | None) -> float | None:
        if w is None or w.time is None:
            return None
        return self.at(w.time)

    def at(self, t: float) -> float:
        """Capture time of simulation time ``t``, as the capture file stores it (whole µs)."""
        return (round(self.epoch * 1_000_000) + round(t * 1_000_000)) / 1_000_000

    def truth(self, capture: dict[str, Any]) -> dict[str, Any]:
        regs: list[dict[str, Any]] = []
        for r in self.registrations:
            seen = [w for w in r.requests if _seen(w)]
            if not seen and not _seen(r.reply):
                continue
            regs.append({
                "spoke_nbma": r.spoke_nbma, "spoke_tunnel": r.spoke_tunnel, "hub_nbma": r.hub_nbma,
                "hub_tunnel": r.hub_tunnel,
                "request_time": self._t(seen[0]) if seen else None,
                "reply_time": self._t(r.reply) if _seen(r.reply) else None,
                "request_id": r.request_id, "holding_time": r.holding_time,
                "code": r.code if _seen(r.reply) else None,
                "requests": len(seen),
                "frames": _frames([*r.requests, r.reply]),
            })
        regs.sort(key=lambda d: (d["frames"] or [0])[0])
        res: list[dict[str, Any]] = []
        for x in self.resolutions:
            ws = [x.request, *x.forwards, x.reply]
            if not _frames(ws):
                continue
            res.append({
                "requester_nbma": x.requester_nbma, "requester_tunnel": x.requester_tunnel,
                "target_tunnel": x.target_tunnel, "request_id": x.request_id,
                "request_time": self._t(x.request) if _seen(x.request) else None,
                "reply_time": self._t(x.reply) if _seen(x.reply) else None,
                "code": x.code if _seen(x.reply) else None,
                "resolved_nbma": x.resolved_nbma if _seen(x.reply) else None,
                "resolved_tunnel": x.resolved_tunnel if _seen(x.reply) else None,
                "prefix_len": x.prefix_len if _seen(x.reply) else None,
                "forwarded": len([w for w in x.forwards if _seen(w)]),
                "frames": _frames(ws),
            })
        res.sort(key=lambda d: d["frames"][0])
        shortcuts: list[dict[str, Any]] = []
        for s in self.shortcuts.values():
            ws = [s.via, s.first_direct]
            if not _frames(ws):
                continue
            shortcuts.append({
                "a_nbma": s.a_nbma, "b_nbma": s.b_nbma, "phase": s.phase,
                "established": self._t(s.via) if _seen(s.via) else None,
                "first_direct_data": self._t(s.first_direct) if _seen(s.first_direct) else None,
                "frames": _frames(ws),
            })
        shortcuts.sort(key=lambda d: d["frames"][0])

        def cite(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for it in items:
                wires = it["_wires"]
                frames = _frames(wires)
                if not frames:
                    continue
                d = {k: v for k, v in it.items() if not k.startswith("_")}
                first = next((w for w in wires if _seen(w)), None)
                d["time"] = self._t(first)
                d["frames"] = frames
                out.append(d)
            return sorted(out, key=lambda d: d["frames"][0])

        findings: list[dict[str, Any]] = []
        for f in self.findings:
            frames = _frames(f.wires, opaque=f.opaque)
            if not frames:
                continue
            findings.append({"severity": f.severity, "code": f.code, "message": f.message,
                             "frames": frames})
        order = {"error": 0, "warning": 1, "info": 2}
        findings.sort(key=lambda d: (order[d["severity"]], d["frames"][0], d["code"]))
        return {
            "capture": capture,
            "routers": self.routers,
            "registrations": regs,
            "resolutions": res,
            "shortcuts": shortcuts,
            "redirects": cite(self.redirects),
            "purges": cite(self.purges),
            "errors": cite(self.errors),
            "ipsec": {"ike": cite(self.ike), "sas": [s for s in self.sas if s.get("packets")]},
            "findings": findings,
        }
