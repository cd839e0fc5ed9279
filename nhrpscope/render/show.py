"""The routers' own `show` layouts, rebuilt from a replayed capture.

- Cisco IOS ``show dmvpn`` (the classic 12.4 layout of the DMVPN lab) and
  ``show dmvpn detail`` (the 15.x detail layout, with Target Network);
- Cisco IOS ``show ip nhrp``;
- Cisco IOS ``show ip nhrp shortcut`` (phase 3 entries);
- FRR nhrpd ``show ip nhrp cache``, ``show ip nhrp nhs`` and ``show ip nhrp
  shortcut`` (the printf layouts of nhrpd's nhrp_vty.c).

The interface name is not on the wire: ``Tunnel0`` unless told otherwise.
Each output starts with one line saying it was inferred from a capture.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from nhrpscope.api import Result, UserError, cache_at, find_router
from nhrpscope.render.timefmt import utc
from nhrpscope.replay.cache import INCOMPLETE, NEGATIVE, STATIC, CacheEntry, ios_duration
from nhrpscope.replay.model import Router

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


def _source(result: Result) -> str:
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
            views.append(RouterView(r, c.time, c.entries, interface, c.frame, _source(result),
                                    result.analysis.capture.first, c.nhs_status))
            continue
        owner = _entry_owner(clouds)
        for i, (own, _peers) in enumerate(clouds):
            mine = [e for e in c.entries if owner(e) == i]
            nhs = {p: st for p, st in c.nhs_status.items() if any(e.proto == p for e in mine)}
            views.append(RouterView(replace(r, tunnel=own), c.time, mine,
                                    _nth_interface(interface, i), c.frame, _source(result),
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


def when(v: RouterView | CryptoView) -> str:
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

_FLAG_ORDER = ("router", "implicit", "unique", "nat", "registered", "used", "negative")


def _ios_entry(v: RouterView, e: CacheEntry, extra_flags: tuple[str, ...] = ()) -> list[str]:
    """One cache entry as IOS's ``show ip nhrp`` prints it."""
    created = ios_duration(v.time - e.created)
    if e.type in (INCOMPLETE, NEGATIVE):
        exp = ios_duration(e.expires - v.time) if e.expires is not None else "never"
        return [f"{e.prefix}, {v.interface} created {created}, expire {exp}",
                "  Type: incomplete, Flags: negative", "  Cache hits: 0"]
    if e.expires is None:
        tail = "never expire"
    else:
        tail = f"expire {ios_duration(e.expires - v.time)}"
    typ = "static" if e.type == STATIC else "dynamic"
    flags = " ".join(f for f in (*_FLAG_ORDER[:1], *extra_flags, *_FLAG_ORDER[1:])
                     if f in e.flags or f in extra_flags)
    out = [f"{e.prefix} via {e.via or e.proto}, {v.interface} created {created}, {tail}",
           f"  Type: {typ}, Flags: {flags}", f"  NBMA address: {e.nbma or 'unknown'}"]
    if e.nat and e.claimed_nbma and e.claimed_nbma != e.nbma:
        out.append(f"    (Claimed NBMA address: {e.claimed_nbma})")
    return out


def show_ip_nhrp(v: RouterView) -> str:
    out = [inferred_line(v, "show ip nhrp")]
    for e in sorted(v.entries, key=lambda e: (_key(e.proto), e.prefix_len)):
        out += _ios_entry(v, e)
    return "\n".join(out)


def shortcut_entries(v: RouterView) -> list[CacheEntry]:
    """The phase 3 shortcut entries: what the router resolved itself (a
    network behind a spoke, or a NAK or a request still open for it), not
    the implicit host entry that came with it nor what it learned from
    others' requests."""
    return sorted((e for e in v.entries if e.source == "resolution" and "implicit" not in e.flags),
                  key=lambda e: (_key(e.proto), e.prefix_len))


def show_ip_nhrp_shortcut(v: RouterView) -> str:
    """Cisco IOS ``show ip nhrp shortcut``: the ``show ip nhrp`` entry layout
    restricted to the shortcut entries, flagged ``rib`` as IOS flags the NHRP
    routes it installed. The formats file has no IOS shortcut sample; this
    follows IOS's documented output for the command."""
    out = [inferred_line(v, "show ip nhrp shortcut")]
    for e in shortcut_entries(v):
        out += _ios_entry(v, e, ("rib",))
    return "\n".join(out)


