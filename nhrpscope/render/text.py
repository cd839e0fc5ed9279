"""Text views of decoded packets: a tshark-like summary line and a tree."""

from __future__ import annotations

from typing import Any

from nhrpscope.render.jsonout import to_jsonable
from nhrpscope.render.safe_text import printable_line

NHRP_TITLES = {
    "resolution-request": "Resolution Request", "resolution-reply": "Resolution Reply",
    "registration-request": "Registration Request", "registration-reply": "Registration Reply",
    "purge-request": "Purge Request", "purge-reply": "Purge Reply",
    "error-indication": "Error Indication", "traffic-indication": "Traffic Indication",
}

LAYER_TITLES = {
    "eth": "Ethernet II", "vlan": "802.1Q VLAN", "sll": "Linux cooked capture",
    "sll2": "Linux cooked capture v2", "null": "Null/Loopback", "ipv4": "Internet Protocol Version 4",
    "ipv6": "Internet Protocol Version 6", "gre": "Generic Routing Encapsulation",
    "nhrp": "Next Hop Resolution Protocol", "esp": "Encapsulating Security Payload",
    "udp": "User Datagram Protocol", "ike": "Internet Key Exchange", "icmp": "Internet Control Message Protocol",
    "icmpv6": "ICMPv6", "tcp": "Transmission Control Protocol", "erspan": "ERSPAN",
    "nat-keepalive": "NAT-T Keepalive", "data": "Data",
}


def _nhrp_info(n: Any) -> str:
    title = NHRP_TITLES.get(n.type, n.type)
    parts = [title]
    if n.request_id is not None:
        parts.append(f"id={n.request_id}")
    if n.src_proto or n.dst_proto:
        parts.append(f"{n.src_proto} → {n.dst_proto}")
    if n.src_nbma:
        parts.append(f"nbma {n.src_nbma}")
    if n.type.endswith("reply") and n.cies:
        c = n.cies[0]
        code = f"code {c.code}" + (f" {c.code_name}" if getattr(c, "code_name", "") else "")
        parts.append(code)
        if c.client_nbma:
            parts.append(f"client {c.client_proto} @ {c.client_nbma}")
    if n.type == "traffic-indication" and isinstance(n.offending, tuple):
        quoted = next((la for la in n.offending if la.proto in ("ipv4", "ipv6")), None)
        if quoted is not None:
            parts.append(f"redirect for {quoted.src} → {quoted.dst}")
    if n.type == "error-indication":
        parts.append(f"error {getattr(n, 'error_code', '?')} {getattr(n, 'error_name', '')}".rstrip())
    if n.checksum_ok is False:
        parts.append("[bad checksum]")
    elif n.checksum_ok is None:
        parts.append("[checksum unverified]")
    return ", ".join(parts)


