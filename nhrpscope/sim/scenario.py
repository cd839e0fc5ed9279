"""Scenario files: TOML (read with ``tomllib``) into checked dataclasses.

A wrong file is one ``ScenarioError`` naming the file, the line and the key:
``seed-lab.toml:12: key routers[2].holding_time: must be a whole number of seconds``.
tomllib gives no positions for values, so the line is found by scanning the
text for the key inside its table (``[ipsec]``, the n-th ``[[routers]]``).

The keys, with their defaults, are documented in ``scenarios/seed-lab.toml``
and listed in ``ROUTER_KEYS`` / ``EVENT_ACTIONS`` below.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nhrpscope.sim import MAX_DURATION


class ScenarioError(Exception):
    """A scenario that cannot be run: ``FILE:LINE: key KEY: what is wrong``."""


# The limits a scenario keeps, each said in the error that enforces it.
# A scenario file: the built-ins are a few KB; a generated one with 20,000
# events is about 1.5 MB. (``generate /dev/zero`` read for ever.)
MAX_SCENARIO_BYTES = 8 << 20
# A link's MTU: RFC 791's 68 (the least every IPv4 link must carry) to
# IPv4's 65,535. Below 68, fragmenting made pieces with no payload for ever.
MIN_LINK_MTU, MAX_LINK_MTU = 68, 65535
# A datagram an event sends (ping/udp/tcp ``size``, the IP datagram as
# IOS's ping counts it): room is left under 65,535 for what wraps it on
# the way (outer IPv4, GRE with a key, ESP with IV, padding and ICV, NAT-T).
MAX_EVENT_SIZE = 65_000
MIN_EVENT_SIZE = {"ping": 28, "udp": 28, "tcp": 41}  # IPv4 + ICMP/UDP header; + TCP's, 1 byte
DEFAULT_EVENT_COUNT = {"ping": 5, "udp": 10, "tcp": 5}  # simulation.py's defaults
# Packets one event sends, and all events together: each is scheduled up
# front (ping count = 1e9 ran until killed).
MAX_EVENT_COUNT = 100_000
MAX_EVENT_PACKETS = 1_000_000
MAX_EVENTS = 100_000
# The least interval between an event's packets (a flood ping's pace is
# set by the replies; here every packet is scheduled, so a floor).
MIN_EVENT_INTERVAL = 0.001
# A NAT's first translated port: the translations count up from it, so it
# leaves NAT_PORT_ROOM ports below 65,535.
NAT_PORT_ROOM = 4096
MAX_NAT_PORT_BASE = 65535 - NAT_PORT_ROOM
# The scale scenario's packets (a million take about a minute) and spokes.
MAX_SCALE_PACKETS = 10_000_000
MAX_SCALE_SPOKES = 65_000


# --------------------------------------------------------------------------- records


@dataclass
class RouterSpec:
    name: str
    role: str  # "hub" | "spoke"
    nbma: str
    tunnel: str
    prefix_len: int = 24
    flavor: str = "cisco"  # "cisco" | "frr"
    nhs: list[str] = field(default_factory=list)  # NHS tunnel addresses, in preference order
    nhs_nbma: dict[str, str] = field(default_factory=dict)  # tunnel -> NBMA ("ip nhrp map")
    holding_time: int = 7200
    registration_interval: float | None = None  # default holding_time / 3
    gre_key: int | None = None
    password: str | None = None
    network_id: int = 1
    start: float = 0.0
    cie_prefix_len: int | None = None  # flavor default: cisco 32 (IOS 15), frr 255
    nat_extension: bool | None = None  # flavor default: cisco True (IOS 15), frr True
    mtu: int | None = None  # CIE MTU; flavor default: cisco 17912 with a key else 17916, frr 0
    phase: int = 2
    redirect: bool | None = None  # hub: send traffic indications (phase 3 default)
    shortcut: bool | None = None  # spoke: act on traffic indications (phase 3 default)
    latency: float = 0.010  # one way, router to the core
    loss: float = 0.0
    link_mtu: int = 1500
    tunnel_pmtud: bool = False  # copy DF to the outer header and react to frag-needed
    behind_nat: str | None = None
    gateway: str | None = None  # the provider router on this link (sends ICMP errors)
    icmp_blocked: bool = False  # a filter on this link drops ICMP errors (PMTUD blackhole)
    esp_key_error: bool = False  # fault: encrypt with a key other than the negotiated one
    lan: str | None = None  # a LAN prefix behind the router (phase 3 resolves it)
    # IPsec faults: this router's IKE policy encryption, pre-shared key (default: [ipsec]'s)
    ike_encryption: str | None = None
    psk: str | None = None
    # filters on the access link: (direction "in"|"out", "esp"|"udp", port|None, peer name|None)
    block: list[tuple[str, str, int | None, str | None]] = field(default_factory=list)


@dataclass
class NatSpec:
    name: str
    public: str
    inside: list[str] = field(default_factory=list)
    port_base: int = 31000
    keepalive: float = 20.0  # NAT-T keepalive interval of the inside routers (IPsec)


@dataclass
class IpsecSpec:
    enabled: bool = False
    ike: str = "ikev1"  # "ikev1" | "ikev2"
    encryption: str = "aes-cbc-128"
    integrity: str = "hmac-sha1-96"
    psk: str = "cisco123"


@dataclass
class EventSpec:
    at: float
    action: str
    args: dict[str, Any]
    line: int = 0


@dataclass
class ScaleSpec:
    spokes: int = 1000
    packets: int = 1_000_000
    resolving_share: float = 0.05
    data_share: float = 0.98


@dataclass
class Scenario:
    name: str
    lesson: str
    source: str  # file name for messages
    seed: int = 1
    duration: float = 120.0
    routers: list[RouterSpec] = field(default_factory=list)
    nats: list[NatSpec] = field(default_factory=list)
    ipsec: IpsecSpec = field(default_factory=IpsecSpec)
    events: list[EventSpec] = field(default_factory=list)
    scale: ScaleSpec | None = None
    notes: str = ""
    expect: list[str] = field(default_factory=list)  # finding codes the capture must show

    def router(self, name: str) -> RouterSpec:
        for r in self.routers:
            if r.name == name:
                return r
        raise KeyError(name)


# --------------------------------------------------------------------------- locating keys


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")


class _Lines:
    """Where each key and table header is, from one pass over the text:
    ``locate`` is then a few dict lookups (it rescanned the whole text per
    call, and is called per event: 4,000 events took 38 s)."""

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[tuple[Any, ...], str], int] = {}  # (table, key): first line
        self.headers: dict[tuple[Any, ...], int] = {}  # table: its (last) header line
        self.named: dict[str, int] = {}  # a header's table name: its first line
        table: tuple[Any, ...] = ()
        counts: dict[str, int] = {}
        for n, line in enumerate(text.splitlines(), 1):
            m = _HEADER.match(line)
            if m:
                name = m.group(2).strip('"')
                if m.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    table = (name, counts[name])
                else:
                    table = (name,)
                self.headers[table] = n
                self.named.setdefault(name, n)
                continue
            km = _KEY.match(line)
            if km:
                self.keys.setdefault((table, km.group(1).strip('"')), n)

    def locate(self, path: tuple[Any, ...]) -> int:
        """1-based line of ``path`` (``("routers", 2, "nbma")``); the table's
        header line when the key itself is absent; 1 when nothing fits."""
        key = path[-1] if path and isinstance(path[-1], str) else None
        table = tuple(path[:-1])
        if key is not None and (table, key) in self.keys:
            return self.keys[(table, key)]
        line = self.headers.get(table) or (self.headers.get(tuple(path)) if key is None else None)
        if line:
            return line
        if path and isinstance(path[0], str):  # a top-level table or key
            return self.named.get(path[0]) or self.keys.get(((), path[0]), 1)
        return 1


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p + 1}]"
        else:
            out += ("." if out else "") + p
    return out


class _Ctx:
    """Raises errors pointing into one file."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self._lines: _Lines | None = None

    def line(self, path: tuple[Any, ...]) -> int:
        if self._lines is None:
            self._lines = _Lines(self.text)
        return self._lines.locate(path)

    def fail(self, path: tuple[Any, ...], what: str) -> ScenarioError:
        return ScenarioError(f"{self.source}:{self.line(path)}: key {_dotted(path)}: {what}")


