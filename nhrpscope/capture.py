"""Streaming pcap / pcapng reading and writing.

Our own reader rather than dpkt's: dpkt's pcapng reader honours only the first
interface and trusts block lengths, and a length that points past the file must
be a clear error, not a 4 GB read. Memory stays flat: one record at a time.
It is also faster than dpkt's, and so are our writers (docs/capture-io.md).
This is the one pcapng block walker: the keys read a capture's Decryption
Secrets Blocks through ``on_secrets``.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

# Link types (https://www.tcpdump.org/linktypes.html numbers).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
BLOCK_IDB = 1
BLOCK_PB = 2  # obsolete Packet Block
BLOCK_SPB = 3
BLOCK_EPB = 6
BLOCK_DSB = 0x0000000A

# Nothing real is this long: a snapshot length of 256 KiB is tcpdump's
# ceiling, some link types allow 256 MiB; a record beyond that is corruption.
MAX_RECORD = 256 * 1024 * 1024
MAX_BLOCK = MAX_RECORD + 4096
# The longest frame kept: tcpdump's and Wireshark's snapshot ceiling
# (MAXIMUM_SNAPLEN, 262144), past any IP datagram with its link header. A
# longer record (allowed up to MAX_RECORD by some link types, none an IP
# one) is skipped with a warning, read past in CHUNKs, never held: six
# 256 MiB records held 2.1 GB.
MAX_FRAME = 256 * 1024
# A pcapng packet block holds a frame of MAX_FRAME and its options
# (comments, hashes): a longer one is skipped likewise.
MAX_PACKET_BLOCK = MAX_FRAME + 64 * 1024
# A Decryption Secrets Block is read whole (the keys in it are parsed as
# one text); the same limit as a key file's (keys.files.MAX_KEY_FILE).
MAX_SECRETS_BLOCK = 64 << 20
# Warnings of one kind told one by one (per capture); the rest are counted
# in one line that follows them.
MAX_SAME_WARNINGS = 5
# How much classic pcap is read at a time: at 1 MiB the reading process
# held 3 to 5 MB more (the chunk, its records, the batches made of them)
# and was no faster (measured on the 300k and 1M benchmark files).
CHUNK = 1 << 18
# What reading can raise: a damaged gzip stream raises zlib.error, which is
# not an OSError and would otherwise escape as a traceback.
_READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)


class CaptureError(Exception):
    """An unreadable capture: names the file and the record or block."""


class BlockLengthError(CaptureError):
    """A pcapng block whose length cannot be: which block, and what it
    claimed (the key reader words it for a secrets block of its own)."""

    def __init__(self, message: str, offset: int, block_type: int, length: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.block_type = block_type
        self.length = length


@dataclass(slots=True)
class Frame:
    number: int
    time: float
    linktype: int
    data: bytes
    wire_len: int
    interface: int = 0
    comment: str | None = None  # the first of ``comments``
    comments: tuple[str, ...] = ()  # every opt_comment, in order (pcapng repeats them)


@dataclass(slots=True)
class _Iface:
    linktype: int
    snaplen: int
    tsresol: float  # seconds per tick
    tsdiv: int  # ticks per second when decimal, else 0
    tsoffset: int


SecretsHandler = Callable[[int, bytes, str], None]
# A frame as the replay's hot loop reads it: (number, time, linktype, data, wire_len, comment).
Record = tuple[int, float, int, bytes, int, "str | None"]


class CaptureReader:
    """Iterate over the frames of a pcap or pcapng file (optionally gzipped).

    ``warnings`` collects non-fatal trouble (a file cut short mid-record).
    ``on_secrets(secrets_type, data, where)`` receives pcapng Decryption
    Secrets Blocks as they are met, before the packets that follow them;
    ``block_offset`` is then the file offset of the block handed over.
    ``bad_secrets`` lists, as (block offset, what), the secrets blocks that
    could not be handed over (also among the warnings): for a reader of keys
    a damaged secrets block is an error, for a reader of packets it is not.
    """

    def __init__(self, path: str | Path, on_secrets: SecretsHandler | None = None) -> None:
        self.name = str(path)
        self.on_secrets = on_secrets
        self.warnings: list[str] = []
        self.format = ""
        self.linktypes: set[int] = set()
        self.block_offset = 0
        self.bad_secrets: list[tuple[int, str]] = []
        self._same: dict[str, tuple[int, int]] = {}  # kind: (count, index of its tally line)
        self._fh: BinaryIO = self._open(path)

    def _warn(self, kind: str, message: str) -> None:
        """A warning that may repeat for every record of a hostile file: the
        first MAX_SAME_WARNINGS as they are, the rest counted in one line."""
        count, at = self._same.get(kind, (0, -1))
        count += 1
        if count <= MAX_SAME_WARNINGS:
            self.warnings.append(message)
        else:
            tally = f"{self.name}: {count - MAX_SAME_WARNINGS} more record(s) {kind}"
            if at < 0:
                at = len(self.warnings)
                self.warnings.append(tally)
            else:
                self.warnings[at] = tally
        self._same[kind] = (count, at)

    def _skip(self, n: int) -> int:
        """Read past ``n`` bytes a CHUNK at a time; how many were there."""
        done = 0
        while done < n:
            part = self._read(min(CHUNK, n - done))
            if not part:
                break
            done += len(part)
        return done

    def _open(self, path: str | Path) -> BinaryIO:
        if str(path) == "-":
            # stdin's own buffer is small; re-buffer its raw stream like a file.
            stdin_raw = sys.stdin.buffer.raw  # type: ignore[union-attr]
            raw: BinaryIO = io.BufferedReader(stdin_raw, 1 << 16)
            self.name = "<stdin>"
        else:
            try:
                raw = open(path, "rb", buffering=1 << 16)  # noqa: SIM115
            except OSError as e:
                raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        if head == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
        return raw

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, n: int) -> bytes:
        try:
            return self._fh.read(n)
        except _READ_ERRORS as e:
            raise CaptureError(f"{self.name}: read error: {e}") from None

    def __iter__(self) -> Iterator[Frame]:
        kind, head = self._detect()
        if kind == "pcapng":
            return self._iter_pcapng(head)
        return (Frame(n, t, lt, data, orig) for batch in self._pcap_batches(head)
                for n, t, lt, data, orig, _ in batch)

    def records(self) -> Iterator[Record]:
        """The frames as plain tuples ``(number, time, linktype, data,
        wire_len, comment)``: what the replay's hot loop reads, with no
        object made per frame. Same frames, same warnings as iterating."""
        return (rec for batch in self.batches() for rec in batch)

    def batches(self) -> Iterator[list[Record]]:
        """``records()`` a list at a time (a chunk of the file's worth):
        for loops that would rather not resume a generator per frame."""
        kind, head = self._detect()
        if kind == "pcapng":
            return ([(f.number, f.time, f.linktype, f.data, f.wire_len, f.comment)]
                    for f in self._iter_pcapng(head))
        return self._pcap_batches(head)

    def _detect(self) -> tuple[str, bytes]:
        head = self._read(4)
        if len(head) < 4:
            raise CaptureError(f"{self.name}: not a capture file (empty or shorter than a header)")
        magic_le = struct.unpack("<I", head)[0]
        if magic_le == PCAPNG_SHB:
            self.format = "pcapng"
            return "pcapng", head
        if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or struct.unpack(">I", head)[0] in (
            PCAP_MAGIC_US,
            PCAP_MAGIC_NS,
        ):
            self.format = "pcap"
            return "pcap", head
        raise CaptureError(
            f"{self.name}: not a pcap or pcapng file (starts with 0x{head.hex()})"
        )

    # -- classic pcap --------------------------------------------------------
    def _pcap_batches(self, head: bytes) -> Iterator[list[Record]]:
        """Classic pcap, read in chunks of up to ``CHUNK`` bytes and cut into
        records in place (one read per chunk, not two per record), a list
        of records per chunk. ``read1`` returns what is there, so a live
        pipe (--follow) is not held up waiting for a whole chunk."""
        if struct.unpack("<I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            endian = "<"
        else:
            endian = ">"
        magic = struct.unpack(endian + "I", head)[0]
        div = 1_000_000_000 if magic == PCAP_MAGIC_NS else 1_000_000
        rest = self._read(20)
        if len(rest) < 20:
            raise CaptureError(f"{self.name}: pcap file header cut short")
        _vmaj, _vmin, _zone, _sigfigs, snaplen, network = struct.unpack(endian + "HHiIII", rest)
        linktype = network & 0x0FFFFFFF
        self.linktypes.add(linktype)
        unpack = struct.Struct(endian + "IIII").unpack_from
        fh = self._fh
        read1 = getattr(fh, "read1", None) or fh.read
        errors = _READ_ERRORS
        number = 0
        base = 24  # file offset of buf[0]
        buf = b""
        pos = 0
        while True:
            end = len(buf)
            out: list[Record] = []
            append = out.append
            while pos + 16 <= end:
                sec, frac, incl, orig = unpack(buf, pos)
                if incl > MAX_FRAME:
                    break  # skipped below, not buffered
                stop = pos + 16 + incl
                if stop > end:
                    break
                number += 1
                append((number, sec + frac / div, linktype, buf[pos + 16:stop], orig, None))
                pos = stop
            if out:
                yield out
            # Need more bytes: a record header, or the rest of a record.
            want = CHUNK
            if pos + 16 <= end:
                incl = unpack(buf, pos)[2]
                if incl > MAX_RECORD:
                    raise CaptureError(
                        f"{self.name}: frame {number + 1} (offset {base + pos}): record length {incl} "
                        "is absurd; the file is corrupt"
                    )
                if incl > MAX_FRAME:
                    number += 1
                    held = min(end - pos - 16, incl)
                    got = held + self._skip(incl - held)
                    if got < incl:
                        self.warnings.append(
                            f"{self.name}: file cut short in frame {number} ({got} of {incl} bytes); "
                            f"{number - 1} whole frames read")
                        return
                    self._warn(f"over {MAX_FRAME} bytes skipped",
                               f"{self.name}: frame {number} (offset {base + pos}) skipped: {incl} "
                               f"bytes, over the {MAX_FRAME} a capture tool keeps")
                    base += pos + 16 + incl
                    buf, pos = buf[pos + 16 + held:], 0
                    continue
                want = max(CHUNK, pos + 16 + incl - end)
            try:
                chunk = read1(CHUNK) if want == CHUNK else fh.read(want)
            except errors as e:
                if pos + 16 <= end:
                    self.warnings.append(f"{self.name}: read error in frame {number + 1}: {e}")
                else:
                    self.warnings.append(f"{self.name}: read error after frame {number}: {e}")
                return
            if not chunk:
                if pos == end:
                    return
                if pos + 16 > end:
                    self.warnings.append(
                        f"{self.name}: file cut short in the record header after frame {number}"
                    )
                    return
                incl = unpack(buf, pos)[2]
                self.warnings.append(
                    f"{self.name}: file cut short in frame {number + 1} "
                    f"({end - pos - 16} of {incl} bytes); {number} whole frames read"
                )
                return
            base += pos
            buf = buf[pos:] + chunk if pos < end else chunk
            pos = 0

    # -- pcapng --------------------------------------------------------------
    def _iter_pcapng(self, head: bytes) -> Iterator[Frame]:
        endian = "<"
        ifaces: list[_Iface] = []
        number = 0
        offset = 0
        pending_head: bytes | None = head
        while True:
            if pending_head is not None:
                btype_raw, pending_head = pending_head, None
            else:
                btype_raw = self._read(4)
            if not btype_raw:
                return
            hdr_rest = self._read(4)
            if len(btype_raw) < 4 or len(hdr_rest) < 4:
                self.warnings.append(f"{self.name}: file cut short in a block header at offset {offset}")
                return
            if struct.unpack("<I", btype_raw)[0] == PCAPNG_SHB:
                bom = self._read(4)
                if len(bom) < 4:
                    self.warnings.append(f"{self.name}: file cut short in a section header")
                    return
                if struct.unpack("<I", bom)[0] == PCAPNG_BOM:
                    endian = "<"
                elif struct.unpack(">I", bom)[0] == PCAPNG_BOM:
                    endian = ">"
                else:
                    raise CaptureError(f"{self.name}: offset {offset}: bad pcapng byte-order magic")
                blen = struct.unpack(endian + "I", hdr_rest)[0]
                body_prefix = bom
                ifaces = []  # a new section starts its own interface list
            else:
                blen = struct.unpack(endian + "I", hdr_rest)[0]
                body_prefix = b""
            btype = struct.unpack(endian + "I", btype_raw)[0]
            # A section header holds at least its byte-order magic, version and
            # section length (28 bytes in all); shorter, its body length went
            # negative and read(-n) failed or read the whole file.
            min_len = 28 if body_prefix else 12
            if blen < min_len or blen % 4 or blen > MAX_BLOCK:
                raise BlockLengthError(
                    f"{self.name}: block at offset {offset} (type 0x{btype:x}) has an impossible "
                    f"length {blen}; the file is corrupt", offset, btype, blen
                )
            if blen > (MAX_SECRETS_BLOCK + 20 if btype == BLOCK_DSB else MAX_PACKET_BLOCK):
                number += btype in (BLOCK_EPB, BLOCK_PB, BLOCK_SPB)
                if not self._skip_block(btype, blen, len(body_prefix), offset, number, endian):
                    return
                offset += blen
                continue
            body = body_prefix + self._read(blen - 12 - len(body_prefix))
            trailer = self._read(4)
            if len(body) < blen - 12 or len(trailer) < 4:
                if btype == BLOCK_DSB:
                    self.bad_secrets.append((offset, "cut short"))
                self.warnings.append(
                    f"{self.name}: file cut short in a block at offset {offset}; "
                    f"{number} whole frames read"
                )
                return
            if struct.unpack(endian + "I", trailer)[0] != blen:
                raise CaptureError(
                    f"{self.name}: block at offset {offset}: trailing length does not match "
                    f"the leading one ({blen}); the file is corrupt"
                )
            where = f"{self.name}: block at offset {offset}"
            offset += blen
            if btype == BLOCK_IDB:
                ifaces.append(self._parse_idb(body, endian, where))
                self.linktypes.add(ifaces[-1].linktype)
            elif btype in (BLOCK_EPB, BLOCK_PB):
                if len(body) < 20:
                    self._warn("packet block too short, skipped", f"{where}: packet block too short, skipped")
                    continue
                if btype == BLOCK_EPB:
                    iface_id, ts_hi, ts_lo, caplen, orig = struct.unpack(endian + "IIIII", body[:20])
                else:
                    iface_id, _drops, ts_hi, ts_lo, caplen, orig = struct.unpack(
                        endian + "HHIIII", body[:20]
                    )
                if iface_id >= len(ifaces):
                    self._warn("naming an undescribed interface, skipped",
                               f"{where}: packet names interface {iface_id}, which was never described; skipped")
                    continue
                if 20 + caplen > len(body):
                    self._warn("with a captured length past the block, skipped",
                               f"{where}: captured length {caplen} exceeds its block; skipped")
                    continue
                number += 1
                ifc = ifaces[iface_id]
                data = body[20 : 20 + caplen]
                opts = body[20 + ((caplen + 3) & ~3) :]
                comments = _comments(opts, endian) if opts else ()
                ts = (ts_hi << 32) | ts_lo
                t = (ts / ifc.tsdiv if ifc.tsdiv else ts * ifc.tsresol) + ifc.tsoffset
                yield Frame(number, t, ifc.linktype, data, orig, iface_id,
                            comments[0] if comments else None, comments)
            elif btype == BLOCK_SPB:
                if not ifaces or len(body) < 4:
                    self._warn("simple packet block without interface, skipped",
                               f"{where}: simple packet block without interface; skipped")
                    continue
                orig = struct.unpack(endian + "I", body[:4])[0]
                ifc = ifaces[0]
                caplen = min(orig, len(body) - 4, ifc.snaplen or MAX_RECORD)
                number += 1
                # SPBs carry no timestamp; 0.0 says "unknown" honestly.
                yield Frame(number, 0.0, ifc.linktype, body[4 : 4 + caplen], orig, 0)
            elif btype == BLOCK_DSB:
                start = offset - blen
                if len(body) < 8:
                    self.bad_secrets.append((start, "too short"))
                    self.warnings.append(f"{where}: decryption secrets block too short; skipped")
                    continue
                stype, slen = struct.unpack(endian + "II", body[:8])
                if 8 + slen > len(body):
                    self.bad_secrets.append((start, "length wrong"))
                    self.warnings.append(f"{where}: decryption secrets length exceeds its block; skipped")
                    continue
                if self.on_secrets is not None:
                    self.block_offset = start
                    self.on_secrets(stype, body[8 : 8 + slen], where)
            # other blocks (NRB, ISB, custom) carry nothing we need

    def _skip_block(self, btype: int, blen: int, have: int, offset: int, number: int,
                    endian: str) -> bool:
        """Read past a block too long to hold (see MAX_PACKET_BLOCK) and say
        so; False when the file ends inside it."""
        where = f"{self.name}: block at offset {offset}"
        if btype == BLOCK_IDB:  # the interfaces after it would be misnumbered
            raise CaptureError(f"{where}: interface description block of {blen} bytes; "
                               "the file is corrupt")
        rest = blen - 12 - have
        got = self._skip(rest)
        trailer = self._read(4)
        if got < rest or len(trailer) < 4:
            if btype == BLOCK_DSB:
                self.bad_secrets.append((offset, "cut short"))
            self.warnings.append(f"{self.name}: file cut short in a block at offset {offset}; "
                                 f"{number - 1} whole frames read")
            return False
        if struct.unpack(endian + "I", trailer)[0] != blen:
            raise CaptureError(f"{where}: trailing length does not match the leading one ({blen}); "
                               "the file is corrupt")
        if btype == BLOCK_DSB:
            self.bad_secrets.append((offset, f"of {blen} bytes, over {MAX_SECRETS_BLOCK},"))
            self.warnings.append(f"{where}: decryption secrets block of {blen} bytes, over the "
                                 f"{MAX_SECRETS_BLOCK} a key file may hold; skipped")
        elif btype in (BLOCK_EPB, BLOCK_PB, BLOCK_SPB):
            self._warn(f"over {MAX_FRAME} bytes skipped",
                       f"{where}: frame {number} skipped: a block of {blen} bytes, over the "
                       f"{MAX_FRAME} a capture tool keeps")
        return True

    @staticmethod
    def _parse_idb(body: bytes, endian: str, where: str) -> _Iface:
        if len(body) < 8:
            raise CaptureError(f"{where}: interface description block too short")
        linktype, _res, snaplen = struct.unpack(endian + "HHI", body[:8])
        tsresol, tsdiv, tsoffset = 1e-6, 1_000_000, 0
        for code, val in _options(body[8:], endian):
            if code == 9 and val:
                r = val[0]
                if r & 0x80:
                    tsresol, tsdiv = 2.0 ** -(r & 0x7F), 0
                else:
                    tsresol, tsdiv = 10.0 ** -r, 10**r
            elif code == 14 and len(val) == 8:
                tsoffset = struct.unpack(endian + "q", val)[0]
        return _Iface(linktype, snaplen, tsresol, tsdiv, tsoffset)


def _options(buf: bytes, endian: str) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(buf):
        code, length = struct.unpack(endian + "HH", buf[pos : pos + 4])
        if code == 0:
            return
        val = buf[pos + 4 : pos + 4 + length]
        if len(val) < length:
            return
        yield code, val
        pos += 4 + ((length + 3) & ~3)


def _comments(opts: bytes, endian: str) -> tuple[str, ...]:
    return tuple(val.decode("utf-8", "replace") for code, val in _options(opts, endian)
                 if code == 1)



# -- writing -------------------------------------------------------------------


class PcapWriter:
    """Classic pcap, one link type, micro- or nanosecond timestamps."""

    def __init__(self, fh: BinaryIO, linktype: int, *, nanosecond: bool = False, snaplen: int = 262144) -> None:
        self.fh = fh
        self.div = 1_000_000_000 if nanosecond else 1_000_000
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        fh.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, t: float, data: bytes, wire_len: int | None = None) -> None:
        ticks = _ticks(t, self.div, 1 << 32, "pcap")
        sec, frac = divmod(ticks, self.div)
        self.fh.write(struct.pack("<IIII", sec, frac, len(data), wire_len or len(data)))
        self.fh.write(data)


def _ticks(t: float, per_second: int, max_seconds: int, fmt: str) -> int:
    """``t`` in ``per_second`` ticks; a time the format cannot hold (a
    damaged or hostile input's, say) is a CaptureError, not struct.error."""
    if not (isinstance(t, int) or math.isfinite(t)) or not 0 <= t < max_seconds:
        raise CaptureError(f"a frame's time ({float(t):g} s after 1970) cannot be written in {fmt}, "
                           f"which holds 0 to {max_seconds:g} s")
    return round(t * per_second)


def _opt(code: int, val: bytes) -> bytes:
    return struct.pack("<HH", code, len(val)) + val + b"\0" * (-len(val) % 4)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    blen = len(body) + 12
    return struct.pack("<II", btype, blen) + body + struct.pack("<I", blen)


class PcapngWriter:
    """pcapng with any number of interfaces, comments and secrets blocks.

    Timestamps are written in nanoseconds (if_tsresol 9); ``faithful``
    picks, for each time, the roundest nanosecond count that reads back as
    the very same float (a copy of a capture keeps its times exactly)."""

    def __init__(self, fh: BinaryIO, *, application: str = "nhrpscope",
                 faithful: bool = False) -> None:
        self.fh = fh
        self.faithful = faithful
        self.ifaces: dict[int, int] = {}
        opts = _opt(4, application.encode()) + _opt(0, b"")
        fh.write(_block(PCAPNG_SHB, struct.pack("<IHHq", PCAPNG_BOM, 1, 0, -1) + opts))

    def interface(self, linktype: int, snaplen: int = 262144) -> int:
        if linktype not in self.ifaces:
            opts = _opt(9, b"\x09") + _opt(0, b"")
            self.fh.write(_block(BLOCK_IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts))
            self.ifaces[linktype] = len(self.ifaces)
        return self.ifaces[linktype]

    def secrets(self, secrets_type: int, data: bytes) -> None:
        self.fh.write(_block(BLOCK_DSB, struct.pack("<II", secrets_type, len(data)) + data))

    def write(self, t: float, data: bytes, linktype: int, wire_len: int | None = None,
              comment: str | Sequence[str] | None = None) -> None:
        """One packet; ``comment`` may be several, each its own opt_comment."""
        iface = self.interface(linktype)
        ts = _ticks(t, 1_000_000_000, (1 << 64) // 1_000_000_000, "pcapng")
        if self.faithful:
            ts = self._same_float_ns(t, ts)
        body = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), wire_len or len(data))
        body += data + b"\0" * (-len(data) % 4)
        comments = [comment] if isinstance(comment, str) else list(comment or ())
        opts = b"".join(_opt(1, c.encode("utf-8", "replace")) for c in comments if c)
        if opts:
            body += opts + _opt(0, b"")
        self.fh.write(_block(BLOCK_EPB, body))

    @staticmethod
    def _same_float_ns(t: float, near: int) -> int:
        # t * 1e9 in floating point is off by up to 128 ns at today's dates,
        # more than half a float's spacing (~240 ns): read back, a time would
        # move. Rounded exactly, at the coarsest of s, ms, us, ns that holds.
        exact = Fraction(t)
        for digits in (0, 3, 6, 9):
            ns = round(exact * 10**digits) * 10 ** (9 - digits)
            if ns / 10**9 == t:
                return ns
        return near
