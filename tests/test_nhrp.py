"""NHRP codec: property round trips, fuzzing, and unit tests of the tricky parts."""

from __future__ import annotations

import dataclasses
import json
import struct
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import nhrp as nhrp_mod
from nhrpscope.dissectors.base import Layer, addr_str, internet_checksum
from nhrpscope.dissectors.frame import decode_quoted
from nhrpscope.dissectors.nhrp import (
    MAX_NESTING,
    AuthenticationExtension,
    Cie,
    CieListExtension,
    DeviceCapabilitiesExtension,
    EndExtension,
    NhrpPacket,
    UnknownExtension,
    VendorPrivateExtension,
    decode_cie,
    decode_nhrp,
    encode_cie,
    encode_extension,
    encode_nhrp,
    flag_names,
    flags_value,
    make_auth_extension,
    make_cie,
    make_cie_extension,
    make_device_capabilities_extension,
    make_end_extension,
    make_packet,
    make_unknown_extension,
    make_vendor_extension,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
tl_bits = st.sampled_from([0, 0x40, 0x80, 0xC0])

# Addresses as the decoder renders them: built from bytes, so the strings are canonical.
ipv4 = st.binary(min_size=4, max_size=4).map(addr_str)
ipv6 = st.binary(min_size=16, max_size=16).map(addr_str)
any_addr = st.binary(min_size=1, max_size=20).map(addr_str)
opt_addr = st.none() | any_addr
opt_sub = st.none() | st.binary(min_size=1, max_size=8).map(bytes.hex)


@st.composite
def cies(draw, nbma=opt_addr, proto=opt_addr, sub=opt_sub):
    cie = make_cie(
        code=draw(u8),
        prefix_len=draw(u8),
        mtu=draw(u16),
        holding_time=draw(u16),
        preference=draw(u8),
        client_nbma=draw(nbma),
        client_nbma_subaddr=draw(sub),
        client_proto=draw(proto),
        reserved=draw(u16),
    )
    # Type bits of the type/length bytes survive encoding.
    return dataclasses.replace(
        cie,
        client_nbma_tl=cie.client_nbma_tl | draw(tl_bits),
        client_nbma_subaddr_tl=cie.client_nbma_subaddr_tl | draw(tl_bits),
    )


cie_lists = st.lists(cies(), max_size=3)
KNOWN_EXT_TYPES = {0, 3, 4, 5, 7, 8, 9, 10}


@st.composite
def auth_extensions(draw):
    spi = draw(st.none() | u32)
    # Without an SPI the body must stay under 4 bytes, or it would read as one.
    size = 3 if spi is None else 24
    if draw(st.booleans()):
        printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
        data = draw(st.text(printable, max_size=size)).encode()
    else:
        data = draw(st.binary(max_size=size))
    return make_auth_extension(
        spi=spi, data=data, mobile=draw(st.booleans()), compulsory=draw(st.booleans())
    )


@st.composite
def vendor_extensions(draw):
    oui = draw(st.none() | u24)
    data = draw(st.binary(max_size=2) if oui is None else st.binary(max_size=16))
    return make_vendor_extension(oui, data, compulsory=draw(st.booleans()))


non_end_extensions = st.one_of(
    st.builds(
        make_cie_extension,
        st.sampled_from([3, 4, 5, 9]),
        cie_lists,
        compulsory=st.booleans(),
    ),
    auth_extensions(),
    vendor_extensions(),
    st.builds(make_device_capabilities_extension, u32, u32, compulsory=st.booleans()),
    st.builds(
        make_unknown_extension,
        st.integers(0, 0x7FFF).filter(lambda t: t not in KNOWN_EXT_TYPES),
        st.binary(max_size=16),
        compulsory=st.booleans(),
    ),
)


@st.composite
def extension_lists(draw):
    exts = draw(st.lists(non_end_extensions, max_size=5))
    if draw(st.booleans()):
        exts.append(make_end_extension(compulsory=draw(st.booleans())))
    return tuple(exts)


COMMON = dict(
    hop_count=u8,
    src_nbma=opt_addr,
    src_nbma_subaddr=opt_sub,
    src_proto=opt_addr,
    dst_proto=opt_addr,
    extensions=extension_lists(),
    afn=u16,
    protocol_type=u16,
    protocol_snap=st.binary(min_size=5, max_size=5),
    version=u8,
    shtl_type=tl_bits,
    sstl_type=tl_bits,
)


REQUEST_LIKE_TYPES = st.sampled_from([1, 2, 3, 4, 5, 6]) | st.integers(9, 255)


def request_like():
    return st.builds(
        make_packet,
        REQUEST_LIKE_TYPES,
        request_id=u32,
        flags=u16,
        cies=cie_lists,
        **COMMON,
    )


def error_indications(inner):
    with_record = st.builds(
        make_packet,
        st.just(7),
        flags=u16,
        error_code=u16,
        error_offset=u16,
        offending=inner,
        **COMMON,
    )
    with_bytes = st.builds(
        make_packet,
        st.just(7),
        flags=u16,
        error_code=u16,
        error_offset=u16,
        offending_raw=st.binary(max_size=60),
        **COMMON,
    )
    return with_record | with_bytes


def _ipv4_packet(payload: bytes, src: bytes, dst: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, 1, 0, src, dst)
    csum = internet_checksum(head)
    return head[:10] + csum.to_bytes(2, "big") + head[12:] + payload


carried_ip = st.one_of(
    st.binary(max_size=60),
    st.builds(
        _ipv4_packet,
        st.binary(max_size=30),
        st.binary(min_size=4, max_size=4),
        st.binary(min_size=4, max_size=4),
    ),
)

traffic_indications = st.builds(
    make_packet,
    st.just(8),
    flags=u16,
    traffic_code=u16,
    traffic_reserved=u16,
    offending_raw=carried_ip,
    **COMMON,
)

packets = st.one_of(
    request_like(),
    traffic_indications,
    error_indications(request_like()),
    error_indications(error_indications(request_like())),
)


# --------------------------------------------------------------------- round trips


@FAST
@given(packets)
def test_decode_encode_round_trip(pkt):
    wire = encode_nhrp(pkt)
    decoded = decode_nhrp(wire)
    assert decoded.record == pkt
    assert encode_nhrp(decoded.record) == wire
    assert decoded.record.checksum_ok
    assert internet_checksum(wire) == 0


@FAST
@given(st.sampled_from([1, 2, 3, 4, 5, 6]), st.data())
def test_clean_packets_have_no_problems(type_code, data):
    v6 = data.draw(st.booleans())
    nbma, proto = (ipv6, ipv6) if v6 else (ipv4, ipv4)
    pkt = make_packet(
        type_code,
        request_id=data.draw(u32),
        flags=data.draw(u16),
        src_nbma=data.draw(nbma),
        src_proto=data.draw(proto),
        dst_proto=data.draw(proto),
        cies=data.draw(st.lists(cies(st.none() | nbma, st.none() | proto), max_size=3)),
        extensions=(
            make_cie_extension(3, data.draw(st.lists(cies(nbma, proto), max_size=2))),
            make_auth_extension(password=data.draw(st.text("abcXYZ019", min_size=1))),
            make_end_extension(),
        ),
    )
    assert pkt.afn == (2 if v6 else 1)
    assert pkt.protocol_type == (0x86DD if v6 else 0x0800)
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert decoded.problems == []
    assert decoded.record == pkt


@FAST
@given(cies())
def test_cie_round_trip(cie):
    wire = encode_cie(cie)
    again, end = decode_cie(wire)
    assert again == cie
    assert end == len(wire)


@FAST
@given(st.one_of(non_end_extensions, st.builds(make_end_extension, compulsory=st.booleans())))
def test_each_extension_round_trips_inside_a_packet(ext):
    pkt = make_packet(
        "registration-request",
        src_nbma="192.0.2.1",
        src_proto="10.0.0.1",
        dst_proto="10.0.0.254",
        extensions=(ext,) if isinstance(ext, EndExtension) else (ext, make_end_extension()),
    )
    wire = encode_nhrp(pkt)
    assert decode_nhrp(wire).record.extensions[0] == ext
    raw = encode_extension(ext)
    assert wire[pkt.extension_offset : pkt.extension_offset + len(raw)] == raw
    assert len(raw) == 4 + ext.length


# --------------------------------------------------------------------- fuzzing


def _check_never_raises(buf: bytes) -> None:
    decoded = decode_nhrp(buf)
    assert decoded.payload == b""
    for p in decoded.problems:
        assert 0 <= p.offset <= len(buf), p
        assert p.layer == "nhrp"
    if len(buf) < 20:
        assert decoded.record is None
        assert decoded.problems
        return
    assert isinstance(decoded.record, NhrpPacket)
    # Whatever was decoded can be written back out.
    encode_nhrp(decoded.record)
    encode_nhrp(decoded.record, fix_lengths=False, fix_checksum=False)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(buf):
    _check_never_raises(buf)


@FUZZ
@given(st.binary(min_size=20, max_size=200), st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8]))
def test_random_bodies_behind_a_plausible_header_never_raise(buf, type_code):
    # Version 1 and a size/offset that fit, so decoding goes deep.
    head = bytearray(buf)
    head[10:12] = len(buf).to_bytes(2, "big")
    head[16] = 1
    head[17] = type_code
    head[18] &= 0x07
    head[19] &= 0x03
    _check_never_raises(bytes(head))


