"""Pathological input: what a broken router, a hostile peer or a damaged file
can hand us. Each must take bounded time and memory and end in a clear
problem (a value on the packet) or one error line.

The 4 GB pcap record and the 10 MB key-file line are in test_robustness.py.
The last sections are regression tests for the bugs the fuzz suite found.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
from pathlib import Path

import pytest
from _limits import check_exit, invoke, peak_memory, run_cli, time_limit
from nhrpscope.dissectors import gre, ip
from nhrpscope.dissectors.base import internet_checksum
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.ike import decode_ike_message, encode_ike_message, make_ike_header
from nhrpscope.dissectors.ike_payloads import GenericPayload
from nhrpscope.dissectors.link import Ethernet, encode_ethernet
from nhrpscope.dissectors.nhrp import (
    MAX_NESTING,
    NhrpPacket,
    decode_nhrp,
    encode_nhrp,
    make_auth_extension,
    make_cie,
    make_cie_extension,
    make_end_extension,
    make_packet,
)

from nhrpscope import keys
from nhrpscope.capture import CaptureError, CaptureReader, PcapngWriter, PcapWriter, _block
from nhrpscope.render.jsonout import packet_json
from nhrpscope.sim.scenario import ScenarioError, builtin_text, parse_scenario

MB = 1 << 20
SPOKE, HUB = "172.16.25.2", "172.16.15.2"


def read_all(path: Path) -> tuple[int, list[str]]:
    """(frames read, warnings); CaptureError propagates."""
    with CaptureReader(path) as r:
        n = sum(1 for _ in r)
    return n, r.warnings


def one_line(e: BaseException, *parts: str) -> None:
    msg = str(e)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, (p, msg)


def write_pcap(path: Path, frames: list[bytes], linktype: int = 1) -> Path:
    with open(path, "wb") as f:
        w = PcapWriter(f, linktype)
        for i, data in enumerate(frames):
            w.write(1_700_000_000 + i, data)
    return path


def tunnel(payload: bytes, protocol_type: int = 0x2001, src: str = SPOKE, dst: str = HUB) -> bytes:
    """Ethernet / IPv4 / GRE (key 2) around ``payload``."""
    return encode_ethernet(Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", 0x0800),
                           ip.encode_ipv4(src, dst, 47, gre.encode_gre(protocol_type, payload, key=2)))


# -- pcapng block lengths --------------------------------------------------------------


def section() -> bytes:
    """A good section: header, interface, one frame."""
    buf = io.BytesIO()
    PcapngWriter(buf).write(1.0, b"frame one", 1)
    return buf.getvalue()


BAD_BLOCKS = {
    "zero": struct.pack("<II", 6, 0) + bytes(64),
    "shorter-than-a-block-header": struct.pack("<II", 6, 8) + bytes(64),
    "not-a-multiple-of-4": struct.pack("<II", 6, 13) + bytes(64),
    # offset + length wraps a 32-bit offset round to before this block
    "wraps-back-to-the-start": struct.pack("<II", 6, 0xFFFFFFFC) + bytes(64),
    "trailer-disagrees": _block(6, bytes(24))[:-4] + struct.pack("<I", 12),
    "secrets-block-of-4-GiB": struct.pack("<II", 0x0A, 0xFFFFFFF0) + bytes(64),
    # a second section whose header's length leaves no room for its fields (a fuzz find)
    "section-header-of-12": struct.pack("<III", 0x0A0D0D0A, 12, 0x1A2B3C4D) + bytes(64),
    "section-header-of-0": struct.pack("<III", 0x0A0D0D0A, 0, 0x1A2B3C4D) + bytes(64),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", sorted(BAD_BLOCKS))
def test_pcapng_block_lengths_that_loop_point_back_or_are_zero(tmp_path, name, gz):
    blob = section() + BAD_BLOCKS[name] + section()
    p = tmp_path / "bad.pcapng"
    p.write_bytes(gzip.compress(blob) if gz else blob)
    with time_limit(5, name), peak_memory() as peak:
        with pytest.raises(CaptureError) as e:
            read_all(p)
    one_line(e.value, str(p), f"offset {len(section())}")
    assert peak[0] < 4 * MB, peak[0]
    # the key reader walks the same blocks (by seeking): a loop or a huge read there too?
    with time_limit(5, name), peak_memory() as peak:
        try:
            keys.read_pcapng_secrets(p)
        except keys.KeyFileError as e2:
            one_line(e2, str(p))
    assert peak[0] < 4 * MB, peak[0]


def test_pcapng_block_length_error_through_the_cli(tmp_path):
    p = tmp_path / "zero.pcapng"
    p.write_bytes(section() + BAD_BLOCKS["zero"])
    for cmd in (["decode", str(p)], ["analyze", str(p), "--format", "json"], ["show", "dmvpn", str(p)]):
        code, out = run_cli(cmd, 20)
        check_exit(code, out, cmd)
        assert code == 2 and "impossible length 0" in out


def test_many_tiny_blocks_take_linear_time(tmp_path):
    # 200,000 empty custom blocks between two frames: 2.4 MB of nothing to read
    blob = section() + _block(0x40000BAD, b"") * 200_000 + section()
    p = tmp_path / "tiny.pcapng"
    p.write_bytes(blob)
    with time_limit(10, "200k tiny blocks"):  # about 1 s (tracemalloc would make it 10)
        assert read_all(p) == (2, [])
        assert keys.read_pcapng_secrets(p) == []


# -- NHRP extension offsets and lengths ---------------------------------------------------


def nhrp_wire(*, extoff: int | None = None, first_ext_len: int | None = None,
              size: int | None = None, cies: int = 1) -> bytes:
    """A registration request with three extensions; fields overwritten after
    encoding, then the checksum fixed (so only the damage is reported)."""
    pkt = make_packet(
        "registration-request", request_id=7, src_nbma=SPOKE, src_proto="192.168.0.2",
        dst_proto="192.168.0.1",
        cies=[make_cie(prefix_len=32, mtu=1400, holding_time=7200)] * cies,
        extensions=[make_cie_extension(3), make_auth_extension(password="NHRPAUTH"),
                    make_end_extension()])
    w = bytearray(encode_nhrp(pkt))
    if extoff is not None:
        w[14:16] = struct.pack("!H", extoff)
    if first_ext_len is not None:
        start = struct.unpack_from("!H", w, 14)[0]
        w[start + 2:start + 4] = struct.pack("!H", first_ext_len)
    if size is not None:
        w[10:12] = struct.pack("!H", size)
    w[12:14] = b"\0\0"
    w[12:14] = struct.pack("!H", internet_checksum(bytes(w[:min(len(w), struct.unpack_from("!H", w, 10)[0])])))
    return bytes(w)


GOOD = nhrp_wire()
NHRP_CASES = {
    "extension-offset-past-the-end": (nhrp_wire(extoff=len(GOOD) + 4), "extension offset"),
    "extension-offset-65535": (nhrp_wire(extoff=0xFFFF), "extension offset"),
    "extension-offset-back-into-the-fixed-header": (nhrp_wire(extoff=4), "extension offset"),
    "extension-offset-back-into-the-mandatory-part": (nhrp_wire(extoff=24), "extension offset"),
    "extension-offset-into-the-addresses": (nhrp_wire(extoff=30), "truncated"),
    "extension-length-past-the-end": (nhrp_wire(first_ext_len=0xFFFF), "past the packet end"),
    "packet-size-65535": (nhrp_wire(size=0xFFFF), "truncated: packet size 65535"),
    "packet-size-0": (nhrp_wire(size=0), "less than the fixed header"),
}


@pytest.mark.parametrize("name", sorted(NHRP_CASES))
def test_nhrp_extension_offsets_and_sizes(name):
    wire, expect = NHRP_CASES[name]
    with time_limit(2, name), peak_memory() as peak:
        d = decode_nhrp(wire)
    assert isinstance(d.record, NhrpPacket)
    assert any(expect in p.reason for p in d.problems), d.problems
    assert peak[0] < 1 * MB


def test_nhrp_many_zero_length_extensions():
    # 16,000 empty unknown extensions fill a 64 KiB packet: linear, bounded
    pkt = make_packet("registration-request", src_nbma=SPOKE, src_proto="192.168.0.2",
                      dst_proto="192.168.0.1")
    w = bytearray(encode_nhrp(pkt))
    start = len(w)
    w += struct.pack("!HH", 0x7FFF, 0) * 16_000
    w[10:12] = struct.pack("!H", len(w))
    w[14:16] = struct.pack("!H", start)
    with time_limit(5, "16k extensions"), peak_memory() as peak:
        d = decode_nhrp(bytes(w))
    assert len(d.record.extensions) == 16_000
    assert any("not terminated" in p.reason for p in d.problems)
    assert peak[0] < 16 * MB


def test_nhrp_cie_count_and_lengths_that_would_overflow():
    # the most CIEs a 64 KiB packet holds
    wire = encode_nhrp(make_packet("registration-request", src_nbma=SPOKE, src_proto="192.168.0.2",
                                   dst_proto="192.168.0.1", cies=[make_cie(prefix_len=32)] * 5457))
    assert len(wire) <= 0xFFFF
    with time_limit(5, "5457 CIEs"), peak_memory() as peak:
        d = decode_nhrp(wire)
    assert len(d.record.cies) == 5457 and d.problems == []
    assert peak[0] < 16 * MB
    # one CIE whose address lengths (63 + 63 + 255 bytes) run far past the packet
    w = bytearray(GOOD)
    cie_at = 20 + 8 + 4 + 4 + 4
    w[cie_at + 8:cie_at + 11] = bytes([0x3F, 0x3F, 0xFF])
    d = decode_nhrp(bytes(w))
    assert d.record is not None and any("truncated CIE" in p.reason for p in d.problems)


def test_ike_counts_that_would_overflow():
    hdr = make_ike_header(1, 2, bytes(range(1, 9)))
    # a delete payload claiming 65535 SPIs of 255 bytes (16 MB) in 12 bytes
    delete = struct.pack("!IBBH", 1, 3, 255, 0xFFFF)
    # a proposal claiming 255 transforms, with none
    sa = struct.pack("!II", 1, 1) + struct.pack("!BBHBBBB", 0, 0, 8, 1, 1, 0, 255)
    for ptype, body in ((12, delete), (1, sa)):
        wire = encode_ike_message(hdr, [GenericPayload(ptype, body)])
        with time_limit(2, f"IKE payload {ptype}"), peak_memory() as peak:
            d = decode_ike_message(wire)
        assert d.record is not None and d.problems, d
        assert peak[0] < 1 * MB


def test_huge_cie_prefix_length_through_decode_and_analyze(tmp_path):
    # prefix lengths 255 (IOS's "this host") and 200 (nonsense for IPv4)
    frames = []
    for rid, plen in ((1, 255), (2, 200)):
        for t in (3, 4):
            frames.append(tunnel(encode_nhrp(make_packet(
                t, request_id=rid, flags=["unique"], src_nbma=SPOKE, src_proto="192.168.0.2",
                dst_proto="192.168.0.1",
                cies=[make_cie(prefix_len=plen, mtu=1400, holding_time=7200,
                               client_nbma=SPOKE if t == 4 else None,
                               client_proto="192.168.0.2" if t == 4 else None)]))))
    p = write_pcap(tmp_path / "plen.pcap", frames)
    r = invoke(["decode", str(p), "--format", "jsonl"], 20)
    assert r.exit_code == 0, r.output
    plens = [json.loads(line)["layers"][-1]["cies"][0]["prefix_len"] for line in r.stdout.splitlines()]
    assert plens == [255, 255, 200, 200]
    r = invoke(["analyze", str(p), "--format", "json"], 20)
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["registrations"]) == 2
    check_exit(*run_cli(["show", "dmvpn", str(p)], 20), "show dmvpn")


def test_nhrp_pathological_frames_through_the_cli(tmp_path):
    p = write_pcap(tmp_path / "nhrp.pcap", [tunnel(w) for w, _ in NHRP_CASES.values()])
    r = invoke(["decode", str(p), "--format", "jsonl"], 20)
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == len(NHRP_CASES) and all(x["problems"] for x in lines)
    for cmd in (["analyze", str(p), "--format", "json"], ["show", "dmvpn", str(p)], ["decode", "-v", str(p)]):
        check_exit(*run_cli(cmd, 20), cmd)


# -- GRE nested 1,000 deep ---------------------------------------------------------------


def gre_nest(depth: int) -> bytes:
    """IPv4 / GRE / IPv4 / GRE ... ``depth`` times, NHRP at the bottom."""
    pkt = ip.encode_ipv4("10.0.0.1", "10.0.0.2", 47, gre.encode_gre(0x2001, GOOD))
    for _ in range(depth):
        pkt = ip.encode_ipv4(SPOKE, HUB, 47, gre.encode_gre(0x0800, pkt))
    return pkt


def test_gre_nested_1000_deep_in_the_frame_chain():
    pkt = gre_nest(1000)
    with time_limit(2, "GRE 1000 deep"), peak_memory() as peak:
        d = FrameDecoder().decode(228, pkt)
        json.dumps(packet_json(d))
    assert any("nested layers; stopped" in p.reason for p in d.problems)
    assert len(d.layers) <= 30
    assert peak[0] < 8 * MB, peak[0]


def test_gre_nested_1000_deep_through_decode_and_analyze(tmp_path):
    p = write_pcap(tmp_path / "nest.pcap", [encode_ethernet(
        Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", 0x0800), gre_nest(1000))] * 3)
    with peak_memory() as peak:
        r = invoke(["decode", str(p), "--format", "jsonl"], 20)
    assert r.exit_code == 0 and "nested layers; stopped" in r.stdout
    assert len(r.stdout) < 1 * MB and peak[0] < 32 * MB, (len(r.stdout), peak[0])
    for cmd in (["decode", "-v", str(p)], ["analyze", str(p), "--format", "json"],
                ["show", "dmvpn", str(p)]):
        with peak_memory() as peak:
            code, out = run_cli(cmd, 20)
        check_exit(code, out, cmd)
        assert code == 0 and peak[0] < 32 * MB, (cmd, peak[0])


# -- regressions: bugs the fuzz suite found ---------------------------------------------------


def test_traffic_indications_nested_in_traffic_indications_are_bounded(tmp_path):
    # Each traffic indication quotes an IP packet carrying GRE and the next one.
    # The chain decoded every level (up to 165, Python's recursion limit) and
    # repeated each level's bytes in the JSON: 51 KB in, 15 MB of JSON out.
    inner = ip.encode_ipv4("10.0.0.1", "10.0.0.2", 17, b"x" * 8)
    for _ in range(300):
        ti = encode_nhrp(make_packet(8, src_nbma=SPOKE, src_proto="192.168.0.2",
                                     dst_proto="192.168.0.1", offending_raw=inner))
        inner = ip.encode_ipv4(SPOKE, HUB, 47, gre.encode_gre(0x2001, ti))
    with time_limit(5, "nested traffic indications"), peak_memory() as peak:
        d = FrameDecoder().decode(228, inner)
        out = json.dumps(packet_json(d))
    depth, n = 0, d.layers[-1]
    while isinstance(n, NhrpPacket) and n.offending:
        depth += 1
        n = n.offending[-1]
    assert depth == MAX_NESTING
    assert len(out) < 2 * MB and peak[0] < 32 * MB, (len(out), peak[0])
    p = write_pcap(tmp_path / "ti.pcap", [inner], linktype=228)
    code, out = run_cli(["decode", "-v", str(p)], 20)
    assert code == 0 and len(out) < 4 * MB


def gzip_member_with_a_bad_block() -> bytes:
    """A gzip member whose deflate stream starts with the reserved block
    type 3: zlib raises zlib.error (not OSError) on reading it."""
    good = gzip.compress(b"")
    return good[:10] + b"\x07" + bytes(16)


def test_corrupt_gzip_stream_is_a_capture_error_not_a_zlib_error(tmp_path):
    # zlib.error escaped the reader as a traceback
    buf = io.BytesIO()
    w = PcapWriter(buf, 1)
    for i in range(3):
        w.write(i, b"frame %d" % i)
    p = tmp_path / "bad.pcap.gz"
    p.write_bytes(gzip_member_with_a_bad_block())  # broken from the first byte
    with pytest.raises(CaptureError) as e:
        read_all(p)
    one_line(e.value, str(p), "read error")
    # broken after a whole pcap: its frames, then a warning
    p.write_bytes(gzip.compress(buf.getvalue()) + gzip_member_with_a_bad_block())
    n, warnings = read_all(p)
    assert n == 3 and len(warnings) == 1 and "read error" in warnings[0]
    # the same in a pcapng: an error naming the file
    p.write_bytes(gzip.compress(section()) + gzip_member_with_a_bad_block())
    with pytest.raises(CaptureError) as e:
        read_all(p)
    one_line(e.value, str(p))
    code, out = run_cli(["decode", str(p)], 20)
    check_exit(code, out, "decode")
    assert code == 2


def test_pcapng_section_header_of_12_bytes_is_a_capture_error(tmp_path):
    # The section header's body length came out negative: read(-4) raised ValueError.
    p = tmp_path / "shb.pcapng"
    p.write_bytes(BAD_BLOCKS["section-header-of-12"])
    with pytest.raises(CaptureError) as e:
        read_all(p)
    one_line(e.value, str(p), "impossible length 12")


def test_secrets_block_of_4_gib_is_not_read(tmp_path):
    # read_pcapng_secrets read(4 GiB) for a DSB claiming it: a 4 GiB
    # allocation before anything else (MemoryError on a small machine).
    p = tmp_path / "keys.pcapng"
    p.write_bytes(section() + BAD_BLOCKS["secrets-block-of-4-GiB"])
    with peak_memory() as peak:
        with pytest.raises(keys.KeyFileError) as e:
            keys.read_pcapng_secrets(p)
    one_line(e.value, str(p), "4294967280 bytes")
    assert peak[0] < 4 * MB, peak[0]
    code, out = run_cli(["decode", "-k", str(p), str(p)], 20)
    check_exit(code, out, "decode -k")
    assert code == 2


@pytest.mark.parametrize("head,line", [
    ("auth-trunc", "auth-trunc hmac(sha1) 0100012030040506070809 96"),
    ("aead", "aead rfc4106(gcm(aes)) 0100012030040506070809 128"),
])
def test_xfrm_key_without_0x_is_not_quoted_as_a_bit_count(head, line):
    # atheris found it: the key's digits were read as the ICV length and quoted,
    # "unsupported authentication 'hmac(sha1)' truncated to 100012030040506070809 bits".
    text = f"src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x100 reqid 1 mode transport\n\t{line}\n"
    with pytest.raises(keys.KeyFileError) as e:
        keys.parse_xfrm(text, "states")
    one_line(e.value, "states:3:", f"'{head}' needs the ICV length in bits")
    assert "0100012030" not in str(e.value) and "100012030" not in str(e.value)


def test_a_captures_secrets_block_reads_no_local_file(tmp_path):
    # atheris found it: a DSB's "file PATH" line was followed, so a capture made
    # nhrpscope read a local file (and quote its first field in the error), and
    # "file FIFO" blocked the command for ever.
    private = tmp_path / "private.txt"
    private.write_text("topsecret:x:0:0\n")
    for target in [private] + ([tmp_path / "fifo"] if hasattr(os, "mkfifo") else []):
        if target.name == "fifo":
            os.mkfifo(target)
        buf = io.BytesIO()
        w = PcapngWriter(buf)
        w.secrets(keys.DSB_ESP_SA, f"file {target}\n".encode())
        w.write(1.0, bytes(14), 1)
        p = tmp_path / "hostile.pcapng"
        p.write_bytes(buf.getvalue())
        with time_limit(5, f"a secrets block naming {target.name}"):
            code, out = run_cli(["decode", str(p)], 5)
        check_exit(code, out, target)
        assert code == 2 and "'file' includes are not followed" in out and "topsecret" not in out
        with pytest.raises(keys.KeyFileError):
            keys.load_key_file(p)
    # a key file of the user's own still includes others
    (tmp_path / "inner.secrets").write_text("0x100@10.0.0.1 aes128-cbc:0x" + "00" * 16 + "\n")
    outer = tmp_path / "outer.secrets"
    outer.write_text(f"file {tmp_path / 'inner.secrets'}\n")
    assert len(keys.load_key_file(outer)) == 1


@pytest.mark.parametrize("change,expect", [
    # TypeError: 'int' object is not iterable
    (("", "nat = 5\n"), ":1: key nat: must be a table"),
    # RecursionError from tomllib
    (("", "x = " + "[" * 5000 + "]" * 5000 + "\n"), ":1: not valid TOML: values nested too deeply"),
    # ValueError: str.isdigit() accepts "²", int() does not
    (('name = "R1"\n', 'name = "R1"\nblock = ["in udp/\u00b2"]\n'), "key routers[1].block: entry 1"),
    (('name = "R1"\n', 'name = "R1"\nblock = ["in udp/99999"]\n'), "key routers[1].block: entry 1"),
    # duration = inf: the simulator ran forever
    (("duration = 120", "duration = inf"), "key duration: must be a finite number"),
    (("duration = 120", "duration = nan"), "key duration: must be a finite number"),
    # finite but endless: 1e308 s of registrations
    (("duration = 120", "duration = 1e308"), "key duration: must be at most 604800 s"),
])
def test_scenario_parser_regressions(change, expect):
    old, new = change
    text = builtin_text("seed-lab")
    text = new + text if not old else text.replace(old, new, 1)
    with time_limit(5, expect):
        with pytest.raises(ScenarioError) as e:
            parse_scenario(text, "lab.toml")
    one_line(e.value, "lab.toml:", expect)


def test_generate_duration_is_bounded(tmp_path):
    """``generate --duration 1e12`` ran until killed: now refused at once."""
    from click.testing import CliRunner

    from nhrpscope.cli import main

    with time_limit(5, "generate --duration 1e12"):
        r = CliRunner().invoke(main, ["generate", "seed-lab", "-o", str(tmp_path / "x"),
                                      "--duration", "1e12"])
    assert r.exit_code == 2 and "--duration" in r.output and "604800" in r.output
    assert not list(tmp_path.iterdir())
