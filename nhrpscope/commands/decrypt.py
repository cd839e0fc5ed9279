"""`nhrpscope decrypt`: a capture any tool can read without keys.

Every decryptable ESP packet is replaced by its clear payload; what could not
be decrypted is kept as it was. ``--embed-keys`` instead keeps the ESP and
writes the SAs that were used into a pcapng Decryption Secrets Block.
"""

from __future__ import annotations

import struct
from pathlib import Path

import click

from dissectors.base import internet_checksum
from dissectors.frame import FrameDecoder, Packet
from nhrpscope.cli import UserError, edges, key_options, load_keys, main, secrets_handler

# Nested ESP (ESP in ESP) is peeled one layer a pass; more than this is absurd.
MAX_PASSES = 4
_LINK_IP = {"ipv4": 0x0800, "ipv6": 0x86DD}


class _UsedSAs:
    """Wraps the SA lookup to remember which SAs decrypted something."""

    def __init__(self, db: object) -> None:
        self.db = db
        self.used: dict[int, object] = {}

    def __call__(self, spi: int, src: str, dst: str) -> object | None:
        sa = self.db.lookup(spi, src, dst)  # type: ignore[attr-defined]
        if sa is not None:
            self.used[id(sa)] = sa
        return sa


def _link_header_len(pkt: Packet) -> int | None:
    """Bytes before the outermost IP header, from the decoded link layers."""
    n = 0
    for la in pkt.layers:
        if la.proto in ("ipv4", "ipv6"):
            return n
        n += {"eth": 14, "vlan": 4, "sll": 16, "sll2": 20, "null": 4}.get(la.proto, -10_000)
        if n < 0:
            return None
    return None


def _set_link_ethertype(link: bytes, pkt: Packet, ethertype: int) -> bytes:
    """A tunnel-mode IPv6 inside IPv4 changes the link layer's EtherType."""
    protos = [la.proto for la in pkt.layers]
    if protos[0] in ("eth", "vlan"):
        return link[:-2] + struct.pack("!H", ethertype)
    if protos[0] == "sll":
        return link[:14] + struct.pack("!H", ethertype)
    if protos[0] == "sll2":
        return struct.pack("!H", ethertype) + link[2:]
    if protos[0] == "null":
        return struct.pack("<I", 2 if ethertype == 0x0800 else 24)  # BSD AF_INET / AF_INET6
    return link


def strip_esp(data: bytes, pkt: Packet, sa_lookup: object) -> bytes | None:
    """The frame with its outermost ESP replaced by the clear payload, or
    None when it was not decrypted or cannot be rewritten faithfully."""
    from dissectors.esp import decode_esp

    layers, offsets = pkt.layers, pkt.offsets
    idx = next((i for i, la in enumerate(layers) if la.proto == "esp"), None)
    if idx is None or not getattr(layers[idx], "decrypted", False) or offsets[idx] < 0:
        return None
    ip_idx = idx - 2 if layers[idx - 1].proto == "udp" else idx - 1
    outer = layers[ip_idx]
    if outer.proto not in ("ipv4", "ipv6") or outer.reassembled_from:
        return None  # a reassembled datagram spans frames: keep them as they are
    if any(la.proto in ("ipv4", "ipv6") for la in layers[:ip_idx]):
        return None  # ESP inside a tunnel (e.g. in GRE): the outer packet stays
    sa = sa_lookup(layers[idx].spi, outer.src, outer.dst)  # type: ignore[operator]
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
    if outer.proto == "ipv4":
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


@main.command()
@click.argument("infile", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "outfile", required=True, type=click.Path(dir_okay=False),
              help="Where to write: .pcap or .pcapng (a pcapng input always gives pcapng).")
@click.option("--embed-keys", is_flag=True,
              help="Keep the ESP packets; write the SAs used into a pcapng Decryption Secrets Block.")
@click.option("--force", is_flag=True, help="Overwrite OUTFILE if it exists.")
@key_options
def decrypt(infile: str, outfile: str, embed_keys: bool, force: bool,
            key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """Write INFILE with every decryptable ESP packet replaced by its clear payload."""
    from nhrpscope.capture import CaptureReader, PcapngWriter, PcapWriter

    with edges():
        out = Path(outfile)
        if out.exists() and not force:
            raise UserError(f"{outfile}: exists; use --force to overwrite it")
        if infile != "-" and out.exists() and out.resolve() == Path(infile).resolve():
            raise UserError(f"{outfile}: is the input file; choose another output")
        if embed_keys and out.suffix != ".pcapng":
            raise UserError(f"{outfile}: --embed-keys writes pcapng; name the output .pcapng")
        store = load_keys(key_files, esp_specs)
        used = _UsedSAs(store.db)
        reader = CaptureReader(infile, on_secrets=secrets_handler(store))
        frames = iter(reader)  # reads the header: format known from here on
        pcapng = reader.format == "pcapng" or out.suffix == ".pcapng" or embed_keys
        if reader.format == "pcapng" and out.suffix == ".pcap":
            raise UserError(f"{outfile}: a pcapng input gives a pcapng output; name it .pcapng")
        counts = {"frames": 0, "decrypted": 0, "kept": 0}
        tmp = out.with_name(out.name + ".part")
        pending: list[tuple] = []
        try:
            with reader, open(tmp, "wb") as fh:
                writer = None
                decoder = FrameDecoder(used)
                single = FrameDecoder(used, reassemble=False)  # for re-reading rewritten frames
                for fr in frames:
                    counts["frames"] += 1
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
                        counts["decrypted" if changed else "kept"] += 1
                    wire = fr.wire_len if not changed else len(data)
                    if embed_keys:
                        pending.append((fr.time, data, fr.linktype, wire, fr.comment))
                        continue
                    if writer is None:
                        writer = PcapngWriter(fh) if pcapng else PcapWriter(fh, fr.linktype, nanosecond=True)
                    if pcapng:
                        writer.write(fr.time, data, fr.linktype, wire, fr.comment)
                    elif fr.linktype != writer_linktype(writer, fr.linktype):
                        raise UserError(f"{infile}: frame {fr.number}: several link types; "
                                        "write .pcapng instead")
                    else:
                        writer.write(fr.time, data, wire)
                if embed_keys:
                    from nhrpscope.keys import DSB_ESP_SA, format_esp_sa

                    w = PcapngWriter(fh)
                    if DSB_ESP_SA is None:
                        raise UserError("the pcapng ESP secrets block type is unknown; cannot embed keys")
                    w.secrets(DSB_ESP_SA, format_esp_sa(list(used.used.values()), lossy=True).encode())
                    for t, data, lt, wire, comment in pending:
                        w.write(t, data, lt, wire, comment)
                elif writer is None:
                    PcapWriter(fh, 1)  # an empty capture is still a capture
            tmp.replace(out)
        finally:
            if tmp.exists():
                tmp.unlink()
        for w in reader.warnings:
            click.echo(f"nhrpscope: warning: {w}", err=True)
        esp_frames = counts["decrypted"] + counts["kept"]
        if embed_keys:
            click.echo(f"{outfile}: {counts['frames']} frames, {len(used.used)} SA(s) embedded", err=True)
        else:
            click.echo(f"{outfile}: {counts['frames']} frames; {counts['decrypted']} of {esp_frames} "
                       f"ESP frames decrypted, {counts['kept']} kept as they were", err=True)


def writer_linktype(writer: object, linktype: int) -> int:
    """The link type a classic pcap writer was opened with (set on first use)."""
    lt = getattr(writer, "_linktype", None)
    if lt is None:
        writer._linktype = linktype  # type: ignore[attr-defined]
        return linktype
    return lt
