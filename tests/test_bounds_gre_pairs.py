"""GRE between more outer address pairs than a hub's tap ever sees (hostile
input, issue 13): the first MAX_PAIRS are kept one by one, the rest counted
together and said in one capture warning; the tables stop growing."""

from __future__ import annotations

from pathlib import Path

from nhrpscope.dissectors.gre import encode_gre
from nhrpscope.dissectors.ip import encode_ipv4

from nhrpscope import api
from nhrpscope.capture import PcapWriter
from nhrpscope.replay.observers import tunnel

LINKTYPE_RAW = 101  # raw IPv4


def _capture(path: Path, pairs: int) -> None:
    inner = encode_ipv4("10.0.0.1", "10.0.0.2", 1, b"\x00" * 8)
    with open(path, "wb") as fh:
        w = PcapWriter(fh, LINKTYPE_RAW)
        for i in range(pairs):
            src = f"198.18.{i >> 8 & 255}.{i & 255}"
            pkt = encode_ipv4(src, "203.0.113.1", 47, encode_gre(0x0800, inner))
            w.write(1_700_000_000 + i * 1e-3, pkt, len(pkt))


def test_pairs_past_the_limit_are_counted_together(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tunnel, "MAX_PAIRS", 50)
    _capture(tmp_path / "many.pcap", 80)
    r = api.analyze(tmp_path / "many.pcap")
    (w,) = [w for w in r.analysis.capture.warnings if w.startswith("GRE:")]
    assert "50 address pairs counted one by one" in w and "30 more packets" in w
    assert "frames 51..80" in w


def test_a_tap_under_the_limit_says_nothing(tmp_path: Path) -> None:
    _capture(tmp_path / "few.pcap", 20)
    r = api.analyze(tmp_path / "few.pcap")
    assert not [w for w in r.analysis.capture.warnings if w.startswith("GRE:")]
