"""IKE payloads: ISAKMP/IKEv1 (RFC 2408, 2409, 2407, 3947, 3706) and IKEv2
(RFC 7296, 7383).

The chain after the fixed header (``dissectors.ike``) is a list of payloads,
each with the generic header::

    Next Payload (1) | Critical + reserved (1) | Payload Length (2, with header) | body

Decoded here: Security Association (with proposals, transforms and their
attributes, each named: encryption, hash, authentication method, DH group,
lifetime, encapsulation mode ...), Key Exchange, Nonce, Vendor ID (known IDs
named: DPD, NAT-T RFC 3947 and its drafts, Cisco Unity, XAUTH, fragmentation
...), NAT-D (RFC 3947), Hash, Identification, Notification/Notify (named),
Delete, IKEv2's Encrypted and Authenticated (SK: IV + ciphertext + ICV, as
they are) and Encrypted Fragment (SKF, RFC 7383), and the body of an IKEv1
message whose encryption flag is set (``EncryptedBody``). Anything else is
kept as ``GenericPayload``.

Names are derived fields (``compare=False``): the decoder fills them in from
the numbers and their context (an IKEv1 attribute type 1 is the encryption
algorithm in phase 1 and the SA life type in phase 2); the encoder ignores
them, so records built without names encode the same bytes.

``decode_payloads`` never raises: what it cannot read is a ``Problem``;
``encode_payloads`` is its inverse (it computes next payload numbers and lengths).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from nhrpscope.dissectors.base import Malformed, Problem

__all__ = [
    "Attribute", "Transform", "Proposal", "SaPayload", "KePayload", "NoncePayload",
    "VendorIdPayload", "NatDPayload", "HashPayload", "IdPayload", "NotifyPayload",
    "DeletePayload", "EncryptedPayload", "EncryptedFragmentPayload", "EncryptedBody",
    "GenericPayload", "Payload", "decode_payloads", "encode_payloads", "payload_name",
    "notify_name", "vendor_name", "transform_summary", "dh_group_name", "payload_type", "V1", "V2",
    "V1_NOTIFY", "V2_NOTIFY", "VENDOR_IDS",
]

LAYER = "ike"

# IKEv1 payload types (RFC 2408 3.1, RFC 3947) and IKEv2 (RFC 7296 3.2, RFC 7383).
V1 = {"SA": 1, "P": 2, "T": 3, "KE": 4, "ID": 5, "CERT": 6, "CR": 7, "HASH": 8, "SIG": 9,
      "NONCE": 10, "N": 11, "D": 12, "VID": 13, "NAT-D": 20, "NAT-OA": 21,
      "NAT-D-draft": 130, "NAT-OA-draft": 131, "FRAG": 132}
V2 = {"SA": 33, "KE": 34, "IDi": 35, "IDr": 36, "CERT": 37, "CERTREQ": 38, "AUTH": 39,
      "Nonce": 40, "N": 41, "D": 42, "V": 43, "TSi": 44, "TSr": 45, "SK": 46, "CP": 47, "EAP": 48,
      "GSPM": 49, "SKF": 53}
_NAMES = {1: {v: k for k, v in V1.items()}, 2: {v: k for k, v in V2.items()}}


def payload_name(version: int, ptype: int) -> str:
    return _NAMES.get(version, {}).get(ptype, f"type-{ptype}")


# -- names ---------------------------------------------------------------------------

# IANA "IPSEC Notify Message Types" (RFC 2408 3.14.1, RFC 2407 4.6.3, RFC 3706).
V1_NOTIFY = {
    1: "INVALID-PAYLOAD-TYPE", 2: "DOI-NOT-SUPPORTED", 3: "SITUATION-NOT-SUPPORTED",
    4: "INVALID-COOKIE", 5: "INVALID-MAJOR-VERSION", 6: "INVALID-MINOR-VERSION",
    7: "INVALID-EXCHANGE-TYPE", 8: "INVALID-FLAGS", 9: "INVALID-MESSAGE-ID",
    10: "INVALID-PROTOCOL-ID", 11: "INVALID-SPI", 12: "INVALID-TRANSFORM-ID",
    13: "ATTRIBUTES-NOT-SUPPORTED", 14: "NO-PROPOSAL-CHOSEN", 15: "BAD-PROPOSAL-SYNTAX",
    16: "PAYLOAD-MALFORMED", 17: "INVALID-KEY-INFORMATION", 18: "INVALID-ID-INFORMATION",
    19: "INVALID-CERT-ENCODING", 20: "INVALID-CERTIFICATE", 21: "CERT-TYPE-UNSUPPORTED",
    22: "INVALID-CERT-AUTHORITY", 23: "INVALID-HASH-INFORMATION", 24: "AUTHENTICATION-FAILED",
    25: "INVALID-SIGNATURE", 26: "ADDRESS-NOTIFICATION", 27: "NOTIFY-SA-LIFETIME",
    28: "CERTIFICATE-UNAVAILABLE", 29: "UNSUPPORTED-EXCHANGE-TYPE", 30: "UNEQUAL-PAYLOAD-LENGTHS",
    16384: "CONNECTED", 24576: "RESPONDER-LIFETIME", 24577: "REPLAY-STATUS",
    24578: "INITIAL-CONTACT", 36136: "R-U-THERE", 36137: "R-U-THERE-ACK",
}
# IANA "IKEv2 Notify Message Types" (RFC 7296 3.10.1 and later RFCs).
V2_NOTIFY = {
    1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION",
    7: "INVALID_SYNTAX", 9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI", 14: "NO_PROPOSAL_CHOSEN",
    17: "INVALID_KE_PAYLOAD", 24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED",
    35: "NO_ADDITIONAL_SAS", 36: "INTERNAL_ADDRESS_FAILURE", 37: "FAILED_CP_REQUIRED",
    38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS", 40: "UNACCEPTABLE_ADDRESSES",
    41: "UNEXPECTED_NAT_DETECTED", 42: "USE_ASSIGNED_HoA", 43: "TEMPORARY_FAILURE",
    44: "CHILD_SA_NOT_FOUND", 45: "INVALID_GROUP_ID", 46: "AUTHORIZATION_FAILED",
    47: "STATE_NOT_FOUND",
    16384: "INITIAL_CONTACT", 16385: "SET_WINDOW_SIZE", 16386: "ADDITIONAL_TS_POSSIBLE",
    16387: "IPCOMP_SUPPORTED", 16388: "NAT_DETECTION_SOURCE_IP",
    16389: "NAT_DETECTION_DESTINATION_IP", 16390: "COOKIE", 16391: "USE_TRANSPORT_MODE",
    16392: "HTTP_CERT_LOOKUP_SUPPORTED", 16393: "REKEY_SA", 16394: "ESP_TFC_PADDING_NOT_SUPPORTED",
    16395: "NON_FIRST_FRAGMENTS_ALSO", 16396: "MOBIKE_SUPPORTED", 16397: "ADDITIONAL_IP4_ADDRESS",
    16398: "ADDITIONAL_IP6_ADDRESS", 16399: "NO_ADDITIONAL_ADDRESSES", 16400: "UPDATE_SA_ADDRESSES",
    16401: "COOKIE2", 16402: "NO_NATS_ALLOWED", 16403: "AUTH_LIFETIME",
    16404: "MULTIPLE_AUTH_SUPPORTED", 16405: "ANOTHER_AUTH_FOLLOWS", 16406: "REDIRECT_SUPPORTED",
    16407: "REDIRECT", 16408: "REDIRECTED_FROM", 16409: "TICKET_LT_OPAQUE",
    16410: "TICKET_REQUEST", 16411: "TICKET_ACK", 16412: "TICKET_NACK", 16413: "TICKET_OPAQUE",
    16414: "LINK_ID", 16415: "USE_WESP_MODE", 16416: "ROHC_SUPPORTED",
    16417: "EAP_ONLY_AUTHENTICATION", 16418: "CHILDLESS_IKEV2_SUPPORTED",
    16419: "QUICK_CRASH_DETECTION", 16420: "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
    16421: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED", 16422: "IKEV2_MESSAGE_ID_SYNC",
    16423: "IPSEC_REPLAY_COUNTER_SYNC", 16424: "SECURE_PASSWORD_METHODS",
    16425: "PSK_PERSIST", 16426: "PSK_CONFIRM", 16427: "ERX_SUPPORTED",
    16428: "IFOM_CAPABILITY", 16429: "SENDER_REQUEST_ID", 16430: "IKEV2_FRAGMENTATION_SUPPORTED",
    16431: "SIGNATURE_HASH_ALGORITHMS", 16432: "CLONE_IKE_SA_SUPPORTED", 16433: "CLONE_IKE_SA",
    16434: "PUZZLE", 16435: "USE_PPK", 16436: "PPK_IDENTITY", 16437: "NO_PPK_AUTH",
    16438: "INTERMEDIATE_EXCHANGE_SUPPORTED", 16439: "IP4_ALLOWED", 16440: "IP6_ALLOWED",
    16441: "ADDITIONAL_KEY_EXCHANGE", 16442: "USE_AGGFRAG",
}


def notify_name(version: int, notify_type: int) -> str:
    table = V2_NOTIFY if version == 2 else V1_NOTIFY
    name = table.get(notify_type)
    if name is not None:
        return name
    if version == 2:
        return f"ERROR-{notify_type}" if notify_type < 16384 else f"STATUS-{notify_type}"
    return f"NOTIFY-{notify_type}"


# Vendor IDs, matched as prefixes (several carry a version after the prefix).
# Values as Wireshark's packet-isakmp.c and the RFCs list them.
VENDOR_IDS: tuple[tuple[bytes, str], ...] = tuple(sorted((
    (bytes.fromhex("4a131c81070358455c5728f20e95452f"), "RFC 3947 NAT-T"),
    (bytes.fromhex("4485152d18b6bbcd0be8a8469579ddcc"), "draft-ietf-ipsec-nat-t-ike-00"),
    (bytes.fromhex("16f6ca16e4a4066d83821a0f0aeaa862"), "draft-ietf-ipsec-nat-t-ike-01"),
    (bytes.fromhex("cd60464335df21f87cfdb2fc68b6a448"), "draft-ietf-ipsec-nat-t-ike-02"),
    (bytes.fromhex("90cb80913ebb696e086381b5ec427b1f"), "draft-ietf-ipsec-nat-t-ike-02\\n"),
    (bytes.fromhex("7d9419a65310ca6f2c179d9215529d56"), "draft-ietf-ipsec-nat-t-ike-03"),
    (bytes.fromhex("9909b64eed937c6573de52ace952fa6b"), "draft-ietf-ipsec-nat-t-ike-04"),
    (bytes.fromhex("80d0bb3def54565ee84645d4c85ce3ee"), "draft-ietf-ipsec-nat-t-ike-05"),
    (bytes.fromhex("4d1e0e136deafa34c4f3ea9f02ec7285"), "draft-ietf-ipsec-nat-t-ike-06"),
    (bytes.fromhex("439b59f8ba676c4c7737ae22eab8f582"), "draft-ietf-ipsec-nat-t-ike-07"),
    (bytes.fromhex("8f8d83826d246b6fc7a8a6a428c11de8"), "draft-ietf-ipsec-nat-t-ike-08"),
    (bytes.fromhex("42ea5b6f898d9773a575df26e7dd19e1"), "draft-ietf-ipsec-nat-t-ike-09"),
    (bytes.fromhex("4df37928e9fc4fd1b3262170d515c662"), "draft-ietf-ipsec-nat-t-ike"),
    (bytes.fromhex("afcad71368a1f1c96b8696fc77570100"), "RFC 3706 DPD"),
    (bytes.fromhex("12f5f28c457168a9702d9fe274cc"), "Cisco Unity"),
    (bytes.fromhex("09002689dfd6b712"), "XAUTH"),
    (bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d380000000"), "Cisco Fragmentation"),
    (bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3"), "MS-Fragmentation (MS L2TP/IPsec client)"),
    (bytes.fromhex("1f07f70eaa6514d3b0fa96542a500100"), "Cisco VPN Concentrator"),
    (bytes.fromhex("1e2b516905991c7d7c96fcbfb587e461"), "MS NT5 ISAKMPOAKLEY"),
    (bytes.fromhex("26244d38eddb61b3172a36e3d0cfb819"), "Microsoft Vid-Initial-Contact"),
    (bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb"), "strongSwan"),
    (bytes.fromhex("7003cbc1097dbe9c2600ba6983bc8b35"), "KAME/racoon"),
    (bytes.fromhex("20a3622c1cea7ce37bee3ca484425276"), "IPsec-Tools"),
    (bytes.fromhex("2d7922c6b301d9b0e1342739e9cfbbd5"), "Delete With Reason"),
), key=lambda kv: -len(kv[0])))


def vendor_name(data: bytes) -> str:
    for prefix, name in VENDOR_IDS:
        if data[:len(prefix)] == prefix:
            if name == "Cisco Unity" and len(data) >= 16:
                return f"Cisco Unity {data[14]}.{data[15]}"
            return name
    return ""


# IKEv1 phase 1 attributes (RFC 2409 appendix A).
V1_IKE_ATTRS = {1: "encryption", 2: "hash", 3: "auth-method", 4: "dh-group", 5: "group-type",
                6: "group-prime", 7: "group-generator-one", 8: "group-generator-two",
                9: "group-curve-a", 10: "group-curve-b", 11: "life-type", 12: "life-duration",
                13: "prf", 14: "key-length", 15: "field-size", 16: "group-order"}
V1_ENCR = {1: "des-cbc", 2: "idea-cbc", 3: "blowfish-cbc", 4: "rc5-r16-b64-cbc", 5: "3des-cbc",
           6: "cast-cbc", 7: "aes-cbc", 8: "camellia-cbc"}
V1_HASH = {1: "md5", 2: "sha", 3: "tiger", 4: "sha2-256", 5: "sha2-384", 6: "sha2-512"}
V1_AUTH = {1: "pre-shared", 2: "dss-sig", 3: "rsa-sig", 4: "rsa-encr", 5: "rsa-revised-encr",
           9: "ecdsa-sha256", 10: "ecdsa-sha384", 11: "ecdsa-sha512",
           64221: "hybrid-init-rsa", 64222: "hybrid-resp-rsa",
           65001: "xauth-init-pre-shared", 65002: "xauth-resp-pre-shared",
           65003: "xauth-init-dss", 65004: "xauth-resp-dss", 65005: "xauth-init-rsa",
           65006: "xauth-resp-rsa"}
DH_GROUPS = {0: "none", 1: "modp768", 2: "modp1024", 5: "modp1536", 14: "modp2048",
             15: "modp3072", 16: "modp4096", 17: "modp6144", 18: "modp8192", 19: "ecp256",
             20: "ecp384", 21: "ecp521", 22: "modp1024s160", 23: "modp2048s224",
             24: "modp2048s256", 25: "ecp192", 26: "ecp224", 27: "ecp224bp", 28: "ecp256bp",
             29: "ecp384bp", 30: "ecp512bp", 31: "curve25519", 32: "curve448"}
V1_LIFE_TYPE = {1: "seconds", 2: "kilobytes"}
# IPsec DOI SA attributes (RFC 2407 4.5), the phase 2 (quick mode) transforms.
V1_IPSEC_ATTRS = {1: "life-type", 2: "life-duration", 3: "dh-group", 4: "encapsulation-mode",
                  5: "auth-algorithm", 6: "key-length", 7: "key-rounds",
                  8: "compress-dictionary-size", 9: "compress-private-algorithm",
                  10: "ecn-tunnel", 11: "esn"}
V1_ENCAP = {1: "tunnel", 2: "transport", 3: "udp-encapsulated-tunnel",
            4: "udp-encapsulated-transport", 61443: "udp-encapsulated-tunnel (draft)",
            61444: "udp-encapsulated-transport (draft)"}
V1_AUTH_ALG = {1: "hmac-md5", 2: "hmac-sha", 3: "des-mac", 4: "kpdk", 5: "hmac-sha2-256",
               6: "hmac-sha2-384", 7: "hmac-sha2-512", 8: "hmac-ripemd", 9: "aes-xcbc-mac",
               10: "sig-rsa", 11: "aes-128-gmac", 12: "aes-192-gmac", 13: "aes-256-gmac"}
V1_ESP_IDS = {1: "ESP_DES_IV64", 2: "ESP_DES", 3: "ESP_3DES", 4: "ESP_RC5", 5: "ESP_IDEA",
              6: "ESP_CAST", 7: "ESP_BLOWFISH", 8: "ESP_3IDEA", 9: "ESP_DES_IV32", 10: "ESP_RC4",
              11: "ESP_NULL", 12: "ESP_AES", 13: "ESP_AES-CTR", 14: "ESP_AES-CCM_8",
              15: "ESP_AES-CCM_12", 16: "ESP_AES-CCM_16", 18: "ESP_AES-GCM_8",
              19: "ESP_AES-GCM_12", 20: "ESP_AES-GCM_16", 21: "ESP_NULL_AUTH_AES-GMAC"}
V1_AH_IDS = {2: "AH_MD5", 3: "AH_SHA", 4: "AH_DES", 5: "AH_SHA2-256", 6: "AH_SHA2-384",
             7: "AH_SHA2-512"}
PROTOCOLS = {1: "ISAKMP", 2: "AH", 3: "ESP", 4: "IPCOMP"}
V2_PROTOCOLS = {1: "IKE", 2: "AH", 3: "ESP"}
# IKEv2 transforms (RFC 7296 3.3.2 and the IANA registry).
V2_TYPES = {1: "ENCR", 2: "PRF", 3: "INTEG", 4: "DH", 5: "ESN"}
V2_ENCR = {1: "DES_IV64", 2: "DES", 3: "3DES", 4: "RC5", 5: "IDEA", 6: "CAST", 7: "BLOWFISH",
           8: "3IDEA", 9: "DES_IV32", 11: "NULL", 12: "AES_CBC", 13: "AES_CTR", 14: "AES_CCM_8",
           15: "AES_CCM_12", 16: "AES_CCM_16", 18: "AES_GCM_8", 19: "AES_GCM_12",
           20: "AES_GCM_16", 21: "NULL_AUTH_AES_GMAC", 23: "CAMELLIA_CBC", 24: "CAMELLIA_CTR",
           25: "CAMELLIA_CCM_8", 26: "CAMELLIA_CCM_12", 27: "CAMELLIA_CCM_16",
           28: "CHACHA20_POLY1305"}
V2_PRF = {1: "PRF_HMAC_MD5", 2: "PRF_HMAC_SHA1", 3: "PRF_HMAC_TIGER", 4: "PRF_AES128_XCBC",
          5: "PRF_HMAC_SHA2_256", 6: "PRF_HMAC_SHA2_384", 7: "PRF_HMAC_SHA2_512",
          8: "PRF_AES128_CMAC"}
V2_INTEG = {0: "NONE", 1: "AUTH_HMAC_MD5_96", 2: "AUTH_HMAC_SHA1_96", 3: "AUTH_DES_MAC",
            4: "AUTH_KPDK_MD5", 5: "AUTH_AES_XCBC_96", 6: "AUTH_HMAC_MD5_128",
            7: "AUTH_HMAC_SHA1_160", 8: "AUTH_AES_CMAC_96", 9: "AUTH_AES_128_GMAC",
            10: "AUTH_AES_192_GMAC", 11: "AUTH_AES_256_GMAC", 12: "AUTH_HMAC_SHA2_256_128",
            13: "AUTH_HMAC_SHA2_384_192", 14: "AUTH_HMAC_SHA2_512_256"}
V2_ESN = {0: "NO_ESN", 1: "ESN"}
V2_ATTRS = {14: "key-length"}
ID_TYPES = {1: "IPV4_ADDR", 2: "FQDN", 3: "USER_FQDN", 4: "IPV4_ADDR_SUBNET", 5: "IPV6_ADDR",
            6: "IPV6_ADDR_SUBNET", 7: "IPV4_ADDR_RANGE", 8: "IPV6_ADDR_RANGE", 9: "DER_ASN1_DN",
            10: "DER_ASN1_GN", 11: "KEY_ID", 12: "LIST"}


def dh_group_name(group: int | None) -> str:
    if group is None:
        return ""
    return DH_GROUPS.get(group, f"group-{group}")


def _attr_names(ctx: str, t: int, v: int | bytes) -> tuple[str, str]:
    """(attribute name, value name) in its context: ``ike`` (IKEv1 phase 1),
    ``ipsec`` (IKEv1 IPsec DOI), ``v2`` (IKEv2 transform attribute)."""
    if ctx == "v2":
        return V2_ATTRS.get(t, f"attr-{t}"), ""
    table = V1_IKE_ATTRS if ctx == "ike" else V1_IPSEC_ATTRS
    name = table.get(t, f"attr-{t}")
    if not isinstance(v, int):
        if len(v) <= 8:
            return name, str(int.from_bytes(v, "big")) if v else ""
        return name, ""
    values: dict[int, str] | None = None
    if ctx == "ike":
        values = {1: V1_ENCR, 2: V1_HASH, 3: V1_AUTH, 4: DH_GROUPS, 11: V1_LIFE_TYPE,
                  13: None}.get(t)
    else:
        values = {1: V1_LIFE_TYPE, 3: DH_GROUPS, 4: V1_ENCAP, 5: V1_AUTH_ALG}.get(t)
    if values is None:
        return name, ""
    return name, values.get(v, str(v))


def _transform_name(version: int, proto: int, t: Transform) -> str:
    if version == 2:
        table = {1: V2_ENCR, 2: V2_PRF, 3: V2_INTEG, 4: DH_GROUPS, 5: V2_ESN}.get(t.transform_type)
        if table is None:
            return f"{t.transform_type}/{t.transform_id}"
        name = table.get(t.transform_id, str(t.transform_id))
        if t.transform_type == 4:
            name = f"DH {name}"
        return name
    if proto == 1:
        return "KEY_IKE" if t.transform_id == 1 else f"transform-{t.transform_id}"
    if proto == 3:
        return V1_ESP_IDS.get(t.transform_id, f"ESP-{t.transform_id}")
    if proto == 2:
        return V1_AH_IDS.get(t.transform_id, f"AH-{t.transform_id}")
    return f"transform-{t.transform_id}"


# -- records --------------------------------------------------------------------------

def _n() -> str:
    """A derived name: filled in by the decoder, not compared, not encoded."""
    return field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Attribute:
    """A data attribute (RFC 2408 3.3 / RFC 7296 3.3.5): TV when ``value``
    is an int (the AF bit set, 2-byte value), TLV when it is bytes.
    ``name``/``value_name`` are filled in by the decoder."""

    type: int
    value: int | bytes
    name: str = _n()
    value_name: str = _n()


@dataclass(frozen=True, slots=True)
class Transform:
    """IKEv1: ``number`` is the transform #, ``transform_type`` 0.
    IKEv2: ``transform_type`` is ENCR/PRF/INTEG/DH/ESN (1..5), ``number`` 0."""

    number: int
    transform_type: int
    transform_id: int
    attributes: tuple[Attribute, ...] = ()
    name: str = _n()


@dataclass(frozen=True, slots=True)
class Proposal:
    number: int
    protocol_id: int  # 1 ISAKMP/IKE, 2 AH, 3 ESP
    spi: bytes
    transforms: tuple[Transform, ...]
    protocol: str = _n()


@dataclass(frozen=True, slots=True)
class SaPayload:
    proposals: tuple[Proposal, ...]
    doi: int | None = 1  # IKEv1 only (1 = IPsec DOI); None for IKEv2
    situation: int | None = 1  # IKEv1 only (1 = SIT_IDENTITY_ONLY)
    critical: bool = False
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class KePayload:
    data: bytes
    dh_group: int | None = None  # IKEv2 only
    critical: bool = False
    payload: str = _n()
    dh_group_name: str = _n()


@dataclass(frozen=True, slots=True)
class NoncePayload:
    data: bytes
    critical: bool = False
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class VendorIdPayload:
    data: bytes
    critical: bool = False
    payload: str = _n()
    name: str = _n()  # a known vendor ID's meaning, else ""


@dataclass(frozen=True, slots=True)
class NatDPayload:
    """RFC 3947 NAT-Discovery: HASH(CKY-I | CKY-R | IP | Port)."""

    hash: bytes
    critical: bool = False
    payload: str = _n()
    draft: bool = False  # type 130 (draft-ietf-ipsec-nat-t-ike-02/03) rather than 20


@dataclass(frozen=True, slots=True)
class HashPayload:
    data: bytes
    critical: bool = False
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class IdPayload:
    """IKEv1 ID (type 5): id type, protocol, port; IKEv2 IDi/IDr: id type
    and three reserved bytes (``protocol``/``port`` 0)."""

    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0
    responder: bool = False  # IKEv2: IDr rather than IDi
    critical: bool = False
    payload: str = _n()
    id_type_name: str = _n()
    value: str = _n()  # the identity as text (address, name) when it is one


@dataclass(frozen=True, slots=True)
class NotifyPayload:
    notify_type: int
    protocol_id: int = 0
    spi: bytes = b""
    data: bytes = b""
    doi: int | None = None  # IKEv1 only
    critical: bool = False
    payload: str = _n()
    name: str = _n()  # NO_PROPOSAL_CHOSEN, R-U-THERE, ...


@dataclass(frozen=True, slots=True)
class DeletePayload:
    """IKEv1 Delete (12: DOI, protocol, SPI size, count, SPIs) and IKEv2
    Delete (42: protocol, SPI size, count, SPIs)."""

    protocol_id: int
    spi_size: int
    spis: tuple[bytes, ...] = ()
    doi: int | None = None  # IKEv1 only
    critical: bool = False
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class EncryptedPayload:
    """IKEv2 SK (type 46): IV, ciphertext and ICV, undivided (their sizes
    depend on the negotiated algorithms). ``inner`` is the type of the first
    payload inside, carried in this payload's own next-payload field."""

    data: bytes
    inner: int
    critical: bool = False
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class EncryptedFragmentPayload:
    """IKEv2 SKF (type 53, RFC 7383): one fragment of an encrypted message.
    ``inner`` is the first inner payload's type in fragment 1, else 0."""

    fragment_number: int
    total_fragments: int
    data: bytes
    inner: int = 0
    critical: bool = False
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class EncryptedBody:
    """IKEv1: everything after the header of a message whose encryption
    flag is set (RFC 2408 3.1): ciphertext with no payload headers to read.
    ``inner`` is the header's next payload (the first payload inside)."""

    data: bytes
    inner: int
    payload: str = _n()


