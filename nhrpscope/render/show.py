"""The routers' own `show` layouts, rebuilt from a replayed capture.

- Cisco IOS ``show dmvpn`` (the classic 12.4 layout of the DMVPN lab) and
  ``show dmvpn detail`` (the 15.x detail layout, with Target Network);
- the router view every `show` reads (``RouterView``: a router's cache at
  an instant) and the line saying it was inferred from a capture.

``show_nhrp`` holds ``show ip nhrp`` (IOS and FRR), ``show_crypto`` the
crypto views.

The interface name is not on the wire: ``Tunnel0`` unless told otherwise.
Each output starts with one line saying it was inferred from a capture.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from nhrpscope.api import Result, cache_at, find_router
from nhrpscope.render.timefmt import utc
from nhrpscope.replay.cache import INCOMPLETE, NEGATIVE, STATIC, CacheEntry, ios_duration
from nhrpscope.replay.model import Router


class Instant(Protocol):
    """What ``when`` reads of a view (a RouterView or a show_crypto.CryptoView)."""

    time: float
    first: float | None
    frame: int | None

LEGEND = (
    "Legend: Attrb --> S - Static, D - Dynamic, I - Incomplete\n"
    "    N - NATed, L - Local, X - No Socket\n"
    "    # Ent --> Number of NHRP entries with same NBMA peer"
)
LEGEND_DETAIL = (
    LEGEND + "\n"
    "    NHS Status: E --> Expecting Replies, R --> Responding, W --> Waiting\n"
    "    UpDn Time --> Up or Down Time for a Tunnel\n"
    "=========================================================================="
)
HEADER = " # Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb"
DASHES = " ----- --------------- --------------- ----- -------- -----"
HEADER_DETAIL = "# Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb    Target Network"
DASHES_DETAIL = "----- --------------- --------------- ----- -------- ----- -----------------"


@dataclass
class RouterView:
    """What one router's cache held at ``time``, with what the layouts need."""

    router: Router
    time: float
    entries: list[CacheEntry]
    interface: str = "Tunnel0"
    frame: int | None = None
    source: str = ""
    first: float | None = None
    nhs_status: dict[str, str] = field(default_factory=dict)  # hub tunnel -> E/R/W


def capture_source(result: Result) -> str:
    return ", ".join(os.path.basename(f) for f in result.files)


def router_views(result: Result, router: str | None = None,
                 interface: str = "Tunnel0") -> list[RouterView]:
    """A view per router at the end of ``result`` (the stop point, if any):
    ``router`` (NBMA or tunnel address) alone, or every router with a role
    or an NHRP cache."""
    routers = result.analysis.routers
    if router:
        chosen = [find_router(routers, router)]
    else:
        chosen = [r for r in routers if r.role != "unknown" or result.has_cache(r.nbma)]
    views = []
    for r in chosen:
        c = cache_at(result, r, result.end)  # the result's own end: no replay
        clouds = tunnel_interfaces(result, r)
        if len(clouds) < 2:
            views.append(RouterView(r, c.time, c.entries, interface, c.frame, capture_source(result),
                                    result.analysis.capture.first, c.nhs_status))
            continue
        owner = _entry_owner(clouds)
        for i, (own, _peers) in enumerate(clouds):
            mine = [e for e in c.entries if owner(e) == i]
            nhs = {p: st for p, st in c.nhs_status.items() if any(e.proto == p for e in mine)}
            views.append(RouterView(replace(r, tunnel=own), c.time, mine,
                                    _nth_interface(interface, i), c.frame, capture_source(result),
                                    result.analysis.capture.first, nhs))
    return views


Cloud = tuple[str, frozenset[str]]  # the router's tunnel address there, its peers' addresses