# --------------------------------------------------------------------------- typed getters


def _get(ctx: _Ctx, d: dict, path: tuple, key: str, kind: str, default: Any = None, *,
         required: bool = False, choices: tuple = ()) -> Any:
    if key not in d:
        if required:
            raise ctx.fail(path + (key,), "is required")
        return default
    v = d[key]
    p = path + (key,)
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ctx.fail(p, f"must be a whole number, not {v!r}")
    elif kind == "num":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ctx.fail(p, f"must be a number, not {v!r}")
        v = float(v)
        if not math.isfinite(v):  # TOML has nan and inf; duration = inf ran forever
            raise ctx.fail(p, f"must be a finite number, not {v!r}")
    elif kind == "str":
        if not isinstance(v, str):
            raise ctx.fail(p, f"must be a string, not {v!r}")
    elif kind == "bool":
        if not isinstance(v, bool):
            raise ctx.fail(p, f"must be true or false, not {v!r}")
    elif kind == "ipv4":
        if not isinstance(v, str):
            raise ctx.fail(p, f"must be an IPv4 address in quotes, not {v!r}")
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            raise ctx.fail(p, f"{v!r} is not an IPv4 address") from None
    elif kind == "strlist":
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ctx.fail(p, f"must be a list of strings, not {v!r}")
    if choices and v not in choices:
        raise ctx.fail(p, f"{v!r} is not one of {', '.join(map(str, choices))}")
    return v


