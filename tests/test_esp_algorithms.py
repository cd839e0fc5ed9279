"""Known-answer tests for ESP's algorithms, from the RFCs' own vectors."""

from __future__ import annotations

import pytest
from nhrpscope.dissectors.esp import SecurityAssociation, decode_esp, encode_esp
from nhrpscope.dissectors.esp_algorithms import (
    ENCRYPTION,
    INTEGRITY,
    decrypt,
    encrypt,
    icv,
    xcbc_mac,
)

H = bytes.fromhex


# RFC 3602 section 4: AES-CBC, cases 1-4 (the cipher alone).
RFC3602_CBC = [
    ("06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
     b"Single block msg".hex(), "e353779c1079aeb82708942dbe77181a"),
    ("c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
     bytes(range(32)).hex(),
     "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
    ("6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
     b"This is a 48-byte message (exactly 3 AES blocks)".hex(),
     "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5"
     "021c19216bad525c8579695d83ba2684"),
    ("56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
     bytes(range(0xA0, 0xE0)).hex(),
     "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e"
     "35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"),
]


@pytest.mark.parametrize("key,iv,pt,ct", RFC3602_CBC)
def test_rfc3602_aes_cbc(key: str, iv: str, pt: str, ct: str) -> None:
    alg = ENCRYPTION["aes-cbc"]
    assert encrypt(alg, H(key), H(iv), H(pt)).hex() == ct
    assert decrypt(alg, H(key), H(iv), H(ct)) == H(pt)


# RFC 3602 section 4, cases 5-8: whole ESP packets (no ICV), transport
# (ICMP, next header 1) and tunnel (IPv4, next header 4).
RFC3602_ESP = [
    ("90d382b410eeba7ad938c46cec1a82bf", 0x4321, 1, "e96e8c08ab465763fd098d45dd3ff893", 1,
     "08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f3031323334353637",
     "0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849"
     "a4870b66cc6b9965330013b4898dc856a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c"
     "538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6"),
    ("90d382b410eeba7ad938c46cec1a82bf", 0x4321, 8, "69d08df7d203329db093fc4924e5bd80", 1,
     "0800b5e8a80a0500a69c083d0b660e00777777777777777777777777",
     "000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109"
     "689bb379d2d750c0d915dca346a89f75"),
    ("0123456789abcdef0123456789abcdef", 0x8765, 2, "f4e765244f6407adf13dc1380f673f37", 4,
     "45000054090400004001f988c0a87b03c0a87bc808009f76a90a0100b49c083d02a2040008090a0b"
     "0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233"
     "34353637",
     "0000876500000002f4e765244f6407adf13dc1380f673f37773b5241a4c449225e4f3ce5ed611b0c"
     "237ca96cf74a93013c1b0ea1a0cf70f8e4ecaec78ac53aad7a0f022b859243c647752e94a859352b"
     "8a4d4d2decd136e5c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d"),
    ("0123456789abcdef0123456789abcdef", 0x8765, 5, "85d47224b5f3dd5d2101d4ea8dffab22", 4,
     "45000044090c00004001f990c0a87b03c0a87bc80800d63caa0a0200c69c083da3de0300ffffffff"
     "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "000087650000000585d47224b5f3dd5d2101d4ea8dffab2215b92683819596a8047232cc00f7048f"
     "e45318e11f8a0f62ede3c3fc61203bb50f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de"
     "435e7207ed971ef3d2726d9b5ef6affc6d17a0decbb13892"),
]


@pytest.mark.parametrize("key,spi,seq,iv,nh,payload,packet", RFC3602_ESP)
def test_rfc3602_esp_packets(key: str, spi: int, seq: int, iv: str, nh: int, payload: str,
                             packet: str) -> None:
    sa = SecurityAssociation(spi, None, None, "aes-cbc", H(key))
    assert encode_esp(sa, seq, H(payload), nh, iv=H(iv)).hex() == packet
    d = decode_esp(H(packet), sa)
    assert d.record.status == "decrypted" and d.record.decrypted
    assert (d.record.spi, d.record.seq, d.record.next_header) == (spi, seq, nh)
    assert d.record.icv_ok is None  # no integrity algorithm: nothing to check
    assert d.record.iv == H(iv)
    assert d.payload == H(payload)
    assert d.problems == []


# RFC 3686 section 6: AES-CTR, key material = key | 4-byte nonce, 8-byte IV.
RFC3686 = [
    ("ae6852f8121067cc4bf7a5765577f39e", "00000030", "0000000000000000",
     b"Single block msg".hex(), "e4095d4fb7a7b3792d6175a3261311b8"),
    ("7e24067817fae0d743d6ce1f32539163", "006cb6db", "c0543b59da48d90b", bytes(range(32)).hex(),
     "5104a106168a72d9790d41ee8edad388eb2e1efc46da57c8fce630df9141be28"),
    ("7691be035e5020a8ac6e618529f9a0dc", "00e0017b", "27777f3f4a1786f0", bytes(range(36)).hex(),
     "c1cf48a89f2ffdd9cf4652e9efdb72d74540a42bde6d7836d59a5ceaaef3105325b2072f"),
]


@pytest.mark.parametrize("key,nonce,iv,pt,ct", RFC3686)
def test_rfc3686_aes_ctr(key: str, nonce: str, iv: str, pt: str, ct: str) -> None:
    alg = ENCRYPTION["aes-ctr"]
    assert encrypt(alg, H(key + nonce), H(iv), H(pt)).hex() == ct
    assert decrypt(alg, H(key + nonce), H(iv), H(ct)) == H(pt)


# The GCM specification's test cases 3 and 4 (McGrew & Viega), split the
# RFC 4106 way: nonce = salt (4, end of key material) | IV (8, on the wire).
GCM_KEY = "feffe9928665731c6d6a8f9467308308"
GCM_SALT, GCM_IV = "cafebabe", "facedbaddecaf888"
GCM_PT = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
GCM_CT = ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
          "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985")