def tunnel_interfaces(result: Result, r: Router) -> list[Cloud]:
    """The router's tunnel interfaces, as its registrations show them: a
    spoke registers each interface's own address with that cloud's NHSes (a
    hub receives them on its own), so its addresses are one interface when
    they share an NHS (or a spoke), else one each (two DMVPN clouds). Its
    addresses in no registration join the first interface."""
    links: list[tuple[str, str]] = []  # (own tunnel address, a peer's address or NBMA)
    for g in result.analysis.registrations:
        if g.spoke_nbma == r.nbma and g.spoke_tunnel:
            links.append((g.spoke_tunnel, g.hub_tunnel or g.hub_nbma or "?"))
        if g.hub_nbma == r.nbma and g.hub_tunnel:
            links.append((g.hub_tunnel, g.spoke_tunnel or g.spoke_nbma or "?"))
    groups: list[tuple[set[str], set[str]]] = []  # (own addresses, peers), in order seen
    for own, peer in links:
        hit = [gr for gr in groups if own in gr[0] or peer in gr[1]]
        merged = (set[str]({own}), set[str]({peer}))
        for gr in hit:
            merged[0].update(gr[0])
            merged[1].update(gr[1])
            groups.remove(gr)
        groups.append(merged)
    order = {a: i for i, a in enumerate(r.tunnels)}
    groups.sort(key=lambda gr: min(order.get(a, len(order)) for a in gr[0]))
    return [(min(own, key=lambda a: order.get(a, len(order))), frozenset(peers))
            for own, peers in groups]


def _entry_owner(clouds: list[Cloud]) -> Any:
    """Which interface a cache entry is on: the cloud its peer registered in,
    else the one whose own address shares the longest prefix with it."""
    def bits(a: str, b: str) -> int:
        try:
            x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
        except ValueError:
            return -1
        if x.version != y.version:
            return -1
        width = x.max_prefixlen
        return width - (int(x) ^ int(y)).bit_length()

    def owner(e: CacheEntry) -> int:
        for i, (_own, peers) in enumerate(clouds):
            if e.proto in peers or (e.via and e.via in peers) or (e.nbma and e.nbma in peers):
                return i
        return max(range(len(clouds)), key=lambda i: (bits(clouds[i][0], e.proto), -i))
    return owner


def _nth_interface(name: str, i: int) -> str:
    """The i-th tunnel interface after ``name`` (Tunnel0, Tunnel1 ...)."""
    m = re.match(r"^(.*?)(\d+)$", name)
    return f"{m.group(1)}{int(m.group(2)) + i}" if m else f"{name}.{i}"


def when(v: Instant) -> str:
    """When a view is taken: UTC time, seconds after the first frame, frame."""
    ts = utc(v.time, "%Y-%m-%d %H:%M:%S", millis=True)
    parts = []
    if v.first is not None:
        parts.append(f"+{v.time - v.first:.3f} s")
    if v.frame is not None:
        parts.append(f"frame {v.frame}")
    return f"{ts} UTC" + (f" ({', '.join(parts)})" if parts else "")


def inferred_line(v: RouterView, what: str) -> str:
    r = v.router
    tun = f" / {r.tunnel}" if r.tunnel else ""
    return (f"% {what} of {r.nbma}{tun} ({r.role}), inferred by nhrpscope from the capture "
            f"{v.source or '-'} at {when(v)}; the interface name {v.interface} is assumed")


def _tunnel_type(r: Router) -> str:
    if r.role == "hub":
        return "Hub/Spoke" if r.nhs else "Hub"
    return "Spoke"


@dataclass
class PeerRow:
    ent: int
    nbma: str
    tunnel: str
    state: str
    updn: float
    attrb: str
    entries: list[CacheEntry]

    def json(self) -> dict:
        return {"ent": self.ent, "nbma": self.nbma, "tunnel": self.tunnel, "state": self.state,
                "updn": ios_duration(self.updn), "updn_seconds": round(self.updn, 3),
                "attrb": self.attrb,
                "targets": [e.prefix for e in self.entries]}


def _attrb(e: CacheEntry) -> str:
    if e.type == STATIC:
        a = "S"
    elif e.type in (INCOMPLETE, NEGATIVE):
        a = "I"
    else:
        a = "D"
    if e.nat:
        a += "N"
    return a


