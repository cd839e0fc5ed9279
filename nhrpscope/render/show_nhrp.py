"""Cisco IOS ``show ip nhrp`` and ``show ip nhrp shortcut`` (phase 3
entries), and FRR nhrpd's ``show ip nhrp cache``, ``nhs`` and ``shortcut``
(the printf layouts of nhrpd's nhrp_vty.c), over ``show.RouterView``."""

from __future__ import annotations

from nhrpscope.render.show import RouterView, address_key, inferred_line
from nhrpscope.replay.cache import INCOMPLETE, NEGATIVE, STATIC, CacheEntry, ios_duration

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
    for e in sorted(v.entries, key=lambda e: (address_key(e.proto), e.prefix_len)):
        out += _ios_entry(v, e)
    return "\n".join(out)


def shortcut_entries(v: RouterView) -> list[CacheEntry]:
    """The phase 3 shortcut entries: what the router resolved itself (a
    network behind a spoke, or a NAK or a request still open for it), not
    the implicit host entry that came with it nor what it learned from
    others' requests."""
    return sorted((e for e in v.entries if e.source == "resolution" and "implicit" not in e.flags),
                  key=lambda e: (address_key(e.proto), e.prefix_len))


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
    return sorted(by_addr.values(), key=lambda e: address_key(e.via or e.proto))


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


def _frr_table(v: RouterView, rows: list[dict]) -> dict:
    """An FRR table as nhrpd's `json` output frames it (attr + table)."""
    return {"router": v.router.nbma, "time": round(v.time, 6), "inferred_from": v.source,
            "attr": {"entriesCount": len(rows)}, "table": rows}


def frr_shortcut_json(v: RouterView) -> dict:
    return _frr_table(v, frr_shortcut_rows(v))


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
    return _frr_table(v, frr_cache_rows(v))


def frr_nhs_json(v: RouterView) -> dict:
    return _frr_table(v, frr_nhs_rows(v))


def nhrp_json(v: RouterView) -> dict:
    return {"router": v.router.nbma, "tunnel": v.router.tunnel, "role": v.router.role,
            "interface": v.interface, "time": round(v.time, 6), "frame": v.frame,
            "inferred_from": v.source, "entries": [e.json(v.time) for e in v.entries]}
