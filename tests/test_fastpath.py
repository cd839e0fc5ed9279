"""The replay's fast path (header-byte classification, ESP opened at its ends,
the second reading process) gives what decoding every frame gives."""

from __future__ import annotations

import json
import random
import socket
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors.esp import SecurityAssociation, decode_esp, encode_esp
from nhrpscope.dissectors.esp_peek import EspPeek
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.gre import PT_IPV4, PT_IPV6, PT_NHRP, encode_gre
from nhrpscope.dissectors.ip import encode_ipv4, encode_ipv6

from nhrpscope.capture import PcapWriter
from nhrpscope.cli import main
from nhrpscope.keys import SADatabase, load_key_file, parse_tcpdump_spec
from nhrpscope.pipeline import replay
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.fastpath import Classifier
from nhrpscope.replay.source import CaptureSource, usable_cores
from nhrpscope.sim.net import udp
from nhrpscope.sim.run import Options, simulate, write_outputs
from nhrpscope.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
REF_KEYS = {
    "02-sunrise-sunset-esp.pcap": ("0x12345678@192.1.2.45 3des-cbc-hmac96:"
                                   "0x4043434545464649494a4a4c4c4f4f515152525454575758",),
    "08-sunrise-sunset-esp2.pcap": (
        "0x12345678@192.1.2.45 3des-cbc-hmac96:0x43434545464649494a4a4c4c4f4f51515252545457575840",
        "0xabcdabcd@192.0.1.1 3des-cbc-hmac96:0x434545464649494a4a4c4c4f4f5151525254545757584043"),
}


def analysis(files: list[Path], keys: tuple[str, ...] = (), specs: tuple[str, ...] = (),
             **kw: object) -> dict:
    rp = replay(tuple(map(str, files)), keys, specs, **kw)  # type: ignore[arg-type]
    doc = rp.analysis.json()
    doc["capture"]["warnings"] = sorted(doc["capture"]["warnings"])
    return doc


def three_ways(files: list[Path], keys: tuple[str, ...] = (), specs: tuple[str, ...] = ()) -> None:
    full = analysis(files, keys, specs, fast=False)
    assert analysis(files, keys, specs) == full
    assert analysis(files, keys, specs, verify_all=True) == full


# -- scale captures: fast path against a forced full decode ------------------------------------


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scale")
    out = {}
    for name, ipsec in (("clear", False), ("esp", True)):
        res = simulate(load_scenario("scale"), Options(spokes=100, packets=10000, seed=3, ipsec=ipsec))
        out[name] = write_outputs(res, str(d / f"s-{name}"), "pcap")[0]
    return out


def test_scale_clear_fast_equals_full_decode(scale):
    three_ways([scale["clear"]])


def test_scale_esp_fast_equals_full_decode(scale):
    keys = (str(scale["esp"].with_suffix(".esp_sa")),)
    three_ways([scale["esp"]], keys)
    # and without the keys: every packet counted as no-key
    three_ways([scale["esp"]])


def test_scale_fast_path_takes_nearly_every_frame(scale):
    """The point of it: data frames are classified, not decoded."""
    db = SADatabase()
    for sa in load_key_file(scale["esp"].with_suffix(".esp_sa")):
        db.add(sa)
    for path, lookup in ((scale["clear"], None), (scale["esp"], db.lookup)):
        c = Classifier(lookup)
        with CaptureSource([str(path)]) as src:
            kinds = [c.classify(rec) is not None for rec in src.records()]
        assert sum(kinds) / len(kinds) > 0.95


def test_staged_reading_process_equals_in_process(scale, monkeypatch):
    keys = (str(scale["esp"].with_suffix(".esp_sa")),)
    want_clear = analysis([scale["clear"]])
    want_esp = analysis([scale["esp"]], keys)
    monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 0)
    assert CaptureSource([str(scale["clear"])]).stageable()
    assert analysis([scale["clear"]]) == want_clear
    assert analysis([scale["esp"]], keys) == want_esp
    assert analysis([scale["esp"]], keys, verify_all=True) == want_esp


