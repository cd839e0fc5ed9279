"""ESP against independent implementations: packets made by scapy's IPsec
(and ours read back by scapy), and the tcpdump test suite's reference
captures, decrypted to what tcpdump prints."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import dpkt
import pytest
from nhrpscope.dissectors.esp import SecurityAssociation, decode_esp, encode_esp
from nhrpscope.dissectors.esp_algorithms import icv
from nhrpscope.dissectors.udp import classify_udp_payload, decode_udp

from nhrpscope.keys import SADatabase, parse_tcpdump_spec

REFERENCE = Path(__file__).resolve().parents[2] / "shared/captures/reference"

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from scapy.layers import ipsec as scapy_ipsec
    from scapy.layers.inet import GRE, ICMP, IP, UDP
    from scapy.packet import Raw

SRC, DST = "198.51.100.1", "203.0.113.2"

# scapy's algorithm names → ours (with key lengths).
SCAPY_CRYPT = {
    "NULL": ("null", 0), "AES-CBC": ("aes-cbc", 16), "AES-CTR": ("aes-ctr", 20),
    "3DES": ("3des-cbc", 24), "DES": ("des-cbc", 8), "CAST": ("cast5-cbc", 16),
    "Blowfish": ("blowfish-cbc", 16), "AES-GCM": ("aes-gcm-16", 36),
    "CHACHA20-POLY1305": ("chacha20-poly1305", 36),
}
SCAPY_AUTH = {
    "NULL": ("null", 0), "HMAC-SHA1-96": ("hmac-sha1-96", 20),
    "SHA2-256-128": ("hmac-sha256-128", 32), "SHA2-384-192": ("hmac-sha384-192", 48),
    "SHA2-512-256": ("hmac-sha512-256", 64), "HMAC-MD5-96": ("hmac-md5-96", 16),
}
AEAD = ("AES-GCM", "CHACHA20-POLY1305")
MATRIX = [(c, a) for c in SCAPY_CRYPT for a in SCAPY_AUTH if not (c in AEAD and a != "NULL")]


def _keys(crypt: str, auth: str) -> tuple[bytes, bytes]:
    ek = bytes((7 * i + 3) & 0xFF for i in range(SCAPY_CRYPT[crypt][1]))
    ak = bytes((5 * i + 11) & 0xFF for i in range(SCAPY_AUTH[auth][1]))
    return ek, ak


def scapy_sa(crypt: str, auth: str, spi: int = 0x5151, **kw: object):  # noqa: ANN201
    ek, ak = _keys(crypt, auth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scapy_ipsec.SecurityAssociation(
            scapy_ipsec.ESP, spi=spi, crypt_algo=crypt, crypt_key=ek or None,
            auth_algo=auth, auth_key=ak or None, **kw)


def our_sa(crypt: str, auth: str, spi: int = 0x5151, **kw: object) -> SecurityAssociation:
    ek, ak = _keys(crypt, auth)
    return SecurityAssociation(spi, SRC, DST, SCAPY_CRYPT[crypt][0], ek, SCAPY_AUTH[auth][0], ak,
                               **kw)


def esp_bytes(pkt) -> bytes:  # noqa: ANN001
    raw = bytes(pkt)
    return raw[(raw[0] & 15) * 4 :]


def gre_nhrp_packet() -> IP:
    # GRE with key (as DMVPN sends it) carrying 24 bytes standing in for NHRP.
    return IP(src=SRC, dst=DST) / GRE(key_present=1, key=42, proto=0x2001) / Raw(bytes(range(24)))


@pytest.mark.parametrize("crypt,auth", MATRIX)
def test_scapy_transport_mode_decrypts(crypt: str, auth: str) -> None:
    inner = gre_nhrp_packet()
    sa = scapy_sa(crypt, auth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = sa.encrypt(inner)
    d = decode_esp(esp_bytes(enc), our_sa(crypt, auth))
    assert d.record.status == "decrypted", d.problems
    assert d.record.next_header == 47
    assert d.payload == bytes(inner)[20:]
    checked = crypt in AEAD or auth != "NULL"
    assert d.record.icv_ok is (True if checked else None)


@pytest.mark.parametrize("crypt,auth", MATRIX)
def test_scapy_decrypts_ours(crypt: str, auth: str) -> None:
    payload = bytes(gre_nhrp_packet())[20:]
    ours = our_sa(crypt, auth)
    packet = IP(bytes(IP(src=SRC, dst=DST, proto=50) / Raw(encode_esp(ours, 12, payload, 47))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clear = scapy_sa(crypt, auth).decrypt(packet)
    assert bytes(clear)[20:] == payload
    assert clear.proto == 47


def test_scapy_tunnel_mode_aes_cbc_sha256() -> None:
    inner = IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=28416, seq=1280) / Raw(b"x" * 56)
    sa = scapy_sa("AES-CBC", "SHA2-256-128", tunnel_header=IP(src=SRC, dst=DST))
    enc = sa.encrypt(inner)
    d = decode_esp(esp_bytes(enc), our_sa("AES-CBC", "SHA2-256-128"))
    assert d.record.status == "decrypted" and d.record.icv_ok is True
    assert d.record.next_header == 4 and d.payload == bytes(inner)


def test_scapy_nat_t_udp_encapsulation() -> None:
    inner = gre_nhrp_packet()
    sa = scapy_sa("AES-GCM", "NULL", nat_t_header=UDP(sport=4500, dport=4500))
    enc = bytes(sa.encrypt(inner))
    udp = decode_udp(enc[20:])
    assert (udp.record.src_port, udp.record.dst_port) == (4500, 4500)
    kind = classify_udp_payload(udp.record.src_port, udp.record.dst_port, udp.payload)
    assert kind == "esp"
    d = decode_esp(udp.payload, our_sa("AES-GCM", "NULL", encap=(4500, 4500)))
    assert d.record.status == "decrypted" and d.payload == bytes(inner)[20:]


@pytest.mark.parametrize("crypt,auth", [("AES-CBC", "HMAC-SHA1-96"), ("AES-CBC", "SHA2-256-128"),
                                        ("AES-GCM", "NULL"), ("CHACHA20-POLY1305", "NULL")])
@pytest.mark.parametrize("hi", [1, 2, 3])
def test_scapy_extended_sequence_numbers(crypt: str, auth: str, hi: int) -> None:
    """scapy's ESN packets (high bits in the ICV, never on the wire). The
    high bits are found by the ICV, told ESN or not; a check that leaves
    them out (Wireshark issue 19658) fails on these very packets."""
    inner = gre_nhrp_packet()
    sa = scapy_sa(crypt, auth, esn_en=True, esn=hi)
    raw = esp_bytes(sa.encrypt(inner, seq_num=0xFFFFFF00 + hi))
    for ours in (our_sa(crypt, auth, esn=True), our_sa(crypt, auth)):
        d = decode_esp(raw, ours)
        assert d.record.status == "decrypted" and d.record.icv_ok is True
        assert d.record.seq_hi == hi and d.record.seq == 0xFFFFFF00 + hi
        assert d.payload == bytes(inner)[20:]
    if crypt not in AEAD:
        n = our_sa(crypt, auth).icv_len
        assert icv(SCAPY_AUTH[auth][0], _keys(crypt, auth)[1], raw[:-n]) != raw[-n:]


def test_scapy_esn_high_bits_from_the_sa() -> None:
    """High bits beyond blind reach come from the SA (``ip xfrm state``'s
    seq-hi), then follow the wrap."""
    inner = gre_nhrp_packet()
    ours = our_sa("AES-CBC", "SHA2-256-128", esn=True, seq_hi=0x1234)
    for hi, lo in ((0x1234, 0xFFFFFFFE), (0x1235, 1), (0x1235, 2)):
        sa = scapy_sa("AES-CBC", "SHA2-256-128", esn_en=True, esn=hi)
        d = decode_esp(esp_bytes(sa.encrypt(inner, seq_num=lo)), ours)
        assert d.record.status == "decrypted" and d.record.seq_hi == hi


# The reference captures (tcpdump's test suite) ------------------------------------

KEYS_02 = "0x12345678@192.1.2.45 3des-cbc-hmac96:0x4043434545464649494a4a4c4c4f4f515152525454575758"
KEYS_08 = ("0x12345678@192.1.2.45 3des-cbc-hmac96:0x43434545464649494a4a4c4c4f4f51515252545457575840,"
           "0xabcdabcd@192.0.1.1 3des-cbc-hmac96:0x434545464649494a4a4c4c4f4f5151525254545757584043")
_ICMP_LINE = re.compile(r".*ESP\(spi=0x([0-9a-f]+),seq=0x([0-9a-f]+)\).*IP (\S+) > (\S+): "
                        r"ICMP echo request, id (\d+), seq (\d+), length (\d+)$")


def _reference(name: str) -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference captures not found at {REFERENCE}")
    return REFERENCE / name


def _expected(path: Path) -> list[tuple[int, int, str, str, int, int, int]]:
    out = []
    for line in path.read_text().splitlines():
        m = _ICMP_LINE.search(line)
        if m:
            spi, seq, src, dst, ident, iseq, length = m.groups()
            out.append((int(spi, 16), int(seq, 16), src, dst, int(ident), int(iseq), int(length)))
    return out


def _decrypt_chain(ip: dpkt.ip.IP, db: SADatabase) -> tuple[list, dpkt.ip.IP]:
    """Decrypt ESP in IP (tunnel mode, possibly nested); the ESP records and
    the innermost IP packet."""
    records = []
    while ip.p == 50:
        src, dst = (dpkt.utils.inet_to_str(a) for a in (ip.src, ip.dst))
        raw = bytes(ip.data) if not isinstance(ip.data, bytes) else ip.data
        d = decode_esp(raw, db.lookup(int.from_bytes(raw[:4], "big"), src, dst))
        records.append(d.record)
        assert d.record.status == "decrypted", d.problems
        assert d.record.next_header == 4
        ip = dpkt.ip.IP(d.payload)
    return records, ip


@pytest.mark.parametrize("name,keys,depth", [("02-sunrise-sunset-esp", KEYS_02, 1),
                                             ("08-sunrise-sunset-esp2", KEYS_08, 2)])
def test_reference_captures_decrypt_like_tcpdump(name: str, keys: str, depth: int) -> None:
    pcap = _reference(f"{name}.pcap")
    expected = _expected(_reference(f"{name}.tcpdump-decrypted.txt"))
    assert len(expected) == 8
    db = SADatabase(parse_tcpdump_spec(keys))
    got = []
    with open(pcap, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            records, inner = _decrypt_chain(dpkt.ethernet.Ethernet(buf).data, db)
            assert len(records) == depth
            assert all(r.icv_ok is None and r.pad_len is not None for r in records)
            icmp = inner.data
            assert icmp.type == 8
            echo = icmp.data
            got.append((records[-1].spi, records[-1].seq, dpkt.utils.inet_to_str(inner.src),
                        dpkt.utils.inet_to_str(inner.dst), echo.id, echo.seq, len(bytes(icmp))))
    assert got == expected


def test_reference_capture_with_a_wrong_key_fails_honestly() -> None:
    pcap = _reference("02-sunrise-sunset-esp.pcap")
    # The 08 capture's outer key: right SPI and address, wrong key for 02.
    db = SADatabase(parse_tcpdump_spec(KEYS_08.split(",")[0]))
    with open(pcap, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(buf).data
            raw = bytes(ip.data)
            d = decode_esp(raw, db.lookup(0x12345678, "192.1.2.23", "192.1.2.45"))
            assert d.record.status == "decryption-failed" and d.payload == b""


def test_truncated_reference_packet() -> None:
    pcap = _reference("esp_truncated.pcap")
    with open(pcap, "rb") as f:
        (_ts, buf), = list(dpkt.pcap.Reader(f))
    raw = bytes(buf)[14 + 20 :]  # Ethernet, IPv4 (IHL 5): the UDP header
    udp = decode_udp(raw)
    assert classify_udp_payload(udp.record.src_port, udp.record.dst_port, udp.payload) == "esp"
    d = decode_esp(udp.payload, None)
    assert d.record.spi == 0xC0F7D4C3 and d.record.status == "truncated"