def _check_keys(ctx: _Ctx, d: dict, path: tuple, allowed: set[str]) -> None:
    for k in d:
        if k not in allowed:
            near = [a for a in sorted(allowed) if a.replace("_", "") == k.replace("_", "").replace("-", "")]
            hint = f" (did you mean {near[0]}?)" if near else f" (known keys: {', '.join(sorted(allowed))})"
            raise ctx.fail(path + (k,), f"unknown key{hint}")


ROUTER_KEYS = {
    "name", "role", "nbma", "tunnel", "flavor", "nhs", "nhs_nbma", "holding_time",
    "registration_interval", "gre_key", "password", "network_id", "start", "cie_prefix_len",
    "nat_extension", "mtu", "phase", "redirect", "shortcut", "latency", "loss", "link_mtu",
    "tunnel_pmtud", "behind_nat", "gateway", "icmp_blocked", "esp_key_error", "lan",
    "ike_encryption", "psk", "block",
}

IKE_ENCRYPTIONS = ("aes-cbc-128", "aes-cbc-256", "3des-cbc", "aes-gcm-128")


def _block_rules(ctx: _Ctx, path: tuple, items: list[str]) -> list[tuple[str, str, int | None, str | None]]:
    """``"in udp/4500"``, ``"out esp to R3"``: what a filter on the router's
    access link drops. ``out``: leaving the router, before the core (a core
    tap does not see it); ``in``: arriving, after the core (the tap sees it)."""
    out = []
    for j, text in enumerate(items):
        words = text.split()
        peer = None
        if len(words) == 4 and words[2] == "to":
            peer = words[3]
            words = words[:2]
        ok = len(words) == 2 and words[0] in ("in", "out")
        proto, port = (words[1].split("/", 1) + [""])[:2] if ok else ("", "")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        port_ok = port.isascii() and port.isdigit() and int(port) <= 0xFFFF
        if not ok or proto not in ("esp", "udp") or (proto == "udp" and not port_ok) or \
                (proto == "esp" and port):
            raise ctx.fail(path, f"entry {j + 1} {text!r}: expected 'in|out esp|udp/PORT [to ROUTER]'")
        out.append((words[0], proto, int(port) if port else None, peer))
    return out

