"""Run a scenario and write what it produced.

``simulate(scenario, ...)`` builds the routers and the network, plays the
timed events, and returns a ``Result`` (the tap's frames, the ledger, the
SAs). ``write_outputs(result, out, ...)`` writes the capture, the key files,
the truth and the narrative. Nothing here reads the wall clock or an
unseeded random source: the same scenario and seed give the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from nhrpscope.sim.clock import Clock
from nhrpscope.sim.net import Captured, Network, Wire, mac_for
from nhrpscope.sim.router import Router
from nhrpscope.sim.scenario import Scenario, ScenarioError
from nhrpscope.sim.truth import Ledger

# 2026-01-01T00:00:00Z: every generated capture starts here.
EPOCH = 1767225600.0
EPOCH_INT = 1767225600  # pcap's microseconds survive float addition at this magnitude
EPOCH_US = Decimal(1767225600 * 1_000_000)
_MILLION = Decimal(1_000_000)


@dataclass
class Options:
    seed: int | None = None
    duration: float | None = None
    ipsec: bool | None = None
    tap: str | None = None
    spokes: int | None = None
    packets: int | None = None


@dataclass
class Result:
    scenario: Scenario
    options: Options
    frames: list[Captured]
    ledger: Ledger
    truth: dict[str, Any]
    sas: list[Any] = field(default_factory=list)
    ipsec: bool = False
    seed: int = 1
    duration: float = 0.0
    # The scale scenario streams its frames while they are written, then makes its truth.
    stream: Callable[[], Iterator[tuple[float, bytes, str]]] | None = None
    finalize: Callable[[], dict[str, Any]] | None = None

    def iter_frames(self) -> Iterator[tuple[float, bytes, str]]:
        """(time from the capture start, Ethernet frame, comment) in order."""
        if self.stream is not None:
            yield from self.stream()
            if self.finalize is not None:
                self.truth = self.finalize()
            return
        for c in self.frames:
            yield c.time, ethernet(c), c.comment


class Simulation:
    def __init__(self, scenario: Scenario, opts: Options) -> None:
        self.scenario = scenario
        self.opts = opts
        self.seed = scenario.seed if opts.seed is None else opts.seed
        self.duration = scenario.duration if opts.duration is None else opts.duration
        self.ipsec_on = scenario.ipsec.enabled if opts.ipsec is None else opts.ipsec
        self.rng = random.Random(f"{self.seed}:net")
        self.clock = Clock()
        self.ledger = Ledger(EPOCH)
        names = {r.name for r in scenario.routers}
        if opts.tap is not None and opts.tap not in names:
            # A router may also be named by its NBMA or tunnel address.
            by_addr = {a: r.name for r in scenario.routers for a in (r.nbma, r.tunnel)}
            if opts.tap not in by_addr:
                raise ScenarioError(f"{scenario.source}: --tap {opts.tap}: no router of that name "
                                    f"or address (routers: {', '.join(sorted(names))})")
            self.opts = opts = dataclasses.replace(opts, tap=by_addr[opts.tap])
        self.net = Network(self.clock, self.rng, opts.tap, scenario.nats)
        self.net.on_drop = self._on_drop
        self.net.on_icmp = self._on_icmp
        self.reg_txns: dict[tuple[str, int], Any] = {}
        self.res_txns: dict[tuple[str, int], Any] = {}
        self.purge_recs: dict[tuple[str, int], dict[str, Any]] = {}
        self.redirect_recs: dict[int, dict[str, Any]] = {}
        self.nat_reported: set[str] = set()
        self.mismatch: dict[tuple[str, str], Any] = {}
        self.conflicts: dict[tuple[str, str, str], Any] = {}
        self.icmp_wires: list[Wire] = []
        self.drops: list[tuple[float, str, Wire | None]] = []
        self.flows: dict[tuple[str, int, str, int], Any] = {}
        self.routers: dict[str, Router] = {}
        for spec in scenario.routers:
            r = Router(spec, self)
            self.routers[spec.name] = r
            self.net.routers[r.name] = r
        self.reindex()
        self.ipsec = None
        if self.ipsec_on:
            from nhrpscope.sim.ipsec import IpsecDomain

            self.ipsec = IpsecDomain(self)
            for r in self.routers.values():
                r.ipsec = self.ipsec.endpoint(r)

    # -- lookups used by the routers -----------------------------------------------

    def router_by_tunnel(self, addr: str | None) -> Router | None:
        return self._by_tunnel.get(addr or "")

    def reindex(self) -> None:
        self.net.reindex()
        self._by_nbma = {r.nbma: r for r in self.routers.values()}
        self._by_public = {self.net.public_address(r): r for r in self.routers.values()}
        self._by_tunnel = {r.tunnel: r for r in self.routers.values()}

    def router_at(self, addr: str | None) -> Router | None:
        """The router with this NBMA address, as claimed or as seen in the core."""
        if not addr:
            return None
        return self._by_nbma.get(addr) or self._by_public.get(addr)

    def name_of(self, claimed: str | None, outer: str | None) -> str:
        r = self._by_nbma.get(claimed or "") or self.router_at(outer)
        return r.name if r else (outer or claimed or "?")

    def public_of_claimed(self, claimed: str) -> str:
        r = self._by_nbma.get(claimed)
        return self.net.public_address(r) if r else claimed

    # -- ledger helpers -------------------------------------------------------------

    def _on_drop(self, why: str, wire: Wire, where: str) -> None:
        self.drops.append((self.clock.now, f"{where}: {why}", wire))

    def drop(self, why: str, wire: Wire | None) -> None:
        self.drops.append((self.clock.now, why, wire))

    def _on_icmp(self, wire: Wire) -> None:
        self.icmp_wires.append(wire)

    def key_mismatch(self, router: Router, outer_src: str, key: int | None, wire: Wire) -> None:
        k = (router.name, outer_src)
        f = self.mismatch.get(k)
        if f is None:
            sender = self.name_of(None, outer_src)
            mine = "no key" if router.key is None else f"key {router.key}"
            theirs = "no key" if key is None else f"key {key}"
            f = self.ledger.finding(
                "gre-key-mismatch",
                f"{router.name} ({router.nbma}, tunnel {mine}) drops GRE from {sender} ({outer_src}) that "
                f"carries {theirs}: the tunnel keys differ, so nothing {sender} sends reaches NHRP; set the "
                "same 'tunnel key' on both.", [], self.clock.now)
            self.mismatch[k] = f
            self.ledger.note(self.clock.now, f"{router.name} silently drops GRE from {outer_src}: {theirs}, "
                             f"its own is {mine}", [wire])
        f.wires.append(wire)

    def track_data(self, router: Router, nbma: str, how: str, wire: Wire, arrived_from: str | None) -> None:
        """Shortcut bookkeeping: the first data that goes spoke to spoke."""
        if router.is_hub:
            return
        other = self._by_public.get(nbma) or self._by_nbma.get(nbma)
        if other is None:
            return
        if other.is_hub:
            return
        s = self.ledger.shortcuts.get(frozenset((router.name, other.name)))
        if s is not None and s.first_direct is None:
            s.first_direct = wire
        if s is not None:
            s.direct_packets += 1

    def tcp_receive(self, router: Router, ip: Any) -> None:
        from nhrpscope.sim.flows import ACK, PSH, acknowledge

        b = ip.payload
        sport, dport = struct.unpack_from("!HH", b)
        ack = struct.unpack_from("!I", b, 8)[0]
        flags = b[13]
        hl = (b[12] >> 4) * 4
        if flags & PSH and len(b) > hl:
            acknowledge(router, ip)
        elif flags & ACK:
            flow = self.flows.get((ip.dst, dport, ip.src, sport))
            if flow is not None:
                flow.on_ack(ack)

    # -- running ------------------------------------------------------------------

    def _schedule_events(self) -> None:
        for r in self.routers.values():
            self.clock.at(r.spec.start, r.boot)
        for ev in self.scenario.events:
            self.clock.at(ev.at, self._event, ev)

    def _target(self, to: str) -> str:
        if to in self.routers:
            return self.routers[to].tunnel
        return to

    def _event(self, ev: Any) -> None:
        a = ev.args
        act = ev.action
        if act == "ping":
            r = self.routers[a["from"]]
            dst = self._target(a["to"])
            self.ledger.note(self.clock.now, f"event: {r.name} pings {dst} ({a.get('count', 5)} x "
                             f"{a.get('size', 100)} bytes{', DF' if a.get('df') else ''})")
            r.ping(dst, a.get("count", 5), a.get("size", 100), a.get("interval", 1.0), a.get("df", False))
        elif act == "udp":
            r = self.routers[a["from"]]
            r.udp(self._target(a["to"]), a.get("count", 10), a.get("size", 200), a.get("interval", 0.1),
                  a.get("src_port", 5001), a.get("dst_port", 5001))
        elif act == "tcp":
            from nhrpscope.sim.flows import TcpFlow

            r = self.routers[a["from"]]
            dst = self._target(a["to"])
            sport = a.get("src_port", 40000 + len(self.flows))
            flow = TcpFlow(r, dst, a.get("count", 5), a.get("size", 1400), a.get("interval", 0.5),
                           a.get("df", True), sport, a.get("dport", a.get("dst_port", 80)),
                           r.rng.randrange(1, 0xFFFFFFFF))
            self.flows[(r.source_for(dst), sport, dst, flow.dport)] = flow
            self.ledger.note(self.clock.now, f"event: {r.name} opens a TCP-like flow to {dst}:{flow.dport} "
                             f"({flow.count} segments of {flow.size} bytes{', DF' if flow.df else ''})")
            flow.start()
        elif act == "router-down":
            r = self.routers[a["router"]]
            self.ledger.note(self.clock.now, f"event: {r.name} goes down"
                             f"{' (tunnel shut: purge first)' if a.get('purge') else ' (power loss: no goodbye)'}")
            r.shutdown(bool(a.get("purge", False)))
        elif act == "router-up":
            r = self.routers[a["router"]]
            if not r.up:
                self.ledger.note(self.clock.now, f"event: {r.name} comes back")
                r.boot()
        elif act == "link-down":
            self.routers[a["router"]].link_down = True
            self.ledger.note(self.clock.now, f"event: {a['router']}'s access link goes down")
        elif act == "link-up":
            self.routers[a["router"]].link_down = False
            self.ledger.note(self.clock.now, f"event: {a['router']}'s access link comes back")
        elif act == "set":
            r = self.routers[a["router"]]
            if "password" in a:
                r.password = a["password"] or None
                r.spec.password = r.password
            if "gre_key" in a:
                r.key = a["gre_key"]
                r.spec.gre_key = r.key
            if "nbma" in a:
                old = r.nbma
                r.nbma = r.spec.nbma = a["nbma"]
                from nhrpscope.sim.router import _gateway

                r.gateway = r.spec.gateway or _gateway(r.nbma)
                self.reindex()
                self.ledger.note(self.clock.now, f"event: {r.name}'s NBMA address changes {old} -> {r.nbma}")
            r.me = r._identity()
            changed = ", ".join(f"{k} = {v!r}" for k, v in a.items() if k != "router")
            self.ledger.note(self.clock.now, f"event: {r.name} reconfigured: {changed}")
            for reg in r.regs.values():  # a configuration change re-registers at once
                if reg.timer:
                    reg.timer.cancel()
                reg.request_id = None
                reg.timer = self.clock.after(0.01, r._reg_send, reg, "re-registration after a configuration change")

    def run(self) -> Result:
        self._schedule_events()
        self.clock.run(self.duration)
        for r in self.routers.values():
            for reg in r.regs.values():
                r._close_unanswered(reg)
        frames = self.net.finish()
        self._final_findings()
        truth = self.ledger.truth(self._capture_info(frames))
        sas = self.ipsec.all_sas() if self.ipsec else []
        return Result(self.scenario, self.opts, frames, self.ledger, truth, sas, self.ipsec_on,
                      self.seed, self.duration)

    def _final_findings(self) -> None:
        frag: dict[tuple[str, str], list[Wire]] = {}
        for c in self.net.captured:
            if c.wire.fragments and c.wire.kind != "icmp-frag-needed":
                frag.setdefault((c.wire.sender, c.wire.meta.get("to_nbma", "")), [])
                if c.wire not in frag[(c.wire.sender, c.wire.meta.get("to_nbma", ""))]:
                    frag[(c.wire.sender, c.wire.meta.get("to_nbma", ""))].append(c.wire)
        for (sender, to), ws in frag.items():
            self.ledger.finding(
                "mtu-fragmentation",
                f"{sender}'s tunnel packets to {to or 'its peer'} are fragmented on the way ({len(ws)} packet(s)): "
                "the GRE/IPsec overhead pushes them past the path MTU; lower 'ip mtu' on the tunnel "
                "(1400 is usual) and set 'ip tcp adjust-mss'.", ws, ws[0].time or 0.0)
        for w in self.icmp_wires:
            to = w.meta.get("to", "")
            self.ledger.finding(
                "mtu-fragmentation",
                f"The provider router {w.meta.get('gateway')} told {self.name_of(None, to)} ({to}) that its "
                f"tunnel packet does not fit the {w.meta.get('mtu')}-byte link (ICMP fragmentation needed, DF "
                "set); if such ICMP is filtered the packets simply vanish (a PMTUD blackhole).", [w],
                w.time or 0.0)
        if self.ipsec:
            self.ipsec.final_findings()

    def _capture_info(self, frames: list[Captured]) -> dict[str, Any]:
        seen = {c.wire.sender for c in frames}
        self.ledger.routers = []
        for r in self.routers.values():
            if r.name not in seen:
                continue
            pub = self.net.public_address(r)
            self.ledger.routers.append({
                "name": r.name, "nbma": r.nbma, "tunnel": r.tunnel, "role": r.spec.role,
                "flavor": r.spec.flavor, "gre_key": r.key,
                "nat": {"public": pub} if pub != r.nbma else None,
            })
        return {
            "file": "", "frames": len(frames),
            "first": self.ledger.at(frames[0].time) if frames else None,
            "last": self.ledger.at(frames[-1].time) if frames else None,
            "scenario": self.scenario.name, "seed": self.seed, "tap": self.opts.tap or "core",
            "ipsec": self.ipsec_on,
        }


def simulate(scenario: Scenario, opts: Options | None = None) -> Result:
    opts = opts or Options()
    if scenario.scale is not None:
        from nhrpscope.sim.scale import simulate_scale

        return simulate_scale(scenario, opts)
    return Simulation(scenario, opts).run()


# --------------------------------------------------------------------------- outputs


def output_paths(out: str, fmt: str, *, ipsec: bool, explain: bool) -> list[Path]:
    base = Path(out)
    paths = [base.with_name(base.name + "." + fmt), base.with_name(base.name + ".truth.json")]
    if ipsec:
        paths += [base.with_name(base.name + s) for s in (".esp_sa", ".secrets", ".xfrm")]
    if explain:
        paths.append(base.with_name(base.name + ".explain.md"))
    return paths


def stamp(t: float) -> Decimal:
    """An exact capture time (whole microseconds) for the writers: a Decimal
    keeps pcapng's nanosecond field at ...000 where a float would not."""
    return (EPOCH_US + round(t * 1_000_000)) / _MILLION