@dataclass(frozen=True, slots=True)
class GenericPayload:
    type: int
    data: bytes
    critical: bool = False
    payload: str = _n()


Payload = (SaPayload | KePayload | NoncePayload | VendorIdPayload | NatDPayload | HashPayload
           | IdPayload | NotifyPayload | DeletePayload | EncryptedPayload
           | EncryptedFragmentPayload | EncryptedBody | GenericPayload)


# -- attributes, transforms, proposals ----------------------------------------------


def _enc_attrs(attrs: tuple[Attribute, ...]) -> bytes:
    out = b""
    for a in attrs:
        if isinstance(a.value, int):
            out += struct.pack("!HH", 0x8000 | (a.type & 0x7FFF), a.value & 0xFFFF)
        else:
            out += struct.pack("!HH", a.type & 0x7FFF, len(a.value)) + a.value
    return out


def _dec_attrs(buf: bytes, pos: int, end: int, ctx: str) -> tuple[Attribute, ...]:
    out = []
    while pos < end:
        if pos + 4 > end:
            raise Malformed(pos, "attribute cut short", "ike.attribute")
        t, v = struct.unpack_from("!HH", buf, pos)
        pos += 4
        if t & 0x8000:
            val: int | bytes = v
            t &= 0x7FFF
        else:
            if pos + v > end:
                raise Malformed(pos, f"attribute value of {v} bytes runs past its transform",
                                "ike.attribute")
            val = bytes(buf[pos: pos + v])
            pos += v
        name, vname = _attr_names(ctx, t, val)
        out.append(Attribute(t, val, name, vname))
    return tuple(out)


