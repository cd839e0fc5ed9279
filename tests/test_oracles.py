"""Agreement with tshark, run live on the reference captures (skipped when
tshark is missing). Our own encoder proves little; they prove much."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from nhrpscope.dissectors.frame import FrameDecoder

from nhrpscope.capture import CaptureReader


def _pairs(pairs: list[tuple[str, object]]) -> list[tuple[str, object]]:
    return pairs  # keep duplicate keys (several CIEs, several extensions) in order


def tshark_packets(tshark: str, path: Path, *extra: str) -> list[list[tuple[str, object]]]:
    out = subprocess.run([tshark, "-r", str(path), "-T", "json", *extra], capture_output=True,
                         check=True, timeout=120).stdout
    return [dict(p)["_source"] for p in json.loads(out, object_pairs_hook=_pairs)]


def flatten(node: object, into: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """Every leaf (name, value) of a tshark JSON tree, in order."""
    into = [] if into is None else into
    if isinstance(node, list):
        for k, v in node:
            if isinstance(v, list) and v and isinstance(v[0], tuple):
                flatten(v, into)
            else:
                into.append((k, v))
    return into


def layers_of(src: list[tuple[str, object]]) -> list[tuple[str, object]]:
    return dict(src)["layers"]


def ours(path: Path) -> list:
    dec = FrameDecoder()
    with CaptureReader(path) as r:
        return [dec.decode(f.linktype, f.data, frame=f.number, time=f.time, wire_len=f.wire_len)
                for f in r]


def test_gre_fields_agree_with_tshark_on_various_gre(reference, tshark):
    path = reference / "various_gre.pcap"
    theirs = tshark_packets(tshark, path)
    mine = ours(path)
    assert len(theirs) == len(mine) == 100
    compared = 0
    for t, m in zip(theirs, mine, strict=True):
        tg = [v for k, v in layers_of(t) if k == "gre"]
        mg = [la for la in m.layers if la.proto == "gre"]
        assert len(tg) == len(mg), f"frame {m.frame}: GRE layer count"
        for tl, ml in zip(tg, mg, strict=True):
            f = dict(flatten(tl))
            assert int(f["gre.proto"], 16) == ml.protocol_type, m.frame
            assert ml.version == int(f["gre.flags.version"])
            if "gre.key" in f:
                assert int(f["gre.key"], 16) == ml.key
            else:
                assert ml.key is None
            if "gre.sequence_number" in f:
                assert int(f["gre.sequence_number"]) == ml.seq
            else:
                assert ml.seq is None
            if "gre.checksum" in f:
                assert int(f["gre.checksum"], 16) == ml.checksum
                assert ml.checksum_ok is not None
            else:
                assert ml.checksum_ok is None
            compared += 1
    assert compared >= 30


NHRP_FILES = ["ios_nhrp.pcap", "NHRP_registration.pcap", "nhrp-trace.pcap"]


@pytest.mark.parametrize("name", NHRP_FILES)
def test_nhrp_fields_agree_with_tshark(reference, tshark, name):
    path = reference / name
    theirs = tshark_packets(tshark, path)
    mine = ours(path)
    n = 0
    for t, m in zip(theirs, mine, strict=True):
        tl = [v for k, v in layers_of(t) if k == "nhrp"]
        mn = [la for la in m.layers if la.proto == "nhrp"]
        if not tl:
            assert not mn
            continue
        f = flatten(tl[0])
        d = dict(reversed(f))  # first occurrence wins: the mandatory part's CIE
        nh = mn[0]
        assert nh.type_code == int(d["nhrp.hdr.op.type"]), m.frame
        assert nh.hop_count == int(d["nhrp.hdr.hopcnt"])
        assert nh.packet_size == int(d["nhrp.hdr.pktsz"])
        assert nh.checksum_ok == (d["nhrp.hdr.chksum.status"] == "1")
        assert nh.extension_offset == int(d["nhrp.hdr.extoff"])
        assert nh.src_nbma == d["nhrp.src.nbma.addr"]
        assert nh.src_proto == d["nhrp.src.prot.addr"]
        assert nh.dst_proto == d["nhrp.dst.prot.addr"]
        if "nhrp.reqid" in d:
            assert nh.request_id == int(d["nhrp.reqid"], 16)
        if nh.cies:
            c = nh.cies[0]
            assert c.code == int(d["nhrp.code"]) and c.prefix_len == int(d["nhrp.prefix"])
            assert c.mtu == int(d["nhrp.mtu"]) and c.holding_time == int(d["nhrp.htime"])
            assert c.preference == int(d["nhrp.pref"])
        # Extensions: the same types in the same order, with the same CIE addresses.
        ext_types = [int(v, 16) & 0x7FFF for k, v in f if k == "nhrp.ext.type"]
        assert [e.type for e in nh.extensions if e.type != 0][: len(ext_types)] == \
            [x for x in ext_types if x != 0]
        t_cli = [v for k, v in f if k == "nhrp.client.nbma.addr"]
        m_cli = [c.client_nbma for c in nh.cies if c.client_nbma]
        for e in nh.extensions:
            m_cli += [c.client_nbma for c in getattr(e, "cies", ()) if c.client_nbma]
        assert sorted(m_cli) == sorted(t_cli), m.frame
        n += 1
    assert n > 0
