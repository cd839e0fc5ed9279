"""NAT detection from the wire, without keys: each side hashes the addresses
and ports it sends from and to (IKEv1 NAT-D, RFC 3947 3; IKEv2
NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP, RFC 7296 2.23).
Recomputed over what the tap saw, a mismatching hash says which side is
translated.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from nhrpscope.dissectors import ike_payloads as K
from nhrpscope.replay.observers.ike_records import IkeMessage, IkeNegotiation

# IKEv1 Hash Algorithm attribute values (RFC 2409 appendix A, RFC 4868) -> hashlib
V1_HASHES = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}
# IKEv2 notify types (RFC 7296 3.10.1)
NAT_DETECTION_SOURCE_IP = 16388
NAT_DETECTION_DESTINATION_IP = 16389


def natd_hash(alg: str, ispi: bytes, rspi: bytes, addr: str, port: int) -> bytes:
    """HASH(CKY-I | CKY-R | IP | Port), RFC 3947 3 (IKEv2: SHA-1, RFC 7296 2.23)."""
    import hashlib  # here, not at import: it loads a second OpenSSL (esp_algorithms)

    try:
        packed = ipaddress.ip_address(addr).packed
    except ValueError:
        return b""
    return hashlib.new(alg, ispi + rspi + packed + struct.pack("!H", port)).digest()


def check_v1(neg: IkeNegotiation, msg: IkeMessage, h: Any, payloads: tuple) -> None:
    """IKEv1: the first NAT-D payload hashes the destination, the others the
    sender's addresses (RFC 3947 3)."""
    hashes = [p.hash for p in payloads if isinstance(p, K.NatDPayload)]
    if len(hashes) < 2 or neg.responder_spi is None:
        return
    ispi, rspi = bytes.fromhex(h.initiator_spi), bytes.fromhex(h.responder_spi)
    remote = natd_hash(neg._hash, ispi, rspi, msg.dst, msg.dport)
    local = natd_hash(neg._hash, ispi, rspi, msg.src, msg.sport)
    record(neg, msg, remote_ok=hashes[0] == remote, local_ok=local in hashes[1:])


def check_v2(neg: IkeNegotiation, msg: IkeMessage, h: Any, notes: list[Any]) -> None:
    """IKEv2 IKE_SA_INIT: NAT_DETECTION_SOURCE_IP (maybe several) and
    NAT_DETECTION_DESTINATION_IP, always SHA-1 (RFC 7296 2.23)."""
    src_h = [n.data for n in notes if n.notify_type == NAT_DETECTION_SOURCE_IP]
    dst_h = [n.data for n in notes if n.notify_type == NAT_DETECTION_DESTINATION_IP]
    if not (src_h and dst_h):
        return
    ispi = bytes.fromhex(h.initiator_spi)
    rspi = bytes.fromhex(h.responder_spi)
    local = natd_hash("sha1", ispi, rspi, msg.src, msg.sport)
    remote = natd_hash("sha1", ispi, rspi, msg.dst, msg.dport)
    record(neg, msg, remote_ok=dst_h[0] == remote, local_ok=local in src_h)


def record(neg: IkeNegotiation, msg: IkeMessage, *, remote_ok: bool, local_ok: bool) -> None:
    """Note what one message's NAT-D showed; the first translation found is kept."""
    neg._natd_frames.append(msg.frame)
    found = []
    if not local_ok:
        found.append(f"{msg.src} (the sender of frame {msg.frame}) is translated: its NAT-D "
                     f"hash is not of {msg.src}:{msg.sport} as seen")
    if not remote_ok:
        found.append(f"{msg.dst} is reached through a translation: frame {msg.frame}'s NAT-D "
                     f"hash for it is not of {msg.dst}:{msg.dport}")
    if found:
        neg.nat = True
        neg.nat_detail = "; ".join(found) if neg.nat_detail is None else neg.nat_detail
    elif neg.nat is None:
        neg.nat = False