def _enc_proposals(version: int, props: tuple[Proposal, ...]) -> bytes:
    out = b""
    for i, p in enumerate(props):
        tbody = b""
        for j, t in enumerate(p.transforms):
            more = 3 if j + 1 < len(p.transforms) else 0
            attrs = _enc_attrs(t.attributes)
            if version == 1:
                tb = struct.pack("!BBHBBH", more, 0, 8 + len(attrs), t.number, t.transform_id, 0) + attrs
            else:
                tb = struct.pack("!BBHBBH", more, 0, 8 + len(attrs), t.transform_type, 0,
                                 t.transform_id) + attrs
            tbody += tb
        more = 2 if i + 1 < len(props) else 0
        out += struct.pack("!BBHBBBB", more, 0, 8 + len(p.spi) + len(tbody), p.number, p.protocol_id,
                           len(p.spi), len(p.transforms)) + p.spi + tbody
    return out


def _dec_proposals(version: int, buf: bytes, pos: int, end: int) -> tuple[Proposal, ...]:
    props = []
    while pos < end:
        if pos + 8 > end:
            raise Malformed(pos, "proposal header cut short", "ike.proposal")
        more, _res, plen, num, proto, spi_size, ntrans = struct.unpack_from("!BBHBBBB", buf, pos)
        pend = pos + plen
        if plen < 8 + spi_size or pend > end:
            raise Malformed(pos + 2, f"proposal length {plen} does not fit its SA payload",
                            "ike.proposal")
        q = pos + 8
        spi = bytes(buf[q: q + spi_size])
        q += spi_size
        ctx = "v2" if version == 2 else ("ike" if proto == 1 else "ipsec")
        trans = []
        while q < pend:
            if q + 8 > pend:
                raise Malformed(q, "transform header cut short", "ike.transform")
            _tm, _r, tlen, a, b, c = struct.unpack_from("!BBHBBH", buf, q)
            tend = q + tlen
            if tlen < 8 or tend > pend:
                raise Malformed(q + 2, f"transform length {tlen} does not fit its proposal",
                                "ike.transform")
            attrs = _dec_attrs(buf, q + 8, tend, ctx)
            t = Transform(a, 0, b, attrs) if version == 1 else Transform(0, a, c, attrs)
            trans.append(Transform(t.number, t.transform_type, t.transform_id, attrs,
                                   _transform_name(version, proto, t)))
            q = tend
        if len(trans) != ntrans:
            raise Malformed(pos + 7, f"proposal says {ntrans} transforms, has {len(trans)}",
                            "ike.proposal")
        pname = (V2_PROTOCOLS if version == 2 else PROTOCOLS).get(proto, f"protocol-{proto}")
        props.append(Proposal(num, proto, spi, tuple(trans), pname))
        pos = pend
        if more == 0 and pos < end:
            raise Malformed(pos, "bytes after the last proposal", "ike.proposal")
    return tuple(props)


