"""The fuzz suite (issue 6, robustness): valid packets and files built with the
project's own encoders and writers, then mutated (bytes set and flipped, cuts,
insertions, repeats, length fields set to extremes), fed to every decoder, the
capture reader, the key-file parsers and the scenario parser.

A decoder must return, with what was wrong as ``Problem`` values; a file-level
reader may also raise its one documented edge error (``CaptureError``,
``KeyFileError``, ``ScenarioError``): one line, naming the file (and the line),
never quoting key material. Anything else escaping is a bug.

Example counts come from the "fuzz" hypothesis profile (tests/conftest.py):
bounded and derandomized, so CI is quick and a failure replays anywhere. Each
input fed to a target is counted; the run's total is printed at the end.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nhrpscope.dissectors import gre, ip, link, nhrp, transport, udp
from nhrpscope.dissectors import ike as ike_mod
from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.base import Decoded, Malformed, Problem, addr_bytes, addr_str
from nhrpscope.dissectors.esp import (
    EspHeader,
    SecurityAssociation,
    decode_esp,
    encode_esp,
    plausible_inner,
)
from nhrpscope.dissectors.esp_peek import EspPeek
from nhrpscope.dissectors.frame import FrameDecoder, Packet, decode_ip

from nhrpscope import keys
from nhrpscope.capture import (
    BLOCK_SPB,
    CaptureError,
    CaptureReader,
    PcapngWriter,
    PcapWriter,
    _block,
)
from nhrpscope.render.jsonout import packet_json, to_jsonable
from nhrpscope.render.text import summary, tree
from nhrpscope.sim.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    builtin_text,
    load_scenario,
    parse_scenario,
)

FUZZ = settings.get_profile("fuzz")


def scaled(factor: float) -> settings:
    """The fuzz profile with more or fewer examples, for cheap or costly targets."""
    return settings(FUZZ, max_examples=max(10, int(FUZZ.max_examples * factor)))


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
v4 = st.binary(min_size=4, max_size=4).map(addr_str)
v6 = st.binary(min_size=16, max_size=16).map(addr_str)
macs = st.binary(min_size=6, max_size=6).map(link.mac_str)

# -- mutation ----------------------------------------------------------------------

# What a length or count field is set to: the edges of 1-, 2- and 4-byte numbers.
EXTREMES = (0, 1, 2, 3, 4, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
            0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
_OPS = ("set", "flip", "extreme", "extreme", "cut", "insert", "delete", "repeat")


@st.composite
def mutate(draw: st.DrawFn, data: bytes, hot: Sequence[int] = (), endian: str = "big") -> bytes:
    """``data`` with 1..4 mutations; ``hot`` are offsets of length and count
    fields, where half of the mutations land."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(_OPS))
        hot_ok = [h for h in hot if h < len(b)]
        if len(hot_ok) > 0 and draw(st.booleans()):
            pos: int = draw(st.sampled_from(hot_ok))
        else:
            pos = draw(st.integers(0, max(len(b) - 1, 0)))
        if op == "set" and b:
            b[pos] = draw(u8)
        elif op == "flip" and b:
            b[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "extreme":
            width = draw(st.sampled_from((1, 2, 4)))
            value = draw(st.sampled_from(EXTREMES)) & ((1 << 8 * width) - 1)
            b[pos:pos + width] = value.to_bytes(width, endian)  # type: ignore[arg-type]
        elif op == "cut":
            del b[pos:]
        elif op == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del b[pos:pos + draw(st.integers(1, 16))]
        elif op == "repeat":
            n = draw(st.integers(1, 32))
            b[pos:pos] = b[pos:pos + n] * draw(st.integers(1, 3))
    return bytes(b)


# -- checks ------------------------------------------------------------------------

_PROBLEM_ID = re.compile(r"[a-z0-9-]+\.[a-z0-9-]+")


def check_problems(problems: list[Problem]) -> None:
    for p in problems:
        assert isinstance(p, Problem), p
        assert isinstance(p.offset, int) and isinstance(p.reason, str) and p.reason, p
        # an id names the problem for programs: "<layer>.<what>", like Wireshark's expert info
        assert _PROBLEM_ID.fullmatch(p.id), p
        assert p.severity in ("error", "warning", "note"), p


def check_decoded(d: Decoded) -> None:
    """A decoder's answer: bytes onward, problems as values, a record that the
    generic JSON mapping can write."""
    assert isinstance(d, Decoded), d
    assert isinstance(d.payload, bytes)
    assert isinstance(d.payload_offset, int)
    check_problems(d.problems)
    json.dumps(to_jsonable(d.record))


def check_packet(pkt: Packet) -> None:
    """A decoded frame, and what ``decode`` prints of it (jsonl, summary, -v)."""
    assert isinstance(pkt, Packet)
    check_problems(pkt.problems)
    assert len(pkt.offsets) == len(pkt.layers)
    json.dumps(packet_json(pkt))
    assert isinstance(summary(pkt), str)
    assert all(isinstance(line, str) for line in tree(pkt))


def one_line(e: BaseException, prefix: str) -> str:
    msg = str(e)
    assert "\n" not in msg, msg
    assert msg.startswith(prefix), (prefix, msg)
    return msg


# -- packets, built by the encoders ---------------------------------------------------


def cies(nbma: st.SearchStrategy, proto: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(
        nhrp.make_cie, code=st.sampled_from([0, 4, 5, 11, 12, 13, 14, 200]),
        prefix_len=u8, mtu=u16, holding_time=u16, preference=u8,
        client_nbma=st.none() | nbma,
        client_nbma_subaddr=st.none() | st.binary(min_size=1, max_size=4).map(bytes.hex),
        client_proto=st.none() | proto)


def extensions(nbma: st.SearchStrategy, proto: st.SearchStrategy) -> st.SearchStrategy:
    printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8)
    one = st.one_of(
        st.builds(nhrp.make_cie_extension, st.sampled_from([3, 4, 5, 9]),
                  st.lists(cies(nbma, proto), max_size=2)),
        st.builds(nhrp.make_auth_extension, password=printable, mobile=st.booleans()),
        st.builds(nhrp.make_vendor_extension, st.none() | u24, st.binary(max_size=8)),
        st.builds(nhrp.make_device_capabilities_extension, u32, u32),
        st.builds(nhrp.make_unknown_extension, st.integers(11, 0x7FFF), st.binary(max_size=8)),
    )
    return st.tuples(st.lists(one, max_size=4), st.booleans()).map(
        lambda t: t[0] + ([nhrp.make_end_extension()] if t[1] else []))


@st.composite
def nhrp_packets(draw: st.DrawFn) -> bytes:
    fam = draw(st.sampled_from(["v4", "v6", "mixed"]))
    nbma = v6 if fam == "v6" else v4
    proto = v4 if fam == "v4" else v6
    type_code = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8]))
    common = dict(src_nbma=draw(nbma), src_proto=draw(proto), dst_proto=draw(proto),
                  hop_count=draw(u8), flags=draw(u16), extensions=draw(extensions(nbma, proto)))
    if type_code == nhrp.ERROR_INDICATION:
        inner = nhrp.make_packet(draw(st.sampled_from([1, 3])), src_nbma=common["src_nbma"],
                                 src_proto=common["src_proto"], dst_proto=common["dst_proto"],
                                 cies=draw(st.lists(cies(nbma, proto), max_size=2)))
        pkt = nhrp.make_packet(7, error_code=draw(u16), error_offset=draw(u16), offending=inner, **common)
    elif type_code == nhrp.TRAFFIC_INDICATION:
        carried = ip.encode_ipv4(draw(v4), draw(v4), 17,
                                 udp.encode_udp(draw(u16), draw(u16), draw(st.binary(max_size=16))))
        pkt = nhrp.make_packet(8, traffic_code=draw(u16), offending_raw=carried, **common)
    else:
        pkt = nhrp.make_packet(type_code, request_id=draw(u32),
                               cies=draw(st.lists(cies(nbma, proto), max_size=3)), **common)
    return nhrp.encode_nhrp(pkt)


