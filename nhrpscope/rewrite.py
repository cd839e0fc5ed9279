"""A capture any tool can read without keys: every decryptable ESP packet
replaced by its clear payload (IP length, protocol and checksum fixed), what
could not be decrypted kept as it was; or, with ``embed_keys``, the ESP kept
and the SAs that were used written into a pcapng Decryption Secrets Block.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from nhrpscope.capture import CaptureReader, PcapngWriter, PcapWriter
from nhrpscope.dissectors.base import internet_checksum
from nhrpscope.dissectors.esp import EspHeader, SecurityAssociation, decode_esp
from nhrpscope.dissectors.frame import FrameDecoder, Packet
from nhrpscope.dissectors.ip import IPv4, IPv6
from nhrpscope.errors import UserError
from nhrpscope.keys import DSB_ESP_SA, SADatabase, format_esp_sa
from nhrpscope.keystore import OnSecrets
from nhrpscope.output import STDOUT, OutputFile, check, failure

# Nested ESP (ESP in ESP) is peeled one layer a pass; more than this is absurd.
MAX_PASSES = 4
_LINK_IP = {"ipv4": 0x0800, "ipv6": 0x86DD}
_LINK_LEN = {"eth": 14, "vlan": 4, "sll": 16, "sll2": 20, "null": 4}


class UsedSAs:
    """Wraps the SA lookup to remember which SAs decrypted something."""

    def __init__(self, db: SADatabase) -> None:
        self.db = db
        self.used: dict[int, SecurityAssociation] = {}

    def __call__(self, spi: int, src: str, dst: str) -> SecurityAssociation | None:
        sa = self.db.lookup(spi, src, dst)
        if sa is not None:
            self.used[id(sa)] = sa
        return sa


def _set_link_ethertype(link: bytes, pkt: Packet, ethertype: int) -> bytes:
    """A tunnel-mode IPv6 inside IPv4 changes the link layer's EtherType."""
    first = pkt.layers[0].proto
    if first in ("eth", "vlan"):
        return link[:-2] + struct.pack("!H", ethertype)
    if first == "sll":
        return link[:14] + struct.pack("!H", ethertype)
    if first == "sll2":
        return struct.pack("!H", ethertype) + link[2:]
    if first == "null":
        return struct.pack("<I", 2 if ethertype == 0x0800 else 24)  # BSD AF_INET / AF_INET6
    return link


def strip_esp(data: bytes, pkt: Packet, sa_lookup: UsedSAs) -> bytes | None:
    """The frame with its outermost ESP replaced by the clear payload, or
    None when it was not decrypted or cannot be rewritten faithfully."""
    layers, offsets = pkt.layers, pkt.offsets
    idx = next((i for i, la in enumerate(layers) if la.proto == "esp"), None)
    if idx is None or not getattr(layers[idx], "decrypted", False) or offsets[idx] < 0:
        return None
    esp = layers[idx]
    ip_idx = idx - 2 if layers[idx - 1].proto == "udp" else idx - 1
    outer = layers[ip_idx]
    if not isinstance(esp, EspHeader) or not isinstance(outer, IPv4 | IPv6) \
            or outer.reassembled_from:
        return None  # a reassembled datagram spans frames: keep them as they are
    if any(la.proto in ("ipv4", "ipv6") for la in layers[:ip_idx]):
        return None  # ESP inside a tunnel (e.g. in GRE): the outer packet stays
    sa = sa_lookup(esp.spi, outer.src, outer.dst)
    d = decode_esp(data[offsets[idx]:], sa)
    if d.record is None or not d.record.decrypted:
        return None
    payload, nh = d.payload, d.record.next_header
    ip_start = offsets[ip_idx]
    link = data[:ip_start]
    inner = layers[idx + 1] if idx + 1 < len(layers) else None
    if nh in (4, 41) and inner is not None and inner.proto in ("ipv4", "ipv6"):
        # Tunnel mode: the inner packet replaces the outer one.
        if inner.proto != outer.proto:
            link = _set_link_ethertype(link, pkt, _LINK_IP[inner.proto])
        return link + payload
    if isinstance(outer, IPv4):
        hdr = bytearray(data[ip_start: ip_start + outer.ihl])
        hdr[9] = nh
        struct.pack_into("!H", hdr, 2, outer.ihl + len(payload))
        struct.pack_into("!H", hdr, 10, 0)
        struct.pack_into("!H", hdr, 10, internet_checksum(bytes(hdr)))
        return link + bytes(hdr) + payload
    if outer.extensions:
        return None  # the extension chain would need rewriting: keep the frame
    hdr = bytearray(data[ip_start: ip_start + 40])
    struct.pack_into("!H", hdr, 4, len(payload))
    hdr[6] = nh
    return link + bytes(hdr) + payload