@st.composite
def mutated(draw):
    wire = bytearray(encode_nhrp(draw(packets)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(wire) - 1, 0)))
        if kind == "flip" and wire:
            wire[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and wire:
            wire[pos] = draw(u8)
        elif kind == "cut":
            del wire[pos:]
        elif kind == "insert":
            wire[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del wire[pos : pos + draw(st.integers(1, 8))]
    return bytes(wire)


@FUZZ
@given(mutated())
def test_mutated_packets_never_raise(buf):
    _check_never_raises(buf)


# --------------------------------------------------------------------- unit tests


def _registration(**kw) -> NhrpPacket:
    base: dict[str, Any] = dict(
        request_id=1,
        flags=("unique", "cisco-nat"),
        src_nbma="169.254.100.1",
        src_proto="155.1.0.1",
        dst_proto="155.1.0.5",
        cies=(make_cie(prefix_len=32, mtu=17912, holding_time=7200),),
        extensions=(
            make_cie_extension(3),
            make_cie_extension(4),
            make_cie_extension(5),
            make_auth_extension(password="NHRPAUTH"),
            make_cie_extension(
                9,
                [
                    make_cie(
                        prefix_len=32,
                        mtu=17912,
                        client_nbma="169.254.100.5",
                        client_proto="155.1.0.5",
                    )
                ],
            ),
            make_end_extension(),
        ),
    )
    base.update(kw)
    return make_packet("registration-request", **base)


def test_checksum_verification():
    pkt = _registration()
    wire = bytearray(encode_nhrp(pkt))
    assert decode_nhrp(bytes(wire)).record.checksum_ok
    wire[40] ^= 0xFF
    decoded = decode_nhrp(bytes(wire))
    assert not decoded.record.checksum_ok
    [problem] = decoded.problems
    assert problem.offset == 12 and "bad checksum" in problem.reason
    # the replay finds a malformed NHRP packet by the id, not by the wording
    assert (problem.id, problem.severity) == (nhrp_mod.PROBLEM_CHECKSUM, "error")


def test_size_problems_carry_the_length_id():
    wire = encode_nhrp(_registration())
    short, long_ = decode_nhrp(wire[:-3]), decode_nhrp(wire + b"\0\0")
    assert [p.id for p in short.problems][:1] == [nhrp_mod.PROBLEM_LENGTH]
    [after] = long_.problems
    assert (after.id, after.severity) == (nhrp_mod.PROBLEM_LENGTH, "warning")
    [cut] = decode_nhrp(wire[:12]).problems
    assert cut.id == nhrp_mod.PROBLEM_TRUNCATED


def test_checksum_not_fixed_when_told():
    pkt = dataclasses.replace(_registration(), checksum=0x1234)
    wire = encode_nhrp(pkt, fix_checksum=False)
    assert wire[12:14] == b"\x12\x34"
    decoded = decode_nhrp(wire)
    assert not decoded.record.checksum_ok
    assert any("bad checksum 0x1234" in p.reason for p in decoded.problems)


def test_checksum_of_odd_length_packet():
    pkt = _registration(extensions=(make_auth_extension(password="CISCO"), make_end_extension()))
    wire = encode_nhrp(pkt)
    assert len(wire) % 2 == 1
    assert decode_nhrp(wire).record.checksum_ok


def test_every_truncation_is_reported():
    wire = encode_nhrp(_registration())
    for n in range(len(wire)):
        decoded = decode_nhrp(wire[:n])
        if n < 20:
            assert decoded.record is None
            assert "fixed header" in decoded.problems[0].reason
            continue
        assert decoded.record.type == "registration-request"
        assert not decoded.record.checksum_ok
        assert decoded.problems[0] == decoded.problems[0].__class__(
            n, f"truncated: packet size {len(wire)}, {n} bytes present", "nhrp", "nhrp.length"
        )


def test_truncated_mandatory_part_keeps_the_header():
    wire = encode_nhrp(_registration())[:30]
    decoded = decode_nhrp(wire)
    assert decoded.record.request_id == 1
    assert decoded.record.src_nbma is None  # 4 bytes needed at 28, 2 present
    assert any(p.offset == 28 and "source NBMA address" in p.reason for p in decoded.problems)


def test_bytes_beyond_packet_size_are_reported():
    wire = encode_nhrp(_registration())
    decoded = decode_nhrp(wire + b"\0\0")
    assert decoded.record == _registration()
    assert [p.offset for p in decoded.problems] == [len(wire)]


def test_packet_size_smaller_than_header():
    pkt = dataclasses.replace(_registration(), packet_size=10)
    decoded = decode_nhrp(encode_nhrp(pkt, fix_lengths=False))
    assert decoded.record.packet_size == 10
    assert any("less than the fixed header" in p.reason for p in decoded.problems)


def test_bad_extension_offset():
    pkt = dataclasses.replace(_registration(), extension_offset=5)
    decoded = decode_nhrp(encode_nhrp(pkt, fix_lengths=False))
    assert decoded.record.extensions == ()
    assert any(p.offset == 14 for p in decoded.problems)


def test_wrong_address_lengths_are_written_when_told():
    pkt = dataclasses.replace(_registration(), src_proto_len=9)
    decoded = decode_nhrp(encode_nhrp(pkt, fix_lengths=False))
    assert decoded.record.src_proto_len == 9
    assert decoded.problems


def test_address_length_against_family():
    pkt = _registration(src_nbma="2001:db8::1")  # afn stays 1 (IPv4)
    pkt = dataclasses.replace(pkt, afn=1)
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert any(
        "source NBMA address is 16 bytes, IPv4 needs 4" in p.reason for p in decoded.problems
    )


def test_missing_end_and_bytes_after_end():
    no_end = _registration(extensions=(make_cie_extension(3),))
    decoded = decode_nhrp(encode_nhrp(no_end))
    assert decoded.record == no_end
    assert [p.reason for p in decoded.problems] == ["extensions not terminated by an end extension"]

    after = _registration(extensions=(make_end_extension(), make_cie_extension(4)))
    decoded = decode_nhrp(encode_nhrp(after))
    assert [e.name for e in decoded.record.extensions] == ["end"]
    assert "after the end extension" in decoded.problems[0].reason


def test_extension_overrunning_the_packet():
    pkt = _registration(extensions=(make_unknown_extension(0x123, b"abcd"),))
    wire = bytearray(encode_nhrp(pkt))
    off = pkt.extension_offset
    wire[off + 2 : off + 4] = (40).to_bytes(2, "big")
    decoded = decode_nhrp(bytes(wire))
    [ext2] = decoded.record.extensions
    assert ext2.length == 40 and ext2.data == b"abcd"
    assert any("runs 36 bytes past the packet end" in p.reason for p in decoded.problems)
    assert not any("not terminated" in p.reason for p in decoded.problems)


def _type9(body: bytes):
    raw = struct.pack("!HH", 9, len(body)) + body + struct.pack("!HH", 0x8000, 0)
    wire = encode_nhrp(_registration(extensions=()))
    offset = len(wire)
    buf = bytearray(wire + raw)
    buf[10:12] = len(buf).to_bytes(2, "big")
    buf[14:16] = offset.to_bytes(2, "big")
    buf[12:14] = b"\0\0"
    buf[12:14] = internet_checksum(bytes(buf)).to_bytes(2, "big")
    decoded = decode_nhrp(bytes(buf))
    return decoded.record.extensions[0], decoded.problems


def test_type9_empty_is_cisco_nat():
    ext, problems = _type9(b"")
    assert isinstance(ext, CieListExtension)
    assert ext.name == "cisco-nat-address" and ext.cies == () and not ext.compulsory
    assert problems == []


def test_type9_cie_list_is_cisco_nat():
    cie = make_cie(prefix_len=32, client_nbma="169.254.100.5", client_proto="155.1.0.5")
    ext, problems = _type9(encode_cie(cie) + encode_cie(cie))
    assert isinstance(ext, CieListExtension) and ext.name == "cisco-nat-address"
    assert ext.cies == (cie, cie)
    assert problems == []


def test_type9_eight_bytes_is_device_capabilities():
    ext, problems = _type9(struct.pack("!II", 1, 0x80000000))
    assert isinstance(ext, DeviceCapabilitiesExtension)
    assert ext.name == "device-capabilities"
    assert (ext.source_capabilities, ext.target_capabilities) == (1, 0x80000000)
    assert ext.source_vpn_aware and not ext.target_vpn_aware
    assert problems == []


@pytest.mark.parametrize("body", [b"\x01\x02\x03", bytes(12 + 3), bytes(20)])
def test_type9_neither(body):
    # 12 zero bytes + 3: a CIE and garbage; 20 zero bytes: one CIE + 8 leftover.
    ext, problems = _type9(body)
    assert isinstance(ext, UnknownExtension) and ext.type == 9 and ext.data == body
    assert any("neither a CIE list" in p.reason for p in problems)


def test_authentication_password():
    ext = make_auth_extension(password="NHRPAUTH")
    assert encode_extension(ext) == bytes.fromhex("8007000c00000001") + b"NHRPAUTH"
    assert (ext.spi, ext.password, ext.data) == (1, "NHRPAUTH", b"NHRPAUTH")
    assert make_auth_extension(data=b"abc\0\0\0").password == "abc"  # NUL padding
    assert make_auth_extension(data=b"\x01\x02binary").password is None
    assert make_auth_extension(data=b"").password is None
    mobile = make_auth_extension(spi=0x1234, data=b"key", mobile=True)
    assert (mobile.type, mobile.name) == (10, "mobile-nhc-authentication")


def test_authentication_too_short_for_spi():
    ext = dataclasses.replace(make_auth_extension(spi=None, data=b"ab"))
    pkt = _registration(extensions=(ext, make_end_extension()))
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert decoded.record.extensions[0] == ext
    assert any("has no SPI" in p.reason for p in decoded.problems)


def test_vendor_private():
    ext = make_vendor_extension(0x00000C, b"\x01\x02")
    assert encode_extension(ext) == bytes.fromhex("0008000500000c0102")
    short = make_vendor_extension(None, b"\x01")
    pkt = _registration(extensions=(ext, short, make_end_extension()))
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert decoded.record.extensions[:2] == (ext, short)
    assert any("has no OUI" in p.reason for p in decoded.problems)


def test_flag_names_per_type():
    assert flag_names(3, 0x8002) == ("unique", "cisco-nat")
    assert flag_names(4, 0x8002) == ("unique", "cisco-nat")
    assert flag_names(1, 0xF802) == (
        "is-router",
        "authoritative",
        "destination-stable",
        "unique",
        "source-stable",
        "cisco-nat",
    )
    assert flag_names(5, 0x8000) == ("no-reply",)
    assert flag_names(7, 0x8001) == ("bit-15", "bit-0")
    assert flag_names(3, 0x4000) == ("bit-14",)
    assert flags_value(1, flag_names(1, 0xFFFF)) == 0xFFFF
    with pytest.raises(ValueError):
        flags_value(3, ["no-reply"])


def test_type_names():
    assert make_packet(2, src_nbma="1.1.1.1", src_proto="2.2.2.2").type == "resolution-reply"
    pkt = make_packet(200, src_nbma="1.1.1.1", src_proto="2.2.2.2")
    assert pkt.type == "unknown-200"
    assert decode_nhrp(encode_nhrp(pkt)).record == pkt


def test_cie_code_names():
    names = {c: make_cie(code=c).code_name for c in (0, 4, 5, 11, 12, 13, 14, 99)}
    assert names == {
        0: "success",
        4: "administratively-prohibited",
        5: "insufficient-resources",
        11: "no-binding",  # what OpenNHRP and FRR send
        12: "no-binding",
        13: "binding-not-unique",
        14: "already-registered",
        99: "unknown-99",
    }


def test_error_indication_carries_the_packet_in_error():
    inner = _registration()
    err = make_packet(
        "error-indication",
        src_nbma="169.254.100.5",
        src_proto="155.1.0.5",
        dst_proto="155.1.0.1",
        error_code=11,
        error_offset=20,
        offending=inner,
    )
    assert err.error_name == "authentication-failure"
    assert err.request_id is None and err.cies == ()
    wire = encode_nhrp(err)
    # unused(2) error_code(2) error_offset(2) where requests have flags + request id
    assert wire[22:28] == bytes.fromhex("0000000b0014")
    decoded = decode_nhrp(wire)
    assert decoded.problems == []
    assert decoded.record == err
    assert decoded.record.offending == inner
    assert decoded.record.offending_raw == encode_nhrp(inner)


def test_error_names():
    codes = {1, 3, 6, 7, 8, 9, 10, 11, 15}
    names = {
        c: make_packet(7, src_nbma="1.1.1.1", src_proto="2.2.2.2", error_code=c).error_name
        for c in codes
    }
    assert names == {
        1: "unrecognized-extension",
        3: "nhrp-loop-detected",
        6: "protocol-address-unreachable",
        7: "protocol-error",
        8: "nhrp-sdu-size-exceeded",
        9: "invalid-extension",
        10: "invalid-nhrp-resolution-reply-received",
        11: "authentication-failure",
        15: "hop-count-exceeded",
    }


def test_error_indication_nesting_is_bounded():
    pkt = _registration()
    for _ in range(3 * MAX_NESTING):
        pkt = make_packet(
            7, src_nbma="1.1.1.1", src_proto="2.2.2.2", offending_raw=encode_nhrp(pkt)
        )
    decoded = decode_nhrp(encode_nhrp(pkt))
    depth, inner = 0, decoded.record
    while inner is not None:
        depth, inner = depth + 1, inner.offending
    assert depth == MAX_NESTING + 1


IP_PACKET = _ipv4_packet(
    b"\x08\x00\x32\x5b\x00\x01\x00\x00", bytes([10, 255, 255, 3]), bytes([10, 255, 255, 2])
)


def test_traffic_indication_layout():
    pkt = make_packet(
        "traffic-indication",
        src_nbma="192.168.200.1",
        src_proto="10.255.255.1",
        dst_proto="10.255.255.3",
        flags=0x0002,
        traffic_code=0,
        traffic_reserved=0x0102,
        offending_raw=IP_PACKET,
        extensions=(make_end_extension(),),
    )
    wire = encode_nhrp(pkt)
    # flags(2) then traffic code(2) and an unused word(2) where requests have the request id
    assert wire[20:28] == bytes.fromhex("0404000200000102")
    assert wire[40 : 40 + len(IP_PACKET)] == IP_PACKET
    decoded = decode_nhrp(wire)
    rec = decoded.record
    assert decoded.problems == []
    assert rec == pkt
    assert (rec.traffic_code, rec.traffic_name, rec.request_id) == (0, "redirect", None)
    assert rec.flags == ("bit-1",)
    assert rec.offending_raw == IP_PACKET
    assert rec.offending is None  # no decoder for the quoted packet given: its bytes only
    rec = decode_nhrp(wire, quoted=decode_quoted).record
    assert isinstance(rec.offending, tuple) and all(isinstance(x, Layer) for x in rec.offending)
    assert rec.offending[0].src == "10.255.255.3"


def test_traffic_indication_without_the_ip_decoder(monkeypatch):
    monkeypatch.setitem(sys.modules, "dissectors.frame", None)  # import now fails
    pkt = make_packet(8, src_nbma="1.1.1.1", src_proto="2.2.2.2", offending_raw=IP_PACKET)
    assert pkt.offending is None
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert decoded.record.offending is None
    assert decoded.record.offending_raw == IP_PACKET
    assert decoded.problems == []


def test_ipv6_packet():
    pkt = make_packet(
        "resolution-reply",
        request_id=77,
        flags=("is-router", "authoritative"),
        src_nbma="2001:db8::1",
        src_proto="fd00::1",
        dst_proto="fd00::2",
        cies=(make_cie(prefix_len=128, client_nbma="2001:db8::2", client_proto="fd00::2"),),
    )
    assert (pkt.afn, pkt.protocol_type, pkt.extension_offset) == (2, 0x86DD, 0)
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert decoded.problems == [] and decoded.record == pkt


def test_snap_protocol_type_kept():
    pkt = make_packet(
        1,
        src_nbma="1.1.1.1",
        src_proto="02",
        protocol_type=0x0080,
        protocol_snap=b"\0\0\x0c\x01\x02",
    )
    decoded = decode_nhrp(encode_nhrp(pkt))
    assert decoded.record.protocol_snap == b"\0\0\x0c\x01\x02"
    assert decoded.record == pkt


def _jsonable(value):
    # A stand-in for the project's generic JSON function (fields -> JSON names).
    if dataclasses.is_dataclass(value):
        out = {"proto": value.proto} if isinstance(value, Layer) else {}
        out.update({f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)})
        return out
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def test_json_shape_matches_design():
    doc = json.loads(json.dumps(_jsonable(_registration())))
    assert doc["proto"] == "nhrp"
    for key, want in {
        "type": "registration-request",
        "type_code": 3,
        "hop_count": 255,
        "checksum_ok": True,
        "request_id": 1,
        "flags": ["unique", "cisco-nat"],
        "src_nbma": "169.254.100.1",
        "src_proto": "155.1.0.1",
        "dst_proto": "155.1.0.5",
    }.items():
        assert doc[key] == want, key
    cie = doc["cies"][0]
    assert {k: cie[k] for k in ("code", "prefix_len", "mtu", "holding_time", "preference")} == {
        "code": 0,
        "prefix_len": 32,
        "mtu": 17912,
        "holding_time": 7200,
        "preference": 0,
    }
    assert cie["client_nbma"] is None and cie["client_proto"] is None
    ext = [(e["type"], e["name"], e["compulsory"]) for e in doc["extensions"]]
    assert ext == [
        (3, "responder-address", True),
        (4, "forward-transit-nhs-record", True),
        (5, "reverse-transit-nhs-record", True),
        (7, "authentication", True),
        (9, "cisco-nat-address", False),
        (0, "end", True),
    ]
    assert doc["extensions"][3]["spi"] == 1 and doc["extensions"][3]["password"] == "NHRPAUTH"


def test_records_are_frozen_and_slotted():
    pkt = _registration()
    for obj in (pkt, pkt.cies[0], pkt.extensions[0], pkt.extensions[3]):
        assert not hasattr(obj, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, 1)
    assert isinstance(pkt, Layer) and NhrpPacket.proto == "nhrp"
    assert isinstance(pkt.extensions[3], AuthenticationExtension)
    assert isinstance(make_vendor_extension(1), VendorPrivateExtension)
    assert isinstance(pkt.cies[0], Cie)


def test_builders_reject_misuse():
    with pytest.raises(ValueError):
        make_cie_extension(7)
    with pytest.raises(ValueError):
        make_unknown_extension(3)
    with pytest.raises(ValueError):
        make_packet(1, src_nbma="01", src_proto="2.2.2.2")  # afn not inferable


# --------------------------------------------------------------------- the decode memo


def _with_request_id(wire: bytes, rid: int) -> bytes:
    """The same packet with another request id and its checksum made right."""
    b = bytearray(wire)
    b[24:28] = rid.to_bytes(4, "big")
    b[12:14] = b"\0\0"
    size = struct.unpack_from("!H", b, 10)[0]
    b[12:14] = internet_checksum(bytes(b[:size])).to_bytes(2, "big")
    return bytes(b)


@FAST
@given(st.one_of(mutated(), packets.map(encode_nhrp)), st.integers(0, 0xFFFFFFFF))
def test_memo_gives_what_a_fresh_decode_gives(wire, rid):
    """A packet like one decoded before but for its request id (and so its
    checksum) comes from the memo: the same record and problems as decoding
    it afresh."""
    from nhrpscope.dissectors import nhrp as mod

    memo = mod.NhrpMemo()
    decode_nhrp(wire, memo=memo)  # remembered, if its checksum is right
    again = _with_request_id(wire, rid) if len(wire) >= 28 else wire
    got = decode_nhrp(again, memo=memo)
    want = mod._decode(again, 0)
    assert got.record == want.record
    assert got.problems == want.problems and got.payload_offset == want.payload_offset
    if got.record is not None and len(wire) >= 28 and wire[17] not in (6, 8):
        assert got.record.request_id in (rid, None)


def test_a_repeated_registration_comes_from_the_memo(monkeypatch):
    from nhrpscope.dissectors import nhrp as mod

    wire = encode_nhrp(_registration(request_id=7))
    memo = mod.NhrpMemo()
    first = decode_nhrp(wire, memo=memo)

    def no_decode(buf: bytes, depth: int, quoted=None):  # noqa: ARG001
        raise AssertionError("decoded again")

    monkeypatch.setattr(mod, "_decode", no_decode)
    again = decode_nhrp(_with_request_id(wire, 8), memo=memo)
    assert again.record == dataclasses.replace(first.record, request_id=8,
                                               checksum=again.record.checksum)
    assert again.record.checksum_ok and again.record.checksum != first.record.checksum
    bad = bytearray(_with_request_id(wire, 9))
    bad[13] ^= 1  # a wrong checksum is never answered from the memo
    with pytest.raises(AssertionError, match="decoded again"):
        decode_nhrp(bytes(bad), memo=memo)


def test_without_a_memo_nothing_is_remembered(monkeypatch):
    from nhrpscope.dissectors import nhrp as mod

    wire = encode_nhrp(_registration(request_id=7))
    calls = []
    real = mod._decode
    monkeypatch.setattr(mod, "_decode", lambda buf, depth, quoted=None: calls.append(1) or real(buf, depth))
    decode_nhrp(wire)
    decode_nhrp(_with_request_id(wire, 8))
    assert len(calls) == 2


def test_a_memo_is_bounded():
    from nhrpscope.dissectors import nhrp as mod

    memo = mod.NhrpMemo(max_size=3)
    for rid in range(10):
        decode_nhrp(encode_nhrp(_registration(request_id=rid, src_proto=f"10.0.0.{rid + 1}")),
                    memo=memo)
        assert len(memo.entries) <= 3


@pytest.mark.parametrize("raw", [b"\x45", b"\x45" + bytes(30), b"\x60" + bytes(10), b"\xff" * 64,
                                 IP_PACKET[:21]])
def test_a_malformed_quoted_packet_is_problems_not_an_exception(raw):
    pkt = make_packet("traffic-indication", src_nbma="192.168.200.1", src_proto="10.255.255.1",
                      dst_proto="10.255.255.3", traffic_code=0, offending_raw=raw,
                      extensions=(make_end_extension(),))
    rec = decode_nhrp(encode_nhrp(pkt), quoted=decode_quoted).record
    assert rec.offending_raw == raw
    assert isinstance(rec.offending, tuple)  # whatever could be read; its problems are its own
