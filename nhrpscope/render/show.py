"""The routers' own `show` layouts, rebuilt from a replayed capture.

- Cisco IOS ``show dmvpn`` (the classic 12.4 layout of the DMVPN lab) and
  ``show dmvpn detail`` (the 15.x detail layout, with Target Network);
- Cisco IOS ``show ip nhrp``;
- FRR nhrpd ``show ip nhrp cache`` and ``show ip nhrp nhs`` (the printf
  layouts of nhrpd's nhrp_vty.c).

The interface name is not on the wire: ``Tunnel0`` unless told otherwise.
Each output starts with one line saying it was inferred from a capture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
        views.append(RouterView(r, c.time, c.entries, interface, c.frame, _source(result),
                                result.analysis.capture.first, c.nhs_status))
    return views


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
        for row in rows:
            tun = row.tunnel if len(row.tunnel) < 15 else row.tunnel + " "
            out.append(f" {row.ent:<5} {row.nbma:<15} {tun:<15}{row.state} "
                       f"{ios_duration(row.updn)} {row.attrb:<5}")
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


def _ios_flags(e: CacheEntry) -> str:
    return " ".join(f for f in _FLAG_ORDER if f in e.flags)


def show_ip_nhrp(v: RouterView) -> str:
    out = [inferred_line(v, "show ip nhrp")]
    for e in sorted(v.entries, key=lambda e: (_key(e.proto), e.prefix_len)):
        created = ios_duration(v.time - e.created)
        if e.type in (INCOMPLETE, NEGATIVE):
            exp = ios_duration(e.expires - v.time) if e.expires is not None else "never"
            out.append(f"{e.prefix}, {v.interface} created {created}, expire {exp}")
            out.append("  Type: incomplete, Flags: negative")
            out.append("  Cache hits: 0")
            continue
        if e.expires is None:
            tail = "never expire"
        else:
            tail = f"expire {ios_duration(e.expires - v.time)}"
        out.append(f"{e.prefix} via {e.via or e.proto}, {v.interface} created {created}, {tail}")
        typ = "static" if e.type == STATIC else "dynamic"
        out.append(f"  Type: {typ}, Flags: {_ios_flags(e)}")
        out.append(f"  NBMA address: {e.nbma or 'unknown'}")
        if e.nat and e.claimed_nbma and e.claimed_nbma != e.nbma:
            out.append(f"    (Claimed NBMA address: {e.claimed_nbma})")
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


def frr_cache_rows(v: RouterView) -> list[dict]:
    rows = []
    for e in sorted(v.entries, key=lambda e: (_key(e.via or e.proto), e.prefix_len)):
        has_peer = e.nbma is not None
        rows.append({
            "interface": v.interface, "type": _frr_type(e), "protocol": e.via or e.proto,
            "nbma": e.nbma or "-",
            "claimed_nbma": (e.claimed_nbma or "-") if has_peer else "-",
            "used": "used" in e.flags, "timeout": e.expires is not None, "auth": False,
            "identity": "" if has_peer else "-",
        })
    return rows


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
    return crypto_views(address, list(a.ike), list(a.sas), result.end, source=_source(result),
                        first=a.capture.first, frame=result.end_frame, names=names,
                        interface=interface)


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
    for r in rows:
        lines.append(f"{r['dst']:<16}{r['src']:<16}{r['state']:<15}{r['conn_id']:>7} {r['slot']:>4} "
                     f"{r['status']}")
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


def ipsec_peers(v: CryptoView) -> list[dict]:
    """Per peer: inbound and outbound SAs, packets each way as seen at the tap."""
    peers: dict[str, dict] = {}
    for s in v.sas:
        out = s.src == v.address
        peer = s.dst if out else s.src
        p = peers.setdefault(peer, {"peer": peer, "local": v.address, "inbound": [], "outbound": [],
                                    "encaps": 0, "decaps": 0, "natt": False, "port": 500})
        (p["outbound"] if out else p["inbound"]).append(s)
        p["encaps" if out else "decaps"] += s.packets
        p["natt"] = p["natt"] or s.natt
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


def show_crypto_ipsec_sa(v: CryptoView) -> str:
    """Cisco IOS `show crypto ipsec sa`, one block per peer; the counters are
    the packets the tap saw (sent: encaps, received: decaps)."""
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
                  f"    #pkts encaps: {enc}, #pkts encrypt: {enc}, #pkts digest: {enc}",
                  f"    #pkts decaps: {dec}, #pkts decrypt: {dec}, #pkts verify: {dec}", "",
                  f"     local crypto endpt.: {v.address}, remote crypto endpt.: {p['peer']}"]
        cur = p["outbound"][-1].spi if p["outbound"] else "0x00000000"
        lines.append(f"     current outbound spi: {_hexspi(cur)}")
        for title, group in (("inbound esp sas", p["inbound"]), ("outbound esp sas", p["outbound"])):
            lines += ["", f"     {title}:"]
            for s in group:
                mode = "Transport, " if s.decrypted else ""
                lines.append(f"      spi: {_hexspi(s.spi)}")
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
        peers.append({"peer": p["peer"], "local": p["local"], "port": p["port"],
                      "pkts_encaps": p["encaps"], "pkts_decaps": p["decaps"],
                      "outbound_spi": p["outbound"][-1].spi if p["outbound"] else None,
                      "inbound": jsonable(p["inbound"]), "outbound": jsonable(p["outbound"])})
    return {"address": v.address, "time": v.time, "inferred": True, "peers": peers}