# -- FRR nhrpd ------------------------------------------------------------------

_FRR_TYPE = {"nhs": "nhs", "registration": "dynamic", "resolution": "cached", "request": "cached"}


def _frr_type(e: CacheEntry) -> str:
    if e.type == INCOMPLETE:
        return "incomplete"
    if e.type == NEGATIVE:
        return "negative"
    if e.type == STATIC:
        return "nhs"
    return _FRR_TYPE.get(e.source, "dynamic")


def _frr_cache_entries(v: RouterView) -> list[CacheEntry]:
    """nhrpd keeps one cache entry per protocol address (a peer's tunnel
    address); networks resolved behind a peer are its shortcuts (``show ip
    nhrp shortcut``), not more cache rows. The peer's own host entry speaks
    for it, and a network whose peer has none stands for the peer."""
    by_addr: dict[str, CacheEntry] = {}
    for e in v.entries:
        addr = e.via or e.proto
        if e.via is None and e.prefix_len not in (32, 128):
            continue  # a network nothing answered for yet: a shortcut, no peer
        held = by_addr.get(addr)
        if held is None or (e.proto == addr and held.proto != addr):
            by_addr[addr] = e
    return sorted(by_addr.values(), key=lambda e: _key(e.via or e.proto))


def _frr_used(v: RouterView, e: CacheEntry) -> bool:
    """Used, when any entry through the same peer carried traffic."""
    addr = e.via or e.proto
    return any("used" in x.flags for x in v.entries if (x.via or x.proto) == addr)


def frr_cache_rows(v: RouterView) -> list[dict]:
    rows = []
    for e in _frr_cache_entries(v):
        has_peer = e.nbma is not None
        rows.append({
            "interface": v.interface, "type": _frr_type(e), "protocol": e.via or e.proto,
            "nbma": e.nbma or "-",
            "claimed_nbma": (e.claimed_nbma or "-") if has_peer else "-",
            "used": _frr_used(v, e), "timeout": e.expires is not None, "auth": False,
            "identity": "" if has_peer else "-",
        })
    return rows


def frr_shortcut_rows(v: RouterView) -> list[dict]:
    return [{"type": _frr_type(e), "prefix": e.prefix, "via": e.via or "", "identity": ""}
            for e in shortcut_entries(v)]


def show_frr_shortcut(v: RouterView) -> str:
    """FRR nhrpd ``show ip nhrp shortcut``: Type, Prefix, Via, Identity (the
    IKE identity, empty: not on the wire), as nhrp_vty.c prints them."""
    out = [inferred_line(v, "show ip nhrp shortcut")]
    rows = frr_shortcut_rows(v)
    if not rows:
        out.append("% No entries")
        return "\n".join(out)
    out.append("%-8s %-24s %-24s %s" % ("Type", "Prefix", "Via", "Identity"))  # noqa: UP031
    for r in rows:
        out.append("%-8s %-24s %-24s %s" % (r["type"], r["prefix"], r["via"], r["identity"]))  # noqa: UP031
    return "\n".join(out)


def frr_shortcut_json(v: RouterView) -> dict:
    rows = frr_shortcut_rows(v)
    return {"router": v.router.nbma, "time": round(v.time, 6), "inferred_from": v.source,
            "attr": {"entriesCount": len(rows)}, "table": rows}


def shortcut_json(v: RouterView) -> dict:
    return {**nhrp_json(v), "entries": [e.json(v.time) for e in shortcut_entries(v)]}


def show_frr_cache(v: RouterView) -> str:
    out = [inferred_line(v, "show ip nhrp cache")]
    rows = frr_cache_rows(v)
    if not rows:
        out.append("% No entries")
        return "\n".join(out)
    # nhrpd's printf layouts, kept as printf so they can be compared with its source
    out.append("%-8s %-8s %-24s %-24s %-24s %-6s %s" % (  # noqa: UP031
        "Iface", "Type", "Protocol", "NBMA", "Claimed NBMA", "Flags", "Identity"))
    for r in rows:
        flags = ("U" if r["used"] else " ") + ("T" if r["timeout"] else " ") + \
                ("A" if r["auth"] else " ")
        out.append("%-8s %-8s %-24s %-24s %-24s %s    %s" % (  # noqa: UP031
            r["interface"], r["type"], r["protocol"], r["nbma"], r["claimed_nbma"], flags,
            r["identity"]))
    return "\n".join(out)


