"""UDP, NAT-T classification on port 4500 (RFC 3948), and the IKE header."""

from __future__ import annotations

import socket
import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors.ike import (
    HEADER_LEN,
    IkeHeader,
    decode_ike,
    encode_ike,
    exchange_name,
    make_ike_header,
)
from nhrpscope.dissectors.udp import (
    NON_ESP_MARKER,
    NatKeepalive,
    UdpHeader,
    classify_udp_payload,
    decode_nat_keepalive,
    decode_udp,
    encode_nat_keepalive,
    encode_udp,
    split_udp_payload,
    udp_checksum,
    verify_udp_checksum,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw

ports = st.integers(0, 65535)


# UDP ---------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(sport=ports, dport=ports, payload=st.binary(max_size=100), checksum=st.integers(0, 65535))
def test_udp_round_trip(sport: int, dport: int, payload: bytes, checksum: int) -> None:
    raw = encode_udp(sport, dport, payload, checksum=checksum)
    d = decode_udp(raw)
    assert d.record == UdpHeader(sport, dport, 8 + len(payload), checksum)
    assert d.payload == payload and d.problems == [] and d.payload_offset == 8
    assert encode_udp(d.record.src_port, d.record.dst_port, d.payload,
                      length=d.record.length, checksum=d.record.checksum) == raw


@pytest.mark.parametrize("v6", [False, True])
def test_udp_checksum_agrees_with_scapy(v6: bool) -> None:
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "198.51.100.2")
    ip = (IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)) / UDP(sport=4500, dport=4500)
    raw = bytes(ip / Raw(b"\xff"))
    hdr = 40 if v6 else 20
    seg = raw[hdr:]
    family = socket.AF_INET6 if v6 else socket.AF_INET
    sa, da = (socket.inet_pton(family, a) for a in (src, dst))
    assert udp_checksum(sa, da, seg) == int.from_bytes(seg[6:8], "big")
    assert verify_udp_checksum(sa, da, seg) is True
    assert encode_udp(4500, 4500, b"\xff", src_addr=sa, dst_addr=da) == seg
    assert verify_udp_checksum(sa, da, seg[:7] + bytes((seg[7] ^ 1,)) + seg[8:]) is False
    if not v6:
        assert verify_udp_checksum(sa, da, seg[:6] + b"\0\0" + seg[8:]) is None


def test_udp_length_problems() -> None:
    raw = encode_udp(1, 2, b"abcdef")
    d = decode_udp(raw[:10])  # captured short
    assert d.payload == b"ab" and "captured" in d.problems[0].reason
    d = decode_udp(raw + b"\0\0")  # trailing bytes
    assert d.payload == b"abcdef" and d.problems
    d = decode_udp(encode_udp(1, 2, b"abc", length=4))
    assert d.payload == b"abc" and d.problems
    assert decode_udp(b"\0" * 7).record is None


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_udp_random_bytes_never_raise(data: bytes) -> None:
    d = decode_udp(data)
    assert d.record is None or isinstance(d.record, UdpHeader)


# NAT-T ---------------------------------------------------------------------------


@pytest.mark.parametrize("sport,dport,payload,kind", [
    (4500, 4500, b"\xff", "nat-keepalive"),
    (50000, 4500, b"\xff", "nat-keepalive"),
    (4500, 4500, NON_ESP_MARKER + bytes(28), "ike"),
    (4500, 8472, b"\xc0\xf7\xd4\xc3", "esp"),  # esp_truncated.pcap: SPI only
    (4500, 4500, b"\x00\x00\x10\x01" + bytes(20), "esp"),
    (4500, 4500, b"\x00\x00\x00", "other"),
    (4500, 4500, b"", "other"),
    (500, 500, bytes(28), "ike"),
    (500, 33000, b"\xff", "ike"),
    (53, 53, b"\xff", "other"),
])
def test_classify(sport: int, dport: int, payload: bytes, kind: str) -> None:
    assert classify_udp_payload(sport, dport, payload) == kind


def test_split_strips_the_non_esp_marker() -> None:
    ike = encode_ike(make_ike_header(2, 34, bytes(range(1, 9)), flag_bits=0x08, next_payload=33))
    assert split_udp_payload(4500, 4500, NON_ESP_MARKER + ike) == ("ike", ike, 4)
    assert split_udp_payload(500, 500, ike) == ("ike", ike, 0)
    esp = b"\x00\x00\x10\x01" + bytes(12)
    assert split_udp_payload(4500, 4500, esp) == ("esp", esp, 0)