def test_staged_decode_only_equals_full_decode(scale, monkeypatch):
    runner = CliRunner()
    keys = scale["esp"].with_suffix(".esp_sa")
    db = SADatabase()
    for sa in load_key_file(keys):
        db.add(sa)
    for path, extra, lookup in ((scale["clear"], [], None), (scale["esp"], ["-k", str(keys)], db.lookup)):
        decoder = FrameDecoder(lookup)
        with CaptureSource([str(path)], dedup=False, reorder_window=0, reorder_max=0) as src:
            layers = {n: {la.proto for la in decoder.decode(lt, d).layers}
                      for n, _, lt, d, _, _ in src.records()}
        for only in ("nhrp", "ike"):
            args = ["decode", str(path), "--format", "jsonl", "--only", only, *extra]
            monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 1 << 40)
            inproc = runner.invoke(main, args)
            monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 0)
            staged = runner.invoke(main, args)
            assert inproc.exit_code == staged.exit_code == 0, inproc.output
            assert staged.stdout == inproc.stdout
            # the frames kept are those a full decode keeps
            kept = [json.loads(ln)["frame"] for ln in inproc.stdout.splitlines()]
            assert kept == [n for n, protos in layers.items() if only in protos]
            assert only != "nhrp" or kept


def test_staged_pcapng_with_keys_inside(tmp_path, monkeypatch):
    """Keys in a Decryption Secrets Block reach both processes, in order; with
    --no-capture-keys neither uses them."""
    res = simulate(load_scenario("scale"), Options(spokes=30, packets=3000, seed=8, ipsec=True))
    cap = write_outputs(res, str(tmp_path / "k"), "pcapng")[0]
    runner = CliRunner()
    for extra in ([], ["--no-capture-keys"]):
        args = ["analyze", str(cap), "--format", "json", *extra]
        monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 1 << 40)
        inproc = runner.invoke(main, args)
        monkeypatch.setattr(CaptureSource, "STAGE_MIN_BYTES", 0)
        staged = runner.invoke(main, args)
        assert inproc.exit_code == staged.exit_code == 0, staged.output
        doc = json.loads(staged.stdout)
        assert doc == json.loads(inproc.stdout)
        decrypted = sum(sa["decrypted"] for sa in doc["ipsec"]["sas"])
        assert (decrypted > 0) == (not extra)


def test_verify_all_flag(scale):
    keys = str(scale["esp"].with_suffix(".esp_sa"))
    r = CliRunner().invoke(main, ["analyze", str(scale["esp"]), "-k", keys, "--format", "json",
                                  "--verify-all"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(
        CliRunner().invoke(main, ["analyze", str(scale["esp"]), "-k", keys, "--format", "json"]).stdout)


# -- the captures shipped and the reference captures ----------------------------------------


def _committed() -> list[tuple[Path, tuple[str, ...]]]:
    out: list[tuple[Path, tuple[str, ...]]] = []
    for p in sorted(CAPTURES.glob("*.pcapng")):
        keys = p.with_suffix(".esp_sa")
        out.append((p, (str(keys),) if keys.exists() else ()))
    return out


@pytest.mark.parametrize("path,keys", _committed(), ids=lambda x: x.name if isinstance(x, Path) else "")
def test_committed_captures_fast_equals_full(path, keys):
    three_ways([path], keys)


def test_reference_captures_fast_equals_full(reference):
    for p in sorted(reference.glob("*.pcap")):
        three_ways([p])
        if p.name in REF_KEYS:
            three_ways([p], (), REF_KEYS[p.name])


# -- crafted frames: what the classifier must leave to the full decode ------------------------

HUB, S1, S2 = "198.51.100.1", "172.16.0.6", "172.16.0.10"
MAC = b"\x02\x00\xc6\x33\x64\x01\x02\x00\xac\x10\x00\x06\x08\x00"


def _inner(kind: str, dst: str = "10.0.0.9") -> bytes:
    if kind == "udp":
        return encode_ipv4("10.0.0.2", dst, 17, udp("10.0.0.2", dst, 5001, 5001, b"x" * 40), ttl=63)
    if kind == "udp4500":
        return encode_ipv4("10.0.0.2", dst, 17, udp("10.0.0.2", dst, 4500, 4500, b"\1\2\3\4" * 10))
    if kind == "udp500":
        return encode_ipv4("10.0.0.2", dst, 17, udp("10.0.0.2", dst, 500, 500, b"\0" * 40))
    if kind == "icmp-frag":
        body = bytes((3, 4, 0, 0, 0, 0, 5, 0x78)) + encode_ipv4(dst, "10.0.0.2", 47, b"\0" * 16)
        return encode_ipv4("10.0.0.2", dst, 1, body)
    if kind == "tcp":
        return encode_ipv4("10.0.0.2", dst, 6, struct.pack("!HHIIBBHHH", 1, 2, 3, 4, 0x50, 2, 9, 0, 0))
    if kind == "frag":
        return encode_ipv4("10.0.0.2", dst, 17, b"y" * 64, mf=True)
    if kind == "ipip":
        return encode_ipv4("10.0.0.2", dst, 4, encode_ipv4("1.1.1.1", "2.2.2.2", 17, b"z" * 20))
    if kind == "keepalive":
        return encode_ipv4(S2, S1, 47, encode_gre(0, b""))
    if kind == "nhrp-ip":
        return encode_ipv4("10.0.0.2", dst, 54, b"\0" * 40)
    raise AssertionError(kind)


def _gre_frames(rng: random.Random) -> list[bytes]:
    out = []
    kinds = ["udp", "udp4500", "udp500", "icmp-frag", "tcp", "frag", "ipip", "keepalive", "nhrp-ip"]
    for kind in kinds:
        for key in (None, 7):
            for seq in (None, 99):
                gre = encode_gre(PT_IPV4, _inner(kind), key=key, seq=seq)
                out.append(MAC + encode_ipv4(S1, HUB, 47, gre, ident=rng.randrange(65536)))
    v6 = encode_ipv6("2001:db8::1", "2001:db8::2", 17, udp("10.0.0.2", "10.0.0.9", 1, 2, b"q" * 30))
    out.append(MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_IPV6, v6, key=7)))
    out.append(MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_NHRP, b"\0" * 40, key=7)))
    out.append(MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_IPV4, _inner("udp"), key=7), mf=True))
    return out