def nhrp_hot(wire: bytes) -> list[int]:
    """Offsets of NHRP's size, offset and length fields, extension lengths too."""
    hot = [10, 11, 14, 15, 18, 19, 20, 21]
    if len(wire) >= 16:
        pos = struct.unpack_from("!H", wire, 14)[0]
        while pos and pos + 4 <= len(wire):
            hot += [pos + 2, pos + 3]
            pos += 4 + struct.unpack_from("!H", wire, pos + 2)[0]
    return hot


@st.composite
def ethernet_frames(draw: st.DrawFn) -> bytes:
    pl = draw(st.binary(max_size=30))
    return link.encode_ethernet(link.Ethernet(draw(macs), draw(macs), 0x0800),
                                ip.encode_ipv4(draw(v4), draw(v4), 1, transport.encode_icmp_echo(1, 1, pl)))


@st.composite
def gre_packets(draw: st.DrawFn) -> bytes:
    payload = draw(st.binary(max_size=40))
    if draw(st.integers(0, 4)) == 0:  # enhanced GRE (PPTP)
        return gre.encode_gre(0x880B, payload, version=1, call_id=draw(st.none() | u16),
                              seq=draw(st.none() | u32), ack=draw(st.none() | u32))
    pt = draw(st.sampled_from([0x0800, 0x86DD, 0x2001, 0x6558, 0x88BE, 0x22EB, 0x8909, 0x0000, 0x1234]))
    seq = draw(st.none() | u32)
    if pt == gre.PT_ERSPAN2:
        frame = draw(ethernet_frames())
        payload = gre.encode_erspan2(frame, session_id=draw(st.integers(0, 0x3FF)),
                                     vlan=draw(st.integers(0, 0xFFF)), index=draw(u32)) if seq is not None else frame
    elif pt == gre.PT_ERSPAN3:  # type III as tshark reads it: 12 bytes, O bit and subheader optional
        o_bit = draw(st.booleans())
        payload = (struct.pack("!III", (2 << 28) | draw(st.integers(0, 0x3FF)), draw(u32), int(o_bit))
                   + (bytes(8) if o_bit else b"") + draw(ethernet_frames()))
    elif pt == gre.PT_CMD:
        payload = gre.encode_cmd(draw(u16), draw(st.sampled_from([0x0800, 0x2001, 0x86DD])), payload)
    elif pt == gre.PT_NHRP and draw(st.booleans()):
        payload = draw(nhrp_packets())
    routing = None
    if draw(st.integers(0, 5)) == 0:  # RFC 1701 source route entries, then the NULL SRE
        sres = draw(st.lists(st.binary(max_size=12), max_size=2))
        routing = b"".join(struct.pack("!HBB", 0x0800, 0, len(s)) + s for s in sres) + bytes(4)
    return gre.encode_gre(pt, payload, key=draw(st.none() | u32), seq=seq, checksum=draw(st.booleans()),
                          recursion=draw(st.integers(0, 7)), routing=routing)


@st.composite
def ipv6_packets(draw: st.DrawFn, next_header: int, payload: bytes) -> bytes:
    """IPv6, optionally behind hop-by-hop / destination options / a fragment header."""
    exts = draw(st.lists(st.sampled_from([0, 60, 44]), max_size=2))
    chain = payload
    nh = next_header
    for e in reversed(exts):
        if e == 44:
            chain = struct.pack("!BBHI", nh, 0, draw(st.integers(0, 0x1FFF)) << 3 | draw(st.integers(0, 1)),
                                draw(u32)) + chain
        else:
            n = draw(st.integers(0, 2))
            chain = bytes([nh, n]) + bytes(6 + 8 * n) + chain
        nh = e
    return ip.encode_ipv6(draw(v6), draw(v6), nh, chain, hop_limit=draw(u8))