class FrameSpool:
    """Frames held in a temporary file (gone once closed) until the SAs used
    are known: ``embed_keys``'s secrets block comes before the packets, and
    a day's capture need not fit in memory."""

    _HEAD = struct.Struct("<dIIII")  # time, link type, wire length, data length, comment length

    def __init__(self) -> None:
        self.fh: BinaryIO | None = None  # opened by the first frame

    def add(self, t: float, data: bytes, linktype: int, wire: int, comment: str | None) -> None:
        c = comment.encode("utf-8", "surrogatepass") if comment else b""
        try:
            if self.fh is None:
                self.fh = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            self.fh.write(self._HEAD.pack(t, linktype, wire, len(data), len(c)) + data + c)
        except OSError as e:
            raise failure("the temporary file --embed-keys holds the frames in", e) from None

    def __iter__(self) -> Iterator[tuple[float, bytes, int, int, str | None]]:
        if self.fh is None:
            return
        self.fh.flush()
        self.fh.seek(0)
        while head := self.fh.read(self._HEAD.size):
            t, linktype, wire, n, nc = self._HEAD.unpack(head)
            data, c = self.fh.read(n), self.fh.read(nc)
            yield t, data, linktype, wire, c.decode("utf-8", "surrogatepass") if c else None

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


@dataclass
class DecryptCounts:
    """What ``decrypt_capture`` did."""

    frames: int = 0
    decrypted: int = 0  # ESP frames written in clear
    kept: int = 0  # ESP frames kept as they were
    embedded: int = 0  # SAs written into the Decryption Secrets Block (embed_keys)
    warnings: list[str] = field(default_factory=list)


def decrypt_capture(infile: str, outfile: str, db: SADatabase, *, embed_keys: bool = False,
                    force: bool = False, on_secrets: OnSecrets | None = None,
                    inputs: Iterable[str] = ()) -> DecryptCounts:
    """Write ``infile`` to ``outfile`` with its ESP decrypted by ``db``'s SAs
    (or, ``embed_keys``, the SAs used embedded). ``outfile`` appears whole or
    not at all, and is never ``infile`` or one of ``inputs`` (the key
    files): see ``nhrpscope.output``; ``-`` is standard output."""
    out = Path(outfile)
    target = OutputFile(outfile, force=force, inputs=(infile, *inputs))
    check(outfile, force=force, inputs=target.inputs)  # before reading anything
    if embed_keys and out.suffix != ".pcapng" and outfile != STDOUT:
        raise UserError(f"{outfile}: --embed-keys writes pcapng; name the output .pcapng")
    used = UsedSAs(db)
    reader = CaptureReader(infile, on_secrets=on_secrets)
    frames = iter(reader)  # reads the header: format known from here on
    pcapng = reader.format == "pcapng" or out.suffix == ".pcapng" or embed_keys
    if reader.format == "pcapng" and out.suffix == ".pcap":
        raise UserError(f"{outfile}: a pcapng input gives a pcapng output; name it .pcapng")
    counts = DecryptCounts()
    with reader, closing(FrameSpool()) as pending, target as fh:
        ng: PcapngWriter | None = None
        classic: PcapWriter | None = None
        classic_linktype = 0
        decoder = FrameDecoder(used)
        single = FrameDecoder(used, reassemble=False)  # for re-reading rewritten frames
        for fr in frames:
            counts.frames += 1
            data = fr.data
            changed = False
            pkt = decoder.decode(fr.linktype, data, frame=fr.number, time=fr.time)
            has_esp = pkt.has("esp")
            # One ESP layer a pass: nested ESP (ESP in ESP) peels in turn.
            for _ in range(MAX_PASSES if not embed_keys else 0):
                new = strip_esp(data, pkt, used)
                if new is None:
                    break
                data, changed = new, True
                pkt = single.decode(fr.linktype, data)
            if has_esp:
                if changed:
                    counts.decrypted += 1
                else:
                    counts.kept += 1
            wire = fr.wire_len if not changed else len(data)
            if embed_keys:
                pending.add(fr.time, data, fr.linktype, wire, fr.comment)
            elif pcapng:
                ng = ng or PcapngWriter(fh)
                ng.write(fr.time, data, fr.linktype, wire, fr.comment)
            else:
                if classic is None:
                    classic, classic_linktype = PcapWriter(fh, fr.linktype, nanosecond=True), fr.linktype
                if fr.linktype != classic_linktype:
                    raise UserError(f"{infile}: frame {fr.number}: several link types; "
                                    "write .pcapng instead")
                classic.write(fr.time, data, wire)
        if embed_keys:
            if DSB_ESP_SA is None:
                raise UserError("the pcapng ESP secrets block type is unknown; cannot embed keys")
            w = PcapngWriter(fh)
            w.secrets(DSB_ESP_SA, format_esp_sa(list(used.used.values()), lossy=True).encode())
            for t, data, lt, wire, comment in pending:
                w.write(t, data, lt, wire, comment)
            counts.embedded = len(used.used)
        elif ng is None and classic is None:
            PcapWriter(fh, 1)  # an empty capture is still a capture
    counts.warnings = list(reader.warnings)
    return counts