def _mutants(frames: list[bytes], rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        b = bytearray(rng.choice(frames))
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(12, min(len(b), 80))
            b[i] = rng.choice((0, 1, 4, 17, 47, 50, 0x45, 0x20, 0x80, 0xFF, rng.randrange(256)))
        if rng.random() < 0.2:
            del b[rng.randrange(20, len(b)):]
        out.append(bytes(b))
    return out


def _replay(frames: list[bytes], lookup: object, fast: bool) -> dict:
    eng = Engine(lookup, fast=fast)  # type: ignore[arg-type]
    recs = [(i + 1, 1_700_000_000.0 + i * 0.01, 1, b, len(b), None) for i, b in enumerate(frames)]
    eng.feed_records(recs)
    eng.finish()
    doc = eng.analysis(["x"], warnings=eng.decoder.finish()).json()
    return doc


def test_crafted_gre_frames_fast_equals_full():
    rng = random.Random(6)
    frames = _gre_frames(rng)
    frames = frames * 3 + _mutants(frames, rng, 3000)
    rng.shuffle(frames)
    assert _replay(frames, None, True) == _replay(frames, None, False)


def test_classifier_leaves_what_the_walk_uses_to_the_full_decode():
    c = Classifier()
    for kind in ("udp4500", "udp500", "icmp-frag", "frag", "ipip", "keepalive", "nhrp-ip"):
        for key in (None, 7):
            b = MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_IPV4, _inner(kind), key=key))
            assert c.classify((1, 0.0, 1, b, len(b), None)) is None, kind
    b = MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_IPV4, _inner("udp"), key=7))
    item = c.classify((1, 0.0, 1, b, len(b), None))
    assert item is not None and item[3] == socket.inet_aton(S1) + socket.inet_aton(HUB) + \
        b"\x20\x00\x08\x00" + (7).to_bytes(4, "big")
    assert item[4] == int.from_bytes(socket.inet_aton("10.0.0.9"), "big")
    # the same packet cut by a snap length keeps its headers: still counted
    assert c.classify((1, 0.0, 1, b[:70], len(b), None)) is not None
    assert c.classify((1, 0.0, 1, b[:40], len(b), None)) is None


# -- ESP opened at its ends --------------------------------------------------------------------

