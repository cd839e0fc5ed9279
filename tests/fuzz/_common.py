"""What the atheris harnesses share: the import path, the checks every
target's answer must pass, and seed inputs made with the project's encoders."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

# The link types the frame harness picks from with its first byte.
LINKTYPES = (1, 101, 228, 229, 113, 276, 0, 108)


def one_line(e: BaseException, prefix: str) -> None:
    """An edge error: one line, naming where."""
    msg = str(e)
    if "\n" in msg or not msg.startswith(prefix):
        raise AssertionError(f"not a one-line error naming {prefix!r}: {msg!r}")


def check_packet(pkt: object) -> None:
    """A decoded frame, written as ``decode`` writes it (jsonl, summary, -v)."""
    from nhrpscope.render.jsonout import packet_json
    from nhrpscope.render.text import summary, tree

    json.dumps(packet_json(pkt))
    summary(pkt)
    tree(pkt)


def seed_frames() -> list[tuple[int, bytes]]:
    """(link type, frame): a few DMVPN frames from the encoders."""
    from nhrpscope.dissectors import gre, ip, udp
    from nhrpscope.dissectors.link import Ethernet, encode_ethernet
    from nhrpscope.dissectors.nhrp import (
        encode_nhrp,
        make_auth_extension,
        make_cie,
        make_cie_extension,
        make_packet,
    )

    nhrp = encode_nhrp(make_packet(
        "registration-request", request_id=1, flags=["unique"], src_nbma="172.16.25.2",
        src_proto="192.168.0.2", dst_proto="192.168.0.1", cies=[make_cie(prefix_len=32, holding_time=7200)],
        extensions=[make_cie_extension(3), make_auth_extension(password="NHRPAUTH")]))
    outer = ip.encode_ipv4("172.16.25.2", "172.16.15.2", 47, gre.encode_gre(0x2001, nhrp, key=2))
    eth = Ethernet("00:00:5e:00:53:01", "00:00:5e:00:53:02", 0x0800)
    natt = ip.encode_ipv4("172.16.25.2", "172.16.15.2", 17,
                          udp.encode_udp(4500, 4500, bytes.fromhex("00001001") + bytes(40)))
    return [(1, encode_ethernet(eth, outer)), (228, outer), (101, natt)]


def seed_capture() -> bytes:
    from nhrpscope.capture import PcapngWriter

    buf = io.BytesIO()
    w = PcapngWriter(buf)
    w.secrets(0x45535053, b'"IPv4","*","*","0x00001001","NULL","","NULL",""\n')
    for i, (lt, frame) in enumerate(seed_frames()):
        w.write(float(i), frame, lt, comment="seed")
    return buf.getvalue()


def write_seeds(out: Path) -> None:
    """Seed corpora, one folder per harness."""
    from nhrpscope.sim.scenario import builtin_names, builtin_text

    for sub in ("frame", "capture", "keys", "scenario"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, (lt, frame) in enumerate(seed_frames()):
        (out / "frame" / f"seed{i}").write_bytes(bytes([LINKTYPES.index(lt)]) + frame)
    (out / "capture" / "seed.pcapng").write_bytes(seed_capture())
    (out / "keys" / "esp_sa").write_bytes(
        b'"IPv4","172.16.25.2","172.16.15.2","0x00001001","AES-CBC [RFC3602]",'
        b'"0x000102030405060708090a0b0c0d0e0f","HMAC-SHA-1-96 [RFC2404]",'
        b'"0x000102030405060708090a0b0c0d0e0f10111213"\n')
    (out / "keys" / "tcpdump").write_bytes(b"0x1001@172.16.15.2 aes128-cbc:0x000102030405060708090a0b0c0d0e0f\n")
    (out / "keys" / "xfrm").write_bytes(
        b"src 172.16.25.2 dst 172.16.15.2\n\tproto esp spi 0x00001001 reqid 1 mode transport\n"
        b"\treplay-window 0\n\tauth-trunc hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213 96\n"
        b"\tenc cbc(aes) 0x000102030405060708090a0b0c0d0e0f\n")
    for name in builtin_names():
        (out / "scenario" / f"{name}.toml").write_text(builtin_text(name), "utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/fuzz/_common.py CORPUS_DIR")
    write_seeds(Path(sys.argv[1]))
