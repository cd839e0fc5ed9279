"""The tunnel observer's loop and the ESP SAs, driven directly (sans-I/O):
items in, counters and facts out."""

from __future__ import annotations

import socket
from typing import Any

from nhrpscope.replay.cache import DYNAMIC, NhrpCache
from nhrpscope.replay.facts.tunnel import EspNoKey, EspReplay
from nhrpscope.replay.model import Shortcut
from nhrpscope.replay.observers.esp import ESP_REPLAY_WINDOW, EspSas
from nhrpscope.replay.observers.routers import Routers
from nhrpscope.replay.observers.tunnel import TunnelObserver

A, B, C = "172.16.25.2", "172.16.35.2", "172.16.15.2"


class Host:
    """The loop's host: a clock, no deadlines, frames to walk kept."""

    def __init__(self) -> None:
        self.frames = 0
        self.now = float("-inf")
        self.last_frame = 0
        self.first: float | None = None
        self.walked: list[tuple] = []

    def due(self) -> float:
        return float("inf")

    def advance(self, t: float) -> None:
        raise AssertionError("no deadline is due")

    def walk_frame(self, it: tuple) -> None:
        self.walked.append(it)


def observer() -> tuple[TunnelObserver, list[tuple], list[Any], dict[str, NhrpCache]]:
    events: list[tuple] = []
    facts: list[Any] = []
    caches: dict[str, NhrpCache] = {}
    tun = TunnelObserver(Routers(), caches, lambda *a, **kw: events.append(a), facts.append)
    return tun, events, facts, caches


def rk(src: str, dst: str, key: int | None = None) -> bytes:
    raw = socket.inet_aton(src) + socket.inet_aton(dst) + b"\x20\x00\x08\x00"
    return raw + (key.to_bytes(4, "big") if key is not None else b"")


def test_gre_data_counted_per_pair_and_key_with_one_first_data_event():
    tun, events, _, _ = observer()
    host = Host()
    tun.run([(1, 1.0, 100, rk(A, C, 7), None), (2, 2.0, 120, rk(A, C, 7), None)], host)
    tr = tun.traffic[(A, C)]
    assert (tr.packets, tr.bytes, tr.frames, tr.gre_keys, tr.last) == (2, 220, [1, 2], [7], 2.0)
    assert [e[2] for e in events] == ["data-first"]
    assert (host.frames, host.now, host.last_frame, host.first) == (2, 2.0, 2, 1.0)


def test_frames_to_decode_go_to_the_host_and_walked_data_is_counted_in_the_same_loop():
    tun, _, _, _ = observer()
    host = Host()
    frame = (2, 1.5, 101, b"", 60, None)
    tun.run([(1, 1.0, 100, rk(A, C), None), frame], host)
    assert host.walked == [frame] and host.frames == 2
    # what the host finds walking frame 2 (a decoded GRE data packet) is counted, not a frame
    tun.count(host, 1.5, A, C, None, 60, None)
    tr = tun.traffic[(A, C)]
    assert (tr.packets, tr.bytes, tr.frames) == (2, 160, [1, 2])
    assert host.frames == 2


def test_shortcut_counts_direct_data_and_notes_its_first_packet():
    tun, events, _, _ = observer()
    host = Host()
    tun.run([(1, 1.0, 100, rk(A, B), None)], host)  # before the shortcut
    sc = Shortcut(A, B, 1.5, None, [5])
    tun.add_shortcut(sc, [A], [B])
    tun.watch(sc, [A], [B], [])  # the pairs from A look again
    tun.run([(6, 2.0, 100, rk(A, B), None), (7, 2.1, 100, rk(A, B), None)], host)
    assert (sc.direct_packets, sc.first_direct_data, sc.first_direct_frame) == (2, 2.0, 6)
    assert sc.frames == [5, 6]
    assert [e[2] for e in events] == ["data-first", "direct-data"]


def test_data_marks_the_cache_entry_it_uses_even_when_the_entry_comes_later():
    tun, _, _, caches = observer()
    host = Host()
    tun.run([(1, 1.0, 100, rk(A, B), None)], host)
    c = caches[A] = NhrpCache(lambda to: tun.cache_entry_added(A, to))
    c.put(1.5, 3, proto="192.168.0.3", via="192.168.0.3", nbma=B, claimed_nbma=B, type=DYNAMIC,
          source="resolution", holding_time=300)
    tun.run([(4, 2.0, 100, rk(A, B), None)], host)
    assert "used" in c.get("192.168.0.3").flags


def esp(facts: list[Any]) -> EspSas:
    return EspSas(Routers(), lambda *a, **kw: None, facts.append)


def test_esp_window_replays_gaps_and_resets():
    facts: list[Any] = []
    sas = esp(facts)
    for fr, seq in enumerate([1, 2, 5, 4, 4, 3, 1], start=1):
        st = sas.packet(float(fr), fr, 0x1234, seq, A, C, 100, "decrypted", True, False)
    sa = st.rec
    assert (sa.packets, sa.gaps, sa.replays, sa.resets) == (7, 2, 1, 1)
    assert [(type(f), f.frame) for f in facts] == [(EspReplay, 5)]
    # far left of the window: a replay too
    sas.packet(8.0, 8, 0x1234, ESP_REPLAY_WINDOW + 10, A, C, 100, "decrypted", True, False)
    sas.packet(9.0, 9, 0x1234, 5, A, C, 100, "decrypted", True, False)
    assert sa.replays == 2 and facts[-1].frame == 9


def test_esp_no_key_packets_are_counted_and_stated():
    facts: list[Any] = []
    sas = esp(facts)
    sas.packet(1.0, 1, 0x99, 1, A, C, 80, "no-key", None, False)
    sas.packet(2.0, 2, 0x99, 2, A, C, 80, None, None, False)
    [st] = sas.sas.values()
    assert (st.rec.no_key, st.rec.undecrypted, st.rec.spi) == (2, 2, "0x00000099")
    assert [f.frame for f in facts if isinstance(f, EspNoKey)] == [1, 2]


def test_classified_esp_counts_inline_after_the_first_packet():
    tun, _, facts, _ = observer()
    host = Host()
    ek = socket.inet_aton(A) + socket.inet_aton(C) + (0x42).to_bytes(4, "big") + b"\0"
    items = [(fr, float(fr), 90, None, None, ek, fr, 0, 0) for fr in range(1, 6)]
    tun.run(items, host)
    [st] = tun.esp.sas.values()
    assert (st.rec.packets, st.rec.no_key, st.top, st.rec.frames) == (5, 5, 5, [1, 5])
    assert len([f for f in facts if isinstance(f, EspNoKey)]) == 1  # the hot path says nothing
