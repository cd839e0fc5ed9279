"""Reading what an NHRP packet (RFC 2332) says: prefixes, extensions,
authentication, the packet an indication quotes."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any


def host_len(addr: str | None) -> int:
    return 128 if addr and ":" in addr else 32


def norm_prefix(addr: str | None, plen: int | None) -> int:
    """CIE prefix lengths 0 and 255 (IOS) mean "this host"."""
    full = host_len(addr)
    if plen is None or plen == 0 or plen > full:
        return full
    return plen


@lru_cache(maxsize=8192)  # the same few thousand prefixes, registered again and again
def network(addr: str, plen: int) -> str:
    if plen == 32 and ":" not in addr:
        # a host (nearly every registration): ipaddress would give the address
        # back, or fail on it and give it back all the same (it reads dotted
        # quads only in their one canonical spelling); 30 us saved a new host
        return addr
    try:
        return str(ipaddress.ip_network(f"{addr}/{plen}", strict=False).network_address)
    except ValueError:
        return addr


def net_mask(addr: str, plen: int) -> tuple[int, int] | None:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        return None
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
    return int(ip) & mask, mask


def ext(n: Any, name: str) -> Any:
    for e in getattr(n, "extensions", ()) or ():
        if getattr(e, "name", None) == name:
            return e
    return None


def ext_cies(n: Any, name: str) -> tuple:
    e = ext(n, name)
    cies = getattr(e, "cies", ()) or () if e is not None else ()
    return cies if type(cies) is tuple else tuple(cies)


def password(n: Any) -> str | None:
    """The authentication extension's (5.3.4) password, hex when not text."""
    e = ext(n, "authentication")
    if e is None:
        return None
    pw = getattr(e, "password", None)
    if pw is None:
        data = getattr(e, "data", b"")
        pw = data.hex() if data else ""
    return pw


def offending_summary(off: Any) -> dict | None:
    """What an Error Indication (the NHRP packet) or a Traffic Indication
    (the IP packet) quotes, in a few fields."""
    if off is None:
        return None
    if isinstance(off, tuple):
        for la in off:
            if getattr(la, "proto", "") in ("ipv4", "ipv6"):
                return {"proto": la.proto, "src": la.src, "dst": la.dst}
        return None
    return {"type": getattr(off, "type", None), "request_id": getattr(off, "request_id", None),
            "src_nbma": getattr(off, "src_nbma", None), "src_proto": getattr(off, "src_proto", None),
            "dst_proto": getattr(off, "dst_proto", None)}
