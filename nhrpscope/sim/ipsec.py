"""IPsec for the simulated routers: IKE to set up SAs, ESP transport mode for GRE.

Per peer pair, before the first ESP packet, the capture shows the key
exchange: IKEv1 Main Mode (6 messages) and Quick Mode (3), what the classic
lab's ``crypto isakmp`` set-up sends, or IKEv2 IKE_SA_INIT + IKE_AUTH. The
headers and payload structure are real (SA with proposals and transforms,
KE, nonces, vendor IDs, RFC 3947 NAT-D hashes computed over the addresses
each side really sees); the key exchange is not: KE values, nonces and the
encrypted messages are seeded random bytes, and the ESP keys are derived
from the scenario seed, then written to the key files. ESP itself is real
(``dissectors.esp.encode_esp``): it decrypts with those keys.

NAT: when the NAT-D hashes show a translation, the exchange moves to UDP
4500 (RFC 3947) and ESP is UDP-encapsulated (RFC 3948); the side behind the
NAT sends NAT-keepalives (one byte 0xFF) every ``keepalive`` seconds.

Faults (router keys): ``ike_encryption`` different from the peer's policy
makes the responder refuse the proposal (IKEv1: an Informational exchange
with NO-PROPOSAL-CHOSEN; IKEv2: an IKE_SA_INIT response with
NO_PROPOSAL_CHOSEN); a different ``psk`` makes IKEv1 main mode stall at
message 5 (the responder cannot verify it and stays silent; IKEv2: the
IKE_AUTH answer is AUTHENTICATION_FAILED inside SK). A failed negotiation is
retried on the next packet for the peer, no sooner than 10 s later.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import struct
from dataclasses import dataclass, field
from typing import Any

from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.dissectors.esp import SecurityAssociation, decode_esp, encode_esp
from nhrpscope.dissectors.ike import encode_ike_message, make_ike_header
from nhrpscope.sim import packets as P
from nhrpscope.sim.host import Host
from nhrpscope.sim.ike_codec import (
    ENC,
    IKE_PORT,
    INTEG,
    NATT_PORT,
    NOTE,
    IkeCodec,
    IpsecRouter,
    Negotiation,
    Peer,
)
from nhrpscope.sim.packets import udp
from nhrpscope.sim.scenario import IpsecSpec
from nhrpscope.sim.wire import Wire

PROTO_UDP, PROTO_ESP, PROTO_GRE = 17, 50, 47
RETRANSMIT = 5.0
MAX_RETRANSMITS = 4
QUEUE_MAX = 8


def _h(*parts: Any) -> bytes:
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()


@dataclass(eq=False)
class SaRecord:
    sa: SecurityAssociation  # as negotiated (what the key files say)
    src: str  # router names
    dst: str
    paired: int
    wires: list[Wire] = field(default_factory=list)
    bad: list[Wire] = field(default_factory=list)


class IpsecDomain:
    """The scenario's IPsec: its policy, the SA registry, and the IKE
    exchanges in flight (found by initiator cookie, as on the wire)."""

    def __init__(self, spec: IpsecSpec, seed: int, nat_keepalive: dict[str, float], host: Host) -> None:
        self.host = host
        self.seed = seed
        self.spec = spec
        self.version = 2 if spec.ike == "ikev2" else 1
        self.enc = ENC[spec.encryption]
        self.integ = INTEG[spec.integrity]
        if self.enc[0].startswith("aes-gcm"):
            self.integ = INTEG["none"]
        self.rng = random.Random(f"{seed}:ipsec")
        self.negs: dict[bytes, Negotiation] = {}
        self.records: list[SaRecord] = []
        self.by_spi: dict[int, SaRecord] = {}
        self.nat_keepalive = nat_keepalive

    def endpoint(self, router: IpsecRouter) -> Endpoint:
        return Endpoint(self, router)

    def new_spi(self) -> int:
        while True:
            spi = self.rng.randrange(0x00001000, 0xFFFFFFFF)
            if spi not in self.by_spi:
                return spi

    def make_sa(self, spi: int, label: str) -> SecurityAssociation:
        enc, klen = self.enc[0], self.enc[1]
        integ, alen = self.integ[0], self.integ[1]
        key = _h(self.seed, label, spi, "enc")[:klen] if klen <= 32 else b""
        if klen > 32:
            key = (_h(self.seed, label, spi, "enc") + _h(self.seed, label, spi, "enc2"))[:klen]
        akey = _h(self.seed, label, spi, "auth")[:alen] if alen else b""
        return SecurityAssociation(spi, None, None, enc, key, integ, akey if integ != "null" else b"",
                                   mode="transport")

    def seen_addr(self, router: str) -> str:
        """The router's address as the capture shows it."""
        peer = self.host.directory.named(router)
        assert peer is not None, router
        return peer.seen

    def all_sas(self) -> list[SecurityAssociation]:
        out = []
        for rec in self.records:
            if not rec.wires and not rec.bad:
                continue
            sa = rec.sa
            out.append(SecurityAssociation(sa.spi, self.seen_addr(rec.src), self.seen_addr(rec.dst),
                                           sa.encryption, sa.enc_key, sa.integrity, sa.auth_key,
                                           mode="transport"))
        return out

    def final_findings(self) -> None:
        led = self.host.ledger
        for rec in self.records:
            if rec.bad:
                led.finding(
                    "esp-icv-failed",
                    f"ESP from {rec.src} to {rec.dst} (SPI 0x{rec.sa.spi:08x}) fails its integrity "
                    f"check ({len(rec.bad)} packet(s)): {rec.dst} drops them, so nothing {rec.src} "
                    "sends over this SA arrives; the SA's keys differ between the peers - clear the crypto "
                    "session ('clear crypto session') so IKE negotiates fresh keys.", rec.bad,
                    rec.bad[0].time or 0.0, opaque=True)
            frames = sorted({f for w in rec.wires + rec.bad for f in w.frames})
            if not frames:
                continue
            times = sorted(t for w in rec.wires + rec.bad for t in w.tap_times)
            nbytes = sum(w.meta.get("len", 0) * len(w.frames) for w in rec.wires + rec.bad)
            good = sum(len(w.frames) for w in rec.wires)
            led.sa_seen({
                "spi": f"0x{rec.sa.spi:08x}", "src": self.seen_addr(rec.src), "dst": self.seen_addr(rec.dst),
                "packets": len(frames), "bytes": nbytes, "first": led.at(times[0]),
                "last": led.at(times[-1]), "decrypted": good,
                # the partner SA, if the tap saw it: a capture cannot name an SPI it never shows
                "paired_spi": f"0x{rec.paired:08x}" if rec.paired and self._seen_spi(rec.paired) else None,
                "frames": [frames[0], frames[-1]],
            })
        for neg in self.negs.values():
            ike = neg.rec
            if neg.done_wire is not None and neg.done_wire.seen:
                ike["established"] = led.at(neg.done_wire.time or 0.0)
            ike["state"] = neg.state
            ike["retransmits"] = neg.retransmits
        self._one_way()
        self._ike_findings()

    def _seen_spi(self, spi: int) -> bool:
        rec = self.by_spi.get(spi)
        return rec is not None and any(w.frames for w in rec.wires + rec.bad)

    def _one_way(self) -> None:
        """SAs the tap saw carry packets one way with nothing coming back."""
        led = self.host.ledger
        for rec in self.records:
            ws = rec.wires + rec.bad
            frames = sorted({f for w in ws for f in w.frames})
            if len(frames) < 3:
                continue
            times = sorted(t for w in ws for t in w.tap_times)
            back = [t for o in self.records if o.src == rec.dst and o.dst == rec.src
                    for w in o.wires + o.bad for t in w.tap_times]
            if any(times[0] - 0.5 <= t <= times[-1] + 0.5 for t in back):
                continue
            first = next(w for w in ws if frames[0] in w.frames)
            last = next(w for w in ws if frames[-1] in w.frames)
            led.finding("esp-one-way",
                        f"ESP from {rec.src} to {rec.dst} (SPI 0x{rec.sa.spi:08x}) carries {len(frames)} "
                        f"packets and nothing comes back: {rec.src}'s 'show crypto ipsec sa' counts encaps, no "
                        f"decaps.", [first] if first is last else [first, last], times[0], opaque=True)

    def _ike_findings(self) -> None:
        """The IKE faults the tap shows, with the frames that show them."""
        led = self.host.ledger
        for neg in self.negs.values():
            rec = neg.rec
            seen = [w for w in neg.wires if w.seen]
            if not seen:
                continue
            i = neg.initiator
            found = self.host.directory.at(neg.i_addr)
            rname = neg.responder or (found.name if found else neg.i_addr)
            key = tuple(sorted((i, rname)))
            t = seen[0].time or 0.0
            mine = [w for w in seen if w.meta.get("from") == i]
            if rec.get("_refused"):
                led.gather(key, "ike-no-proposal-chosen",
                           f"{rname} refuses {i}'s IKE proposal with NO_PROPOSAL_CHOSEN: their IKE "
                           "policies (encryption) differ.", rec["_refused"], t)
                continue
            natt = [w for w in seen if w.meta.get("natt")]
            if natt and neg.state != "established" and all(w.meta.get("from") == i for w in natt) and (
                    neg.state in ("failed", "unanswered") or len(natt) >= 2):
                natd = [w for w in seen if w.meta.get("step") in (3, 4)][:2]
                led.gather(key, "nat-t-blocked",
                           f"IKE between {i} and {rname} detects NAT and moves to UDP 4500, where "
                           "nothing answers: a filter drops UDP 4500.", natd + natt, t)
                continue
            psk = rec.get("_psk_wires") or []
            if psk and (neg.state == "failed" or sum(1 for w in psk if w.meta.get("rtx")) >= 2):
                led.gather(key, "ike-auth-failed",
                           f"IKEv1 main mode from {i} to {rname} stalls at message 5: the pre-shared keys "
                           "differ.", [w for w in seen if w.meta.get("step") in (5, 6)], t)
                continue
            if rec.get("_auth_failed") and any(
                    n.initiator == neg.initiator and n.i_addr == neg.i_addr and (n.wires[0].time or 0) >
                    (neg.wires[-1].time or 0) for n in self.negs.values() if n is not neg and n.wires):
                led.gather(key, "ike-auth-failed",
                           f"IKEv2 IKE_AUTH from {i} to {rname} is refused (AUTHENTICATION_FAILED): the "
                           "pre-shared keys differ.", [w for w in seen if w.meta.get("step") in (3, 4)], t)
                continue
            answered = any(w.meta.get("from") != i for w in seen)
            if not answered and (neg.state == "unanswered" or sum(1 for w in mine if w.meta.get("rtx")) >= 2):
                led.gather(key, "ike-unanswered", f"{i}'s IKE to {rname} gets no answer.", seen, t)
                continue
            if neg.state == "established" and any(w.meta.get("rtx") for w in seen):
                led.gather(key, "ike-retransmits", f"IKE between {i} and {rname} needed retransmissions.",
                           [w for w in seen if w.meta.get("rtx")], t)