def frr_nhs_rows(v: RouterView) -> list[dict]:
    rows = []
    for e in v.entries:
        if e.type != STATIC:
            continue
        fqdn = e.claimed_nbma or e.nbma or "-"
        rows.append({"interface": v.interface, "fqdn": fqdn,
                     "nbma": (e.nbma or "-") if e.state == "UP" else "-",
                     "protocol": e.via or e.proto})
    return rows


def show_frr_nhs(v: RouterView) -> str:
    out = [inferred_line(v, "show ip nhrp nhs")]
    rows = frr_nhs_rows(v)
    if not rows:
        out.append("% No entries")
        return "\n".join(out)
    out.append("%-8s %-24s %-16s %-16s" % ("Iface", "FQDN", "NBMA", "Protocol"))  # noqa: UP031
    for r in rows:
        out.append("%-8s %-24s %-16s %-16s" % (  # noqa: UP031
            r["interface"], r["fqdn"], r["nbma"], r["protocol"]))
    return "\n".join(out)


def frr_cache_json(v: RouterView) -> dict:
    rows = frr_cache_rows(v)
    return {"router": v.router.nbma, "time": round(v.time, 6), "inferred_from": v.source,
            "attr": {"entriesCount": len(rows)}, "table": rows}


def frr_nhs_json(v: RouterView) -> dict:
    rows = frr_nhs_rows(v)
    return {"router": v.router.nbma, "time": round(v.time, 6), "inferred_from": v.source,
            "attr": {"entriesCount": len(rows)}, "table": rows}


def nhrp_json(v: RouterView) -> dict:
    return {"router": v.router.nbma, "tunnel": v.router.tunnel, "role": v.router.role,
            "interface": v.interface, "time": round(v.time, 6), "frame": v.frame,
            "inferred_from": v.source, "entries": [e.json(v.time) for e in v.entries]}


def _key(a: str | None) -> Any:
    if not a:
        return (2, ())
    try:
        return (0, tuple(int(x) for x in a.split(".")))
    except ValueError:
        return (1, (a,))


# --------------------------------------------------------------------- IPsec (issue 7)


@dataclass
class CryptoView:
    """One IPsec peer's IKE and ESP state at ``time``, as the capture shows it."""

    address: str
    time: float
    negotiations: list[Any]  # ipsec_state.IkeNegotiation involving this address
    sas: list[Any]  # model.SecurityAssociation from or to this address
    source: str = ""
    first: float | None = None
    frame: int | None = None
    name: str = ""  # "172.16.15.2 (192.168.0.1, hub)" when NHRP told more
    interface: str = "Tunnel0"
    # SPI, source, destination -> the key given for that SA (a dissectors.esp SA), if any
    keys: Callable[[int, str, str], Any] | None = None


def crypto_views(address: str | None, negotiations: list[Any], sas: list[Any], time: float, *,
                 source: str = "", first: float | None = None, frame: int | None = None,
                 names: dict[str, str] | None = None, interface: str = "Tunnel0") -> list[CryptoView]:
    """A view per IKE/ESP peer address (or just ``address``); busiest first."""
    names = names or {}
    addrs: dict[str, int] = {}
    for n in negotiations:
        for a in (n.initiator, n.responder):
            addrs[a] = addrs.get(a, 0) + 1
    for s in sas:
        for a in (s.src, s.dst):
            addrs.setdefault(a, 0)
    chosen = [address] if address else sorted(addrs, key=lambda a: (-addrs[a], _key(a)))
    out = []
    for a in chosen:
        negs = [n for n in negotiations if a in (n.initiator, n.responder)]
        mine = [s for s in sas if a in (s.src, s.dst)]
        out.append(CryptoView(a, time, negs, mine, source, first, frame, names.get(a, a), interface))
    return out