@pytest.mark.parametrize("icv_len", [8, 12, 16])
def test_gcm_spec_case3_truncated_tags(icv_len: int) -> None:
    alg = ENCRYPTION[f"aes-gcm-{icv_len}"]
    tag = H("4d5c2af327cd64a62cf35abd2ba6fab4")[:icv_len]
    out = encrypt(alg, H(GCM_KEY + GCM_SALT), H(GCM_IV), H(GCM_PT))
    assert out == H(GCM_CT) + tag
    assert decrypt(alg, H(GCM_KEY + GCM_SALT), H(GCM_IV), H(GCM_CT), b"", tag) == H(GCM_PT)
    bad = bytes([tag[0] ^ 1]) + tag[1:]
    assert decrypt(alg, H(GCM_KEY + GCM_SALT), H(GCM_IV), H(GCM_CT), b"", bad) is None


def test_gcm_spec_case4_with_aad() -> None:
    alg = ENCRYPTION["aes-gcm-16"]
    aad = H("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    out = encrypt(alg, H(GCM_KEY + GCM_SALT), H(GCM_IV), H(GCM_PT)[:60], aad)
    assert out == H(GCM_CT)[:60] + H("5bc94fbc3221a5db94fae95ae7121a47")


def test_gcm_esp_vector_with_extended_sequence_number() -> None:
    """draft-mcgrew-gcm-test-01 test case 1: an ESP packet whose AAD is SPI |
    64-bit sequence number 0x8765432100000000 (ESN: only the low half 0 is
    on the wire)."""
    key, salt, iv = "4c80cdefbb5d10da906ac73c3613a634", "2e443b68", "4956ed7e3b244cfe"
    pt = H("45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000"
           "00000000045f736970045f756470037369700963796265726369747902646b00"
           "0021000101020201")
    ct = H("fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34"
           "cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce"
           "61bc17d768fd9732")
    tag = H("459018148f6cbe722fd04796562dfdb4")
    alg = ENCRYPTION["aes-gcm-16"]
    assert encrypt(alg, H(key + salt), H(iv), pt, H("000043218765432100000000")) == ct + tag
    packet = H("00004321" "00000000" + iv) + ct + tag
    sa = SecurityAssociation(0x4321, None, None, "aes-gcm-16", H(key + salt), esn=True,
                             seq_hi=0x87654321)
    d = decode_esp(packet, sa)
    assert d.record.status == "decrypted" and d.record.icv_ok is True
    assert d.record.seq == 0 and d.record.seq_hi == 0x87654321
    assert d.record.pad_len == 2 and d.record.next_header == 1
    assert d.payload == pt[:-4]
    # Without the high bits the ICV cannot be matched: an honest failure.
    blind = SecurityAssociation(0x4321, None, None, "aes-gcm-16", H(key + salt))
    d = decode_esp(packet, blind)
    assert d.record.status == "decryption-failed" and d.record.icv_ok is False
    assert d.payload == b""


def test_rfc8439_chacha20_poly1305() -> None:
    """RFC 8439 2.8.2, with its nonce split as RFC 7634 does: salt 07000000
    (end of the key material) and the 8-byte IV 4041424344454647."""
    key = bytes(range(0x80, 0xA0))
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
          b"the future, sunscreen would be it.")
    aad = H("50515253c0c1c2c3c4c5c6c7")
    ct = H("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
           "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
           "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
           "3ff4def08e4b7a9de576d26586cec64b6116")
    tag = H("1ae10b594f09e26a7e902ecbd0600691")
    alg = ENCRYPTION["chacha20-poly1305"]
    keymat = key + H("07000000")
    assert encrypt(alg, keymat, H("4041424344454647"), pt, aad) == ct + tag
    assert decrypt(alg, keymat, H("4041424344454647"), ct, aad, tag) == pt
    assert decrypt(alg, keymat, H("4041424344454647"), ct, aad[:-1], tag) is None