# action -> (required args, optional args)
EVENT_ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    "ping": ({"from", "to"}, {"count", "size", "interval", "df", "timeout"}),
    "udp": ({"from", "to"}, {"count", "size", "interval", "src_port", "dst_port"}),
    "tcp": ({"from", "to"}, {"count", "size", "interval", "df", "src_port", "dst_port"}),  # flows.py
    "router-down": ({"router"}, {"purge"}),
    "router-up": ({"router"}, set()),
    "link-down": ({"router"}, set()),
    "link-up": ({"router"}, set()),
    "set": ({"router"}, {"password", "gre_key", "nbma"}),
}


def _router(ctx: _Ctx, d: Any, i: int, defaults: dict, phase: int) -> RouterSpec:
    path: tuple = ("routers", i)
    if not isinstance(d, dict):
        raise ctx.fail(path, "must be a table ([[routers]])")
    _check_keys(ctx, d, path, ROUTER_KEYS)
    merged = {**defaults, **d}

    def g(key: str, kind: str, default: Any = None, **kw: Any) -> Any:
        where = path if key in d else ("defaults",)
        return _get(ctx, merged, where, key, kind, default, **kw)

    name = _get(ctx, d, path, "name", "str", required=True)
    role = g("role", "str", "spoke", choices=("hub", "spoke"))
    nbma = g("nbma", "ipv4", required=True)
    tunnel_raw = g("tunnel", "str", required=True)
    try:
        iface = ipaddress.IPv4Interface(tunnel_raw if "/" in tunnel_raw else tunnel_raw + "/24")
    except ValueError:
        raise ctx.fail(path + ("tunnel",), f"{tunnel_raw!r} is not an address/prefix such as 192.168.0.2/24") from None
    nhs_raw = g("nhs", "strlist", [])
    nhs: list[str] = []
    for j, a in enumerate(nhs_raw):
        try:
            nhs.append(str(ipaddress.IPv4Address(a)))
        except ValueError:
            raise ctx.fail(path + ("nhs",), f"entry {j + 1} {a!r} is not an IPv4 address") from None
    nhs_nbma = g("nhs_nbma", "raw", {})
    if not isinstance(nhs_nbma, dict):
        raise ctx.fail(path + ("nhs_nbma",), "must be a table of tunnel address = NBMA address")
    flavor = g("flavor", "str", "cisco", choices=("cisco", "frr"))
    holding = g("holding_time", "int", 7200)
    if not 1 <= holding <= 65535:
        raise ctx.fail(path + ("holding_time",), f"{holding} is outside 1..65535 seconds")
    key = g("gre_key", "int", None)
    if key is not None and not 0 <= key <= 0xFFFFFFFF:
        raise ctx.fail(path + ("gre_key",), f"{key} does not fit 32 bits")
    password = g("password", "str", None)
    if password is not None and (len(password) > 8 or not password.isascii()):
        raise ctx.fail(path + ("password",), "an NHRP password is at most 8 ASCII characters")
    loss = g("loss", "num", 0.0)
    if not 0.0 <= loss <= 1.0:
        raise ctx.fail(path + ("loss",), f"{loss} is not a probability between 0 and 1")
    lan = g("lan", "str", None)
    if lan is not None:
        try:
            lan = str(ipaddress.IPv4Network(lan))
        except ValueError:
            raise ctx.fail(path + ("lan",), f"{lan!r} is not a prefix such as 10.0.2.0/24") from None
    gw = g("gateway", "ipv4", None)
    ph = g("phase", "int", phase, choices=(2, 3))
    link_mtu = g("link_mtu", "int", 1500)
    if not MIN_LINK_MTU <= link_mtu <= MAX_LINK_MTU:
        raise ctx.fail(path + ("link_mtu",), f"{link_mtu} is outside {MIN_LINK_MTU}..{MAX_LINK_MTU} bytes")
    mtu = g("mtu", "int", None)
    if mtu is not None and not 0 <= mtu <= 0xFFFF:
        raise ctx.fail(path + ("mtu",), f"{mtu} does not fit a CIE's 16-bit MTU")
    cie_prefix_len = g("cie_prefix_len", "int", None)
    if cie_prefix_len is not None and not 0 <= cie_prefix_len <= 255:
        raise ctx.fail(path + ("cie_prefix_len",), f"{cie_prefix_len} does not fit a CIE's 8-bit prefix length")
    network_id = g("network_id", "int", 1)
    if not 1 <= network_id <= 0xFFFFFFFF:
        raise ctx.fail(path + ("network_id",), f"{network_id} is outside 1..4294967295")
    start = g("start", "num", 0.0)
    if not 0.0 <= start <= MAX_DURATION:
        raise ctx.fail(path + ("start",), f"{start:g} is outside 0..{MAX_DURATION:g} s")
    latency = g("latency", "num", 0.010)
    if not 0.0 <= latency <= 60.0:
        raise ctx.fail(path + ("latency",), f"{latency:g} is outside 0..60 s")
    reg_interval = g("registration_interval", "num", None)
    if reg_interval is not None and not 1.0 <= reg_interval <= 65535.0:
        raise ctx.fail(path + ("registration_interval",), f"{reg_interval:g} is outside 1..65535 s")
    return RouterSpec(
        name=name, role=role, nbma=nbma, tunnel=str(iface.ip), prefix_len=iface.network.prefixlen,
        flavor=flavor, nhs=nhs, nhs_nbma={str(k): str(v) for k, v in nhs_nbma.items()},
        holding_time=holding,
        registration_interval=reg_interval,
        gre_key=key, password=password, network_id=network_id,
        start=start, cie_prefix_len=cie_prefix_len,
        nat_extension=g("nat_extension", "bool", None), mtu=mtu,
        phase=ph, redirect=g("redirect", "bool", None), shortcut=g("shortcut", "bool", None),
        latency=latency, loss=loss, link_mtu=link_mtu,
        tunnel_pmtud=g("tunnel_pmtud", "bool", False), behind_nat=g("behind_nat", "str", None),
        gateway=gw, icmp_blocked=g("icmp_blocked", "bool", False),
        esp_key_error=g("esp_key_error", "bool", False), lan=lan,
        ike_encryption=g("ike_encryption", "str", None, choices=IKE_ENCRYPTIONS),
        psk=g("psk", "str", None),
        block=_block_rules(ctx, path + ("block",), g("block", "strlist", [])),
    )