def result_crypto_views(result: Result, router: str | None = None,
                        interface: str = "Tunnel0") -> list[CryptoView]:
    """``crypto_views`` at the end of ``result``: ``router`` (an IKE/ESP
    address, or a router's NBMA or tunnel address) alone, or every peer."""
    a = result.analysis
    addrs = {x for n in a.ike for x in (n.initiator, n.responder)} | \
        {x for s in a.sas for x in (s.src, s.dst)}
    names = {}
    for r in a.routers:
        for addr in (r.nbma, r.public_nbma):
            if addr:
                names[addr] = f"{addr} ({r.tunnel or '?'}, {r.role})"
    address = None
    if router:
        if router in addrs:
            address = router
        else:
            found = next((r for r in a.routers if router in r.tunnels or router == r.nbma), None)
            if found is None:
                seen = ", ".join(sorted(addrs)) or "none"
                raise UserError(f"no IPsec peer {router} in the capture "
                                f"(IKE/ESP addresses seen: {seen})")
            address = found.public_nbma if found.public_nbma in addrs else found.nbma
    views = crypto_views(address, list(a.ike), list(a.sas), result.end, source=_source(result),
                         first=a.capture.first, frame=result.end_frame, names=names,
                         interface=interface)
    lookup = result._engine.sa_lookup if result._engine is not None else None
    for v in views:
        v.keys = lookup
    return views


def _crypto_line(v: CryptoView, what: str, extra: str = "") -> str:
    return (f"% {what} of {v.name or v.address}, inferred by nhrpscope from the capture "
            f"{v.source or '-'} at {when(v)}{extra}")


def isakmp_rows(v: CryptoView) -> list[dict]:
    """IKEv1 SAs on this peer: every phase 1 that came up, and the latest
    attempt per peer when it did not (IOS deletes a failed one: '(deleted)')."""
    rows = []
    latest: dict[str, Any] = {}
    for n in v.negotiations:
        if n.version != 1:
            continue
        peer = n.responder if n.initiator == v.address else n.initiator
        latest[peer] = n
    for n in v.negotiations:
        if n.version != 1:
            continue
        peer = n.responder if n.initiator == v.address else n.initiator
        up = n.ios_state == "QM_IDLE"
        if not up and latest.get(peer) is not n:
            continue
        status = "ACTIVE" if up or n.state == "incomplete" else "ACTIVE (deleted)"
        rows.append({"dst": n.responder, "src": n.initiator, "state": n.ios_state,
                     "conn_id": n.conn_ids.get(v.address, 0) if up else 0, "slot": 0,
                     "status": status, "peer": peer, "negotiation_state": n.state,
                     "reached": n.reached, "failure": n.failure, "frames": n.frames[:1] + n.frames[-1:],
                     "nat": n.nat, "natt": n.natt})
    rows.sort(key=lambda r: (r["conn_id"] == 0, r["conn_id"], _key(r["peer"])))
    return rows


def show_crypto_isakmp_sa(v: CryptoView) -> str:
    """Cisco IOS `show crypto isakmp sa` (the 12.4 layout of the classic lab)."""
    rows = isakmp_rows(v)
    lines = [_crypto_line(v, "show crypto isakmp sa"), "IPv4 Crypto ISAKMP SA",
             "dst             src             state          conn-id slot status"]
    v6 = [r for r in rows if ":" in r["dst"]]
    for r in rows:
        if r not in v6:
            lines.append(f"{r['dst']:<16}{r['src']:<16}{r['state']:<15}{r['conn_id']:>7} "
                         f"{r['slot']:>4} {r['status']}")
    if v6:
        # IOS lists IPv6 ISAKMP SAs apart, one block each (addresses too wide for columns)
        lines += ["", "IPv6 Crypto ISAKMP SA"]
        for r in v6:
            lines += ["", f" dst: {r['dst']}", f" src: {r['src']}",
                      f" state: {r['state']:<15} conn-id: {r['conn_id']:>6} status: {r['status']}"]
        lines.append("")
    notes = []
    for r in rows:
        if r["state"] != "QM_IDLE":
            why = r["failure"] or {"failed": "given up", "unanswered": "never answered",
                                   "incomplete": "still negotiating"}.get(r["negotiation_state"], "")
            notes.append(f"% {r['src']} -> {r['dst']}: reached {r['reached'] or '-'}"
                         + (f" ({why})" if why else "") + f"; frames {r['frames'][0]}-{r['frames'][-1]}")
        if r["natt"]:
            notes.append(f"% {r['src']} -> {r['dst']}: NAT-T (UDP 4500)")
    v2 = [n for n in v.negotiations if n.version == 2]
    if v2:
        notes.append(f"% {len(v2)} IKEv2 SA(s) with this peer are not ISAKMP SAs: IOS lists them "
                     f"under 'show crypto ikev2 sa' ({', '.join(sorted({n.state for n in v2}))})")
    if not rows and not v2:
        notes.append("% no IKEv1 exchange with this address in the capture")
    return "\n".join(lines + notes)


