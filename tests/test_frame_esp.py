"""ESP inside the frame chain: decrypted payloads continue the chain, a
capture cut by its snap length says "truncated", not "decryption failed"."""

from __future__ import annotations

from nhrpscope.dissectors import gre, ip
from nhrpscope.dissectors.esp import SecurityAssociation, encode_esp
from nhrpscope.dissectors.frame import FrameDecoder
from nhrpscope.dissectors.nhrp import encode_nhrp, make_packet

from nhrpscope.keys import SADatabase

SA = SecurityAssociation(0x1001, "172.16.25.2", "172.16.15.2", "aes-cbc", bytes(range(16)),
                         "hmac-sha1-96", bytes(range(20)))


def _esp_frame() -> bytes:
    nhrp = encode_nhrp(make_packet("registration-request", request_id=7, src_nbma="172.16.25.2",
                                   src_proto="192.168.0.2", dst_proto="192.168.0.1"))
    inner = gre.encode_gre(0x2001, nhrp, key=1)
    esp = encode_esp(SA, 1, inner, 47, iv=bytes(16))
    return ip.encode_ipv4("172.16.25.2", "172.16.15.2", 50, esp)


def _decoder() -> FrameDecoder:
    db = SADatabase()
    db.add(SA)
    return FrameDecoder(db.lookup)


def test_decrypted_gre_nhrp_continues_the_chain():
    p = _decoder().decode(228, _esp_frame())
    assert [la.proto for la in p.layers] == ["ipv4", "esp", "gre", "nhrp"]
    assert p.layers[1].icv_ok is True and p.layers[1].status == "decrypted"
    assert p.layers[3].request_id == 7 and p.problems == []


def test_snap_length_cut_is_truncated_not_failed():
    p = _decoder().decode(228, _esp_frame()[:60])
    esp = p.layers[1]
    assert esp.status == "truncated" and not esp.decrypted
    assert [la.proto for la in p.layers] == ["ipv4", "esp"]
    assert any("cut short by the capture" in pr.reason for pr in p.problems)


def test_no_key_says_so():
    p = FrameDecoder().decode(228, _esp_frame())
    assert p.layers[1].status == "no-key" and len(p.layers) == 2