def test_nat_keepalive() -> None:
    d = decode_nat_keepalive(b"\xff")
    assert d.record == NatKeepalive() and d.record.proto == "nat-keepalive" and not d.problems
    assert encode_nat_keepalive() == b"\xff" == encode_nat_keepalive(d.record)
    assert decode_nat_keepalive(b"\x00\x01").problems
    assert decode_nat_keepalive(b"").record is None


# IKE -----------------------------------------------------------------------------


def test_ikev2_header_fields() -> None:
    ispi, rspi = bytes.fromhex("0011223344556677"), bytes(8)
    raw = struct.pack("!8s8sBBBBII", ispi, rspi, 33, 0x20, 34, 0x08, 0, 28 + 4) + b"body"
    d = decode_ike(raw)
    h = d.record
    assert (h.version, h.minor_version, h.exchange, h.exchange_type) == (2, 0, "ike-sa-init", 34)
    assert (h.initiator_spi, h.responder_spi) == ("0011223344556677", "0000000000000000")
    assert (h.flags, h.message_id, h.length, h.next_payload) == (("initiator",), 0, 32, 33)
    assert d.payload == b"body" and d.problems == [] and h.proto == "ike"
    assert encode_ike(h, d.payload) == raw


@pytest.mark.parametrize("version,xtype,flags,name,names", [
    (1, 2, 0x00, "main-mode", ()),
    (1, 4, 0x00, "aggressive-mode", ()),
    (1, 32, 0x01, "quick-mode", ("encryption",)),
    (1, 5, 0x03, "informational", ("encryption", "commit")),
    (2, 35, 0x08, "ike-auth", ("initiator",)),
    (2, 36, 0x20, "create-child-sa", ("response",)),
    (2, 37, 0x28, "informational", ("initiator", "response")),
    (2, 99, 0x80, "type-99", ("0x80",)),
    (1, 250, 0x00, "private-250", ()),
])
def test_exchange_and_flag_names(version: int, xtype: int, flags: int, name: str,
                                 names: tuple[str, ...]) -> None:
    h = make_ike_header(version, xtype, "0102030405060708", flag_bits=flags, message_id=7)
    assert (h.exchange, h.flags) == (name, names)
    assert decode_ike(encode_ike(h)).record == h
    assert exchange_name(version, xtype) == name


@settings(max_examples=150, deadline=None)
@given(version=st.integers(0, 15), minor=st.integers(0, 15), xtype=st.integers(0, 255),
       flags=st.integers(0, 255), msgid=st.integers(0, 2**32 - 1), nxt=st.integers(0, 255),
       ispi=st.binary(min_size=8, max_size=8), rspi=st.binary(min_size=8, max_size=8),
       body=st.binary(max_size=40))
def test_ike_round_trip(version: int, minor: int, xtype: int, flags: int, msgid: int, nxt: int,
                        ispi: bytes, rspi: bytes, body: bytes) -> None:
    h = make_ike_header(version, xtype, ispi, rspi, flag_bits=flags, message_id=msgid,
                        next_payload=nxt, length=HEADER_LEN + len(body), minor_version=minor)
    raw = encode_ike(h, body)
    d = decode_ike(raw)
    assert d.record == h and d.payload == body
    assert encode_ike(d.record, d.payload, fix_length=False) == raw


def test_ike_problems() -> None:
    assert decode_ike(bytes(27)).record is None
    h = make_ike_header(2, 34, bytes(8), length=100)
    d = decode_ike(encode_ike(h, b"xx", fix_length=False))
    reasons = " ".join(p.reason for p in d.problems)
    assert "zero" in reasons and "captured" in reasons and d.payload == b"xx"
    d = decode_ike(encode_ike(make_ike_header(3, 34, bytes(range(8)), length=10), fix_length=False))
    assert any("version" in p.reason for p in d.problems)
    assert any("less than" in p.reason for p in d.problems)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_ike_random_bytes_never_raise(data: bytes) -> None:
    d = decode_ike(data)
    assert d.record is None or isinstance(d.record, IkeHeader)
