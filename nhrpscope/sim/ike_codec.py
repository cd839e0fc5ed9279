"""IKE messages as the simulated routers write and read them.

Real headers and payload structure (``dissectors.ike``, ``dissectors.ike_payloads``),
simulated key material: the KE values, nonces and encrypted bodies are bytes
from the endpoint's seeded random source. ``IkeCodec`` holds what a message
needs (the router's address, its IKE policy, the scenario's transform) and
builds Main Mode, Quick Mode, IKE_SA_INIT and IKE_AUTH; it also reads what the
peer sent (NAT-D hashes, the offered proposal, an error notify). The exchanges
themselves (who sends what when) are ``ipsec.Endpoint``'s.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.dissectors.ike import encode_ike, make_ike_header
from nhrpscope.sim.clock import Timer
from nhrpscope.sim.scenario import RouterSpec
from nhrpscope.sim.wire import Wire

IKE_PORT, NATT_PORT = 500, 4500

# esp-aes / esp-3des / esp-gcm and esp-sha-hmac / esp-sha256-hmac, as the scenario names them.
ENC = {"aes-cbc-128": ("aes-cbc", 16, 7, 128, 12), "aes-cbc-256": ("aes-cbc", 32, 7, 256, 12),
       "3des-cbc": ("3des-cbc", 24, 5, None, 3), "aes-gcm-128": ("aes-gcm-16", 20, 7, 128, 20)}
# name -> (esp integrity, key bytes, IKEv1 hash / ESP auth attribute, IKEv2 INTEG id)
INTEG = {"hmac-sha1-96": ("hmac-sha1-96", 20, 2, 2), "hmac-sha256-128": ("hmac-sha256-128", 32, 4, 12),
         "none": ("null", 0, 0, 0)}

# Vendor IDs Cisco IOS sends in Main Mode: RFC 3947 NAT-T, draft-ietf-ipsec-nat-t-ike-02\n,
# Dead Peer Detection (RFC 3706), Cisco Unity.
VIDS = [bytes.fromhex(h) for h in ("4a131c81070358455c5728f20e95452f", "90cb80913ebb696e086381b5ec427b1f",
                                   "afcad71368a1f1c96b8696fc77570100", "12f5f28c457168a9702d9fe274cc0100")]
NOTE = "IKE payloads are simulated, not a real key exchange"


class IpsecRouter(Protocol):
    """What an IKE daemon uses of its own router: its addresses, its IP
    identification counter, its NBMA interface and its GRE input."""

    name: str
    nbma: str
    spec: RouterSpec
    up: bool

    def next_ip_id(self) -> int: ...

    def emit(self, raw: bytes, wire: Wire) -> None: ...

    def on_gre(self, outer_src: str, gre: bytes, wire: Wire) -> None: ...


@dataclass(eq=False)
class Negotiation:
    """One IKE SA being set up, and the ESP SA pair it yields."""

    version: int
    icookie: bytes
    initiator: str  # the initiating router's name
    # The initiator's pre-shared key: the key exchange is simulated, so "can the
    # responder verify message 5" is a comparison of the two keys.
    initiator_psk: str | None
    i_addr: str  # the responder's address as the initiator sends to it
    responder: str | None = None  # the responding router's name, once it answers
    rcookie: bytes = bytes(8)
    i_step: int = 0  # the last message the initiator sent (1..9)
    r_step: int = 0  # the last message the responder sent
    msgid: int = 0
    nat: bool = False
    i_natted: bool = False
    r_natted: bool = False
    timer: Timer | None = None
    last_sent: tuple[bytes, str, int, int, str] | None = None  # to retransmit
    retransmits: int = 0
    wires: list[Wire] = field(default_factory=list)
    rec: dict[str, Any] = field(default_factory=dict)
    done_wire: Wire | None = None
    state: str = "incomplete"


@dataclass(eq=False)
class Peer:
    addr: str
    port: int = IKE_PORT  # where this router sends IKE / NAT-T to
    local_port: int = IKE_PORT
    state: str = "idle"  # idle | negotiating | up | failed
    out_sa: SecurityAssociation | None = None  # what we really encrypt with
    seq: int = 0
    queue: list[tuple[bytes, Wire, int]] = field(default_factory=list)
    nat_t: bool = False
    behind_nat: bool = False
    neg: Negotiation | None = None
    keepalive: Timer | None = None
    failed_until: float = -1.0


class IkeCodec:
    """One router's IKE message writer and reader."""

    def __init__(self, router: IpsecRouter, rng: random.Random, ike_enc: tuple[Any, ...],
                 enc: tuple[Any, ...], integ: tuple[Any, ...]) -> None:
        self.r = router
        self.rng = rng
        self.ike_enc = ike_enc  # this router's IKE policy (phase 1 / IKE SA)
        self.enc = enc  # the scenario's ESP transform and integrity
        self.integ = integ

    # -- writing -----------------------------------------------------------------------------

    def _ports(self, peer: Peer) -> tuple[int, int]:
        return peer.local_port, peer.port

    def _hdr(self, neg: Negotiation, xtype: int, first: int, body: bytes, *, flags: int = 0,
             msgid: int = 0) -> bytes:
        hdr = make_ike_header(neg.version, xtype, neg.icookie, neg.rcookie, flag_bits=flags,
                              message_id=msgid, next_payload=first, minor_version=0)
        return encode_ike(hdr, body)

    def _v1_sa(self) -> K.SaPayload:
        enc = self.ike_enc
        attrs = [K.Attribute(1, enc[2])]
        if enc[3]:
            attrs.append(K.Attribute(14, enc[3]))
        attrs += [K.Attribute(2, self.integ[2] or 2), K.Attribute(3, 1), K.Attribute(4, 2),
                  K.Attribute(11, 1), K.Attribute(12, (86400).to_bytes(4, "big"))]
        t = K.Transform(1, 0, 1, tuple(attrs))  # KEY_IKE
        return K.SaPayload((K.Proposal(1, 1, b"", (t,)),), 1, 1)

    def _natd(self, neg: Negotiation, addr: str, port: int) -> K.NatDPayload:
        return K.NatDPayload(hashlib.sha1(neg.icookie + neg.rcookie + ipaddress.IPv4Address(addr).packed
                                          + struct.pack("!H", port)).digest())

    def _mm1(self, neg: Negotiation) -> bytes:
        first, body = K.encode_payloads(1, [self._v1_sa(), *[K.VendorIdPayload(v) for v in VIDS]])
        return self._hdr(neg, 2, first, body)

    def _mm2(self, neg: Negotiation) -> bytes:
        first, body = K.encode_payloads(1, [self._v1_sa(), *[K.VendorIdPayload(v) for v in VIDS[:3]]])
        return self._hdr(neg, 2, first, body)

    def _mm34(self, neg: Negotiation, peer: Peer, src_port: int, dst_port: int) -> bytes:
        # NAT-D: first the hash of the remote end, then of the local end, as this side sees them.
        pl: list[K.Payload] = [K.KePayload(self.rng.randbytes(128)), K.NoncePayload(self.rng.randbytes(20)),
              self._natd(neg, peer.addr, dst_port), self._natd(neg, self.r.nbma, src_port)]
        first, body = K.encode_payloads(1, pl)
        return self._hdr(neg, 2, first, body)

    def _encrypted_v1(self, neg: Negotiation, xtype: int, first: int, size: int, msgid: int = 0) -> bytes:
        n = -(-size // 16) * 16 if self.enc[0] != "3des-cbc" else -(-size // 8) * 8
        return self._hdr(neg, xtype, first, self.rng.randbytes(n), flags=0x01, msgid=msgid)

    def _sa_init(self, neg: Negotiation, peer: Peer, *, initiator: bool, seen: tuple[str, int] | None = None
                 ) -> bytes:
        enc, integ = self.ike_enc, self.integ
        ts = [K.Transform(0, 1, enc[4], (K.Attribute(14, enc[3]),) if enc[3] else ()),
              K.Transform(0, 2, 2 if integ[3] == 2 else 5)]
        if integ[3]:
            ts.append(K.Transform(0, 3, integ[3]))
        ts.append(K.Transform(0, 4, 14))  # DH group 14 (2048-bit MODP)
        sa = K.SaPayload((K.Proposal(1, 1, b"", tuple(ts)),), None, None)
        src_port, dst_port = self._ports(peer)
        src_hash = hashlib.sha1(neg.icookie + neg.rcookie + ipaddress.IPv4Address(self.r.nbma).packed
                                + struct.pack("!H", src_port)).digest()
        dst_hash = hashlib.sha1(neg.icookie + neg.rcookie + ipaddress.IPv4Address(peer.addr).packed
                                + struct.pack("!H", dst_port)).digest()
        pl: list[K.Payload] = [sa, K.KePayload(self.rng.randbytes(256), 14), K.NoncePayload(self.rng.randbytes(32)),
              K.NotifyPayload(16388, 0, b"", src_hash), K.NotifyPayload(16389, 0, b"", dst_hash)]
        first, body = K.encode_payloads(2, pl)
        return self._hdr(neg, 34, first, body, flags=0x08 if initiator else 0x20)

    def _ike_auth(self, neg: Negotiation, *, initiator: bool, failed: bool = False) -> bytes:
        iv = 8 if self.enc[0] == "3des-cbc" else 16
        icv = 12 if self.integ[1] == 20 else (16 if self.integ[1] else 16)
        blk = 8 if self.enc[0] == "3des-cbc" else 16
        # inside: IDi/IDr, AUTH, SA, TSi, TSr; or one N(AUTHENTICATION_FAILED)
        sk = K.EncryptedPayload(self.rng.randbytes(iv) + self.rng.randbytes(blk * (1 if failed else 13))
                                + self.rng.randbytes(icv), 41 if failed else (35 if initiator else 36))
        first, body = K.encode_payloads(2, [sk])
        return self._hdr(neg, 35, first, body, flags=0x08 if initiator else 0x20, msgid=1)


    # -- reading -----------------------------------------------------------------------------

    def _check_natd(self, neg: Negotiation, msg: bytes, me_addr: str, me_port: int, src: str,
                    sport: int) -> tuple[bool, bool]:
        """(am I behind NAT, is the peer): compare the NAT-D hashes with what I see."""
        payloads, _ = K.decode_payloads(neg.version, msg[16], msg[28:])
        hashes = [p.hash for p in payloads if isinstance(p, K.NatDPayload)]
        hashes += [p.data for p in payloads if isinstance(p, K.NotifyPayload) and p.notify_type in (16388, 16389)]
        if neg.version == 2:  # source, destination order
            peer_h, me_h = (hashes + [b"", b""])[:2]
        else:  # remote-of-sender (= me) first, then sender
            me_h, peer_h = (hashes + [b"", b""])[:2]

        def h(a: str, p: int) -> bytes:
            return hashlib.sha1(neg.icookie + neg.rcookie + ipaddress.IPv4Address(a).packed
                                + struct.pack("!H", p)).digest()

        return me_h != h(me_addr, me_port), peer_h != h(src, sport)

    def _acceptable(self, neg: Negotiation, msg: bytes) -> bool:
        """Does the initiator's first message offer this router's IKE encryption?"""
        payloads, _ = K.decode_payloads(neg.version, msg[16], msg[28:])
        want_id = self.ike_enc[2] if neg.version == 1 else self.ike_enc[4]
        for p in payloads:
            if not isinstance(p, K.SaPayload):
                continue
            for pr in p.proposals:
                for t in pr.transforms:
                    if neg.version == 1:
                        enc = next((a.value for a in t.attributes if a.type == 1), None)
                        klen = next((a.value for a in t.attributes if a.type == 14), None)
                    elif t.transform_type == 1:
                        enc = t.transform_id
                        klen = next((a.value for a in t.attributes if a.type == 14), None)
                    else:
                        continue
                    if enc == want_id and klen == self.ike_enc[3]:
                        return True
            return False
        return True

    @staticmethod
    def _refusal(neg: Negotiation, msg: bytes) -> str:
        """The name of an error notify in a clear answer, else ""."""
        if len(msg) < 28 or (neg.version == 1 and msg[19] & 1):
            return ""
        payloads, _ = K.decode_payloads(neg.version, msg[16], msg[28:])
        for p in payloads:
            if isinstance(p, K.NotifyPayload) and p.notify_type in (14, 17, 24):
                return K.notify_name(neg.version, p.notify_type)
        return ""

    @staticmethod
    def _has(msg: bytes, ptype: int) -> bool:
        payloads, _ = K.decode_payloads(1, msg[16], msg[28:])
        return any(isinstance(p, K.NatDPayload) for p in payloads) if ptype == 20 else True