def peer_rows(v: RouterView) -> list[PeerRow]:
    groups: dict[str, list[CacheEntry]] = {}
    for e in v.entries:
        if e.type == NEGATIVE:
            continue
        groups.setdefault(e.nbma or "UNKNOWN", []).append(e)
    rows = []
    for nbma, ents in groups.items():
        # the peer's own (host) entry speaks for the row
        main = min(ents, key=lambda e: (e.type != STATIC, e.prefix_len != 32, e.created))
        up = any(e.state == "UP" for e in ents)
        attrb = "".join(dict.fromkeys("".join(_attrb(e) for e in ents)))
        attrb = "".join(c for c in "SDIN" if c in attrb)
        rows.append(PeerRow(len(ents), nbma, main.via or main.proto, "UP" if up else main.state,
                            v.time - main.state_since, attrb, ents))
    return rows


def dmvpn_row(row: PeerRow) -> str:
    """One peer as IOS prints it: each field right-aligned in its group of
    the dashed ruler (Attrb left-aligned), one space between groups. A value
    wider than its group (an IPv6 address) pushes the rest right, as IOS does."""
    return (f" {row.ent:>5} {row.nbma:>15} {row.tunnel:>15} {row.state:>5} "
            f"{ios_duration(row.updn):>8} {row.attrb:<5}")


def show_dmvpn(v: RouterView, *, detail: bool = False) -> str:
    rows = peer_rows(v)
    r = v.router
    out = [inferred_line(v, "show dmvpn" + (" detail" if detail else ""))]
    if not detail:
        out.append(LEGEND)
        out.append("")
        out.append(f"{v.interface}, Type:{_tunnel_type(r)}, NHRP Peers:{len(rows)}, ")
        out.append(HEADER)
        out.append(DASHES)
        out += [dmvpn_row(row) for row in rows]
        return "\n".join(out)
    out.append(LEGEND_DETAIL)
    out.append("")
    out.append(f'Interface {v.interface} is up/up, Addr. is {r.tunnel or "unknown"}, VRF ""')
    out.append(f'   Tunnel Src./Dest. addr: {r.nbma}/MGRE, Tunnel VRF ""')
    out.append('   Protocol/Transport: "multi-GRE/IP", Protect ""')
    if v.nhs_status:
        out.append("")
        out.append("IPv4 NHS:")
        for tun, st in v.nhs_status.items():
            out.append(f"{tun}  {st} priority = 0 cluster = 0")
    out.append(f"Type:{_tunnel_type(r)}, Total NBMA Peers (v4/v6): {len(rows)}")
    out.append("")
    out.append(HEADER_DETAIL)
    out.append(DASHES_DETAIL)
    for row in rows:
        for i, e in enumerate(sorted(row.entries, key=lambda e: (e.prefix_len != 32, e.proto))):
            ent = f"{row.ent:>5}" if i == 0 else " " * 5
            nbma = row.nbma if i == 0 else ""
            st = "UP" if e.state == "UP" else e.state
            out.append(f"{ent} {nbma:<15} {(e.via or e.proto):>15} {st:>5} "
                       f"{ios_duration(v.time - e.state_since):>8} {_attrb(e):>5} {e.prefix:>17}")
    return "\n".join(out)


def dmvpn_json(v: RouterView) -> dict:
    r = v.router
    rows = peer_rows(v)
    return {"router": r.nbma, "tunnel": r.tunnel, "role": r.role, "interface": v.interface,
            "type": _tunnel_type(r), "time": round(v.time, 6), "frame": v.frame,
            "inferred_from": v.source, "nhrp_peers": len(rows),
            "peers": [row.json() for row in rows],
            "entries": [e.json(v.time) for e in v.entries]}


# -- show ip nhrp (Cisco) -------------------------------------------------------


def address_key(a: str | None) -> Any:
    """Sort key: IPv4 addresses in numeric order, then other text, then none."""
    if not a:
        return (2, ())
    try:
        return (0, tuple(int(x) for x in a.split(".")))
    except ValueError:
        return (1, (a,))