def ethernet(c: Captured) -> bytes:
    return c.dst_mac + c.src_mac + b"\x08\x00" + c.data


def write_outputs(result: Result, out: str, fmt: str = "pcap", *, explain: bool = False) -> list[Path]:
    from nhrpscope.capture import LINKTYPE_ETHERNET, PcapngWriter, PcapWriter

    paths = output_paths(out, fmt, ipsec=result.ipsec, explain=explain)
    cap_path = paths[0]
    with open(cap_path, "wb") as fh:
        if fmt == "pcapng":
            w = PcapngWriter(fh)
            if result.sas:
                from nhrpscope.keys import DSB_ESP_SA, format_esp_sa

                w.secrets(DSB_ESP_SA, format_esp_sa(result.sas).encode())
            for t, frame, comment in result.iter_frames():
                w.write(stamp(t), frame, LINKTYPE_ETHERNET, comment=comment)  # type: ignore[arg-type]
        else:
            pw = PcapWriter(fh, LINKTYPE_ETHERNET)
            for t, frame, _ in result.iter_frames():
                pw.write((EPOCH_INT * 1_000_000 + round(t * 1_000_000)) / 1_000_000, frame)
    result.truth["capture"]["file"] = cap_path.name
    paths[1].write_text(json.dumps(result.truth, indent=2) + "\n", encoding="utf-8")
    if result.ipsec:
        from nhrpscope.keys import format_esp_sa, format_tcpdump_secrets, format_xfrm

        paths[2].write_text(format_esp_sa(result.sas), encoding="utf-8")
        paths[3].write_text(format_tcpdump_secrets(result.sas, lossy=True), encoding="utf-8")
        paths[4].write_text(format_xfrm(result.sas), encoding="utf-8")
    if explain:
        from nhrpscope.sim.explain import narrative

        paths[-1].write_text(narrative(result, cap_path.name), encoding="utf-8")
    return paths


__all__ = ["EPOCH", "Options", "Result", "Simulation", "simulate", "write_outputs", "output_paths",
           "mac_for"]