def transform_summary(version: int, t: Transform) -> str:
    """One transform as an engineer reads it: ``aes-cbc-128 sha pre-shared
    modp1024 86400s`` (IKEv1 phase 1), ``ESP_AES-128 hmac-sha transport``
    (phase 2), ``AES_CBC-128`` (IKEv2)."""
    if version == 2:
        kl = next((a.value for a in t.attributes if a.type == 14 and isinstance(a.value, int)), None)
        return t.name + (f"-{kl}" if kl else "")
    parts: list[str] = []
    key_len = None
    life_type = ""
    lifetimes: list[str] = []
    for a in t.attributes:
        if a.name == "key-length" and isinstance(a.value, int):
            key_len = a.value
        elif a.name == "life-type":
            life_type = {"seconds": "s", "kilobytes": "KB"}.get(a.value_name, a.value_name)
        elif a.name == "life-duration":
            n = a.value if isinstance(a.value, int) else int.from_bytes(a.value, "big")
            lifetimes.append(f"{n}{life_type}")
        elif a.value_name:
            parts.append(a.value_name)
    if t.name and t.name != "KEY_IKE":
        parts.insert(0, t.name)
    if key_len and parts:
        parts[0] = f"{parts[0]}-{key_len}"
    return " ".join(parts + lifetimes)