ALGOS = [("aes-cbc", 16), ("aes-cbc", 32), ("3des-cbc", 24), ("aes-ctr", 20), ("aes-gcm-16", 20),
         ("aes-gcm-12", 36), ("aes-gcm-16-iiv", 20), ("camellia-cbc", 16)]


def _sa(rng: random.Random, enc: str, klen: int, spi: int = 0x1234) -> SecurityAssociation:
    aead = enc.startswith("aes-gcm")
    return SecurityAssociation(spi, S1, HUB, enc, rng.randbytes(klen),
                               "null" if aead else "hmac-sha1-96", b"" if aead else rng.randbytes(20))


@pytest.mark.parametrize("enc,klen", ALGOS)
def test_esp_peek_agrees_with_decode_esp(enc, klen):
    rng = random.Random(f"{enc}{klen}")
    sa = _sa(rng, enc, klen)
    peek = EspPeek.for_sa(sa)
    assert peek is not None
    for size in (1, 3, 20, 40, 41, 100, 300, 1400):
        for nh, payload in ((47, encode_gre(PT_IPV4, _inner("udp")[: 20 + size], key=9)),
                            (47, encode_gre(PT_NHRP, rng.randbytes(size))),
                            (47, rng.randbytes(size + 4)), (4, _inner("udp")), (17, rng.randbytes(size + 8))):
            esp = encode_esp(sa, rng.randrange(1, 1 << 31), payload, nh)
            frame = b"\0" * 34 + esp
            got = peek.peek(frame, 34, len(frame))
            d = decode_esp(esp, sa)
            if got is None:
                assert not (d.record.status == "decrypted" and d.record.next_header == 47
                            and payload[:4] in (b"\0\0\x08\0", b"\x20\0\x08\0")), (size, nh)
                continue
            head, glen = got
            assert d.record.status == "decrypted" and d.record.next_header == 47
            assert glen == len(d.payload) and head[:glen] == d.payload[: len(head)]
            assert len(head) >= min(glen, EspPeek.HEAD)
            assert peek.verify(frame, 34, len(frame)) is (not sa.algorithm.is_aead)
            bad = frame[:-1] + bytes((frame[-1] ^ 1,))
            assert not peek.verify(bad, 34, len(bad))
    # another key opens nothing
    other = EspPeek.for_sa(_sa(random.Random(1), enc, klen))
    esp = encode_esp(sa, 5, encode_gre(PT_IPV4, _inner("udp"), key=9), 47)
    frame = b"\0" * 34 + esp
    assert other is not None and other.peek(frame, 34, len(frame)) is None


def test_esp_peek_declines_what_it_cannot_open():
    rng = random.Random(2)
    sa = SecurityAssociation(1, None, None, "chacha20-poly1305", rng.randbytes(36))
    assert EspPeek.for_sa(sa) is None


