"""ESP with NULL encryption (RFC 2410) and no key: recognised as Wireshark's
heuristic does (a plausible next header and default padding before the ICV),
the NHRP inside decoded and replayed, and said to be a guess (issue 12 item 9)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from nhrpscope.dissectors.esp import (
    NULL_ICV_LENGTHS,
    SecurityAssociation,
    decode_esp_null,
    encode_esp,
    guess_null,
)
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.ip import encode_ipv4
from test_replay_build import HUB, R2, R2_T, R3, R3_T, Cap

from nhrpscope.capture import LINKTYPE_RAW, PcapWriter
from nhrpscope.pipeline import replay
from nhrpscope.replay.fastpath import Classifier

# integrity algorithms by ICV length, one per length ``guess_null`` tries
_INTEG = {12: ("hmac-sha1-96", 20), 16: ("hmac-sha256-128", 32), 0: ("null", 0),
          24: ("hmac-sha384-192", 48), 32: ("hmac-sha512-256", 64)}


def null_sa(spi: int, icv_len: int = 12) -> SecurityAssociation:
    integ, klen = _INTEG[icv_len]
    return SecurityAssociation(spi, None, None, "null", b"", integ, bytes(range(klen)))


def in_esp(cap: Cap, sas: dict[tuple[str, str], SecurityAssociation]) -> list[tuple[float, bytes]]:
    """``cap``'s frames, their GRE put in ESP under the SA of their direction."""
    seqs: dict[tuple[str, str], int] = {}
    out = []
    for it in cap.items:
        b = it.data
        src, dst = ".".join(map(str, b[12:16])), ".".join(map(str, b[16:20]))
        sa = sas[(src, dst)]
        seqs[(src, dst)] = seq = seqs.get((src, dst), 0) + 1
        out.append((it.time, encode_ipv4(src, dst, 50, encode_esp(sa, seq, b[20:], 47))))
    return out


