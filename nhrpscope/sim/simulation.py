"""The world of a scenario: the clock, the provider network, the routers,
the ledger, and the timed events that drive them.

``Simulation`` builds it and plays it; ``World`` is the ``Host`` the routers
are given (``host.py``): the clock, ``transmit`` and the ledger, and a
directory of the routers' addresses that the simulation keeps current. The
routers never see the ``Simulation`` itself.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.sim.clock import Clock, Timer
from nhrpscope.sim.flows import TcpFlow
from nhrpscope.sim.host import Directory, PeerInfo
from nhrpscope.sim.ipsec import IpsecDomain
from nhrpscope.sim.net import Captured, Network
from nhrpscope.sim.result import EPOCH, Options, Result
from nhrpscope.sim.router import Router
from nhrpscope.sim.scenario import EventSpec, Scenario, ScenarioError
from nhrpscope.sim.truth import Ledger
from nhrpscope.sim.wire import Wire


class World:
    """The ``Host`` every router of one simulation shares."""

    def __init__(self, clock: Clock, net: Network, ledger: Ledger, directory: Directory) -> None:
        self.clock = clock
        self.net = net
        self.ledger = ledger
        self.directory = directory

    @property
    def now(self) -> float:
        return self.clock.now

    def at(self, when: float, fn: Callable[..., Any], *args: Any) -> Timer:
        return self.clock.at(when, fn, *args)

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        return self.clock.after(delay, fn, *args)

    def transmit(self, sender: str, raw: bytes, wire: Wire) -> None:
        self.net.transmit(self.net.routers[sender], raw, wire)


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
        self.directory = Directory()
        self.host = World(self.clock, self.net, self.ledger, self.directory)
        self.icmp_wires: list[Wire] = []
        self.flows: dict[tuple[str, int, str, int], TcpFlow] = {}
        self.routers: dict[str, Router] = {}
        for spec in scenario.routers:
            r = Router(spec, self.host, self.seed)
            self.routers[spec.name] = r
            self.net.routers[r.name] = r
        self.reindex()
        self.ipsec: IpsecDomain | None = None
        if self.ipsec_on:
            self.ipsec = IpsecDomain(scenario.ipsec, self.seed, {n.name: n.keepalive for n in scenario.nats},
                                     self.host)
            for r in self.routers.values():
                r.ipsec = self.ipsec.endpoint(r)

    def reindex(self) -> None:
        """After an address changed: the network's and the directory's indexes."""
        self.net.reindex()
        peers = []
        for r in self.routers.values():
            public = self.net.public_address(r)
            peers.append(PeerInfo(r.name, r.nbma, public, r.nbma if self.opts.tap == r.name else public,
                                  r.tunnel, r.is_hub, r.spec.behind_nat, r.lan))
        self.directory.update(peers)

    # -- what the network reports ---------------------------------------------------

    def _on_drop(self, why: str, wire: Wire, where: str) -> None:
        self.ledger.drop(self.clock.now, f"{where}: {why}", wire)

    def _on_icmp(self, wire: Wire) -> None:
        self.icmp_wires.append(wire)

    # -- running ------------------------------------------------------------------

    def _schedule_events(self) -> None:
        for r in self.routers.values():
            self.clock.at(r.spec.start, r.boot)
        for ev in self.scenario.events:
            self.clock.at(ev.at, self._event, ev)

    def play(self) -> None:
        """Boot the routers, play the events until the end, close what is open."""
        self._schedule_events()
        self.clock.run(self.duration)
        for r in self.routers.values():
            r.close_registrations()

    def _target(self, to: str) -> str:
        if to in self.routers:
            return self.routers[to].tunnel
        return to

    def _event(self, ev: EventSpec) -> None:
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
            r = self.routers[a["from"]]
            dst = self._target(a["to"])
            sport = a.get("src_port", 40000 + len(self.flows))
            flow = TcpFlow(r, dst, a.get("count", 5), a.get("size", 1400), a.get("interval", 0.5),
                           a.get("df", True), sport, a.get("dport", a.get("dst_port", 80)),
                           r.rng.randrange(1, 0xFFFFFFFF))
            key = (r.source_for(dst), sport, dst, flow.dport)
            self.flows[key] = flow
            r.flows[key] = flow  # its ACKs come back to the router that sent it
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
            old = r.nbma
            r.reconfigure(a)
            if "nbma" in a:
                self.reindex()
                self.ledger.note(self.clock.now, f"event: {r.name}'s NBMA address changes {old} -> {r.nbma}")
            changed = ", ".join(f"{k} = {v!r}" for k, v in a.items() if k != "router")
            self.ledger.note(self.clock.now, f"event: {r.name} reconfigured: {changed}")
            r.reregister()

    def run(self) -> Result:
        self.play()
        frames = self.net.finish()
        self.final_findings()
        truth = self.ledger.truth(self.capture_info(frames))
        return Result(self.scenario, self.opts, frames, self.ledger, truth, self.all_sas(), self.ipsec_on,
                      self.seed, self.duration)

    def all_sas(self) -> list[SecurityAssociation]:
        return self.ipsec.all_sas() if self.ipsec else []

    def final_findings(self) -> None:
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
                f"The provider router {w.meta.get('gateway')} told {self.directory.name_of(None, to)} ({to}) that its "
                f"tunnel packet does not fit the {w.meta.get('mtu')}-byte link (ICMP fragmentation needed, DF "
                "set); if such ICMP is filtered the packets simply vanish (a PMTUD blackhole).", [w],
                w.time or 0.0)
        if self.ipsec:
            self.ipsec.final_findings()

    def capture_info(self, frames: list[Captured]) -> dict[str, Any]:
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
