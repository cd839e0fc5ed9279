"""The ESP anti-replay window kept lazily (``SaState.run``) is the window
slid packet by packet (RFC 4303 3.4.3)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nhrpscope.replay.model import SecurityAssociation
from nhrpscope.replay.observers.esp import ESP_REPLAY_WINDOW, REPLAY_MASK, EspSas, SaState
from nhrpscope.replay.observers.routers import Routers


def _slid(bits: int, steps: int) -> int:
    for _ in range(steps):
        bits = ((bits << 1) | 1) & REPLAY_MASK
    return bits


@settings(max_examples=200, deadline=None)
@given(st.integers(0, REPLAY_MASK), st.lists(st.integers(0, 2 * ESP_REPLAY_WINDOW + 5), max_size=4))
def test_run_folds_in_as_one_step_at_a_time(bits, runs):
    s = SaState(SecurityAssociation("0x1", "a", "b"))
    s.bits = want = bits
    for r in runs:
        s.run += r
        want = _slid(want, r)
        if r % 2:  # folded now and then, as the observer does when it needs the bits
            assert s.window() == want and s.run == 0
    assert s.window() == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.just(1), st.integers(-1500, 1500)), min_size=1, max_size=300),
       st.integers(0, 2**32 - 3000))
def test_hot_loop_counting_equals_packet_by_packet(steps, start):
    """Sequence numbers mostly in order (the tunnel loop counts those with
    ``run``), with gaps, replays, late packets and restarts at 1: replays,
    gaps and resets come out as ``EspSas.packet`` alone gives them."""
    def sas() -> EspSas:
        return EspSas(Routers(), lambda *a, **k: None, lambda fact: None)

    one, lazy = sas(), sas()
    seq = start
    for i, d in enumerate(steps):
        seq = 1 if d == 0 else max(1, seq + d)
        one.packet(float(i), i, 5, seq, "a", "b", 100, "decrypted", None, False)
        st_ = lazy.sas.get((5, "a", "b"))
        if st_ is not None and seq == st_.top + 1:  # what TunnelObserver.run does
            st_.rec.packets += 1
            st_.rec.bytes += 100
            st_.rec.last = float(i)
            st_.rec.frames[1] = i
            st_.rec.decrypted += 1
            st_.run += 1
            st_.top = seq
        else:
            lazy.packet(float(i), i, 5, seq, "a", "b", 100, "decrypted", None, False)
    a, b = one.sas[(5, "a", "b")], lazy.sas[(5, "a", "b")]
    assert a.rec == b.rec and a.top == b.top and a.window() == b.window()
