"""ESP Security Associations as the wire shows them (RFC 4303): packets and
bytes per SA, what could be decrypted, and the receiver's anti-replay window
(3.4.3) over the sequence numbers, to tell replays from gaps.

``packet`` takes any ESP packet; the tunnel observer's loop counts the
common case itself (the next sequence number on an SA it has seen, see
``hot``) and calls ``item`` for the rest of the packets it classified.

At most ``MAX_SAS`` SAs are kept one by one (a hub's tap sees a few
thousand); ESP on any further SA is only counted, together (``NotTracked``),
so a capture of 100,000 SPIs costs no more than one of 16,384.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from nhrpscope.replay.facts.capture import NatTraversal
from nhrpscope.replay.facts.nhrp import UnreadableFrames, UnreadableMark
from nhrpscope.replay.facts.tunnel import EspDecryptionFailed, EspIcvFailed, EspNoKey, EspReplay
from nhrpscope.replay.model import SasNotTracked, SecurityAssociation
from nhrpscope.replay.observers.routers import Routers

ESP_REPLAY_WINDOW = 1024
REPLAY_MASK = (1 << ESP_REPLAY_WINDOW) - 1
NAT_T_PORT = 4500  # RFC 3948
MAX_SAS = 16_384  # SAs (and NAT-T pairs) kept one by one; far above a real hub's
# distinct SAs past MAX_SAS told apart (by the hash of SPI and addresses,
# ~70 bytes each); past this the count of SAs not tracked is a lower bound
MAX_UNTRACKED_KEYS = 65_536
# why a packet could not be read, in the order ``unreadable_since`` counts them
_WHY = ("no key for that SA", "decryption failed (wrong key?)", "ICV check failed")


class SaState:
    """One SA's record and its anti-replay window: ``top`` the highest
    sequence number seen, bit i of ``window()`` set when ``top - i`` was
    seen. The tunnel loop, counting the next sequence number (nearly every
    packet), only adds one to ``run``: ``bits`` is the window as it was
    ``run`` such packets ago (a shift of a 1,024-bit number a packet saved)."""

    __slots__ = ("rec", "top", "bits", "run")

    def __init__(self, rec: SecurityAssociation) -> None:
        self.rec = rec
        self.top = 0
        self.bits = 0
        self.run = 0

    def window(self) -> int:
        """The window's bits, with ``run`` folded into ``bits``."""
        r = self.run
        if r:
            # r times: bits = ((bits << 1) | 1) & REPLAY_MASK
            self.bits = ((self.bits << r) | ((1 << r) - 1)) & REPLAY_MASK \
                if r < ESP_REPLAY_WINDOW else REPLAY_MASK
            self.run = 0
        return self.bits


class NotTracked:
    """The SAs past ``MAX_SAS``: their number, packets and bytes."""

    __slots__ = ("rec", "keys")

    def __init__(self) -> None:
        self.rec = SasNotTracked()
        self.keys: set[int] = set()

    def count(self, key: tuple[int, str, str], fr: int, nbytes: int) -> None:
        rec = self.rec
        rec.packets += 1
        rec.bytes += nbytes
        if rec.frames:
            rec.frames[1] = fr
        else:
            rec.frames = [fr, fr]
        h = hash(key)
        if h in self.keys:
            return
        if len(self.keys) < MAX_UNTRACKED_KEYS:
            self.keys.add(h)
            rec.sas += 1
        else:  # new, or first seen after the set filled: no telling
            rec.sas_exact = False

    def summary(self) -> SasNotTracked | None:
        return self.rec if self.rec.packets else None


def inet(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)