# -- payload bodies -----------------------------------------------------------------


def payload_type(version: int, p: Payload) -> int:
    """The payload type number ``p`` is written with."""
    return _type_of(version, p)


def _type_of(version: int, p: Payload) -> int:
    v1 = version == 1
    if isinstance(p, SaPayload):
        return 1 if v1 else 33
    if isinstance(p, KePayload):
        return 4 if v1 else 34
    if isinstance(p, NoncePayload):
        return 10 if v1 else 40
    if isinstance(p, VendorIdPayload):
        return 13 if v1 else 43
    if isinstance(p, NatDPayload):
        return 130 if p.draft else 20
    if isinstance(p, HashPayload):
        return 8
    if isinstance(p, IdPayload):
        return 5 if v1 else (36 if p.responder else 35)
    if isinstance(p, NotifyPayload):
        return 11 if v1 else 41
    if isinstance(p, DeletePayload):
        return 12 if v1 else 42
    if isinstance(p, EncryptedPayload):
        return 46
    if isinstance(p, EncryptedFragmentPayload):
        return 53
    if isinstance(p, EncryptedBody):
        return p.inner
    return p.type


def _body(version: int, p: Payload) -> bytes:
    if isinstance(p, SaPayload):
        head = struct.pack("!II", p.doi or 0, p.situation or 0) if version == 1 else b""
        return head + _enc_proposals(version, p.proposals)
    if isinstance(p, KePayload):
        return (struct.pack("!HH", p.dh_group or 0, 0) if version == 2 else b"") + p.data
    if isinstance(p, NatDPayload):
        return p.hash
    if isinstance(p, IdPayload):
        if version == 1:
            return struct.pack("!BBH", p.id_type, p.protocol, p.port) + p.data
        return struct.pack("!B3x", p.id_type) + p.data
    if isinstance(p, NotifyPayload):
        if version == 1:
            return struct.pack("!IBBH", p.doi if p.doi is not None else 1, p.protocol_id,
                               len(p.spi), p.notify_type) + p.spi + p.data
        return struct.pack("!BBH", p.protocol_id, len(p.spi), p.notify_type) + p.spi + p.data
    if isinstance(p, DeletePayload):
        spis = b"".join(p.spis)
        head = struct.pack("!BBH", p.protocol_id, p.spi_size, len(p.spis))
        if version == 1:
            head = struct.pack("!I", p.doi if p.doi is not None else 1) + head
        return head + spis
    if isinstance(p, EncryptedFragmentPayload):
        return struct.pack("!HH", p.fragment_number, p.total_fragments) + p.data
    return p.data  # Nonce, VID, Hash, SK, generic