def test_crafted_esp_frames_fast_equals_full():
    """Several algorithms, several SAs, GRE data and NHRP inside, wrong
    ICVs, cut and mutated packets, NAT-T, sequence numbers in and out of order."""
    rng = random.Random(11)
    db = SADatabase()
    frames: list[bytes] = []
    for i, (enc, klen) in enumerate(ALGOS):
        sa = _sa(rng, enc, klen, spi=0x100 + i)
        db.add(sa)
        seq = 0
        for j in range(30):
            seq += 1 if rng.random() < 0.9 else rng.randrange(-3, 5)
            kind = rng.choice(["udp", "udp", "udp", "tcp", "udp4500", "udp500", "frag", "icmp-frag"])
            # with a sequence number too, the inner ports lie past the bytes opened first
            payload = encode_gre(PT_IPV4, _inner(kind), key=7 if j % 2 else None,
                                 seq=j if j % 3 == 0 else None)
            if j % 7 == 3:
                payload = encode_gre(PT_NHRP, rng.randbytes(60), key=7)
            esp = encode_esp(sa, max(seq, 1), payload, 47)
            if j % 11 == 5:
                esp = esp[:-1] + bytes((esp[-1] ^ 0x40,))  # a wrong ICV
            if j % 5 == 4:
                body = udp(S1, HUB, 4500, 4500, esp)
                frames.append(MAC + encode_ipv4(S1, HUB, 17, body, ident=j))
            else:
                frames.append(MAC + encode_ipv4(S1, HUB, 50, esp, ident=j))
        # GRE with key and sequence number: NAT-T or IKE ports past the first 32 bytes
        for kind in ("udp4500", "udp500", "udp"):
            seq += 1
            payload = encode_gre(PT_IPV4, _inner(kind), key=7, seq=seq)
            frames.append(MAC + encode_ipv4(S1, HUB, 50, encode_esp(sa, seq, payload, 47), ident=seq))
    # an SA nobody has the key of
    nokey = _sa(rng, "aes-cbc", 16, spi=0x999)
    for j in range(20):
        frames.append(MAC + encode_ipv4(HUB, S1, 50, encode_esp(nokey, j + 1, b"\0" * 40, 47)))
    frames += _mutants(frames, rng, 600)
    # Without keys, and with --verify-all, the fast path gives exactly what decoding gives.
    assert _replay(frames, None, True) == _replay(frames, None, False)
    eng = Engine(db.lookup, verify_all=True)
    eng.feed_records([(i + 1, 1_700_000_000.0 + i * 0.01, 1, b, len(b), None)
                      for i, b in enumerate(frames)])
    eng.finish()
    assert eng.analysis(["x"], warnings=eng.decoder.finish()).json() == _replay(frames, db.lookup, False)
    # By default a data packet's ICV is not checked (NHRP's is): the same on
    # every frame whose ICV is right (or has no ESP at all).
    decoder = FrameDecoder(db.lookup)
    good = [b for b in frames
            if all(getattr(la, "icv_ok", None) is not False
                   for la in decoder.decode(1, b).layers if la.proto == "esp")]
    assert len(good) < len(frames)
    assert _replay(good, db.lookup, True) == _replay(good, db.lookup, False)


def test_keys_arriving_mid_capture_are_used():
    """A key learned after the first packets of an SA (a pcapng secrets block
    adds it to the store) turns its later packets from no-key into decrypted."""
    rng = random.Random(5)
    sa = _sa(rng, "aes-cbc", 16, spi=0x4242)
    frames = [MAC + encode_ipv4(S1, HUB, 50, encode_esp(sa, i + 1, encode_gre(PT_IPV4, _inner("udp")), 47))
              for i in range(10)]
    recs = [(i + 1, 1_700_000_000.0 + i, 1, b, len(b), None) for i, b in enumerate(frames)]
    docs = []
    for fast in (True, False):
        db = SADatabase()
        eng = Engine(db.lookup, fast=fast)
        eng.feed_records(recs[:5])
        db.add(sa)
        eng.feed_records(recs[5:])
        eng.finish()
        docs.append(eng.analysis(["x"]).json())
    assert docs[0] == docs[1]
    [row] = docs[0]["ipsec"]["sas"]
    assert row["no_key"] == 5 and row["decrypted"] == 5


# -- reading: chunks, reorder, duplicates -------------------------------------------------------


def _write(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    with open(path, "wb") as fh:
        w = PcapWriter(fh, 1)
        for t, b in frames:
            w.write(t, b)
    return path


def test_records_across_chunk_boundaries_and_cut_files(tmp_path, monkeypatch):
    import nhrpscope.capture as cap

    rng = random.Random(3)
    frames = [(1_700_000_000 + i * 0.001, rng.randbytes(rng.randrange(14, 3000))) for i in range(400)]
    p = _write(tmp_path / "a.pcap", frames)
    data = p.read_bytes()
    for chunk in (64, 1000, 1 << 20):
        monkeypatch.setattr(cap, "CHUNK", chunk)
        with cap.CaptureReader(p) as r:
            got = [(round(t, 6), d) for _, t, _, d, _, _ in r.records()]
        assert got == [(round(t, 6), b) for t, b in frames]
        for cut in (len(data) - 1, len(data) - 3000, 24 + 16 + 5, 24 + 7):
            (tmp_path / "c.pcap").write_bytes(data[:cut])
            with cap.CaptureReader(tmp_path / "c.pcap") as r:
                n = sum(1 for _ in r.records())
                warnings = list(r.warnings)
            with cap.CaptureReader(tmp_path / "c.pcap") as r:
                assert sum(1 for _ in r) == n and r.warnings == warnings
            assert len(warnings) == 1 and "cut short" in warnings[0]


def test_duplicates_and_reordering(tmp_path):
    base = 1_700_000_000.0
    pkt = [MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_IPV4, _inner("udp")), ident=i, ttl=64)
           for i in range(6)]
    lower_ttl = bytearray(pkt[0])
    lower_ttl[14 + 8] -= 1  # the same packet one hop later (TTL and checksum differ)
    frames = [(base, pkt[0]), (base + 0.5, bytes(lower_ttl)), (base + 0.2, pkt[1]),  # a late frame
              (base + 3.0, pkt[0]),  # the same packet again, but > 1 s later: counted
              (base + 3.1, pkt[2]), (base + 3.15, pkt[2])]
    p = _write(tmp_path / "d.pcap", frames)
    with CaptureSource([str(p)]) as src:
        got = [(n, round(t - base, 3)) for n, t, *_ in src.records()]
        assert src.duplicates == 2 and src.frames == 4 and src.read == 6
    assert got == [(1, 0.0), (3, 0.2), (4, 3.0), (5, 3.1)]
    with CaptureSource([str(p)], dedup=False) as src:
        assert len(list(src.records())) == 6


