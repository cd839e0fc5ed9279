"""Facts of the tunnels themselves: IP fragments of tunnel packets, ICMP
fragmentation-needed, and what one ESP packet (RFC 4303) showed about its SA.
``a``/``b`` are the claimed NBMA addresses of the outer source/destination."""

from __future__ import annotations

from typing import NamedTuple


class Fragmented(NamedTuple):
    """A GRE (47), ESP (50) or NAT-T ESP (17) packet went IP-fragmented."""

    ip_proto: int
    src: str
    dst: str
    a: str | None
    b: str | None
    time: float
    frame: int


class FragmentationNeeded(NamedTuple):
    """ICMP fragmentation-needed (v4 3/4) or packet-too-big (v6 2)."""

    src: str | None
    dst: str | None
    mtu: int | None
    orig_src: str | None
    orig_dst: str | None
    routers: tuple[str, ...]  # claimed NBMA of the quoted packet's ends
    time: float
    frame: int


class EspPacket(NamedTuple):
    """What one ESP packet showed about SA ``spi`` (``0x...``) ``src`` -> ``dst``."""

    spi: str
    src: str
    dst: str
    a: str | None
    b: str | None
    time: float
    frame: int


class EspNoKey(EspPacket):
    """No key for the SA: the packet was only counted."""

    __slots__ = ()


class EspDecryptionFailed(EspPacket):
    """A key was given but did not decrypt the packet."""

    __slots__ = ()


class EspIcvFailed(EspPacket):
    """The integrity check value did not verify (RFC 4303 3.4.4)."""

    __slots__ = ()


class EspReplay(EspPacket):
    """A sequence number seen before or left of the window (RFC 4303 3.4.3)."""

    __slots__ = ()
