"""Cisco IOS ``show crypto isakmp sa`` and ``show crypto ipsec sa``, rebuilt
from the IKE negotiations and ESP SAs of a replayed capture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nhrpscope.api import Result, UserError
from nhrpscope.render.show import address_key, capture_source, when

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
    chosen = [address] if address else sorted(addrs, key=lambda a: (-addrs[a], address_key(a)))
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
    views = crypto_views(address, list(a.ike), list(a.sas), result.end, source=capture_source(result),
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
    rows.sort(key=lambda r: (r["conn_id"] == 0, r["conn_id"], address_key(r["peer"])))
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
    return sorted(peers.values(), key=lambda p: address_key(p["peer"]))


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
