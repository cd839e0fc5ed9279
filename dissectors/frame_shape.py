"""The common shape of an NHRP frame, and a memo of such frames decoded:
what ``frame.FrameDecoder`` answers a repeated registration from without
running the decode chain (the chain stays the reference; tests hold the two
to the same records)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from nhrpscope.dissectors import gre as gre_mod
from nhrpscope.dissectors import ip as ip_mod
from nhrpscope.dissectors.base import Layer, slot_replacer
from nhrpscope.dissectors.link import Ethernet
from nhrpscope.dissectors.nhrp import (
    ERROR_INDICATION,
    MEMO_BYTES_PER_KEY_BYTE,
    MEMO_ENTRY_OVERHEAD,
    MEMO_MAX_BYTES,
    MEMO_MAX_PACKET,
    TRAFFIC_INDICATION,
    NhrpPacket,
    packet_values,
    packet_with,
)

if TYPE_CHECKING:
    from nhrpscope.dissectors.frame import Packet

# The NHRP frames of a DMVPN capture are nearly all Ethernet, IPv4 with no
# options, GRE with at most a key, then NHRP; a spoke's registrations (and
# the hub's replies) repeat but for the IPv4 identification and checksum
# and the NHRP request id and checksum. ``ShapeMemo`` keeps such frames
# decoded, by their bytes less those four fields: a repeat costs the two
# checksums and two records made again with their new fields (about 8 us
# against 25 through the chain). Only frames that decoded without any
# problem are kept, and a repeat is taken only when both its checksums are
# right, so what it answers is what the chain would.
# a repeat's records: the memo's field values but for the identification,
# request id and checksums (read by index: no argument list built per frame)
IPV4_WITH = slot_replacer(ip_mod.IPv4, "id", "checksum")
NHRP_WITH = packet_with
# those four fields of a frame: (IPv4 id, IPv4 checksum) from byte 18,
# (NHRP checksum, request id) from NHRP's byte 12
IPV4_ID_SUM = struct.Struct("!H4xH").unpack_from
NHRP_SUM_RID = struct.Struct("!H10xI").unpack_from
IPV4_SRC, IPV4_DST = ip_mod.IPV4_FIELDS.index("src"), ip_mod.IPV4_FIELDS.index("dst")
SHAPE = (Ethernet, ip_mod.IPv4, gre_mod.Gre, NhrpPacket)


def shape_key(data: bytes) -> tuple[bytes, int] | None:
    """The memo key of an Ethernet / IPv4 / GRE / NHRP frame (its bytes
    less the IPv4 identification and checksum and the NHRP checksum and
    request id), and where its NHRP packet starts; None for other frames,
    and for NHRP error and traffic indications (no request id at 24-27)."""
    if len(data) < 66 or data[12] != 8 or data[13] or data[14] != 0x45 or data[23] != 47 \
            or data[20] & 0x3F or data[21] or data[34] & 0xD0 or data[35] & 7 \
            or data[36] != 0x20 or data[37] != 0x01:
        return None  # not IPv4 without options, a fragment, or not plain GRE carrying NHRP
    o = 42 if data[34] & 0x20 else 38
    if len(data) < o + 28 or data[o + 17] in (ERROR_INDICATION, TRAFFIC_INDICATION):
        return None
    return data[:18] + data[20:24] + data[26:o + 12] + data[o + 14:o + 24] + data[o + 28:], o


class ShapeMemo:
    """Frames of the common NHRP shape decoded before (above), bounded as
    ``NhrpMemo`` is: at ``max_size`` entries and an estimate of ``max_bytes``."""

    __slots__ = ("entries", "max_size", "max_bytes", "held")

    def __init__(self, max_size: int = 4096, max_bytes: int = MEMO_MAX_BYTES) -> None:
        # key -> (Ethernet, IPv4's field values, GRE, NhrpPacket's field values,
        #         the word sums of the IPv4 header and of NHRP less their own fields)
        self.entries: dict[bytes, tuple[Layer, tuple, gre_mod.Gre, tuple, int, int]] = {}
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.held = 0

    def remember(self, key: bytes, pkt: Packet) -> None:
        """Keep ``pkt`` under ``key`` if it is whole and sound. With it go
        the sums (RFC 1071, 16-bit words big-endian, not folded) of its IPv4
        header and of its NHRP packet without the fields left out of the
        key, up to a multiple of 0xFFFF: a repeat's checksums are then
        checked by adding its own fields (``sound``). Both checksums being
        right, each whole sum is a multiple of 0xFFFF (RFC 1071 folds it to
        0xFFFF), so the rest is that less the fields: nothing to add up."""
        layers = pkt.layers
        if pkt.problems or len(key) > MEMO_MAX_PACKET or len(layers) != 4 \
                or tuple(map(type, layers)) != SHAPE:
            return
        eth, ip, gre, nhrp = layers
        assert isinstance(ip, ip_mod.IPv4) and isinstance(gre, gre_mod.Gre) \
            and isinstance(nhrp, NhrpPacket)  # SHAPE says so; for the type checker
        if ip.checksum_ok is not True or nhrp.checksum_ok is not True \
                or nhrp.request_id is None or gre.keepalive:
            return
        cost = len(key) * MEMO_BYTES_PER_KEY_BYTE + MEMO_ENTRY_OVERHEAD
        if len(self.entries) >= self.max_size or self.held + cost > self.max_bytes:
            self.entries.clear()
            self.held = 0
        rid = nhrp.request_id
        # kept positive (above 0xFFFF) whatever the fields: a fold of 0 never checks
        ip_rest = 3 * 0xFFFF - ip.id - ip.checksum
        nhrp_rest = 4 * 0xFFFF - nhrp.checksum - (rid >> 16) - (rid & 0xFFFF)
        self.entries[key] = (eth, ip_mod.ipv4_values(ip), gre, packet_values(nhrp), ip_rest,
                             nhrp_rest)
        self.held += cost


def sound(rest: int) -> bool:
    """Whether a one's complement sum (not folded, positive) checks: folded,
    it is 0xFFFF, i.e. a multiple of 0xFFFF, which is ``internet_checksum(...)
    == 0`` (RFC 1071: the sum in either byte order folds to 0xFFFF or neither
    does; a header's words, not all zero, sum to more than 0). Folding keeps
    the sum's remainder by 0xFFFF (2**16 is 1 mod 0xFFFF) and ends in
    1..0xFFFF for a positive sum: it is 0xFFFF when that remainder is 0."""
    return rest % 0xFFFF == 0