def encode_payloads(version: int, payloads: list[Payload] | tuple[Payload, ...]) -> tuple[int, bytes]:
    """(type of the first payload, for the header's Next Payload; the chain).

    An IKEv1 ``EncryptedBody`` is written as it is (no payload header): it
    must be the only item; its ``inner`` is what the header names."""
    if len(payloads) == 1 and isinstance(payloads[0], EncryptedBody):
        return payloads[0].inner, bytes(payloads[0].data)
    types = [_type_of(version, p) for p in payloads]
    out = b""
    for i, p in enumerate(payloads):
        body = _body(version, p)
        if isinstance(p, (EncryptedPayload, EncryptedFragmentPayload)):
            nxt = p.inner  # SK's next payload names the first payload inside it
        else:
            nxt = types[i + 1] if i + 1 < len(payloads) else 0
        out += struct.pack("!BBH", nxt, 0x80 if getattr(p, "critical", False) else 0, 4 + len(body)) + body
    return (types[0] if types else 0), out


def _id_value(id_type: int, data: bytes) -> str:
    import socket

    try:
        if id_type == 1 and len(data) == 4:
            return socket.inet_ntop(socket.AF_INET, data)
        if id_type == 5 and len(data) == 16:
            return socket.inet_ntop(socket.AF_INET6, data)
        if id_type == 4 and len(data) == 8:
            return (f"{socket.inet_ntop(socket.AF_INET, data[:4])}/"
                    f"{socket.inet_ntop(socket.AF_INET, data[4:])}")
        if id_type in (2, 3) and data.isascii():
            return data.decode("ascii", "replace")
    except (OSError, ValueError):
        return ""
    return ""