@st.composite
def ipv4_packets(draw: st.DrawFn, protocol: int, payload: bytes, src: str | None = None,
                 dst: str | None = None) -> bytes:
    options = draw(st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00", b"\x01" * 40]))
    return ip.encode_ipv4(src or draw(v4), dst or draw(v4), protocol, payload, ttl=draw(u8),
                          tos=draw(u8), ident=draw(u16), df=draw(st.booleans()), options=options)


def ip_hot(pkt: bytes) -> list[int]:
    return [0, 2, 3, 6, 7, 9] if pkt[:1] and pkt[0] >> 4 == 4 else [4, 5, 6, 40, 41]


@st.composite
def ike_payloads(draw: st.DrawFn, version: int) -> list:
    v1 = version == 1
    attr = st.one_of(
        st.builds(K.Attribute, st.integers(1, 16), u16),
        st.builds(K.Attribute, st.integers(1, 16), st.binary(max_size=10)))
    transform = (st.builds(K.Transform, u8, st.just(0), u8, st.lists(attr, max_size=4).map(tuple)) if v1
                 else st.builds(K.Transform, st.just(0), st.integers(1, 5), u16,
                                st.lists(attr, max_size=2).map(tuple)))
    proposal = st.builds(K.Proposal, u8, st.sampled_from([1, 2, 3, 4]), st.binary(max_size=8),
                         st.lists(transform, max_size=3).map(tuple))
    vid = st.sampled_from([v for v, _ in K.VENDOR_IDS]).map(bytes) | st.binary(max_size=20)
    one = st.one_of(
        st.builds(K.SaPayload, st.lists(proposal, max_size=2).map(tuple),
                  u32 if v1 else st.none(), u32 if v1 else st.none()),
        st.builds(K.KePayload, st.binary(max_size=16), st.none() if v1 else u16),
        st.builds(K.NoncePayload, st.binary(max_size=16)),
        st.builds(K.VendorIdPayload, vid),
        st.builds(K.IdPayload, st.sampled_from([1, 2, 3, 4, 5, 11]), st.binary(max_size=16),
                  u8 if v1 else st.just(0), u16 if v1 else st.just(0),
                  st.just(False) if v1 else st.booleans()),
        st.builds(K.NotifyPayload, st.sampled_from([14, 24, 16388, 36136, 40000]), u8,
                  st.binary(max_size=8), st.binary(max_size=8), u32 if v1 else st.none()),
        st.integers(0, 8).flatmap(lambda n: st.builds(
            K.DeletePayload, u8, st.just(n),
            st.lists(st.binary(min_size=n, max_size=n), max_size=3).map(tuple),
            u32 if v1 else st.none())),
        *([st.builds(K.NatDPayload, st.binary(max_size=20), st.booleans(), st.just(""), st.booleans()),
           st.builds(K.HashPayload, st.binary(max_size=20))] if v1 else []),
    )
    chain = draw(st.lists(one, max_size=5))
    if not v1 and draw(st.booleans()):
        chain.append(draw(st.one_of(
            st.builds(K.EncryptedPayload, st.binary(max_size=24), u8),
            st.builds(K.EncryptedFragmentPayload, u16, u16, st.binary(max_size=24), u8))))
    return chain


@st.composite
def ike_messages(draw: st.DrawFn) -> bytes:
    version = draw(st.sampled_from([1, 2]))
    xtype = draw(st.sampled_from([2, 4, 5, 32] if version == 1 else [34, 35, 36, 37]))
    flags = draw(u8)
    hdr = ike_mod.make_ike_header(version, xtype, draw(st.binary(min_size=8, max_size=8)),
                                  draw(st.binary(min_size=8, max_size=8)), flag_bits=flags,
                                  message_id=draw(u32))
    if version == 1 and flags & 1:
        chain: list = [K.EncryptedBody(draw(st.binary(max_size=40)), draw(st.sampled_from([1, 8])))]
    else:
        chain = draw(ike_payloads(version))
    return ike_mod.encode_ike_message(hdr, chain)


def ike_hot(wire: bytes) -> list[int]:
    hot = [16, 17, 24, 25, 26, 27]
    pos = 28
    while pos + 4 <= len(wire) and len(hot) < 40:  # each payload's length, and inside SA payloads
        hot += [pos, pos + 2, pos + 3, pos + 4, pos + 8, pos + 10, pos + 11]
        pos += max(4, struct.unpack_from("!H", wire, pos + 2)[0])
    return hot


# ESP: (encryption, key bytes, integrity, key bytes); "unknown" is an ICV not checked.
ESP_ALGOS = [
    ("aes-cbc", 16, "hmac-sha1-96", 20),
    ("aes-cbc", 32, "hmac-sha256-128", 32),
    ("3des-cbc", 24, "hmac-md5-96", 16),
    ("aes-ctr", 20, "hmac-sha1-96", 20),
    ("aes-cbc", 16, "aes-xcbc-96", 16),
    ("aes-gcm-16", 20, "null", 0),
    ("aes-gcm-8", 36, "null", 0),
    ("aes-gcm-16-iiv", 20, "null", 0),
    ("chacha20-poly1305", 36, "null", 0),
    ("null", 0, "hmac-sha1-96", 20),
    ("aes-cbc", 16, "unknown", None),
    ("blowfish-cbc", 16, "null", 0),
]


def make_sa(i: int, spi: int | None, src: str | None, dst: str | None, salt: int = 0,
            esn: bool = False) -> SecurityAssociation:
    enc, ek, integ, ik = ESP_ALGOS[i]
    ekey = bytes((salt + j) & 0xFF for j in range(ek))
    akey = None if ik is None else bytes((salt * 7 + j) & 0xFF for j in range(ik))
    return SecurityAssociation(spi, src, dst, enc, ekey, integ, akey,
                               icv_len=12 if integ == "unknown" else None, esn=esn)


# The tunnel the frame fuzzer's ESP rides on, and its SAs (one per algorithm).
HUB, SPOKE = "172.16.1.1", "172.16.2.2"


def frame_sas() -> keys.SADatabase:
    return keys.SADatabase(make_sa(i, 0x1000 + i, SPOKE, HUB, salt=i) for i in range(len(ESP_ALGOS)))


@st.composite
def esp_packets(draw: st.DrawFn, sa: SecurityAssociation) -> bytes:
    """A packet under ``sa``: GRE/NHRP, IPv4 (tunnel mode) or a dummy; its
    plaintext sometimes damaged before encryption, so the ICV checks."""
    kind = draw(st.sampled_from([47, 4, 59, 17]))
    if kind == 47:
        inner = gre.encode_gre(0x2001, draw(nhrp_packets()), key=draw(st.none() | u32))
    elif kind == 4:
        inner = ip.encode_ipv4("10.0.0.1", "10.0.0.2", 1, transport.encode_icmp_echo(1, 2, b"x" * 8))
    elif kind == 17:
        inner = udp.encode_udp(draw(u16), draw(u16), draw(st.binary(max_size=20)))
    else:
        inner = b""
    if draw(st.booleans()):
        inner = draw(mutate(inner))
    if sa.integrity == "unknown":  # an SA that cannot send: encrypt under its checked twin
        sa = SecurityAssociation(sa.spi, sa.src, sa.dst, sa.encryption, sa.enc_key, "hmac-sha1-96",
                                 bytes(20))
    iv = None if sa.algorithm.implicit_iv else bytes(range(sa.algorithm.iv_len))
    return encode_esp(sa, draw(st.integers(1, 0xFFFFFFFF)), inner, kind, iv=iv)


@st.composite
def ip_payloads(draw: st.DrawFn, src: str, dst: str) -> tuple[int, bytes]:
    """(IP protocol, payload) of what rides on the tunnel's outer IP."""
    kind = draw(st.sampled_from(["gre", "gre-nest", "esp", "natt-esp", "ike500", "ike4500",
                                 "keepalive", "icmp", "frag-needed", "tcp", "nhrp-on-ip"]))
    if kind == "gre":
        return 47, draw(gre_packets())
    if kind == "gre-nest":  # GRE in IPv4 in GRE, a few deep
        pl = gre.encode_gre(0x2001, draw(nhrp_packets()))
        for _ in range(draw(st.integers(1, 4))):
            pl = gre.encode_gre(0x0800, ip.encode_ipv4(dst, src, 47, pl), key=draw(st.none() | u32))
        return 47, pl
    if kind in ("esp", "natt-esp"):
        i = draw(st.integers(0, len(ESP_ALGOS) - 1))
        esp = draw(esp_packets(make_sa(i, 0x1000 + i, SPOKE, HUB, salt=i)))
        if kind == "esp":
            return 50, esp
        return 17, udp.encode_udp(4500, 4500, esp)
    if kind in ("ike500", "ike4500"):
        msg = draw(ike_messages())
        if kind == "ike500":
            return 17, udp.encode_udp(500, 500, msg)
        return 17, udp.encode_udp(4500, 4500, udp.NON_ESP_MARKER + msg,
                                  src_addr=addr_bytes(src), dst_addr=addr_bytes(dst))
    if kind == "keepalive":
        return 17, udp.encode_udp(4500, 4500, udp.encode_nat_keepalive())
    if kind == "icmp":
        return 1, transport.encode_icmp_echo(draw(u16), draw(u16), draw(st.binary(max_size=20)))
    if kind == "frag-needed":
        orig = ip.encode_ipv4(src, dst, 47, gre.encode_gre(0x2001, b"x" * 40))
        return 1, transport.encode_icmp_frag_needed(draw(u16), orig)
    if kind == "tcp":
        return 6, transport.encode_tcp(draw(u16), draw(u16), draw(st.binary(max_size=20)),
                                       seq=draw(u32), flags=draw(u8))
    return 54, draw(nhrp_packets())


@st.composite
def ip_frames(draw: st.DrawFn) -> bytes:
    """An IPv4 or IPv6 packet between the tunnel's ends (ESP under known SAs)."""
    proto, payload = draw(ip_payloads(SPOKE, HUB))
    if draw(st.integers(0, 5)) == 0:
        return draw(ipv6_packets(proto, payload))
    return draw(ipv4_packets(proto, payload, SPOKE, HUB))


LINKTYPES = {"eth": 1, "raw": 101, "loop": 108, "sll": 113, "ipv4": 228, "ipv6": 229, "sll2": 276,
             "null": 0}


@st.composite
def link_frames(draw: st.DrawFn, payload: bytes | None = None) -> tuple[int, bytes]:
    """(link type, frame): an IP packet behind one of the link layers."""
    pkt = draw(ip_frames()) if payload is None else payload
    v6 = pkt[:1] != b"" and pkt[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    kind = draw(st.sampled_from(["eth", "eth", "eth", "raw", "loop", "sll", "sll2", "null", "ipv4"]))
    if kind == "ipv4" and v6:
        kind = "ipv6"
    if kind == "eth":
        tpids = draw(st.lists(st.sampled_from(link.ETH_VLAN), max_size=2))
        vlans = tuple(link.Vlan(t, draw(st.integers(0, 7)), draw(st.integers(0, 1)),
                                draw(st.integers(0, 0xFFF)),
                                tpids[j + 1] if j + 1 < len(tpids) else ethertype)
                      for j, t in enumerate(tpids))
        frame = link.encode_ethernet(link.Ethernet(draw(macs), draw(macs), ethertype), pkt, vlans)
    elif kind == "sll":
        frame = link.encode_sll(link.LinuxSll(draw(u16), 1, draw(macs), ethertype), pkt)
    elif kind == "sll2":
        frame = link.encode_sll2(link.LinuxSll2(ethertype, draw(u32), 1, draw(u8), draw(macs)), pkt)
    elif kind == "null":
        frame = link.encode_null(draw(st.sampled_from([24, 28, 30])) if v6 else 2, pkt)
    elif kind == "loop":
        frame = struct.pack("!I", 24 if v6 else 2) + pkt
    else:
        frame = pkt
    return LINKTYPES[kind], frame


# -- decoders --------------------------------------------------------------------------


@FUZZ
@given(st.data())
def test_link_decoders(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    _lt, frame = data.draw(link_frames(data.draw(st.binary(max_size=24))))
    m = data.draw(mutate(frame, hot=[12, 13, 14, 15, 16, 17, 4, 5]))
    for decode in (link.decode_ethernet, link.decode_sll, link.decode_sll2, link.decode_null,
                   lambda b: link.decode_null(b, big_endian=True)):
        layers, d = decode(m)
        fuzz_tried["link"] += 1
        assert all(isinstance(la, link.Layer) for la in layers)
        check_decoded(d)


@FUZZ
@given(st.data())
def test_ip_decoders(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    proto = data.draw(st.sampled_from([47, 17, 50]))
    payload = data.draw(st.binary(max_size=40))
    pkt = (data.draw(ipv6_packets(proto, payload)) if data.draw(st.booleans())
           else data.draw(ipv4_packets(proto, payload)))
    m = data.draw(mutate(pkt, hot=ip_hot(pkt)))
    for decode in (ip.decode_ipv4, ip.decode_ipv6):
        rec, d, frag = decode(m)
        fuzz_tried["ip"] += 1
        check_decoded(d)
        assert frag is None or isinstance(frag, ip.Fragment)


@st.composite
def fragment_trains(draw: st.DrawFn) -> list[bytes]:
    """The fragments of one or two datagrams, some damaged, shuffled, repeated."""
    out: list[bytes] = []
    for ident in range(draw(st.integers(1, 2))):
        body = gre.encode_gre(0x2001, draw(nhrp_packets()))
        step = 8 * draw(st.integers(1, 8))
        pieces = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
        for j, piece in enumerate(pieces):
            more = j + 1 < len(pieces)
            if draw(st.integers(0, 4)):
                out.append(ip.encode_ipv4(SPOKE, HUB, 47, piece, ident=ident, mf=more,
                                          frag_offset=j * step))
            else:  # IPv6's fragment header
                fh = struct.pack("!BBHI", 47, 0, (j * step) | int(more), ident)
                out.append(ip.encode_ipv6("2001:db8::1", "2001:db8::2", 44, fh + piece))
    out = [draw(mutate(p, hot=[2, 3, 6, 7, 42, 43])) if draw(st.integers(0, 3)) == 0 else p for p in out]
    return draw(st.permutations(out)) + draw(st.lists(st.sampled_from(out), max_size=3))


@scaled(0.5)
@given(fragment_trains(), st.lists(st.floats(0, 100), min_size=1, max_size=4))
def test_reassembler(fuzz_tried: Counter[str], train: list[bytes], times: list[float]) -> None:
    r = ip.Reassembler(timeout=10.0, max_datagrams=2)
    fd = FrameDecoder()
    for i, pkt in enumerate(train):
        t = times[i % len(times)]
        for decode in (ip.decode_ipv4, ip.decode_ipv6):
            _rec, _d, frag = decode(pkt)
            if frag is not None:
                whole, frames, notes = r.add(frag, i + 1, t)
                fuzz_tried["ip.Reassembler"] += 1
                assert whole is None or isinstance(whole, bytes)
                assert all(isinstance(n, str) for n in notes) and isinstance(frames, tuple)
        check_packet(fd.decode(101, pkt, frame=i + 1, time=t))
        fuzz_tried["frame.FrameDecoder"] += 1
    assert all(isinstance(m, str) for m in r.flush() + fd.finish())


@FUZZ
@given(st.data())
def test_gre_decoders(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    pkt = data.draw(gre_packets())
    m = data.draw(mutate(pkt, hot=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))
    d = gre.decode_gre(m)
    fuzz_tried["gre"] += 1
    check_decoded(d)
    if d.record is not None:
        assert isinstance(d.record, gre.Gre)
        # what follows, as the frame chain hands it on
        for e in (gre.decode_erspan(d.payload, d.record.protocol_type, d.record.seq is not None),
                  gre.decode_erspan(d.payload, gre.PT_ERSPAN3, True), gre.decode_cmd(d.payload)):
            fuzz_tried["gre.erspan/cmd"] += 1
            check_decoded(e)


@FUZZ
@given(st.data())
def test_nhrp_decoder(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    wire = data.draw(nhrp_packets())
    m = data.draw(mutate(wire, hot=nhrp_hot(wire)))
    d = nhrp.decode_nhrp(m)
    fuzz_tried["nhrp"] += 1
    check_decoded(d)
    assert d.record is None or isinstance(d.record, nhrp.NhrpPacket)
    # decode_cie is documented to stop with Malformed, which its callers turn into problems
    for pos in (20, 28, 40):
        try:
            nhrp.decode_cie(m, pos, afn=1, protocol_type=0x0800, problems=[])
        except Malformed as e:
            assert isinstance(e.offset, int) and e.reason
        fuzz_tried["nhrp.decode_cie"] += 1


@FUZZ
@given(st.data())
def test_transport_decoders(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    pkt = data.draw(st.one_of(
        st.builds(transport.encode_icmp_echo, u16, u16, st.binary(max_size=20), reply=st.booleans()),
        st.builds(transport.encode_icmp_frag_needed, u16,
                  st.builds(lambda s, d: ip.encode_ipv4(s, d, 47, bytes(30)), v4, v4)),
        st.builds(transport.encode_tcp, u16, u16, st.binary(max_size=20), seq=u32, ack=u32,
                  flags=u8, window=u16)))
    m = data.draw(mutate(pkt, hot=[0, 1, 2, 12, 16, 17]))
    for d in (transport.decode_icmp(m), transport.decode_icmp(m, v6=True), transport.decode_tcp(m)):
        fuzz_tried["transport"] += 1
        check_decoded(d)


@FUZZ
@given(st.data())
def test_udp_decoders(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    src, dst = data.draw(v4), data.draw(v4)
    ports = data.draw(st.sampled_from([(500, 500), (4500, 4500), (4500, 1234), (53, 53)]))
    payload = data.draw(st.one_of(
        ike_messages(), ike_messages().map(lambda m: udp.NON_ESP_MARKER + m),
        st.just(udp.encode_nat_keepalive()), st.binary(max_size=24)))
    seg = udp.encode_udp(*ports, payload, src_addr=addr_bytes(src), dst_addr=addr_bytes(dst))
    m = data.draw(mutate(seg, hot=[4, 5, 6, 7, 8, 9, 10, 11]))
    d = udp.decode_udp(m)
    fuzz_tried["udp"] += 1
    check_decoded(d)
    if d.record is not None:
        kind = udp.classify_udp_payload(d.record.src_port, d.record.dst_port, d.payload)
        kind2, body, off = udp.split_udp_payload(d.record.src_port, d.record.dst_port, d.payload)
        assert kind == kind2 and isinstance(body, bytes) and off in (0, 4)
    assert udp.verify_udp_checksum(addr_bytes(src), addr_bytes(dst), m) in (True, False, None)
    check_decoded(udp.decode_nat_keepalive(m[8:]))
    fuzz_tried["udp"] += 2


@FUZZ
@given(st.data())
def test_ike_decoders(fuzz_tried: Counter[str], data: st.DataObject) -> None:
    wire = data.draw(ike_messages())
    m = data.draw(mutate(wire, hot=ike_hot(wire)))
    check_decoded(ike_mod.decode_ike(m))
    d = ike_mod.decode_ike_message(m)
    fuzz_tried["ike"] += 2
    check_decoded(d)
    if d.record is not None:
        assert isinstance(ike_mod.payload_summary(d.record), str)
        for p in d.record.payloads:
            for prop in getattr(p, "proposals", ()):
                for t in prop.transforms:
                    assert isinstance(K.transform_summary(d.record.version, t), str)
    # the payload chain on its own, as either version and with the E flag
    for version in (1, 2):
        for encrypted in (False, True):
            payloads, problems = K.decode_payloads(version, m[16] if len(m) > 16 else 1, m[28:],
                                                   encrypted=encrypted)
            fuzz_tried["ike_payloads"] += 1
            check_problems(problems)
            json.dumps(to_jsonable(payloads))


ESP_STATUSES = {"no-key", "decrypted", "decryption-failed", "truncated"}


@scaled(1.5)
@given(st.integers(0, len(ESP_ALGOS) - 1), st.booleans(), st.data())
def test_esp_decoder(fuzz_tried: Counter[str], which: int, esn: bool, data: st.DataObject) -> None:
    sa = make_sa(which, 0x2000, SPOKE, HUB, salt=3, esn=esn)
    pkt = data.draw(esp_packets(sa))
    m = data.draw(mutate(pkt, hot=[0, 3, 4, 7, len(pkt) - 1, len(pkt) - 2]))
    other = (which + data.draw(st.integers(1, len(ESP_ALGOS) - 1))) % len(ESP_ALGOS)
    for key in (make_sa(which, 0x2000, SPOKE, HUB, salt=3, esn=esn),  # the right SA
                make_sa(which, 0x2000, SPOKE, HUB, salt=99),  # the same algorithms, other keys
                make_sa(other, 0x2000, SPOKE, HUB, salt=3), None):
        for buf in (pkt, m):
            d = decode_esp(buf, key)
            fuzz_tried["esp"] += 1
            check_decoded(d)
            assert d.record is None or (isinstance(d.record, EspHeader)
                                        and d.record.status in ESP_STATUSES)
        if key is not None:
            peek = EspPeek.for_sa(key)
            if peek is not None:  # the replay's fast path opens just the ends
                r = peek.peek(m, 0, len(m))
                assert r is None or isinstance(r[0], bytes)
                assert peek.verify(m, 0, len(m)) in (True, False)
                fuzz_tried["esp.EspPeek"] += 1
    for nh in (4, 41, 47, 17, 6, 1, 58, 51, 50, 99):
        assert plausible_inner(nh, m[8:]) in (True, False)


@FUZZ
@given(st.lists(link_frames(), min_size=1, max_size=3), st.data())
def test_frame_decoder(fuzz_tried: Counter[str], frames: list[tuple[int, bytes]],
                       data: st.DataObject) -> None:
    """The whole chain, link layer to NHRP/IKE/decrypted ESP, and what
    ``decode`` prints; one decoder for the frames, as in a capture."""
    fd = FrameDecoder(frame_sas())
    for i, (lt, frame) in enumerate(frames, 1):
        if data.draw(st.integers(0, 4)):
            frame = data.draw(mutate(frame, hot=[12, 13, 14, 16, 17, 23, 24, 25, 34, 35, 36, 37]))
        check_packet(fd.decode(lt, frame, frame=i, time=float(i), wire_len=len(frame) + 4))
        fuzz_tried["frame.FrameDecoder"] += 1
        if lt in (101, 228, 229):
            layers, problems = decode_ip(frame)
            fuzz_tried["frame.decode_ip"] += 1
            check_problems(problems)
            json.dumps(to_jsonable(layers))
    assert all(isinstance(m, str) for m in fd.finish())


# -- capture files, written by the project's writers ------------------------------------


def pcap_to_big_endian(blob: bytes) -> bytes:
    """A little-endian pcap from ``PcapWriter`` in the other byte order."""
    out = [struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", blob))]
    pos = 24
    while pos + 16 <= len(blob):
        hdr = struct.unpack_from("<IIII", blob, pos)
        out.append(struct.pack(">IIII", *hdr) + blob[pos + 16:pos + 16 + hdr[2]])
        pos += 16 + hdr[2]
    return b"".join(out)


def _swap_options(opts: bytes) -> bytes:
    out = b""
    pos = 0
    while pos + 4 <= len(opts):
        code, n = struct.unpack_from("<HH", opts, pos)
        padded = (n + 3) & ~3
        out += struct.pack(">HH", code, n) + opts[pos + 4:pos + 4 + padded]
        pos += 4 + padded
    return out + opts[pos:]


def pcapng_to_big_endian(blob: bytes) -> bytes:
    """A little-endian pcapng from ``PcapngWriter`` (and ``_block``) in the
    other byte order: the blocks, their fixed fields and their options."""
    out = []
    pos = 0
    while pos + 12 <= len(blob):
        btype, blen = struct.unpack_from("<II", blob, pos)
        body = blob[pos + 8:pos + blen - 4]
        if btype == 0x0A0D0D0A:
            body = struct.pack(">IHHq", *struct.unpack_from("<IHHq", body)) + _swap_options(body[16:])
        elif btype == 1:
            body = struct.pack(">HHI", *struct.unpack_from("<HHI", body)) + _swap_options(body[8:])
        elif btype == 6:
            f = struct.unpack_from("<IIIII", body)
            data_end = 20 + ((f[3] + 3) & ~3)
            body = struct.pack(">IIIII", *f) + body[20:data_end] + _swap_options(body[data_end:])
        elif btype == 0x0A:
            body = struct.pack(">II", *struct.unpack_from("<II", body)) + body[8:]
        elif btype == BLOCK_SPB:
            body = struct.pack(">I", *struct.unpack_from("<I", body)) + body[4:]
        out.append(struct.pack(">II", btype, blen) + body + struct.pack(">I", blen))
        pos += blen
    return b"".join(out)


def length_fields(blob: bytes, kind: str) -> list[int]:
    """Offsets of the record / block length fields (and a few inside blocks)."""
    hot: list[int] = []
    e = ">" if kind.endswith("be") else "<"
    if kind.startswith("pcap-"):
        pos = 24
        while pos + 16 <= len(blob):
            hot += [pos + 8, pos + 12]
            pos += 16 + struct.unpack_from(e + "I", blob, pos + 8)[0]
    else:
        pos = 0
        while pos + 12 <= len(blob) and len(hot) < 60:
            blen = struct.unpack_from(e + "I", blob, pos + 4)[0]
            hot += [pos, pos + 4, pos + 8, pos + 12, pos + 20, pos + 24, pos + blen - 4]
            pos += max(blen, 12)
    return hot


@st.composite
def capture_files(draw: st.DrawFn) -> tuple[str, bytes, list[int]]:
    """(kind, file bytes, offsets of its length fields)."""
    kind = draw(st.sampled_from(["pcap-le", "pcap-be", "pcap-ns", "pcapng-le", "pcapng-be"]))
    payloads = draw(st.lists(st.binary(max_size=48), min_size=1, max_size=5))
    buf = io.BytesIO()
    if kind.startswith("pcap-"):
        w = PcapWriter(buf, draw(st.sampled_from([1, 101, 113])), nanosecond=kind == "pcap-ns")
        for i, p in enumerate(payloads):
            w.write(1_700_000_000 + i / 7, p, len(p) + draw(st.integers(0, 3)))
        blob = buf.getvalue()
        if kind == "pcap-be":
            blob = pcap_to_big_endian(blob)
    else:
        w2 = PcapngWriter(buf)
        if draw(st.booleans()):
            sa = make_sa(0, 0x1234, SPOKE, HUB)
            w2.secrets(keys.DSB_ESP_SA, keys.format_esp_sa([sa]).encode())
        for i, p in enumerate(payloads):
            w2.write(1_700_000_000 + i / 7, p, draw(st.sampled_from([1, 101])),
                     comment=draw(st.none() | st.text(max_size=12)))
        if draw(st.booleans()):  # a simple packet block, and one we do not read
            buf.write(_block(BLOCK_SPB, struct.pack("<I", len(payloads[0])) + payloads[0]))
            buf.write(_block(0x40000BAD, b"custom"))
        if draw(st.booleans()):  # a second section, with its own interfaces
            PcapngWriter(buf).write(1.0, payloads[-1], 1)
        blob = buf.getvalue()
        if kind == "pcapng-be":
            blob = pcapng_to_big_endian(blob)
    return kind, blob, length_fields(blob, kind)


def read_capture(path: Path, fuzz_tried: Counter[str]) -> None:
    """Every frame, as iteration and as ``records()``; secrets blocks handed
    to the key parser as the CLI does."""

    def on_secrets(stype: int, data: bytes, where: str) -> None:
        try:
            keys.parse_dsb(stype, data, where)
        except keys.KeyFileError as e:
            one_line(e, where)

    for how in ("frames", "records"):
        fuzz_tried["capture"] += 1
        try:
            with CaptureReader(path, on_secrets=on_secrets) as r:
                if how == "frames":
                    for f in r:
                        assert isinstance(f.data, bytes) and isinstance(f.time, float)
                else:
                    for rec in r.records():
                        assert isinstance(rec[3], bytes)
            assert all("\n" not in w and w.startswith(str(path)) for w in r.warnings)
        except CaptureError as e:
            one_line(e, str(path))


@scaled(1.5)
@given(capture_files(), st.data())
def test_capture_reader(tmp_path_factory: pytest.TempPathFactory, fuzz_tried: Counter[str],
                        cap: tuple[str, bytes, list[int]], data: st.DataObject) -> None:
    kind, blob, hot = cap
    endian = "big" if kind.endswith("be") else "little"
    when = data.draw(st.sampled_from(["plain", "plain", "gzip-then-mutate", "mutate-then-gzip"]))
    if when == "gzip-then-mutate":
        blob = data.draw(mutate(gzip.compress(blob, mtime=0)))
    else:
        blob = data.draw(mutate(blob, hot=hot, endian=endian))
        if when == "mutate-then-gzip":
            blob = gzip.compress(blob, mtime=0)
    path = _scratch(tmp_path_factory) / f"fuzz.{kind}"
    path.write_bytes(blob)
    read_capture(path, fuzz_tried)


_SCRATCH: list[Path] = []


def _scratch(factory: pytest.TempPathFactory) -> Path:
    """One directory for every example's file (mktemp per example is slow)."""
    if not _SCRATCH:
        _SCRATCH.append(factory.mktemp("fuzz"))
    return _SCRATCH[0]


# -- key files ------------------------------------------------------------------------


@st.composite
def sa_sets(draw: st.DrawFn) -> list[SecurityAssociation]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(ESP_ALGOS) - 1))
        fam = draw(st.sampled_from([v4, v4, v6]))
        src, dst = draw(st.none() | fam), draw(st.none() | fam)
        spi = draw(st.none() | st.integers(256, 0xFFFFFFFF))
        out.append(make_sa(i, spi, src, dst, salt=draw(u8), esn=draw(st.booleans())))
    return out


def key_windows(sas: list[SecurityAssociation]) -> set[str]:
    """Every 12-hex-digit run of the keys: none may show in an error."""
    out: set[str] = set()
    for sa in sas:
        for k in (sa.enc_key, sa.auth_key or b""):
            h = k.hex()
            out.update(h[i:i + 12] for i in range(0, max(len(h) - 11, 0)))
    return out


# Text that key-file lines are made of, and what breaks them.
KEY_TOKENS = ['"', ",", "\\x", "\\x4", "0x", "0X", "*", "@", ":", "#", "\t", " ", "\n", "\\", "\0",
              "\ufeff", "\u00b2", "\u0663", "(", ")", "(128", "bits)", "src", "dst", "proto", "esp",
              "spi", "enc", "aead", "auth", "auth-trunc", "flag", "esn", "seq-hi", "encap", "sport",
              "dport", "mode", "IPv4", "IPv6", "-hmac96", "-cbc", "aes128-cbc", "ikev2",
              "cbc(aes)", "rfc4106(gcm(aes))", "hmac(sha1)", "99999999999999999999", "-1", "0",
              "0x" + "f" * 9, "2001:db8::1", "10.*.*.1", "AES-GCM [RFC4106]", "NULL"]


@st.composite
def mutate_text(draw: st.DrawFn, text: str, tokens: Sequence[str], top: Sequence[str] = ()) -> str:
    """``text`` with 1..4 edits: tokens inserted or swapped in, lines
    added, dropped, repeated or cut, characters deleted."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "insert", "replace", "add-line", "drop-line",
                                   "dup-line", "cut", "delete"]))
        li = draw(st.integers(0, len(lines) - 1))
        line = lines[li]
        pos = draw(st.integers(0, len(line)))
        if op == "insert":
            tok = draw(st.sampled_from(tokens) | st.text(max_size=4))
            lines[li] = line[:pos] + tok + line[pos:]
        elif op == "replace":  # a word or field swapped for a token
            words = re.split(r"(\s+|,|=)", line)
            if words:
                wi = draw(st.integers(0, len(words) - 1))
                words[wi] = draw(st.sampled_from(tokens))
                lines[li] = "".join(words)
        elif op == "add-line":  # ``top`` lines go first, where they are top-level keys
            if len(top) > 0 and draw(st.booleans()):
                first: str = draw(st.sampled_from(top))
                lines.insert(0, first)
            else:
                lines.insert(li, draw(st.sampled_from(tokens)))
        elif op == "drop-line" and len(lines) > 1:
            del lines[li]
        elif op == "dup-line":
            lines.insert(li, line)
        elif op == "cut":
            lines[li] = line[:pos]
            del lines[li + 1:]
        elif op == "delete":
            lines[li] = line[:pos] + line[pos + draw(st.integers(1, 8)):]
    return "\n".join(lines)


def check_key_error(e: keys.KeyFileError, where: str, secret: set[str]) -> None:
    msg = one_line(e, where)
    assert e.where.startswith(where), (e.where, where)  # "file (DSB at offset n)" for a capture
    if e.line is not None:
        assert msg.startswith(f"{e.where}:{e.line}: "), msg
    # a long hex run would be key material (repr()'s "\x00" escapes are not)
    rest = re.sub(r"\\x[0-9a-f]{2}", " ", msg[len(e.where):].lower())
    assert not re.search(r"[0-9a-f]{12,}", rest), msg
    assert not any(w in rest for w in secret), msg


def parse_keys(fn: Callable[[], list], where: str, secret: set[str]) -> None:
    try:
        sas = fn()
        assert all(isinstance(sa, SecurityAssociation) for sa in sas)
        keys.SADatabase(sas)
    except keys.KeyFileError as e:
        check_key_error(e, where, secret)


@scaled(1.5)
@given(sa_sets(), st.sampled_from(["esp_sa", "tcpdump", "xfrm", "-E", "dsb"]), st.data())
def test_key_parsers(fuzz_tried: Counter[str], sas: list[SecurityAssociation], fmt: str,
                     data: st.DataObject) -> None:
    secret = key_windows(sas)
    if fmt in ("esp_sa", "dsb"):
        text = keys.format_esp_sa(sas, lossy=True)
    elif fmt == "xfrm":
        text = keys.format_xfrm(sas, lossy=True)
    else:
        text = keys.format_tcpdump_secrets(sas, lossy=True)
    m = data.draw(mutate_text(text, KEY_TOKENS))
    where = "fuzz.keys"
    # files=False, and no -E with "file": a "file PATH" line would read whatever it names
    if fmt == "-E" and "file" not in m.lower():  # tcpdump -E: items separated by commas
        spec = ",".join(line for line in m.split("\n") if not line.startswith("#"))
        parse_keys(lambda: keys.parse_tcpdump_spec(spec, "-E #1"), "-E #1", secret)
    elif fmt == "dsb":  # a pcapng secrets block's bytes, damaged as bytes
        raw = data.draw(mutate(m.encode()))
        parse_keys(lambda: keys.parse_dsb(keys.DSB_ESP_SA, raw, where), where, secret)
    else:
        parser = {"esp_sa": keys.parse_esp_sa, "xfrm": keys.parse_xfrm,
                  "tcpdump": lambda t, w: keys.parse_tcpdump_secrets(t, w, files=False)}[fmt]
        parse_keys(lambda: parser(m, where), where, secret)
    parse_keys(lambda: keys.parse_key_text(m, where, files=False), where, secret)
    fuzz_tried["keys"] += 2


@FUZZ
@given(sa_sets(), st.booleans(), st.data())
def test_key_files(tmp_path_factory: pytest.TempPathFactory, fuzz_tried: Counter[str],
                   sas: list[SecurityAssociation], pcapng: bool, data: st.DataObject) -> None:
    """``load_key_file``: text files damaged as bytes, and pcapng captures
    whose secrets blocks carry the keys (``read_pcapng_secrets``)."""
    secret = key_windows(sas)
    text = keys.format_esp_sa(sas, lossy=True)
    if pcapng:
        buf = io.BytesIO()
        w = PcapngWriter(buf)
        w.write(1.0, b"frame", 1)
        w.secrets(keys.DSB_ESP_SA, text.encode())
        w.secrets(0x544C534B, b"CLIENT_RANDOM 00 00\n")  # TLS keys: not ours, skipped
        blob, kind = buf.getvalue(), "pcapng-le"
        if data.draw(st.booleans()):
            blob, kind = pcapng_to_big_endian(blob), "pcapng-be"
        blob = data.draw(mutate(blob, hot=length_fields(blob, kind),
                                endian="big" if kind == "pcapng-be" else "little"))
    else:
        blob = data.draw(mutate(text.encode()))
    path = _scratch(tmp_path_factory) / ("keys.pcapng" if pcapng else "keys.txt")
    path.write_bytes(blob)
    fuzz_tried["keys.load_key_file"] += 1
    try:
        sas2 = keys.load_key_file(path)
        assert all(isinstance(sa, SecurityAssociation) for sa in sas2)
    except keys.KeyFileError as e:
        check_key_error(e, str(path), secret)


# -- scenarios ----------------------------------------------------------------------

SCENARIO_TOKENS = [
    "-1", "0", "99999999999999999999", "nan", "inf", "-inf", "1e308", '"x"', "[]", '[1, "a"]',
    "{}", "{a = 1}", "true", "1979-05-27", '"999.1.1.1"', '"10.0.0.1/99"', '"in udp/\u00b2"',
    '"in udp/99999999"', '"out esp to R9"', '"\u00b2"', '"\\u0000"', "[[routers]]", "[[nat]]",
    "[[events]]", "[ipsec]", "[scale]", "[defaults]", "nat = 5", "events = 3", "routers = []",
    'action = "ping"', 'action = "set"', "at = 1", 'from = "R1"', 'to = "R2"', 'router = "R9"',
    'inside = ["R1"]', 'nhs = ["1.2.3.4"]', "nhs_nbma = 1", 'block = ["in udp/4500 to R2"]',
    "=", "[", "]", '"', "'''", "#", "\\", "\t", ".", "a.b.c = 1", "x = " + "[" * 64 + "]" * 64,
]
# Top-level keys of the wrong kind, and a value nested past any sane depth.
SCENARIO_TOP = ["nat = 5", "nat = 'x'", "events = 3", "events = [1]", "routers = 7", "routers = [1]",
                "ipsec = 1", "scale = []", "defaults = 1", "expect = 7", "seed = 1.5",
                "duration = nan", "phase = 4", "x = " + "[" * 2000 + "]" * 2000]


@scaled(1.0)
@given(st.sampled_from(builtin_names()), st.data())
def test_scenario_parser(fuzz_tried: Counter[str], name: str, data: st.DataObject) -> None:
    text = data.draw(mutate_text(builtin_text(name), SCENARIO_TOKENS, SCENARIO_TOP))
    source = f"{name}.toml"
    fuzz_tried["sim.scenario"] += 1
    try:
        assert isinstance(parse_scenario(text, source), Scenario)
    except ScenarioError as e:
        one_line(e, f"{source}:")


@scaled(0.25)
@given(st.sampled_from(builtin_names()), st.data())
def test_scenario_files(tmp_path_factory: pytest.TempPathFactory, fuzz_tried: Counter[str],
                        name: str, data: st.DataObject) -> None:
    """``load_scenario`` on a file damaged as bytes (not UTF-8, NULs ...)."""
    path = _scratch(tmp_path_factory) / "fuzz-scenario.toml"
    path.write_bytes(data.draw(mutate(builtin_text(name).encode())))
    fuzz_tried["sim.scenario"] += 1
    try:
        assert isinstance(load_scenario(str(path)), Scenario)
    except ScenarioError as e:
        one_line(e, f"{path}:")