def write(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    with path.open("wb") as fh:
        w = PcapWriter(fh, LINKTYPE_RAW)
        for t, b in frames:
            w.write(t, b)
    return path


def lab(tmp_path: Path, icv_len: int = 12) -> Path:
    cap = Cap()
    cap.register(1.0, R2, R2_T, 1)
    cap.register(2.0, R3, R3_T, 1)
    sas = {(R2, HUB): null_sa(0x201, icv_len), (HUB, R2): null_sa(0x102, icv_len),
           (R3, HUB): null_sa(0x301, icv_len), (HUB, R3): null_sa(0x103, icv_len)}
    return write(tmp_path / "null.pcap", in_esp(cap, sas))


@pytest.mark.parametrize("icv_len", NULL_ICV_LENGTHS)
def test_guess_null_finds_the_icv_length_and_trailer(icv_len):
    cap = Cap()
    cap.reg_request(1.0, R2, R2_T, 1)
    gre = cap.items[0].data[20:]
    esp = encode_esp(null_sa(0x201, icv_len), 1, gre, 47)
    icv, pad, nh = guess_null(esp)  # type: ignore[misc]
    assert (icv, nh) == (icv_len, 47) and -(len(gre) + 2) % 4 == pad
    d = decode_esp_null(esp)
    assert d is not None and d.payload == gre and d.record.null_heuristic
    assert d.record.status == "null-heuristic" and d.record.icv_ok is None


def test_encrypted_esp_is_not_taken_for_null():
    sa = SecurityAssociation(0x99, None, None, "aes-cbc", bytes(16), "hmac-sha1-96", bytes(20))
    cap = Cap()
    cap.reg_request(1.0, R2, R2_T, 1)
    gre = cap.items[0].data[20:]
    assert not any(guess_null(encode_esp(sa, i, gre, 47)) for i in range(1, 3001))


def test_a_cut_or_odd_packet_is_not_null():
    esp = encode_esp(null_sa(0x201), 1, b"\0\0\x20\x01" + bytes(40), 47)
    assert guess_null(esp[:-1]) is None and guess_null(esp[:7]) is None
    assert guess_null(esp[:-13] + b"\x63" + esp[-12:]) is None  # next header 99


def test_frame_decodes_nhrp_inside_and_says_it_guessed(tmp_path):
    path = lab(tmp_path)
    dec = FrameDecoder()
    frames = [b for _, b in _frames(path)]
    p = dec.decode(LINKTYPE_RAW, frames[0], frame=1)
    assert [la.proto for la in p.layers] == ["ipv4", "esp", "gre", "nhrp"]
    esp = p.layers[1]
    assert esp.null_heuristic and esp.status == "null-heuristic" and not esp.decrypted
    assert p.layers[3].type == "registration-request" and p.problems == []
    assert p.offsets == [0, 20, 28, 32]  # the NULL payload is the frame's own bytes
    [note] = dec.finish()
    assert note.startswith("ESP SA 0x00000201 from 172.16.25.2 to 172.16.15.2 (frame 1 on) was "
                           "read as NULL encryption (RFC 2410) without a key, detected "
                           "heuristically")


def _frames(path: Path) -> list[tuple[float, bytes]]:
    from nhrpscope.replay.source import CaptureSource

    with CaptureSource([str(path)]) as src:
        return [(r[1], r[3]) for r in src.records()]


@pytest.mark.parametrize("icv_len", [12, 0])
def test_replay_registers_through_null_esp_fast_and_full_alike(tmp_path, icv_len):
    path = lab(tmp_path, icv_len)
    docs = []
    for fast in (True, False):
        a = replay((str(path),), (), (), fast=fast).analysis
        assert sorted((r.spoke_nbma, r.state) for r in a.registrations) == [
            (R2, "registered"), (R3, "registered")]
        assert [f.code for f in a.findings if f.severity != "info"] == []
        assert "esp-no-key" not in {f.code for f in a.findings}
        assert len(a.capture.warnings) == 4
        assert all("detected heuristically" in w for w in a.capture.warnings)
        assert {s.spi: (s.packets, s.no_key, s.decrypted) for s in a.sas} == {
            spi: (1, 0, 0) for spi in ("0x00000201", "0x00000102", "0x00000301", "0x00000103")}
        doc = a.json()
        doc["capture"]["warnings"] = sorted(doc["capture"]["warnings"])
        docs.append(doc)
    assert docs[0] == docs[1]


def test_null_and_encrypted_sas_side_by_side(tmp_path):
    """Only the encrypted SA is counted as undecryptable; the classifier tests
    each SA once, on its first whole packet."""
    cap = Cap()
    cap.register(1.0, R2, R2_T, 1)
    cap.register(2.0, R3, R3_T, 1)
    aes = SecurityAssociation(0x301, None, None, "aes-cbc", bytes(16), "hmac-sha1-96", bytes(20))
    sas = {(R2, HUB): null_sa(0x201), (HUB, R2): null_sa(0x102), (R3, HUB): aes,
           (HUB, R3): null_sa(0x103)}
    path = write(tmp_path / "mixed.pcap", in_esp(cap, sas))
    a = replay((str(path),), (), ()).analysis
    regs = {r.spoke_nbma: r.state for r in a.registrations}
    assert regs[R2] == "registered"
    [f] = [f for f in a.findings if f.code == "esp-no-key"]
    assert f.message.startswith("1 ESP packet on SA 0x00000301 from 172.16.35.2 to 172.16.15.2 "
                                "could not be decrypted (no key)")
    c = Classifier(None)
    recs = [(i + 1, t, LINKTYPE_RAW, b, len(b), None) for i, (t, b) in enumerate(_frames(path))]
    out = [c.classify(r) for r in recs]
    # NULL SAs go to the full decode; the encrypted one is counted as no-key
    assert [o is None for o in out] == [True, True, False, True]


def test_tshark_agrees(tmp_path):
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    path = lab(tmp_path)
    out = subprocess.run([tshark, "-n", "-r", str(path), "-o",
                          "esp.enable_null_encryption_decode_heuristic:TRUE", "-T", "fields",
                          "-e", "esp.spi", "-e", "nhrp.hdr.op.type", "-e", "nhrp.reqid"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    ours = []
    dec = FrameDecoder()
    for _, b in _frames(path):
        p = dec.decode(LINKTYPE_RAW, b)
        ours.append((p.layers[1].spi, p.layers[3].type, p.layers[3].request_id))
    ops = {"3": "registration-request", "4": "registration-reply"}  # RFC 2332 5.2
    assert [(int(spi, 16), ops[op], int(rid, 0)) for spi, op, rid in rows] == ours