def _decode_one(version: int, ptype: int, crit: bool, nxt: int, body: bytes) -> Payload:
    """One payload's body; Malformed offsets are relative to the body."""
    v1 = version == 1
    name = payload_name(version, ptype)
    if ptype == (1 if v1 else 33):
        if v1:
            if len(body) < 8:
                raise Malformed(0, "SA payload shorter than DOI and situation",
                                "ike.payload-length")
            doi, sit = struct.unpack_from("!II", body)
            return SaPayload(_dec_proposals(1, body, 8, len(body)), doi, sit, crit, name)
        return SaPayload(_dec_proposals(2, body, 0, len(body)), None, None, crit, name)
    if ptype == (4 if v1 else 34):
        if v1:
            return KePayload(body, None, crit, name)
        if len(body) < 4:
            raise Malformed(0, "KE payload shorter than its group field", "ike.payload-length")
        group = struct.unpack_from("!H", body)[0]
        return KePayload(body[4:], group, crit, name, dh_group_name(group))
    if ptype == (10 if v1 else 40):
        return NoncePayload(body, crit, name)
    if ptype == (13 if v1 else 43):
        return VendorIdPayload(body, crit, name, vendor_name(body))
    if v1 and ptype in (20, 130):
        return NatDPayload(body, crit, name, ptype == 130)
    if v1 and ptype == 8:
        return HashPayload(body, crit, name)
    if ptype in ((5,) if v1 else (35, 36)):
        if len(body) < 4:
            raise Malformed(0, "ID payload shorter than 4 bytes", "ike.payload-length")
        t = body[0]
        value = _id_value(t, body[4:])
        if v1:
            _, proto, port = struct.unpack_from("!BBH", body)
            return IdPayload(t, body[4:], proto, port, False, crit, name,
                             ID_TYPES.get(t, str(t)), value)
        return IdPayload(t, body[4:], 0, 0, ptype == 36, crit, name, ID_TYPES.get(t, str(t)), value)
    if ptype == (11 if v1 else 41):
        if v1:
            if len(body) < 8:
                raise Malformed(0, "notification payload cut short", "ike.payload-length")
            doi, proto, spi_size, nt = struct.unpack_from("!IBBH", body)
            spi = body[8: 8 + spi_size]
            if len(spi) < spi_size:
                raise Malformed(8, "notification SPI cut short", "ike.payload-length")
            return NotifyPayload(nt, proto, spi, body[8 + spi_size:], doi, crit, name,
                                 notify_name(1, nt))
        if len(body) < 4:
            raise Malformed(0, "notify payload cut short", "ike.payload-length")
        proto, spi_size, nt = struct.unpack_from("!BBH", body)
        spi = body[4: 4 + spi_size]
        if len(spi) < spi_size:
            raise Malformed(4, "notify SPI cut short", "ike.payload-length")
        return NotifyPayload(nt, proto, spi, body[4 + spi_size:], None, crit, name, notify_name(2, nt))
    if ptype == (12 if v1 else 42):
        head = 8 if v1 else 4
        if len(body) < head:
            raise Malformed(0, "delete payload cut short", "ike.payload-length")
        doi = struct.unpack_from("!I", body)[0] if v1 else None
        proto, spi_size, count = struct.unpack_from("!BBH", body, head - 4)
        need = head + spi_size * count
        if len(body) != need:
            raise Malformed(head - 2, f"delete payload says {count} SPIs of {spi_size} bytes "
                            f"({need - head} bytes) but has {len(body) - head}",
                                "ike.payload-length")
        spis = tuple(body[head + i * spi_size: head + (i + 1) * spi_size] for i in range(count))
        return DeletePayload(proto, spi_size, spis, doi, crit, name)
    if not v1 and ptype == 46:
        return EncryptedPayload(body, nxt, crit, name)
    if not v1 and ptype == 53:
        if len(body) < 4:
            raise Malformed(0, "encrypted fragment payload cut short", "ike.payload-length")
        num, total = struct.unpack_from("!HH", body)
        return EncryptedFragmentPayload(num, total, body[4:], nxt, crit, name)
    return GenericPayload(ptype, body, crit, name)