def _hexspi(spi: str) -> str:
    n = int(spi, 16)
    return f"0x{n:08X}({n})"


# Cisco IOS transform-set names (``crypto ipsec transform-set``), by our names
_IOS_ENC = {"null": "esp-null", "des-cbc": "esp-des", "3des-cbc": "esp-3des",
            "aes-cbc": "esp-aes", "aes-gcm-16": "esp-gcm", "aes-gcm-16-iiv": "esp-gcm",
            "aes-gcm-8": "esp-gcm", "aes-gcm-12": "esp-gcm"}
_IOS_INTEG = {"hmac-md5-96": "esp-md5-hmac", "hmac-sha1-96": "esp-sha-hmac",
              "hmac-sha256-128": "esp-sha256-hmac", "hmac-sha384-192": "esp-sha384-hmac",
              "hmac-sha512-256": "esp-sha512-hmac"}


def ios_transform(sa: Any) -> str:
    """What IOS prints after ``transform:`` for the SA a key was given for:
    "esp-256-aes esp-sha-hmac ,"; names IOS lacks are ours ("esp-chacha20-poly1305")."""
    bits = 8 * (len(sa.enc_key) - sa.algorithm.salt_len)
    enc = _IOS_ENC.get(sa.encryption, f"esp-{sa.encryption}")
    if enc == "esp-aes" and bits != 128:
        enc = f"esp-{bits}-aes"
    elif enc == "esp-gcm" and bits != 128:
        enc = f"esp-gcm {bits}"
    parts = [enc]
    if sa.integrity not in ("null",):
        parts.append(_IOS_INTEG.get(sa.integrity, f"esp-{sa.integrity}"))
    return " ".join(parts) + " ,"


def _key_of(v: CryptoView, s: Any) -> Any:
    """The key given for SA ``s`` (a model.SecurityAssociation), or None."""
    if v.keys is None:
        return None
    try:
        return v.keys(int(s.spi, 16), s.src, s.dst)
    except (ValueError, TypeError):
        return None


def ipsec_peers(v: CryptoView) -> list[dict]:
    """Per peer: inbound and outbound SAs, packets each way as seen at the tap,
    and (when keys were given) how many of them were decrypted and verified."""
    peers: dict[str, dict] = {}
    for s in v.sas:
        out = s.src == v.address
        peer = s.dst if out else s.src
        p = peers.setdefault(peer, {"peer": peer, "local": v.address, "inbound": [], "outbound": [],
                                    "encaps": 0, "decaps": 0, "natt": False, "port": 500,
                                    "checked": {"outbound": 0, "inbound": 0},
                                    "decrypted": {"outbound": 0, "inbound": 0},
                                    "verify_failed": {"outbound": 0, "inbound": 0}})
        way = "outbound" if out else "inbound"
        p[way].append(s)
        p["encaps" if out else "decaps"] += s.packets
        p["natt"] = p["natt"] or s.natt
        if _key_of(v, s) is not None:
            p["checked"][way] += s.packets - s.no_key
            p["decrypted"][way] += s.decrypted
            p["verify_failed"][way] += s.icv_failed
    for n in v.negotiations:
        peer = n.responder if n.initiator == v.address else n.initiator
        if peer in peers:
            p = peers[peer]
            p["natt"] = p["natt"] or n.natt
    for p in peers.values():
        p["port"] = 4500 if p["natt"] else 500
        for k in ("inbound", "outbound"):
            p[k].sort(key=lambda s: (s.last or 0.0))
    return sorted(peers.values(), key=lambda p: _key(p["peer"]))