# RFC 3566 section 4: AES-XCBC-MAC, key 000102...0f.
XCBC = [
    (b"", "75f0251d528ac01c4573dfd584d79f29"),
    (bytes(range(3)), "5b376580ae2f19afe7219ceef172756f"),
    (bytes(range(16)), "d2a246fa349b68a79998a4394ff7a263"),
    (bytes(range(20)), "47f51b4564966215b8985c63055ed308"),
    (bytes(range(32)), "f54f0ec8d2b9f3d36807734bd5283fd4"),
    (bytes(range(34)), "becbb3bccdb518a30677d5481fb6b4d8"),
    (bytes(1000), "f0dafee895db30253761103b5d84528f"),
]


@pytest.mark.parametrize("msg,mac", XCBC)
def test_rfc3566_aes_xcbc_mac(msg: bytes, mac: str) -> None:
    key = bytes(range(16))
    assert xcbc_mac(key, msg).hex() == mac
    assert icv("aes-xcbc-96", key, msg).hex() == mac[:24]


# RFC 2202 (MD5, SHA-1) and RFC 4231 (SHA-2) HMAC cases 1 and 2, truncated
# as ESP truncates them (RFC 2403/2404/4868).
HMAC = [
    ("hmac-md5-96", b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    ("hmac-md5-96", b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    ("hmac-sha1-96", b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    ("hmac-sha1-96", b"Jefe", b"what do ya want for nothing?",
     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    ("hmac-sha256-128", b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    ("hmac-sha256-96", b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ("hmac-sha384-192", b"\x0b" * 20, b"Hi There",
     "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
     "faea9ea9076ede7f4af152e8b2fa9cb6"),
    ("hmac-sha512-256", b"\x0b" * 20, b"Hi There",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
     "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
]


@pytest.mark.parametrize("name,key,msg,full", HMAC)
def test_hmac_truncations(name: str, key: bytes, msg: bytes, full: str) -> None:
    n = INTEGRITY[name].icv_len
    assert icv(name, key, msg).hex() == full[: 2 * n]


def test_ripemd160_96_when_available() -> None:
    from nhrpscope.dissectors.esp_algorithms import ripemd160_available

    if not ripemd160_available():
        pytest.skip("this OpenSSL has no RIPEMD-160")
    # RFC 2286 test case 1.
    assert icv("hmac-ripemd160-96", b"\x0b" * 20, b"Hi There").hex() == "24cb4bd67d20fc1a5d2ed773"


def test_des_and_3des_known_answers() -> None:
    # FIPS 81 / classic DES example: key 0123456789abcdef, "Now is t" in ECB
    # = 3fa40e8a984d4815; in CBC with a zero IV the first block is the same.
    out = encrypt(ENCRYPTION["des-cbc"], H("0123456789abcdef"), bytes(8), b"Now is t")
    assert out.hex() == "3fa40e8a984d4815"
    # 3DES with K1 = K2 = K3 is single DES.
    out3 = encrypt(ENCRYPTION["3des-cbc"], H("0123456789abcdef") * 3, bytes(8), b"Now is t")
    assert out3 == out


@pytest.mark.parametrize("name", [n for n in INTEGRITY if n.startswith("hmac-")])
def test_keyed_context_gives_icv(name: str) -> None:
    """The per-SA context (copied per packet, as decode_esp and the fast
    path's verify use it) gives icv()'s ICV, for short and long keys, and
    agrees with the standard library's HMAC."""
    import hmac as std_hmac

    from nhrpscope.dissectors.esp_algorithms import can_verify, hmac_context

    if not can_verify(name):
        pytest.skip(f"this OpenSSL has no {name}")
    digest = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha384": "sha384",
              "sha512": "sha512", "ripemd160": "ripemd160"}
    hname = next(v for k, v in digest.items() if f"-{k}-" in name)
    n = INTEGRITY[name].icv_len
    for key in (b"", b"k" * 20, bytes(range(200))):
        ctx = hmac_context(name, key)
        assert ctx is not None
        for msg in (b"", b"\x00" * 57, bytes(range(256)) * 3):
            m = ctx.copy()
            m.update(msg)
            got = m.finalize()[:n]
            assert got == icv(name, key, msg)
            assert got == std_hmac.new(key, msg, hname).digest()[:n]


def test_analyze_path_loads_one_openssl() -> None:
    """Reading ESP with keys needs cryptography's OpenSSL only: hashlib's
    (a second copy, 3.5 MB a process) stays out of the fast path and the
    command's modules."""
    import subprocess
    import sys

    code = ("import sys, nhrpscope.commands._output, nhrpscope.replay.first_stage, "
            "nhrpscope.dissectors.esp_peek, nhrpscope.replay.engine; "
            "print('_hashlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