class Endpoint(IkeCodec):
    """One router's IKE daemon and ESP SAD."""

    def __init__(self, domain: IpsecDomain, router: IpsecRouter) -> None:
        spec = router.spec
        super().__init__(router, random.Random(f"{domain.seed}:ipsec:{router.name}"),
                         ENC[spec.ike_encryption] if spec.ike_encryption else domain.enc, domain.enc, domain.integ)
        self.d = domain
        self.name = router.name
        self.host = domain.host
        self.peers: dict[str, Peer] = {}
        self.inbound: dict[int, tuple[Peer, SaRecord]] = {}
        self.psk = spec.psk if spec.psk is not None else domain.spec.psk

    # -- the router's interface --------------------------------------------------------------

    def required(self, src: str) -> bool:
        return True

    def reset(self) -> None:
        for p in self.peers.values():
            if p.keepalive:
                p.keepalive.cancel()
            if p.neg and p.neg.timer:
                p.neg.timer.cancel()
        self.peers.clear()
        self.inbound.clear()

    def overhead(self) -> int:
        enc = self.d.enc
        iv = 8 if enc[0] == "3des-cbc" else (8 if enc[0].startswith("aes-gcm") else 16)
        icv = 16 if enc[0].startswith("aes-gcm") else (12 if self.d.integ[1] == 20 else 16)
        return 8 + iv + 2 + 15 + icv

    def send(self, dst: str, gre: bytes, wire: Wire, *, tos: int = 0, df: bool = False) -> None:
        peer = self.peers.get(dst)
        if peer is None:
            peer = self.peers[dst] = Peer(dst)
        if peer.state == "up" and peer.out_sa is not None:
            self._esp(peer, gre, wire, tos)
            return
        if len(peer.queue) < QUEUE_MAX:
            peer.queue.append((gre, wire, tos))
        if peer.state in ("idle", "failed") and peer.failed_until <= self.host.now:
            self._initiate(peer)


    # -- ESP ---------------------------------------------------------------------------------

    def _esp(self, peer: Peer, gre: bytes, wire: Wire, tos: int) -> None:
        assert peer.out_sa is not None
        peer.seq += 1
        sa = peer.out_sa
        iv_len = sa.algorithm.iv_len
        esp = encode_esp(sa, peer.seq, gre, PROTO_GRE, iv=self.rng.randbytes(iv_len) if iv_len else None)
        rec = self.d.by_spi.get(sa.spi or 0)
        wire.meta["spi"] = sa.spi
        if rec is not None:
            (rec.bad if self.r.spec.esp_key_error else rec.wires).append(wire)
        if self.r.spec.esp_key_error:
            wire.meta["opaque"] = True  # the written (negotiated) keys cannot open it
        if peer.nat_t:
            body = udp(self.r.nbma, peer.addr, NATT_PORT, peer.port, esp)
            raw = P.ipv4(self.r.nbma, peer.addr, PROTO_UDP, body, ident=self.r.next_ip_id(), tos=tos)
        else:
            raw = P.ipv4(self.r.nbma, peer.addr, PROTO_ESP, esp, ident=self.r.next_ip_id(), tos=tos)
        wire.meta["len"] = len(raw) + 14
        self.r.emit(raw, wire)

    def receive(self, ip: P.Ip, wire: Wire) -> None:
        if ip.proto == PROTO_ESP:
            self._on_esp(ip.src, ip.payload, wire)
            return
        if len(ip.payload) < 8:
            return
        sport, dport = struct.unpack_from("!HH", ip.payload)
        body = ip.payload[8:]
        if dport == IKE_PORT:
            self._on_ike(ip.src, sport, dport, body, wire)
        elif dport == NATT_PORT or sport == NATT_PORT:
            if body == b"\xff":
                return
            if body[:4] == b"\0\0\0\0":
                self._on_ike(ip.src, sport, dport, body[4:], wire)
            else:
                self._on_esp(ip.src, body, wire)

    def _on_esp(self, src: str, buf: bytes, wire: Wire) -> None:
        if len(buf) < 8:
            return
        spi = int.from_bytes(buf[:4], "big")
        found = self.inbound.get(spi)
        if found is None:
            self.host.ledger.drop(self.host.now, f"{self.r.name}: ESP with unknown SPI 0x{spi:08x} from {src}", wire)
            return
        peer, rec = found
        d = decode_esp(buf, rec.sa)
        esp = d.record
        if esp is None or not esp.decrypted or esp.icv_ok is False:
            self.host.ledger.drop(self.host.now, f"{self.r.name}: ESP SPI 0x{spi:08x} from {src} fails its ICV", wire)
            return
        if esp.next_header == PROTO_GRE:
            self.r.on_gre(src, d.payload, wire)


    # -- IKE: sending ------------------------------------------------------------------------

    def _initiate(self, peer: Peer) -> None:
        other = self.host.directory.name_of(None, peer.addr)
        icookie = self.rng.randbytes(8)
        neg = Negotiation(self.d.version, icookie, self.name, self.psk, peer.addr)
        neg.rec = {"initiator": self.d.seen_addr(self.name), "responder": peer.addr, "version": self.d.version,
                   "state": "incomplete", "established": None, "retransmits": 0, "_wires": neg.wires}
        self.host.ledger.ike_started(neg.rec)
        self.d.negs[icookie] = neg
        peer.state = "negotiating"
        peer.neg = neg
        peer.port = IKE_PORT
        peer.local_port = IKE_PORT
        self.host.ledger.note(self.host.now, f"{self.r.name} has traffic for {other} ({peer.addr}) and no "
                             f"IPsec SA: it starts IKEv{self.d.version}")
        if self.d.version == 1:
            self._send_ike(neg, peer, 1, self._mm1(neg), "Main Mode 1/6: the initiator offers its ISAKMP "
                           "policy (AES, SHA-1, pre-shared key, DH group 2) and vendor IDs (NAT-T, DPD, Unity)")
        else:
            self._send_ike(neg, peer, 1, self._sa_init(neg, peer, initiator=True),
                           "IKE_SA_INIT request: SA proposal, KE, nonce, NAT detection notifies")

    def _send_ike(self, neg: Negotiation, peer: Peer, step: int, msg: bytes, what: str, *,
                  retransmit: bool = False) -> None:
        sport, dport = self._ports(peer)
        payload = (b"\0\0\0\0" + msg) if NATT_PORT in (sport, dport) else msg
        body = udp(self.r.nbma, peer.addr, sport, dport, payload)
        raw = P.ipv4(self.r.nbma, peer.addr, PROTO_UDP, body, ident=self.r.next_ip_id(), tos=0xC0)
        other = self.host.directory.name_of(None, peer.addr)
        text = (f"IKEv{neg.version} {what} ({self.r.name} -> {other}"
                f"{', UDP 4500: NAT detected' if dport == NATT_PORT or sport == NATT_PORT else ''})"
                f"{' - retransmission' if retransmit else ''}; {NOTE}")
        wire = Wire("ike", text, self.r.name, meta={"step": step, "natt": NATT_PORT in (sport, dport),
                                                    "rtx": retransmit, "from": self.r.name})
        neg.wires.append(wire)
        self.r.emit(raw, wire)
        if neg.initiator == self.name:
            neg.last_sent = (msg, peer.addr, sport, dport, what)
            if neg.timer:
                neg.timer.cancel()
            neg.timer = self.host.after(RETRANSMIT, self._retransmit, neg, peer, step)

    def _retransmit(self, neg: Negotiation, peer: Peer, step: int) -> None:
        if neg.i_step >= step + 1 or neg.state == "established" or not self.r.up:
            return
        if neg.retransmits >= MAX_RETRANSMITS:
            neg.state = "unanswered" if neg.i_step <= 1 else "failed"
            peer.state = "failed"
            peer.failed_until = self.host.now + 10.0
            peer.queue.clear()
            self.host.ledger.note(self.host.now, f"{self.r.name}: IKE with {peer.addr} gives up after "
                                 f"{neg.retransmits} retransmissions", neg.wires[-1:])
            return
        neg.retransmits += 1
        assert neg.last_sent is not None
        msg, _, _, _, what = neg.last_sent
        self._send_ike(neg, peer, step, msg, what, retransmit=True)


    # -- IKE: receiving ----------------------------------------------------------------------

    def _on_ike(self, src: str, sport: int, dport: int, msg: bytes, wire: Wire) -> None:
        if len(msg) < 28:
            return
        icookie = msg[:8]
        neg = self.d.negs.get(icookie)
        if neg is None:
            return
        if neg.initiator == self.name:
            peer = self.peers.get(neg.i_addr)
            if peer is None or peer.neg is not neg:
                return
            self._initiator_step(neg, peer, msg, sport, dport, src)
        else:
            peer = self.peers.get(src)
            if peer is None or peer.neg is not neg:
                if neg.r_step != 0:
                    return
                if (peer is not None and peer.neg is not None and peer.neg.initiator == self.name
                        and peer.neg.state != "established"
                        and ipaddress.IPv4Address(self.r.nbma) < ipaddress.IPv4Address(src)):
                    return  # both sides started at once: the lower address keeps its own exchange
                if peer is not None and peer.neg is not None and peer.neg.timer:
                    peer.neg.timer.cancel()
                peer = peer or Peer(src)
                self.peers[src] = peer
                peer.state = "negotiating"
                peer.neg = neg
            neg.responder = self.name
            peer.port, peer.local_port = sport, dport
            self._responder_step(neg, peer, msg, src, sport, dport)

    def _responder_step(self, neg: Negotiation, peer: Peer, msg: bytes, src: str, sport: int,
                        dport: int) -> None:
        n = neg.r_step
        if n == 0 and not self._acceptable(neg, msg):
            self._refuse(neg, peer)
            return
        if neg.version == 1:
            if n == 0:
                neg.rcookie = self.rng.randbytes(8)
                neg.r_step = 2
                self._send_ike(neg, peer, 2, self._mm2(neg), "Main Mode 2/6: the responder accepts the policy")
            elif n == 2:
                me_nat, peer_nat = self._check_natd(neg, msg, self.r.nbma, dport, src, sport)
                neg.r_natted, neg.i_natted = me_nat, peer_nat
                neg.nat = me_nat or peer_nat
                neg.r_step = 4
                self.host.after(0.008, self._send_ike, neg, peer, 4, self._mm34(neg, peer, dport, sport),
                                     "Main Mode 4/6: responder's DH public value, nonce and NAT-D hashes")
            elif n == 4:
                if neg.initiator_psk != self.psk:
                    # MM5 is encrypted with keys derived from the initiator's pre-shared key:
                    # this side cannot verify it, and says nothing (IOS stays in MM_KEY_EXCH)
                    neg.rec["_psk_wires"] = neg.rec.get("_psk_wires", []) + neg.wires[-1:]
                    self.host.ledger.note(self.host.now, f"{self.r.name} cannot verify Main Mode 5/6 "
                                         f"from {neg.initiator}: their pre-shared keys differ; it "
                                         "drops it and stays silent", neg.wires[-1:])
                    return
                if neg.nat:
                    peer.nat_t = True
                    peer.behind_nat = neg.r_natted
                neg.r_step = 6
                self._send_ike(neg, peer, 6, self._encrypted_v1(neg, 2, 5, 76),
                               "Main Mode 6/6 (encrypted): responder's identity and hash; phase 1 is up")
            elif n == 6:
                neg.msgid = struct.unpack_from("!I", msg, 20)[0]
                neg.r_step = 8
                self._send_ike(neg, peer, 8, self._encrypted_v1(neg, 32, 8, 160, neg.msgid),
                               "Quick Mode 2/3 (encrypted): responder's IPsec SA choice (transport mode, "
                               "ESP) and nonce")
            elif n == 8:
                neg.r_step = 10
                self._install(neg, peer, initiator=False)
        else:
            if n == 0:
                me_nat, peer_nat = self._check_natd(neg, msg, self.r.nbma, dport, src, sport)
                neg.rcookie = self.rng.randbytes(8)
                neg.r_natted, neg.i_natted = me_nat, peer_nat
                neg.nat = me_nat or peer_nat
                neg.r_step = 2
                self.host.after(0.010, self._send_ike, neg, peer, 2,
                                     self._sa_init(neg, peer, initiator=False),
                                     "IKE_SA_INIT response: chosen proposal, KE, nonce, NAT detection")
            elif n == 2:
                if neg.nat:
                    peer.nat_t = True
                    peer.behind_nat = neg.r_natted
                neg.r_step = 4
                if neg.initiator_psk != self.psk:
                    neg.rec["_auth_failed"] = True
                    self._send_ike(neg, peer, 4, self._ike_auth(neg, initiator=False, failed=True),
                                   "IKE_AUTH response (encrypted SK payload): AUTHENTICATION_FAILED - the "
                                   "initiator's AUTH does not verify with this side's pre-shared key")
                    return
                self._send_ike(neg, peer, 4, self._ike_auth(neg, initiator=False),
                               "IKE_AUTH response (encrypted SK payload): IDr, AUTH, the child SA "
                               "(ESP, transport mode), traffic selectors")
                self._install(neg, peer, initiator=False)

    def _initiator_step(self, neg: Negotiation, peer: Peer, msg: bytes, sport: int, dport: int,
                        src: str) -> None:
        n = neg.i_step
        refused = self._refusal(neg, msg)
        if refused:
            self._failed(neg, peer, f"{self.host.directory.name_of(None, peer.addr)} refuses the proposal ({refused})")
            return
        if neg.version == 2 and n == 3 and msg[18] == 35 and neg.rec.get("_auth_failed"):
            self._failed(neg, peer, f"{self.host.directory.name_of(None, peer.addr)} answers IKE_AUTH with "
                                    "AUTHENTICATION_FAILED")
            return
        if neg.version == 1:
            if n in (0, 1) and msg[8:16] != bytes(8) and neg.responder is not None:
                neg.rcookie = msg[8:16]
                neg.i_step = 3
                self._send_ike(neg, peer, 3, self._mm34(neg, peer, peer.local_port, peer.port),
                               "Main Mode 3/6: initiator's DH public value, nonce and NAT-D hashes")
            elif n == 3 and neg.i_step == 3 and msg[18] == 2 and self._has(msg, 20):
                me_nat, peer_nat = self._check_natd(neg, msg, self.r.nbma, dport, src, sport)
                neg.i_natted = me_nat or neg.i_natted
                neg.nat = neg.nat or me_nat or peer_nat
                if neg.nat:
                    peer.nat_t = True
                    peer.behind_nat = neg.i_natted
                    peer.local_port, peer.port = NATT_PORT, NATT_PORT
                neg.i_step = 5
                self._send_ike(neg, peer, 5, self._encrypted_v1(neg, 2, 5, 76),
                               "Main Mode 5/6 (encrypted): initiator's identity and hash")
            elif n == 5:
                neg.i_step = 7
                neg.msgid = self.rng.randrange(1, 0xFFFFFFFF)
                self._send_ike(neg, peer, 7, self._encrypted_v1(neg, 32, 8, 196, neg.msgid),
                               "Quick Mode 1/3 (encrypted): IPsec SA proposal (esp-aes esp-sha-hmac, "
                               "transport mode for GRE), nonce, proxy identities")
            elif n == 7:
                neg.i_step = 9
                self._send_ike(neg, peer, 9, self._encrypted_v1(neg, 32, 8, 28, neg.msgid),
                               "Quick Mode 3/3 (encrypted): the initiator's hash; both ESP SAs are in place")
                self._install(neg, peer, initiator=True)
        else:
            if n in (0, 1) and msg[19] & 0x20 and msg[18] == 34:
                neg.rcookie = msg[8:16]
                me_nat, peer_nat = self._check_natd(neg, msg, self.r.nbma, dport, src, sport)
                neg.i_natted = me_nat
                neg.nat = me_nat or peer_nat
                if neg.nat:
                    peer.nat_t = True
                    peer.behind_nat = me_nat
                    peer.local_port, peer.port = NATT_PORT, NATT_PORT
                neg.i_step = 3
                self._send_ike(neg, peer, 3, self._ike_auth(neg, initiator=True),
                               "IKE_AUTH request (encrypted SK payload): IDi, AUTH, child SA proposal, "
                               "traffic selectors")
            elif n == 3 and msg[18] == 35:
                neg.i_step = 5
                self._install(neg, peer, initiator=True)


    # -- IKE: refusals and failures ----------------------------------------------------------

    def _refuse(self, neg: Negotiation, peer: Peer) -> None:
        """NO_PROPOSAL_CHOSEN: IKEv1 in an Informational exchange (RFC 2408
        4.8, unencrypted: no keys yet), IKEv2 as the IKE_SA_INIT response."""
        neg.responder = self.name
        if neg.version == 1:
            note = K.NotifyPayload(14, 1, neg.icookie + bytes(8), b"", 1)
            hdr = make_ike_header(1, 5, neg.icookie, bytes(8), message_id=self.rng.randrange(1, 0xFFFFFFFF))
            what = "Informational: NO-PROPOSAL-CHOSEN - none of the offered ISAKMP policies matches this side's"
        else:
            note = K.NotifyPayload(14)
            hdr = make_ike_header(2, 34, neg.icookie, bytes(8), flag_bits=0x20)
            what = "IKE_SA_INIT response: N(NO_PROPOSAL_CHOSEN) - none of the offered proposals matches"
        neg.rec["_refused"] = neg.rec.get("_refused", []) + neg.wires[-1:]
        self._send_ike(neg, peer, 2, encode_ike_message(hdr, [note]), what)
        neg.rec["_refused"].append(neg.wires[-1])
        self.peers.pop(peer.addr, None)

    def _failed(self, neg: Negotiation, peer: Peer, why: str) -> None:
        if neg.timer:
            neg.timer.cancel()
        neg.state = "failed"
        peer.state = "failed"
        peer.failed_until = self.host.now + 10.0
        peer.queue.clear()
        peer.neg = None
        self.host.ledger.note(self.host.now, f"{self.r.name}: IKE with {peer.addr} fails: {why}; it tries "
                             "again on the next packet for this peer, no sooner than 10 s", neg.wires[-1:])


    # -- SAs ---------------------------------------------------------------------------------

    def _install(self, neg: Negotiation, peer: Peer, *, initiator: bool) -> None:
        """Both ESP SAs of the pair, the same on both sides (the domain keeps
        one record per direction); the initiator's install creates them."""
        if neg.timer:
            neg.timer.cancel()
        other = neg.responder if initiator else neg.initiator
        assert other is not None
        pair = neg.rec.setdefault("_pair", None)
        if pair is None:
            in_spi, out_spi = self.d.new_spi(), self.d.new_spi()
            # "out" is initiator -> responder
            i, r = neg.initiator, other if initiator else self.name
            label = neg.icookie.hex()
            sa_ir = self.d.make_sa(out_spi, label)
            sa_ri = self.d.make_sa(in_spi, label)
            rec_ir = SaRecord(sa_ir, i, r, in_spi)
            rec_ri = SaRecord(sa_ri, r, i, out_spi)
            self.d.records += [rec_ir, rec_ri]
            self.d.by_spi[out_spi] = rec_ir
            self.d.by_spi[in_spi] = rec_ri
            pair = neg.rec["_pair"] = (rec_ir, rec_ri)
        rec_ir, rec_ri = pair
        mine_out, mine_in = (rec_ir, rec_ri) if initiator else (rec_ri, rec_ir)
        sa = mine_out.sa
        if self.r.spec.esp_key_error:
            # The fault: this router encrypts with keys other than the ones IKE agreed.
            sa = SecurityAssociation(sa.spi, None, None, sa.encryption, bytes(b ^ 0x5A for b in sa.enc_key),
                                     sa.integrity, bytes(b ^ 0xA5 for b in sa.auth_key or b""),
                                     mode="transport")
        peer.out_sa = sa
        peer.seq = 0
        peer.state = "up"
        self.inbound[mine_in.sa.spi or 0] = (peer, mine_in)
        neg.state = "established"
        neg.done_wire = neg.wires[-1] if neg.wires else None
        other_name = self.host.directory.name_of(None, peer.addr)
        self.host.ledger.note(self.host.now, f"{self.r.name}: IPsec SAs with {other_name} are up (out SPI "
                             f"0x{mine_out.sa.spi:08x}, in SPI 0x{mine_in.sa.spi:08x}"
                             f"{', NAT-T UDP 4500' if peer.nat_t else ''})", neg.wires[-1:])
        if peer.nat_t and peer.behind_nat and self.r.spec.behind_nat:
            interval = self.d.nat_keepalive.get(self.r.spec.behind_nat, 20.0)
            peer.keepalive = self.host.after(interval, self._keepalive, peer, interval)
        queued, peer.queue = peer.queue, []
        for gre, wire, tos in queued:
            self._esp(peer, gre, wire, tos)

    def _keepalive(self, peer: Peer, interval: float) -> None:
        if not self.r.up or peer.state != "up":
            return
        body = udp(self.r.nbma, peer.addr, NATT_PORT, peer.port, b"\xff")
        raw = P.ipv4(self.r.nbma, peer.addr, PROTO_UDP, body, ident=self.r.next_ip_id())
        other = self.host.directory.name_of(None, peer.addr)
        w = Wire("nat-keepalive", f"NAT-keepalive {self.r.name} -> {other} (one byte 0xFF on UDP 4500, RFC "
                 f"3948): keeps the NAT's mapping for the IPsec flow open, every {interval:g} s", self.r.name)
        self.r.emit(raw, w)
        peer.keepalive = self.host.after(interval, self._keepalive, peer, interval)