def _event_limits(ctx: _Ctx, d: dict, path: tuple, action: str, at: float) -> int:
    """Check an event's time, count, size, interval and ports against the
    limits above; the packets it sends."""
    if not 0.0 <= at <= MAX_DURATION:
        raise ctx.fail(path + ("at",), f"{at:g} is outside 0..{MAX_DURATION:g} s")
    if action not in MIN_EVENT_SIZE:
        return 0
    count = d.get("count", DEFAULT_EVENT_COUNT[action])
    if not 1 <= count <= MAX_EVENT_COUNT:
        raise ctx.fail(path + ("count",), f"{count} is outside 1..{MAX_EVENT_COUNT}")
    size = d.get("size")
    low = MIN_EVENT_SIZE[action]
    if size is not None and not low <= size <= MAX_EVENT_SIZE:
        raise ctx.fail(path + ("size",), f"{size} is outside {low}..{MAX_EVENT_SIZE} bytes "
                                         "(the IP datagram, headers included)")
    interval = d.get("interval")
    if interval is not None and not MIN_EVENT_INTERVAL <= interval <= MAX_DURATION:
        raise ctx.fail(path + ("interval",), f"{interval:g} is outside "
                                             f"{MIN_EVENT_INTERVAL:g}..{MAX_DURATION:g} s")
    timeout = d.get("timeout")
    if timeout is not None and not 0.0 <= timeout <= 3600.0:
        raise ctx.fail(path + ("timeout",), f"{timeout:g} is outside 0..3600 s")
    for k in ("src_port", "dst_port"):
        if k in d and not 0 <= d[k] <= 0xFFFF:
            raise ctx.fail(path + (k,), f"{d[k]} is not a port (0..65535)")
    return int(count)