def decode_payloads(version: int, first: int, buf: bytes, *, encrypted: bool = False
                    ) -> tuple[list[Payload], list[Problem]]:
    """The payload chain starting with type ``first``. Never raises; stops at
    an encrypted IKEv2 SK/SKF payload (what follows is inside it). With
    ``encrypted`` (an IKEv1 message whose E flag is set) the whole body is one
    ``EncryptedBody``."""
    buf = bytes(buf)
    if encrypted and version == 1:
        return ([EncryptedBody(buf, first, "encrypted")] if buf else []), []
    out: list[Payload] = []
    problems: list[Problem] = []
    pos, ptype = 0, first
    while ptype != 0 and len(out) < 64:
        if pos + 4 > len(buf):
            problems.append(Problem(pos, f"{payload_name(version, ptype)} payload header cut short", LAYER, "ike.truncated", "error"))
            break
        nxt, crit, plen = struct.unpack_from("!BBH", buf, pos)
        if plen < 4 or pos + plen > len(buf):
            problems.append(Problem(pos + 2, f"{payload_name(version, ptype)} payload length {plen} does "
                                    f"not fit the {len(buf) - pos} bytes left", LAYER,
                                        "ike.payload-length", "error"))
            break
        body = buf[pos + 4: pos + plen]
        try:
            out.append(_decode_one(version, ptype, bool(crit & 0x80), nxt, body))
        except Malformed as e:
            problems.append(Problem(pos + 4 + e.offset, e.reason, LAYER, e.id, e.severity))
            out.append(GenericPayload(ptype, body, bool(crit & 0x80), payload_name(version, ptype)))
        pos += plen
        if version == 2 and ptype in (46, 53):
            break
        ptype = nxt
    if pos < len(buf) and not (out and isinstance(out[-1], (EncryptedPayload, EncryptedFragmentPayload))):
        problems.append(Problem(pos, f"{len(buf) - pos} bytes after the last payload", LAYER,
                                "ike.trailing", "warning"))
    return out, problems