def _pkts_lines(p: dict) -> list[str]:
    """IOS's #pkts lines: the tap sees every packet (encaps, decaps); encrypt,
    digest, decrypt and verify only where a key let it check them."""
    lines = []
    for way, seen, a, b in (("outbound", "encaps", "encrypt", "digest"),
                            ("inbound", "decaps", "decrypt", "verify")):
        n = p["encaps" if way == "outbound" else "decaps"]
        if p["checked"][way]:
            ok = p["decrypted"][way]
            lines.append(f"    #pkts {seen}: {n}, #pkts {a}: {ok}, #pkts {b}: {ok}"
                         + (f", #pkts {b} failed: {p['verify_failed'][way]}"
                            if p["verify_failed"][way] else ""))
        else:
            lines.append(f"    #pkts {seen}: {n}")
    if not p["checked"]["outbound"] and not p["checked"]["inbound"]:
        lines.append("   % no keys for these SAs: encrypt/decrypt and digest/verify not checked")
    return lines


def show_crypto_ipsec_sa(v: CryptoView) -> str:
    """Cisco IOS `show crypto ipsec sa`, one block per peer; the counters are
    the packets the tap saw (sent: encaps, received: decaps), with decrypt and
    verify counts only where keys let nhrpscope check them."""
    lines = [_crypto_line(v, "show crypto ipsec sa", "; #pkts are packets seen at the tap")]
    peers = ipsec_peers(v)
    if not peers:
        lines.append("% no ESP with this address in the capture")
        return "\n".join(lines)
    lines += ["", f"interface: {v.interface}",
              f"    Crypto map tag: {v.interface}-head-0, local addr {v.address}"]
    for p in peers:
        enc, dec = p["encaps"], p["decaps"]
        lines += ["", "   protected vrf: (none)",
                  f"   local  ident (addr/mask/prot/port): ({v.address}/255.255.255.255/47/0)",
                  f"   remote ident (addr/mask/prot/port): ({p['peer']}/255.255.255.255/47/0)",
                  f"   current_peer {p['peer']} port {p['port']}",
                  *_pkts_lines(p), "",
                  f"     local crypto endpt.: {v.address}, remote crypto endpt.: {p['peer']}"]
        cur = p["outbound"][-1].spi if p["outbound"] else "0x00000000"
        lines.append(f"     current outbound spi: {_hexspi(cur)}")
        for title, group in (("inbound esp sas", p["inbound"]), ("outbound esp sas", p["outbound"])):
            lines += ["", f"     {title}:"]
            for s in group:
                mode = "Transport, " if s.decrypted else ""
                lines.append(f"      spi: {_hexspi(s.spi)}")
                key = _key_of(v, s)
                if key is not None:
                    lines.append(f"        transform: {ios_transform(key)}")
                lines.append(f"        in use settings ={{{mode}{'NAT-T UDP 4500, ' if s.natt else ''}}}")
                lines.append(f"        packets: {s.packets}, bytes: {s.bytes}, frames {s.frames[0]}-{s.frames[1]}"
                             + (f", took over from {s.rekey_of}" if s.rekey_of else ""))
                lines.append(f"        Status: {'ACTIVE' if s is group[-1] else 'superseded'}")
        if enc and not dec:
            lines.append(f"   % encaps but no decaps: nothing from {p['peer']} comes back on these SAs")
    return "\n".join(lines)


def isakmp_json(v: CryptoView) -> dict:
    return {"address": v.address, "time": v.time, "inferred": True, "sas": isakmp_rows(v)}


def ipsec_json(v: CryptoView) -> dict:
    from nhrpscope.replay.model import jsonable

    peers = []
    for p in ipsec_peers(v):
        checked = {f"pkts_{k}": p["decrypted"][way] for way, names in (
            ("outbound", ("encrypt", "digest")), ("inbound", ("decrypt", "verify")))
            if p["checked"][way] for k in names}
        transforms = {s.spi: ios_transform(k) for s in p["inbound"] + p["outbound"]
                      if (k := _key_of(v, s)) is not None}
        peers.append({"peer": p["peer"], "local": p["local"], "port": p["port"],
                      "pkts_encaps": p["encaps"], "pkts_decaps": p["decaps"], **checked,
                      **({"transforms": transforms} if transforms else {}),
                      "outbound_spi": p["outbound"][-1].spi if p["outbound"] else None,
                      "inbound": jsonable(p["inbound"]), "outbound": jsonable(p["outbound"])})
    return {"address": v.address, "time": v.time, "inferred": True, "peers": peers}