class EspSas:
    """Every SA of the capture, keyed by (SPI, source, destination)."""

    __slots__ = ("routers", "emit", "state", "sas", "hot", "natt", "_names", "by_dst",
                 "not_tracked")

    def __init__(self, routers: Routers, emit: Callable[..., None],
                 state: Callable[[Any], None]) -> None:
        self.routers = routers
        self.emit = emit
        self.state = state
        self.sas: dict[tuple[int, str, str], SaState] = {}
        # by the classifier's SA key: the SA's state, and whether a packet of
        # it went undecrypted (no key) before; the tunnel loop counts these
        self.hot: dict[bytes, tuple[SaState, bool]] = {}
        # the first ESP over UDP 4500 between two NBMA addresses: (sport, dport, frame, time)
        self.natt: dict[tuple[str, str], tuple[int, int, int, float]] = {}
        self._names: dict[bytes, tuple[int, str, str]] = {}
        self.by_dst: dict[str, list[SaState]] = {}  # the SAs towards each address
        self.not_tracked = NotTracked()  # ESP on SAs past MAX_SAS

    def natt_seen(self, src: str, dst: str, sport: int, dport: int, fr: int, t: float) -> None:
        if (src, dst) not in self.natt and len(self.natt) < MAX_SAS:
            self.natt[(src, dst)] = (sport, dport, fr, t)

    def item(self, number: int, t: float, wl: int, rk: bytes | None, inner_dst: int | None,
             ek: bytes, seq: int, sport: int, dport: int) -> None:
        """A classified ESP packet the hot path did not count: no key (``rk``
        None), or decrypted (GRE data inside, which the caller counts)."""
        names = self._names.get(ek)
        if names is None:  # ek: source, destination, SPI (4 bytes each) and 1 for NAT-T
            names = (int.from_bytes(ek[8:12], "big"), inet(ek[0:4]), inet(ek[4:8]))
            if len(self.sas) < MAX_SAS or names in self.sas:
                self._names[ek] = names  # else not tracked: kept nowhere
        spi, src, dst = names
        natt = sport != 0
        if natt:
            self.natt_seen(src, dst, sport, dport, number, t)
        st = self.packet(t, number, spi, seq, src, dst, wl,
                         "no-key" if rk is None else "decrypted", None, natt)
        if st is not None:
            self.hot[ek] = (st, st.rec.no_key > 0)

    def packet(self, t: float, fr: int, spi: int, seq: int | None, src: str, dst: str,
               nbytes: int, status: str | None, icv_ok: bool | None,
               natt: bool) -> SaState | None:
        """Count one ESP packet on its SA and slide the SA's replay window;
        None: the SA is past ``MAX_SAS``, the packet counted in ``not_tracked``."""
        key = (spi, src, dst)
        st = self.sas.get(key)
        if st is None:
            if len(self.sas) >= MAX_SAS:
                self.not_tracked.count(key, fr, nbytes)
                return None
            st = self.sas[key] = SaState(SecurityAssociation(f"0x{spi:08x}", src, dst, first=t,
                                                             frames=[fr, fr], natt=natt))
            self.by_dst.setdefault(dst, []).append(st)
            self.emit(t, fr, "esp", self.routers.claimed(src), self.routers.claimed(dst),
                      f"ESP SA 0x{spi:08x}", spi=f"0x{spi:08x}")
        sa = st.rec
        sa.packets += 1
        sa.bytes += nbytes
        sa.last = t
        sa.frames[1] = fr
        a, b = self.routers.claimed(src), self.routers.claimed(dst)
        if status == "decrypted":
            sa.decrypted += 1
        else:
            sa.undecrypted += 1
            if status == "decryption-failed" and icv_ok is not False:
                sa.decryption_failed += 1
                self.state(EspDecryptionFailed(sa.spi, src, dst, a, b, t, fr))
            elif status in (None, "no-key"):
                sa.no_key += 1
                self.state(EspNoKey(sa.spi, src, dst, a, b, t, fr))
        if icv_ok is False:
            sa.icv_failed += 1
            self.state(EspIcvFailed(sa.spi, src, dst, a, b, t, fr))
        if seq:
            self._slide(st, seq, t, fr)
        return st

    def _slide(self, st: SaState, seq: int, t: float, fr: int) -> None:
        """RFC 4303 3.4.3's window, as a receiver of everything the tap saw."""
        sa = st.rec
        st.window()
        if seq == 1 and st.top > 1:  # the counter starts again on the same SPI
            sa.resets += 1
            st.top = st.bits = 0
        if seq > st.top:
            shift = seq - st.top
            if shift > 1 and st.top:
                sa.gaps += shift - 1  # sequence numbers never seen at the tap
            st.bits = ((st.bits << shift) | 1) & REPLAY_MASK if shift < ESP_REPLAY_WINDOW else 1
            st.top = seq
            return
        off = st.top - seq
        if off >= ESP_REPLAY_WINDOW or (st.bits >> off) & 1:
            sa.replays += 1
            self.state(EspReplay(sa.spi, sa.src, sa.dst, self.routers.claimed(sa.src),
                                 self.routers.claimed(sa.dst), t, fr))
        else:
            st.bits |= 1 << off

    def mark(self, src: str | None, dst: str) -> UnreadableMark:
        """What could not be read so far on the SAs towards ``dst`` (from ``src``)."""
        seen = {}
        for st in self.by_dst.get(dst, ()):
            sa = st.rec
            if src is None or sa.src == src:
                seen[(int(sa.spi, 16), sa.src, sa.dst)] = (sa.no_key, sa.decryption_failed,
                                                          sa.icv_failed, sa.frames[1])
        return UnreadableMark(src, dst, seen)

    def unreadable_since(self, mark: UnreadableMark) -> list[UnreadableFrames]:
        """The SAs towards the mark's address that carried packets the replay
        could not read since the mark: the packets, why, the first frame
        (when the SA began since) and the last."""
        out = []
        for st in self.by_dst.get(mark.dst, ()):
            sa = st.rec
            if mark.src is not None and sa.src != mark.src:
                continue
            key = (int(sa.spi, 16), sa.src, sa.dst)
            before = mark.seen.get(key)
            no_key, failed, icv, _ = before if before is not None else (0, 0, 0, 0)
            counts = (sa.no_key - no_key, sa.decryption_failed - failed, sa.icv_failed - icv)
            if not any(counts):
                continue
            why = ", ".join(w for w, c in zip(_WHY, counts, strict=True) if c)
            frames = (sa.frames[1],) if before is not None else tuple(dict.fromkeys(sa.frames))
            out.append(UnreadableFrames(f"ESP SA {sa.spi} {sa.src} -> {sa.dst}", why,
                                        max(counts), frames))
        return out

    def records(self) -> list[SecurityAssociation]:
        return [st.rec for st in self.sas.values()]

    def untracked(self) -> SasNotTracked | None:
        """The SAs past ``MAX_SAS`` together; None when there were none."""
        return self.not_tracked.summary()

    def warnings(self) -> list[str]:
        """A capture warning when SAs went untracked."""
        u = self.untracked()
        if u is None:
            return []
        sas = f"{u.sas:,}" if u.sas_exact else f"at least {u.sas:,}"
        return [f"ESP: {len(self.sas):,} SAs tracked one by one (the limit); {sas} more SAs "
                f"({u.packets:,} packets, {u.bytes:,} bytes, frames {u.frames[0]}.."
                f"{u.frames[1]}) only counted together (ipsec.sas_not_tracked)"]

    def nat_traversal(self) -> tuple[NatTraversal, ...]:
        """At the capture's end: each NAT-T pair; a sender whose source port
        is not 4500 sits behind a NAT that translated it (RFC 3948 2.2)."""
        routers = self.routers
        out = []
        for (src, dst), (sport, _dport, fr, t) in self.natt.items():
            a, b = routers.claimed(src), routers.claimed(dst)
            r = routers.get(a)
            if sport != NAT_T_PORT and r is not None and not r.nat:
                r.nat = True
                r.nat_evidence = f"its ESP reaches {b} over UDP 4500 from port {sport}"
            known = tuple(x for x in (a, b) if x is not None and routers.is_nat(x))
            out.append(NatTraversal(a, b, sport, fr, t, known))
        return tuple(out)