def summary(pkt: Any, t0: float = 0.0) -> str:
    """One line per frame: number, relative time, outer addresses, protocol,
    length and what the innermost interesting layer says (safe on a
    terminal: ``printable_line``)."""
    src = dst = ""
    proto = ""
    info: list[str] = []
    inner_ip: tuple[str, str] | None = None
    via_esp: list[str] = []  # decrypted ESP layers the inner packet came through
    for la in pkt.layers:
        p = la.proto
        if p in ("ipv4", "ipv6"):
            if not src:
                src, dst = la.src, la.dst
            else:
                inner_ip = (la.src, la.dst)
            proto = p.upper().replace("V", "v")
        elif p == "gre":
            proto = "GRE"
            if la.keepalive:
                info = ["keepalive"]
            else:
                bits = [f"proto {la.protocol_name}"]
                if la.key is not None:
                    bits.append(f"key {la.key}")
                if la.seq is not None:
                    bits.append(f"seq {la.seq}")
                if la.checksum_ok is False:
                    bits.append("[bad checksum]")
                info = [", ".join(bits)]
        elif p == "nhrp":
            proto, info = "NHRP", [_nhrp_info(la)]
        elif p == "esp":
            proto = "ESP"
            status = getattr(la, "status", "")
            desc = f"spi 0x{la.spi:08x}, seq {la.seq}"
            if status and status != "decrypted":
                desc += f" [{status}]"
            elif getattr(la, "icv_ok", None) is False:
                desc += " [ICV failed]"
            if getattr(la, "decrypted", False):
                via_esp.append(f"ESP(0x{la.spi:08x},{la.seq})" + (" ICV?" if la.icv_ok is None else ""))
            info = [desc]
        elif p == "udp":
            proto = "UDP"
            info = [f"{la.src_port} → {la.dst_port}"]
        elif p == "ike":
            proto = f"IKEv{la.version}"
            info = [f"{la.exchange}{' response' if 'response' in la.flags else ''}, "
                    f"spi {la.initiator_spi}/{la.responder_spi}, msg {la.message_id}"]
            if getattr(la, "payloads", ()):
                from nhrpscope.dissectors.ike import payload_summary

                info[0] += ":"
                info.append(payload_summary(la))
        elif p == "nat-keepalive":
            proto, info = "NAT-T", ["keepalive"]
        elif p in ("icmp", "icmpv6"):
            proto = p.upper()
            d = la.name
            if la.id is not None:
                d += f" id={la.id} seq={la.seq}"
            if la.mtu is not None:
                d += f" mtu={la.mtu}"
            info = [d]
        elif p == "tcp":
            proto = "TCP"
            info = [f"{la.src_port} → {la.dst_port} [{','.join(la.flags)}]"]
        elif p == "erspan":
            proto = "ERSPAN"
            src = dst = ""
        elif p == "data" and la.what and not info:
            info = [f"{la.what}, {la.length} bytes"]
    if inner_ip and proto not in ("NHRP",):
        info.insert(0, f"[{inner_ip[0]} → {inner_ip[1]}]")
    if via_esp and proto != "ESP":
        info.insert(0, " ".join(via_esp) + ":")
    # A failed decryption is said by the ESP status; it is not a malformed packet.
    probs = [p for p in pkt.problems if not p.reason.startswith("decrypted bytes are not")]
    if probs:
        info.append(f"[malformed: {probs[0].reason}]")
    addr = f"{src} → {dst}" if src else (pkt.layers[0].proto if pkt.layers else "?")
    return printable_line(f"{pkt.frame:>6} {pkt.time - t0:>11.6f} {addr:<33} {proto or '?':<6} "
                          f"{pkt.wire_len:>5} {' '.join(info)}")


def tree(pkt: Any) -> list[str]:
    """The full decode, one layer a block, as ``-v`` shows it."""
    lines = [f"Frame {pkt.frame}: {pkt.wire_len} bytes on wire, time {pkt.time:.6f}"]
    if pkt.comment:
        lines.append(f"  comment: {pkt.comment}")
    for la in pkt.layers:
        lines.append(LAYER_TITLES.get(la.proto, la.proto))
        _fields(to_jsonable(la), lines, "    ")
    for p in pkt.problems:
        what = "note" if p.severity == "note" else "malformed"
        lines.append(f"  ! {what} at offset {p.offset} ({p.layer or '?'}): {p.reason}")
    return [printable_line(ln) for ln in lines]  # comments and fields come from the capture


# Shown in hex, as the RFCs and Wireshark write them.
_HEX = {"ethertype": 4, "tpid": 4, "protocol_type": 4, "checksum": 4, "spi": 8, "flags_raw": 4,
        "afn": 4, "traffic_class": 2, "tos": 2, "flow_label": 5}


def _fields(d: dict, lines: list[str], ind: str) -> None:
    for k, v in d.items():
        if k == "proto" or v is None or v == "" or v == []:
            continue  # absent fields say nothing; the JSON keeps them all
        if k in _HEX and isinstance(v, int) and not isinstance(v, bool):
            v = f"0x{v:0{_HEX[k]}x} ({v})"
        if isinstance(v, list) and v and isinstance(v[0], dict):
            lines.append(f"{ind}{k}:")
            for i, item in enumerate(v):
                title = item.get("name") or item.get("proto") or f"#{i + 1}"
                lines.append(f"{ind}  [{i + 1}] {title}")
                _fields(item, lines, ind + "      ")
        elif isinstance(v, dict):
            lines.append(f"{ind}{k}:")
            _fields(v, lines, ind + "  ")
        else:
            if isinstance(v, list):
                v = ", ".join(str(x) for x in v) if v else "-"
            lines.append(f"{ind}{k}: {v}")
