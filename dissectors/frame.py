"""The decode chain: link layer → IP → GRE / ESP / UDP → NHRP, recursively.

A loop, not recursion: each step says what the next bytes are, so nesting
(GRE in IP in GRE, ESP in ESP) is bounded by ``max_depth`` however the packet
was crafted. Offsets in problems are shifted to be frame offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from nhrpscope.dissectors import gre as gre_mod
from nhrpscope.dissectors import ip as ip_mod
from nhrpscope.dissectors import link
from nhrpscope.dissectors.base import Layer, Problem
from nhrpscope.dissectors.frame_shape import (
    IPV4_DST,
    IPV4_ID_SUM,
    IPV4_SRC,
    IPV4_WITH,
    NHRP_SUM_RID,
    NHRP_WITH,
    ShapeMemo,
    shape_key,
)
from nhrpscope.dissectors.nhrp import NhrpMemo, NhrpPacket, decode_nhrp
from nhrpscope.dissectors.transport import decode_icmp, decode_tcp

SaLookup = Callable[[int, str, str], object | None]


@dataclass(frozen=True, slots=True)
class Data(Layer):
    """Bytes nhrpscope does not dissect further."""

    proto = "data"
    length: int
    what: str = ""


@dataclass(slots=True)
class Packet:
    frame: int
    time: float
    wire_len: int
    layers: list[Layer] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    comment: str | None = None
    # Where each layer starts in the frame; -1 inside decrypted ESP payloads,
    # whose bytes are not in the frame.
    offsets: list[int] = field(default_factory=list)

    def layer(self, proto: str) -> Layer | None:
        for la in self.layers:
            if la.proto == proto:
                return la
        return None

    def has(self, proto: str) -> bool:
        return any(la.proto == proto for la in self.layers)


_ETHERTYPE_NEXT = {link.ETH_IPV4: "ipv4", link.ETH_IPV6: "ipv6"}
_IPPROTO_NEXT = {
    ip_mod.PROTO_GRE: "gre", ip_mod.PROTO_ESP: "esp", ip_mod.PROTO_UDP: "udp",
    ip_mod.PROTO_ICMP: "icmp", ip_mod.PROTO_ICMPV6: "icmpv6", ip_mod.PROTO_TCP: "tcp",
    ip_mod.PROTO_IPIP: "ipv4", ip_mod.PROTO_IPV6: "ipv6",
    ip_mod.PROTO_NHRP: "nhrp",  # RFC 2332: NHRP may also ride directly on IP
}
_CACHE_MAX = 4096
_GRE_NEXT = {gre_mod.PT_IPV4: "ipv4", gre_mod.PT_IPV6: "ipv6", gre_mod.PT_NHRP: "nhrp",
             gre_mod.PT_TEB: "eth"}


class FrameDecoder:
    """Decodes frames one by one; holds what must outlive a frame: IP
    reassembly buffers and the Security Association lookup."""

    def __init__(self, sa_lookup: SaLookup | None = None, *, reassemble: bool = True,
                 max_depth: int = 24) -> None:
        self.sa_lookup = sa_lookup
        self.reassembler = ip_mod.Reassembler() if reassemble else None
        self.max_depth = max_depth
        self._clear = False  # the chain is inside decrypted bytes
        self._step_off = 0
        # records that depend on a few header bytes only, by those bytes
        self._eth: dict[bytes, Layer] = {}
        self._gre: dict[bytes, gre_mod.Decoded] = {}
        self._quiet = 1 << 62
        # How many NHRP packets quote the packets decoded here (decode_ip for a
        # traffic indication's offending packet): bounds their recursion.
        self._nesting = 0
        # NHRP packets decoded before: registrations repeat but for the request id
        self.nhrp_memo = NhrpMemo()
        # whole frames of the common NHRP shape decoded before (ShapeMemo)
        self.shape_memo = ShapeMemo()
        # ESP SAs with no key, (SPI, source, destination): whether the first
        # whole packet read as NULL encryption (``esp.guess_null``); as the fast
        # path, one verdict per SA, so both paths agree and chance stays per SA
        self._null: dict[tuple[int, str, str], bool] = {}
        self.null_sas: dict[tuple[int, str, str], int] = {}  # the NULL ones: first frame

    def decode(self, linktype: int, data: bytes, *, frame: int = 0, time: float = 0.0,
               wire_len: int | None = None, comment: str | None = None) -> Packet:
        shaped = linktype == link.LINKTYPE_ETHERNET and shape_key(data)
        if shaped:
            wl = len(data) if wire_len is None else wire_len
            hit = self._shaped(data, *shaped)
            if hit is not None:
                eth, ipv, gre, n, o = hit
                ip = IPV4_WITH(ipv, *IPV4_ID_SUM(data, 18))
                return Packet(frame, time, wl, [eth, ip, gre, n], [], comment, [0, 14, 34, o])
            pkt = self._decode_shaped(data, shaped[1], frame, time, wl, comment)
            if pkt is not None:
                self.shape_memo.remember(shaped[0], pkt)
                return pkt
        pkt = Packet(frame, time, len(data) if wire_len is None else wire_len, comment=comment)
        start = _link_start(linktype)
        if start is None:
            pkt.problems.append(Problem(0, f"link type {linktype} is not supported", "link",
                                        "frame.linktype", "error"))
            pkt.layers.append(Data(len(data), f"linktype-{linktype}"))
            return pkt
        self._chain(pkt, start, data, 0)
        return pkt

    def _shaped(self, data: bytes, key: bytes, o: int
                ) -> tuple[Layer, tuple, gre_mod.Gre, NhrpPacket, int] | None:
        """A frame of the common NHRP shape seen before (``ShapeMemo``) whose
        checksums are right: its Ethernet record, its IPv4 record's field
        values, its GRE record, its NHRP record and where NHRP starts."""
        hit = self.shape_memo.entries.get(key)
        if hit is None:
            return None
        eth, ipv, gre, nv, ip_rest, nhrp_rest = hit
        ident, ip_sum = IPV4_ID_SUM(data, 18)
        csum, rid = NHRP_SUM_RID(data, o + 12)
        # sound(), inline: both sums a multiple of 0xFFFF
        if (ip_rest + ident + ip_sum) % 0xFFFF \
                or (nhrp_rest + csum + (rid >> 16) + (rid & 0xFFFF)) % 0xFFFF:
            return None
        return eth, ipv, gre, NHRP_WITH(nv, rid, csum), o

    def _ethernet(self, head: bytes) -> Layer:
        """The record of an untagged Ethernet header before IP (its 14 bytes
        only; a capture repeats a few hundred, one per MAC pair), kept."""
        eth = self._eth.get(head)
        if eth is None:
            eth = link.decode_ethernet(head)[0][0]
            if len(self._eth) < _CACHE_MAX:
                self._eth[head] = eth
        return eth

    def _gre_header(self, head: bytes) -> gre_mod.Decoded:
        """A GRE header with no checksum, routing or sequence number decoded
        (the header alone makes the record: a capture has a few), kept."""
        g = self._gre.get(head)
        if g is None:
            g = gre_mod.decode_gre(head)
            if len(self._gre) < _CACHE_MAX:
                self._gre[head] = g
        return g

    def _decode_shaped(self, data: bytes, o: int, frame: int, time: float, wire_len: int,
                       comment: str | None) -> Packet | None:
        """A frame of the common NHRP shape (``shape_key``) decoded as the
        chain (``_steps``) decodes it, with the steps it takes for that shape
        only, when it has no problem at all; else None, and the chain decodes
        it (problems and their offsets are the chain's business)."""
        eth = self._ethernet(data[:14])
        ip, d, frag = ip_mod.decode_ipv4(data[14:])
        if ip is None or d.problems or frag is not None:
            return None
        payload = d.payload  # up to the IPv4 total length
        hl = o - 34
        if len(payload) <= hl or len(payload) < 8:
            return None
        g = self._gre_header(payload[:hl])
        gre = g.record
        if gre is None or g.problems or gre.protocol_type != gre_mod.PT_NHRP:
            return None
        nd = decode_nhrp(payload[hl:], nesting=self._nesting, memo=self.nhrp_memo,
                         quoted=decode_quoted)
        if nd.record is None or nd.problems:
            return None
        return Packet(frame, time, wire_len, [eth, ip, gre, nd.record], [], comment,
                      [0, 14, 34, o])

    def shaped_nhrp(self, data: bytes) -> tuple[str, str, int | None, NhrpPacket] | None:
        """For the replay, which reads no more of such a frame: the IPv4
        source and destination, the GRE key and the NHRP record of a frame
        of the common shape (``shape_key``) that ``decode`` reads whole and
        without a problem (answered from the memo or decoded, and then kept);
        else None (decode it, and walk its layers)."""
        shaped = shape_key(data)
        if not shaped:
            return None
        key, o = shaped
        hit = self._shaped(data, key, o)
        if hit is not None:
            ipv = hit[1]
            return ipv[IPV4_SRC], ipv[IPV4_DST], hit[2].key, hit[3]
        pkt = self._decode_shaped(data, o, 0, 0.0, len(data), None)
        if pkt is None:
            return None
        self.shape_memo.remember(key, pkt)
        ip, gre, n = pkt.layers[1:]
        return ip.src, ip.dst, gre.key, n  # type: ignore[attr-defined,return-value]

    def finish(self) -> list[str]:
        """Reassembly left undone at the end of the capture, and the ESP SAs
        read as NULL encryption without a key, as messages."""
        notes = self.reassembler.flush() if self.reassembler else []
        for (spi, src, dst), fr in self.null_sas.items():
            notes.append(f"ESP SA 0x{spi:08x} from {src} to {dst} (frame {fr} on) was read as NULL "
                         f"encryption (RFC 2410) without a key, detected heuristically (next "
                         f"header and default padding before the ICV); its ICV is not checked")
        return notes

    def _esp_null(self, buf: bytes, src: str, dst: str, frame: int) -> Any:
        """``esp.decode_esp_null`` for an SA that read as NULL on its first
        whole packet (the verdict is remembered per SA), else None."""
        from nhrpscope.dissectors.esp import decode_esp_null

        key = (int.from_bytes(buf[:4], "big"), src, dst)
        verdict = self._null.get(key)
        if verdict is False:
            return None
        d = decode_esp_null(buf)
        if verdict is None and len(self._null) < _CACHE_MAX:
            self._null[key] = d is not None
        if d is not None and key not in self.null_sas:
            self.null_sas[key] = frame
        return d

    def _chain(self, pkt: Packet, kind: str, buf: bytes, off: int) -> None:
        self._clear = False
        self._step_off = off
        self._quiet = 1 << 62  # problems from here on are a first fragment's cut
        try:
            self._steps(pkt, kind, buf, off)
        finally:
            self._mark_offsets(pkt, self._step_off)
            if self._quiet < 1 << 62 and pkt.problems:
                pkt.problems[:] = [p for p in pkt.problems if p.offset < self._quiet]

    def _mark_offsets(self, pkt: Packet, off: int) -> None:
        """Give the layers added by the last step their start offset."""
        missing = len(pkt.layers) - len(pkt.offsets)
        if missing > 0:
            pkt.offsets.extend([-1 if self._clear else off] * missing)

    # The chain: (kind, bytes, frame offset) until nothing follows.
    def _steps(self, pkt: Packet, kind: str, buf: bytes, off: int) -> None:
        layers, problems = pkt.layers, pkt.problems
        src = dst = ""
        cut = False  # the capture holds less than the IP header says
        depth = 0
        while kind and buf is not None:
            self._mark_offsets(pkt, self._step_off)
            self._step_off = off
            depth += 1
            if depth > self.max_depth:
                problems.append(Problem(off, f"more than {self.max_depth} nested layers; stopped", kind, "frame.nesting", "error"))
                layers.append(Data(len(buf), "too deeply nested"))
                return
            nxt = ""
            if kind == "eth" and len(buf) >= 14 and buf[12:14] in link.IP_ETHERTYPES:
                # untagged Ethernet before IP: its record depends on 14 bytes only,
                # and a capture repeats a few hundred of them (one per MAC pair)
                layers.append(self._ethernet(buf[:14]))
                kind, buf, off = _ETHERTYPE_NEXT[(buf[12] << 8) | buf[13]], buf[14:], off + 14
                continue
            if kind in ("eth", "sll", "sll2", "null", "loop"):
                if kind == "eth":
                    lays, d = link.decode_ethernet(buf)
                elif kind == "sll":
                    lays, d = link.decode_sll(buf)
                elif kind == "sll2":
                    lays, d = link.decode_sll2(buf)
                else:
                    lays, d = link.decode_null(buf, big_endian=kind == "loop")
                layers.extend(lays)
                _add(problems, d.problems, off)
                if d.record is None:
                    if d.payload:
                        layers.append(Data(len(d.payload), "llc" if kind == "eth" else "unknown"))
                    return
                nxt = _ETHERTYPE_NEXT.get(d.record, "")
                if not nxt:
                    layers.append(Data(len(d.payload), f"ethertype-0x{d.record:04x}"))
                    return
                kind, buf, off = nxt, d.payload, off + d.payload_offset
                continue
            if kind in ("ipv4", "ipv6", "ip"):
                if kind == "ip":
                    kind = "ipv6" if buf[:1] and buf[0] >> 4 == 6 else "ipv4"
                dec = ip_mod.decode_ipv4 if kind == "ipv4" else ip_mod.decode_ipv6
                rec, d, frag = dec(buf)
                _add(problems, d.problems, off)
                if rec is None:
                    return
                src, dst = rec.src, rec.dst
                proto = rec.protocol
                ip_len = rec.total_length if isinstance(rec, ip_mod.IPv4) else 40 + rec.payload_length
                cut = ip_len > len(buf)
                payload, poff = d.payload, off + d.payload_offset
                if frag is not None:
                    if self.reassembler is None:
                        layers.append(rec)
                        layers.append(Data(len(payload), "ip-fragment"))
                        return
                    whole, frames, notes = self.reassembler.add(frag, pkt.frame, pkt.time)
                    for n in notes:
                        problems.append(Problem(off, n, kind, "ip.reassembly", "warning"))
                    if whole is not None:
                        rec = replace(rec, reassembled_from=frames)
                        payload = whole
                    elif frag.offset:
                        layers.append(rec)
                        layers.append(Data(len(payload), "ip-fragment"))
                        return
                    else:
                        # A first fragment is decoded as far as it goes, as tcpdump
                        # and tshark do; the whole datagram is decoded again in the
                        # frame that completes it. What is cut off there is no
                        # problem of the packet: say nothing about it.
                        if not cut:  # whole in the capture: the fragment cut it
                            self._quiet = min(self._quiet, poff)
                        cut = True
                layers.append(rec)
                nxt = _IPPROTO_NEXT.get(proto, "")
                if not nxt:
                    layers.append(Data(len(payload), ip_mod.IP_PROTO_NAMES.get(proto, f"ip-proto-{proto}")))
                    return
                kind, buf, off = nxt, payload, poff
                continue
            if kind == "gre":
                if len(buf) >= 8 and not buf[0] & 0xD0 and not buf[1] & 7:
                    # version 0 with no checksum, routing or sequence number: the header
                    # alone makes the record (a capture has a few: per key and payload type)
                    hl = 8 if buf[0] & 0x20 else 4
                    d = self._gre_header(buf[:hl])
                    d = gre_mod.Decoded(d.record, buf[hl:], d.problems, hl)
                else:
                    d = gre_mod.decode_gre(buf, cut=cut)
                _add(problems, d.problems, off)
                rec = d.record
                if rec is None:
                    return
                payload = d.payload
                if _is_keepalive(rec, payload, src):
                    rec = replace(rec, keepalive=True)
                layers.append(rec)
                if not payload:
                    return
                pt = rec.protocol_type
                if pt in (gre_mod.PT_ERSPAN2, gre_mod.PT_ERSPAN3):
                    e = gre_mod.decode_erspan(payload, pt, rec.seq is not None)
                    _add(problems, e.problems, off + d.payload_offset)
                    if e.record is None:
                        return
                    layers.append(e.record)
                    kind, buf, off = "eth", e.payload, off + d.payload_offset + e.payload_offset
                    continue
                if pt == gre_mod.PT_CMD:
                    c = gre_mod.decode_cmd(payload)
                    _add(problems, c.problems, off + d.payload_offset)
                    if c.record is None:
                        return
                    layers.append(c.record)
                    pt, payload = c.record.ethertype, c.payload
                    off += c.payload_offset
                    if rec.protocol_type == gre_mod.PT_CMD and _is_keepalive(
                            replace(rec, protocol_type=pt), payload, src):
                        layers[-2] = replace(rec, keepalive=True)
                nxt = _GRE_NEXT.get(pt, "")
                if not nxt:
                    layers.append(Data(len(payload), rec.protocol_name))
                    return
                kind, buf, off = nxt, payload, off + d.payload_offset
                continue
            if kind == "nhrp":
                d = decode_nhrp(buf, nesting=self._nesting, memo=self.nhrp_memo,
                                quoted=decode_quoted)
                _add(problems, d.problems, off)
                if d.record is not None:
                    layers.append(d.record)
                return
            if kind == "esp":
                from nhrpscope.dissectors.esp import decode_esp

                sa: Any = None  # the SA the caller's lookup gives
                if self.sa_lookup is not None and len(buf) >= 4:
                    sa = self.sa_lookup(int.from_bytes(buf[:4], "big"), src, dst)
                if cut and sa is not None:
                    # Cut by the snap length: the ICV and trailer are gone, so
                    # a decryption attempt would only be reported as failed.
                    d = decode_esp(buf, None)
                    if d.record is not None:
                        d.record = replace(d.record, status="truncated")
                        d.problems.append(Problem(0, "ESP packet cut short by the capture; "
                                                  "not decrypted", "esp", "esp.truncated", "note"))
                else:
                    d = decode_esp(buf, sa)
                    if sa is None and not cut and len(buf) >= 8:
                        d = self._esp_null(buf, src, dst, pkt.frame) or d
                _add(problems, d.problems, off)
                if d.record is None:
                    return
                layers.append(d.record)
                nh = getattr(d.record, "next_header", None)
                if not d.payload or nh is None:
                    return
                nxt = _IPPROTO_NEXT.get(nh, "")
                if not nxt:
                    layers.append(Data(len(d.payload), ip_mod.IP_PROTO_NAMES.get(nh, f"ip-proto-{nh}")))
                    return
                if getattr(d.record, "null_heuristic", False):
                    # NULL: the payload is the frame's own bytes, at their own offsets
                    kind, buf, off = nxt, d.payload, off + d.payload_offset
                    continue
                # Decrypted bytes have no place in the frame: offsets restart at 0.
                self._mark_offsets(pkt, off)
                self._clear = True
                kind, buf, off = nxt, d.payload, 0
                continue
            if kind == "udp":
                from nhrpscope.dissectors import udp

                d = udp.decode_udp(buf)
                _add(problems, d.problems, off)
                if d.record is None:
                    return
                layers.append(d.record)
                what = udp.classify_udp_payload(d.record.src_port, d.record.dst_port, d.payload)
                poff = off + d.payload_offset
                if what == "esp":
                    kind, buf, off = "esp", d.payload, poff
                    continue
                if what == "ike":
                    from nhrpscope.dissectors.ike import decode_ike_message as decode_ike

                    body = d.payload
                    if 4500 in (d.record.src_port, d.record.dst_port):
                        body, poff = body[4:], poff + 4  # the non-ESP marker
                    k = decode_ike(body)
                    _add(problems, k.problems, poff)
                    if k.record is not None:
                        layers.append(k.record)
                    return
                if what == "nat-keepalive":
                    layers.append(udp.NatKeepalive())
                    return
                if d.payload:
                    layers.append(Data(len(d.payload), "udp-payload"))
                return
            if kind in ("icmp", "icmpv6"):
                d = decode_icmp(buf, kind == "icmpv6")
                _add(problems, d.problems, off)
                if d.record is not None:
                    layers.append(d.record)
                return
            if kind == "tcp":
                d = decode_tcp(buf)
                _add(problems, d.problems, off)
                if d.record is not None:
                    layers.append(d.record)
                return
            return


def _add(into: list[Problem], new: list[Problem], off: int) -> None:
    for p in new:
        into.append(p.shifted(off) if off else p)


def _is_keepalive(rec: gre_mod.Gre, payload: bytes, outer_src: str) -> bool:
    """A GRE keepalive (Cisco) is an IPv4 packet carrying a GRE header back to
    the sender; on its way back it is a bare GRE header with type 0."""
    if rec.protocol_type == 0 and not payload:
        return True
    if rec.protocol_type != gre_mod.PT_IPV4 or len(payload) < 24 or payload[0] != 0x45:
        return False
    if payload[9] != ip_mod.PROTO_GRE:
        return False
    from nhrpscope.dissectors.base import ipv4_str

    return ipv4_str(payload[16:20]) == outer_src


# Where the chain starts, by link type.
_LINK_START = {
    link.LINKTYPE_ETHERNET: "eth", link.LINKTYPE_RAW: "ip", link.LINKTYPE_RAW_ALIASES[0]: "ip",
    link.LINKTYPE_RAW_ALIASES[1]: "ip", link.LINKTYPE_IPV4: "ipv4", link.LINKTYPE_IPV6: "ipv6",
    link.LINKTYPE_LINUX_SLL: "sll", link.LINKTYPE_LINUX_SLL2: "sll2", link.LINKTYPE_NULL: "null",
    link.LINKTYPE_LOOP: "loop",
}


def _link_start(linktype: int) -> str | None:
    return _LINK_START.get(linktype)


def decode_quoted(buf: bytes, nesting: int) -> tuple[Layer, ...]:
    """The layers of the IP packet an NHRP traffic indication quotes
    (``nhrp.QuotedDecoder``); its problems are the quoted packet's own."""
    return tuple(decode_ip(buf, nesting=nesting)[0])


def decode_ip(buf: bytes, *, nesting: int = 0) -> tuple[list[Layer], list[Problem]]:
    """Decode a bare IP packet (no reassembly, no keys): for packets carried
    inside others, such as the one an NHRP traffic indication quotes
    (``nesting`` NHRP packets deep)."""
    pkt = Packet(0, 0.0, len(buf))
    fd = FrameDecoder(reassemble=False)
    fd._nesting = nesting
    fd._chain(pkt, "ip", buf, 0)
    return pkt.layers, pkt.problems
