"""The NHRP decoder against real captures and what tcpdump printed for them."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import dpkt
import pytest
from nhrpscope.dissectors.nhrp import (
    AuthenticationExtension,
    CieListExtension,
    NhrpPacket,
    decode_nhrp,
    encode_nhrp,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared/captures/reference"
GOOD = ["ios_nhrp", "NHRP_registration", "nhrp-trace"]

TCPDUMP_TYPES = {
    "res request": "resolution-request",
    "res reply": "resolution-reply",
    "reg request": "registration-request",
    "reg reply": "registration-reply",
    "purge request": "purge-request",
    "purge reply": "purge-reply",
    "error indication": "error-indication",
    "traffic indication": "traffic-indication",
}


@pytest.fixture(scope="module")
def ref() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference captures not found at {REFERENCE}")
    return REFERENCE


def nhrp_frames(path: Path) -> list[bytes]:
    """The NHRP bytes of every frame: Ethernet (802.1Q too), IPv4, then GRE or
    NHRP straight on IP (protocol 54). Stripped by hand, not by the project."""
    out = []
    with path.open("rb") as f:
        for _ts, frame in dpkt.pcap.Reader(f):
            ethertype, pos = struct.unpack_from("!H", frame, 12)[0], 14
            while ethertype in (0x8100, 0x88A8):
                ethertype, pos = struct.unpack_from("!H", frame, pos + 2)[0], pos + 4
            assert ethertype == 0x0800
            ip = frame[pos:]
            ihl = (ip[0] & 0x0F) * 4
            ip = ip[: struct.unpack_from("!H", ip, 2)[0]]
            if ip[9] == 47:  # GRE: 4 bytes, + checksum/offset, key, sequence when flagged
                gre = ip[ihl:]
                flags, proto = struct.unpack_from("!HH", gre)
                assert proto == 0x2001
                hdr = 4 + 4 * sum(bool(flags & bit) for bit in (0x8000, 0x2000, 0x1000))
                out.append(gre[hdr:])
            else:
                assert ip[9] == 54
                out.append(ip[ihl:])
    return out


CIE_RE = re.compile(
    r"\(code (\d+), pl (\d+), mtu (\d+), htime (\d+), pref (\d+)"
    r"(?:, nbma ([^,)]+), proto ([^,)]+))?\)"
)
LINE_RE = re.compile(
    r"NHRP: (?P<type>[a-z ]+?), (?:id (?P<id>\d+)|code <(?P<code>[^>]*)>), hopcnt (?P<hop>\d+), "
    r"src nbma (?P<nbma>\S+), (?P<src>\S+) -> (?P<dst>[^\s(]+)(?P<rest>.*)$"
)


def tcpdump_nhrp_lines(path: Path) -> list[re.Match]:
    lines = [LINE_RE.search(line) for line in path.read_text().splitlines() if "NHRP:" in line]
    assert all(lines), "an NHRP line tcpdump printed did not parse"
    return lines


@pytest.mark.parametrize("name", GOOD)
def test_every_field_tcpdump_prints(ref, name):
    frames = nhrp_frames(ref / f"{name}.pcap")
    lines = tcpdump_nhrp_lines(ref / f"{name}.tcpdump-v.txt")
    assert len(frames) == len(lines)
    for number, (wire, want) in enumerate(zip(frames, lines, strict=True), start=1):
        decoded = decode_nhrp(wire)
        pkt = decoded.record
        assert isinstance(pkt, NhrpPacket), number
        assert decoded.problems == [], number
        assert pkt.checksum_ok, number
        assert pkt.type == TCPDUMP_TYPES[want["type"]], number
        if want["id"] is not None:
            assert pkt.request_id == int(want["id"]), number
        else:
            assert pkt.request_id is None
            assert want["code"] == "NHRP traffic redirect/indirection"
            assert (pkt.traffic_code, pkt.traffic_name) == (0, "redirect")
        assert pkt.hop_count == int(want["hop"]), number
        assert pkt.src_nbma == want["nbma"], number
        assert pkt.src_proto == want["src"], number
        assert pkt.dst_proto == want["dst"], number
        cies = [
            (
                c.code,
                c.prefix_len,
                c.mtu,
                c.holding_time,
                c.preference,
                c.client_nbma,
                c.client_proto,
            )
            for c in pkt.cies
        ]
        printed = [
            (int(a), int(b), int(c), int(d), int(e), f, g)
            for a, b, c, d, e, f, g in CIE_RE.findall(want["rest"])
        ]
        # tcpdump prints an absent client address as nothing at all.
        printed = [t[:5] + (t[5] or None, t[6] or None) for t in printed]
        assert cies == printed, number


@pytest.mark.parametrize("name", GOOD)
def test_re_encoding_gives_the_same_bytes(ref, name):
    for wire in nhrp_frames(ref / f"{name}.pcap"):
        assert encode_nhrp(decode_nhrp(wire).record) == wire


def test_ios_authentication_and_flags(ref):
    [wire] = nhrp_frames(ref / "ios_nhrp.pcap")
    pkt = decode_nhrp(wire).record
    assert pkt.flags == ("unique",)
    assert [e.name for e in pkt.extensions] == [
        "responder-address",
        "forward-transit-nhs-record",
        "reverse-transit-nhs-record",
        "authentication",
        "end",
    ]
    auth = pkt.extensions[3]
    # Odd length (9), no padding before the end extension.
    assert (auth.length, auth.spi, auth.password) == (9, 1, "CISCO")
    assert pkt.packet_size == 81


def test_registration_extensions(ref):
    frames = [decode_nhrp(w).record for w in nhrp_frames(ref / "NHRP_registration.pcap")]
    request, reply = frames[0], frames[1]
    assert request.flags == reply.flags == ("unique", "cisco-nat")
    assert [(e.type, e.name, e.compulsory) for e in reply.extensions] == [
        (3, "responder-address", True),
        (4, "forward-transit-nhs-record", True),
        (5, "reverse-transit-nhs-record", True),
        (7, "authentication", True),
        (9, "cisco-nat-address", False),
        (0, "end", True),
    ]
    auth = reply.extensions[3]
    assert isinstance(auth, AuthenticationExtension)
    # tshark reads 78.72.82.80 ("NHRP") as a source address; it is the password.
    assert (auth.spi, auth.password, auth.data) == (1, "NHRPAUTH", b"NHRPAUTH")

    nat = reply.extensions[4]
    assert isinstance(nat, CieListExtension)
    [cie] = nat.cies
    assert (cie.client_nbma, cie.client_proto) == ("169.254.100.5", "155.1.0.5")
    assert (cie.code, cie.prefix_len, cie.mtu, cie.holding_time) == (0, 32, 17912, 0)

    [responder] = reply.extensions[0].cies
    assert (responder.client_nbma, responder.client_proto) == ("169.254.100.5", "155.1.0.5")
    assert responder.holding_time == 7200
    assert request.extensions[0].cies == ()
    assert [f.request_id for f in frames] == [1, 1, 2, 2]


def test_trace_redirect_and_shortcut(ref):
    redirect, request, forwarded, reply = (
        decode_nhrp(w).record for w in nhrp_frames(ref / "nhrp-trace.pcap")
    )
    # Traffic indication (OpenNHRP): flags 0, traffic code 0, unused 0, then
    # the first 28 bytes (IP header + ICMP header) of the packet that caused it.
    assert redirect.type == "traffic-indication"
    assert (redirect.flags_raw, redirect.traffic_code, redirect.traffic_reserved) == (0, 0, 0)
    assert len(redirect.offending_raw) == 28
    ip = redirect.offending_raw
    assert ip[0] == 0x45 and ip[12:16] == bytes([10, 255, 255, 3])
    assert ip[16:20] == bytes([10, 255, 255, 2])
    if redirect.offending is not None:  # the frame chain's IP decoder exists
        assert redirect.offending[0].src == "10.255.255.3"
        assert redirect.offending[0].dst == "10.255.255.2"
    assert [e.name for e in redirect.extensions] == [
        "forward-transit-nhs-record",
        "reverse-transit-nhs-record",
        "authentication",
        "cisco-nat-address",
        "end",
    ]
    assert redirect.extensions[2].password == "secret"

    assert (request.hop_count, forwarded.hop_count) == (255, 254)
    # The hub appends itself to the forward transit record when it forwards.
    [hub] = forwarded.extensions[1].cies
    assert (hub.client_nbma, hub.client_proto) == ("192.168.200.1", "10.255.255.1")
    assert request.extensions[1].cies == ()

    assert reply.flags == (
        "is-router",
        "authoritative",
        "destination-stable",
        "unique",
        "source-stable",
        "cisco-nat",
    )
    [cie] = reply.cies
    assert (cie.client_nbma, cie.client_proto, cie.prefix_len) == (
        "192.168.200.2",
        "10.255.255.2",
        32,
    )


def test_fuzzer_packet_gives_problems(ref):
    [wire] = nhrp_frames(ref / "pb_nhrp_1.pcap")
    decoded = decode_nhrp(wire)
    pkt = decoded.record
    line = (ref / "pb_nhrp_1.tcpdump-v.txt").read_text()
    # tcpdump: res request, id 0, hopcnt 103, unknown-nbma-addr-family-5dc9 (01),
    # proto type 007b 67 -> 49 [remaining mandatory part length 8 < 12] (invalid)
    assert "res request, id 0, hopcnt 103" in line
    assert (pkt.type, pkt.request_id, pkt.hop_count) == ("resolution-request", 0, 103)
    assert (pkt.afn, pkt.protocol_type) == (0x5DC9, 0x007B)
    assert (pkt.src_nbma, pkt.src_proto, pkt.dst_proto) == ("01", "67", "49")
    assert pkt.cies == ()
    assert not pkt.checksum_ok
    reasons = [p.reason for p in decoded.problems]
    assert f"truncated: packet size 30547, {len(wire)} bytes present" in reasons
    assert "truncated CIE: needs 12 bytes, 8 left" in reasons  # tcpdump's "8 < 12"