def check_scale(spokes: int, packets: int) -> None:
    """The scale scenario's limits; ValueError "spokes|packets: what"."""
    if not 1 <= spokes <= MAX_SCALE_SPOKES:
        raise ValueError(f"spokes {spokes} is outside 1..{MAX_SCALE_SPOKES}")
    if not 1 <= packets <= MAX_SCALE_PACKETS:
        raise ValueError(f"packets {packets} is outside 1..{MAX_SCALE_PACKETS:,} "
                         "(a million take about a minute)")


def _deepest_line(text: str) -> int:
    """The line where brackets first nest 100 deep (strings not told apart:
    only for the message about a file tomllib could not recurse through)."""
    depth = 0
    for n, line in enumerate(text.splitlines(), 1):
        for c in line:
            depth += (c in "[{") - (c in "]}")
            if depth > 100:
                return n
    return 1


def parse_scenario(text: str, source: str) -> Scenario:
    """Parse and check a scenario; raises ScenarioError."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = m.group(1) if m else "1"
        what = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise ScenarioError(f"{source}:{line}: not valid TOML: {what}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ScenarioError(f"{source}:{_deepest_line(text)}: not valid TOML: "
                            "values nested too deeply") from None
    except ValueError as e:  # int() refuses over 4,300 digits (sys.get_int_max_str_digits)
        m = re.search(r"\d{1000,}", text)
        line = text.count("\n", 0, m.start()) + 1 if m else 1
        what = "an integer of over 4300 digits" if "digits" in str(e) else "a value out of range"
        raise ScenarioError(f"{source}:{line}: not valid TOML: {what}") from None
    ctx = _Ctx(source, text)
    top = {"name", "lesson", "seed", "duration", "phase", "notes", "defaults", "routers", "nat",
           "ipsec", "events", "scale", "expect"}
    _check_keys(ctx, doc, (), top)
    name = _get(ctx, doc, (), "name", "str", Path(source).stem)
    lesson = _get(ctx, doc, (), "lesson", "str", "")
    seed = _get(ctx, doc, (), "seed", "int", 1)
    duration = _get(ctx, doc, (), "duration", "num", 120.0)
    if duration <= 0:
        raise ctx.fail(("duration",), "must be positive")
    if duration > MAX_DURATION:
        raise ctx.fail(("duration",), f"must be at most {MAX_DURATION:g} s (7 days)")
    phase = _get(ctx, doc, (), "phase", "int", 2, choices=(2, 3))
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ctx.fail(("defaults",), "must be a table")
    _check_keys(ctx, defaults, ("defaults",), ROUTER_KEYS - {"name", "nbma", "tunnel"})
    routers_raw = doc.get("routers", [])
    if not isinstance(routers_raw, list) or not routers_raw:
        raise ctx.fail(("routers",), "a scenario needs at least one [[routers]] table")
    routers = [_router(ctx, d, i, defaults, phase) for i, d in enumerate(routers_raw)]
    seen: dict[str, int] = {}
    nbmas: dict[str, int] = {}
    for i, r in enumerate(routers):
        if r.name in seen:
            raise ctx.fail(("routers", i, "name"), f"router {r.name!r} is already defined")
        seen[r.name] = i
        if r.nbma in nbmas and not (r.behind_nat and routers[nbmas[r.nbma]].behind_nat):
            raise ctx.fail(("routers", i, "nbma"), f"{r.nbma} is already the NBMA address of {routers[nbmas[r.nbma]].name}")
        nbmas[r.nbma] = i
    for i, r in enumerate(routers):
        for rule in r.block:
            if rule[3] is not None and rule[3] not in seen:
                raise ctx.fail(("routers", i, "block"), f"no router named {rule[3]!r}")
    by_tunnel = {r.tunnel: r for r in routers}
    for i, r in enumerate(routers):
        for a in r.nhs:
            if a not in by_tunnel and a not in r.nhs_nbma:
                raise ctx.fail(("routers", i, "nhs"),
                               f"no router has tunnel address {a} (add it, or give its NBMA in nhs_nbma)")
            r.nhs_nbma.setdefault(a, by_tunnel[a].nbma if a in by_tunnel else r.nhs_nbma[a])
        if r.role == "spoke" and not r.nhs:
            raise ctx.fail(("routers", i, "nhs"), "a spoke needs at least one NHS")
    nats: list[NatSpec] = []
    nat_raw = doc.get("nat", [])
    if isinstance(nat_raw, dict):
        nat_raw = [nat_raw]
    if not isinstance(nat_raw, list):  # "nat = 5": enumerate() would raise TypeError
        raise ctx.fail(("nat",), "must be a table ([nat] or [[nat]])")
    for i, d in enumerate(nat_raw):
        path = ("nat", i)
        if not isinstance(d, dict):
            raise ctx.fail(path, "must be a table ([[nat]])")
        _check_keys(ctx, d, path, {"name", "public", "inside", "port_base", "keepalive"})
        n = NatSpec(_get(ctx, d, path, "name", "str", f"nat{i + 1}"),
                    _get(ctx, d, path, "public", "ipv4", required=True),
                    _get(ctx, d, path, "inside", "strlist", []),
                    _get(ctx, d, path, "port_base", "int", 31000),
                    _get(ctx, d, path, "keepalive", "num", 20.0))
        if not 1 <= n.port_base <= MAX_NAT_PORT_BASE:
            raise ctx.fail(path + ("port_base",), f"{n.port_base} is outside 1..{MAX_NAT_PORT_BASE} "
                                                  f"(the translations count up from it)")
        if not 1.0 <= n.keepalive <= 3600.0:
            raise ctx.fail(path + ("keepalive",), f"{n.keepalive:g} is outside 1..3600 s")
        for r_name in n.inside:
            if r_name not in seen:
                raise ctx.fail(path + ("inside",), f"no router named {r_name!r}")
            routers[seen[r_name]].behind_nat = n.name
        nats.append(n)
    for i, r in enumerate(routers):
        if r.behind_nat and r.behind_nat not in {n.name for n in nats}:
            raise ctx.fail(("routers", i, "behind_nat"), f"no [[nat]] named {r.behind_nat!r}")
    ipsec = IpsecSpec()
    if "ipsec" in doc:
        d = doc["ipsec"]
        if not isinstance(d, dict):
            raise ctx.fail(("ipsec",), "must be a table")
        _check_keys(ctx, d, ("ipsec",), {"enabled", "ike", "encryption", "integrity", "psk"})
        ipsec = IpsecSpec(
            _get(ctx, d, ("ipsec",), "enabled", "bool", True),
            _get(ctx, d, ("ipsec",), "ike", "str", "ikev1", choices=("ikev1", "ikev2")),
            _get(ctx, d, ("ipsec",), "encryption", "str", "aes-cbc-128",
                 choices=("aes-cbc-128", "aes-cbc-256", "3des-cbc", "aes-gcm-128")),
            _get(ctx, d, ("ipsec",), "integrity", "str", "hmac-sha1-96",
                 choices=("hmac-sha1-96", "hmac-sha256-128", "none")),
            _get(ctx, d, ("ipsec",), "psk", "str", "cisco123"),
        )
    events: list[EventSpec] = []
    ev_raw = doc.get("events", [])
    if not isinstance(ev_raw, list):
        raise ctx.fail(("events",), "must be an array of tables ([[events]])")
    if len(ev_raw) > MAX_EVENTS:
        raise ctx.fail(("events", MAX_EVENTS), f"more than {MAX_EVENTS} events")
    packets = 0  # what all events send together
    for i, d in enumerate(ev_raw):
        path = ("events", i)
        if not isinstance(d, dict):
            raise ctx.fail(path, "must be a table ([[events]])")
        action = _get(ctx, d, path, "action", "str", required=True, choices=tuple(EVENT_ACTIONS))
        need, opt = EVENT_ACTIONS[action]
        _check_keys(ctx, d, path, {"at", "action"} | need | opt)
        at = _get(ctx, d, path, "at", "num", required=True)
        for k in sorted(need):
            _get(ctx, d, path, k, "str", required=True)
        for k in ("from", "router"):
            if k in d and d[k] not in seen:
                raise ctx.fail(path + (k,), f"no router named {d[k]!r}")
        if "to" in d:
            try:
                ipaddress.IPv4Address(d["to"])
            except ValueError:
                if d["to"] not in seen:
                    raise ctx.fail(path + ("to",), f"{d['to']!r} is neither a router nor an IPv4 address") from None
        for k in ("count", "size", "src_port", "dst_port", "gre_key"):
            if k in d:
                _get(ctx, d, path, k, "int")
        for k in ("interval", "timeout"):
            if k in d:
                _get(ctx, d, path, k, "num")
        packets += _event_limits(ctx, d, path, action, at)
        if packets > MAX_EVENT_PACKETS:
            raise ctx.fail(path + ("count",), f"the events send more than {MAX_EVENT_PACKETS} "
                                              "packets together")
        for k in ("df", "purge"):
            if k in d:
                _get(ctx, d, path, k, "bool")
        if "nbma" in d:
            _get(ctx, d, path, "nbma", "ipv4")
        if "password" in d:
            _get(ctx, d, path, "password", "str")
        args = {k: v for k, v in d.items() if k not in ("at", "action")}
        events.append(EventSpec(at, action, args, ctx.line(path + ("at",))))
    scale = None
    if "scale" in doc:
        d = doc["scale"]
        if not isinstance(d, dict):
            raise ctx.fail(("scale",), "must be a table")
        _check_keys(ctx, d, ("scale",), {"spokes", "packets", "resolving_share", "data_share"})
        scale = ScaleSpec(_get(ctx, d, ("scale",), "spokes", "int", 1000),
                          _get(ctx, d, ("scale",), "packets", "int", 1_000_000),
                          _get(ctx, d, ("scale",), "resolving_share", "num", 0.05),
                          _get(ctx, d, ("scale",), "data_share", "num", 0.98))
        try:
            check_scale(scale.spokes, scale.packets)
        except ValueError as e:
            raise ctx.fail(("scale", str(e).split()[0]), str(e).split(" ", 1)[1]) from None
        for k in ("resolving_share", "data_share"):
            if not 0.0 <= getattr(scale, k) <= 1.0:
                raise ctx.fail(("scale", k), f"{getattr(scale, k):g} is not a share between 0 and 1")
    expect = _get(ctx, doc, (), "expect", "strlist", [])
    return Scenario(name=name, lesson=lesson, source=source, seed=seed, duration=duration,
                    routers=routers, nats=nats, ipsec=ipsec, events=events, scale=scale,
                    notes=_get(ctx, doc, (), "notes", "str", ""), expect=expect)


# --------------------------------------------------------------------------- built-ins


def builtin_names() -> list[str]:
    base = resources.files("nhrpscope.sim") / "scenarios"
    return sorted(p.name[:-5] for p in base.iterdir() if p.name.endswith(".toml"))


def builtin_text(name: str) -> str:
    return (resources.files("nhrpscope.sim") / "scenarios" / f"{name}.toml").read_text("utf-8")


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a TOML file by path."""
    if name_or_path in builtin_names():
        return parse_scenario(builtin_text(name_or_path), f"{name_or_path}.toml")
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        raise ScenarioError(f"{name_or_path}: no such built-in scenario (see --list) and no such file")
    try:
        with open(p, "rb") as f:  # never more than the limit (/dev/zero has no end)
            data = f.read(MAX_SCENARIO_BYTES + 1)
        if len(data) > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{name_or_path}: over {MAX_SCENARIO_BYTES >> 20} MiB, "
                                "more than a scenario file holds")
        text = data.decode("utf-8")
    except OSError as e:
        raise ScenarioError(f"{name_or_path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{name_or_path}:1: not valid TOML: not UTF-8 text") from None
    return parse_scenario(text, str(p))


def lesson_of(name: str) -> str:
    """The one-line lesson of a built-in, without checking the whole file."""
    try:
        return str(tomllib.loads(builtin_text(name)).get("lesson", ""))
    except tomllib.TOMLDecodeError:
        return ""