def test_no_reading_process_for_small_or_piped_input(tmp_path):
    p = _write(tmp_path / "s.pcap", [(1.0, MAC + b"\0" * 40)])
    assert not CaptureSource([str(p)]).stageable()
    if usable_cores() > 1:
        src = CaptureSource([str(p)])
        src.STAGE_MIN_BYTES = 0
        assert src.stageable()
        assert not CaptureSource([str(p), str(p)]).stageable()


def test_parse_tcpdump_spec_key_is_usable_by_the_fast_path():
    [sa] = parse_tcpdump_spec("0x1234@198.51.100.1 aes128-cbc-hmac96:0x" + "11" * 16)
    assert EspPeek.for_sa(sa) is not None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.integers(0, 40), max_size=12), max_size=12),
       st.sampled_from([0.0, 0.5, 1.0, 3.0]), st.sampled_from([0, 1, 3, 4096]))
def test_in_order_by_the_list_is_the_per_frame_buffer(chunks, window, max_frames):
    """``_in_order`` takes a list in order whole; what leaves, and in what
    order, is what a buffer taking one frame at a time gives (the reading
    process's algorithm before it took chunks, kept here as the oracle)."""
    from collections import deque
    from itertools import chain

    from nhrpscope.replay.source import _in_order

    def one_at_a_time(frames):  # noqa: ANN001, ANN202
        if window <= 0 and max_frames <= 0:
            yield from frames
            return
        buf: deque = deque()
        last = float("-inf")
        for fr in frames:
            t = fr[1]
            if t < last:
                i = len(buf) - 1
                while i > 0 and buf[i - 1][1] > t:
                    i -= 1
                buf.insert(i, fr)
            else:
                buf.append(fr)
                last = t
            while buf and (len(buf) > max_frames or t - buf[0][1] > window):
                yield buf.popleft()
        yield from buf

    n = iter(range(10**6))
    batches = [[(next(n), t / 10) for t in c] for c in chunks]
    want = list(one_at_a_time(chain.from_iterable(batches)))
    got = list(chain.from_iterable(_in_order(batches, window, max_frames)))
    assert got == want


def test_record_batches_equal_records_with_the_same_counters(tmp_path, monkeypatch):
    import nhrpscope.capture as cap

    base = 1_700_000_000.0
    rng = random.Random(5)
    pkts = [MAC + encode_ipv4(S1, HUB, 47, encode_gre(PT_IPV4, _inner("udp")), ident=i % 50)
            for i in range(300)]  # ident repeats: duplicates within the window and not
    frames = [(base + i * 0.01 + rng.uniform(-0.3, 0.3), p)  # many a time inversion
              for i, p in enumerate(pkts)]
    p = _write(tmp_path / "r.pcap", frames)
    monkeypatch.setattr(cap, "CHUNK", 4000)  # many chunks
    with CaptureSource([str(p)]) as a, CaptureSource([str(p)]) as b:
        one = list(a.records())
        many = [r for batch in b.record_batches() for r in batch]
        assert one == many and len(one) < 300
        assert (a.frames, a.read, a.duplicates, a.first, a.last) == \
               (b.frames, b.read, b.duplicates, b.first, b.last)
