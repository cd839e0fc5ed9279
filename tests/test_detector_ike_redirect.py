"""ike-redirect: the fact worded, and the capture that shows it (RFC 5685)."""

from __future__ import annotations

import ipaddress

from nhrpscope.dissectors import ike_payloads as K
from test_ipsec_state import I1, I2, R, ike
from test_replay_build import Cap

from nhrpscope.replay.detectors import ike_redirect as D
from nhrpscope.replay.detectors.base import Context
from nhrpscope.replay.facts.ipsec import IkeRedirected
from nhrpscope.replay.findings import FindingSet
from nhrpscope.replay.observers.ike import ike_redirect_target

CLIENT, GW1, GW2 = "10.5.2.60", "10.5.2.52", "10.5.2.53"


def redirect_data(kind: int, ident: bytes) -> bytes:
    """RFC 5685 3.5: GW Ident Type, GW Ident Len, New Responder GW Identity, Nonce Data."""
    return bytes((kind, len(ident))) + ident + bytes(32)


def test_worded_from_the_fact():
    fs = FindingSet()
    D.on(Context(fs, str), IkeRedirected(CLIENT, GW1, GW2, 1.0, (1, 2)))
    [f] = fs.sorted()
    assert (f.code, f.severity, f.frames, f.time, f.routers) == (
        "ike-redirect", "info", [1, 2], 1.0, [CLIENT, GW1])
    assert f.message == (
        "10.5.2.52 answered 10.5.2.60's IKE_SA_INIT with REDIRECT (RFC 5685) to 10.5.2.53: no IKE "
        "SA with 10.5.2.52; look for the negotiation with 10.5.2.53.")


def test_gateway_identity_types():
    v6 = ipaddress.IPv6Address("2001:db8::1")
    assert ike_redirect_target(redirect_data(1, ipaddress.IPv4Address(GW2).packed)) == GW2
    assert ike_redirect_target(redirect_data(2, v6.packed)) == str(v6)
    assert ike_redirect_target(redirect_data(3, b"vpn2.example.net")) == "vpn2.example.net"
    assert ike_redirect_target(b"\x01\x09") == "?"  # cut short


def test_redirect_then_a_refusal_at_the_next_gateway():
    c = Cap()
    ike(c, 0.0, CLIENT, GW1, 2, 34, I1, bytes(8), [K.NoncePayload(bytes(32))], flags=0x08)
    ike(c, 0.01, GW1, CLIENT, 2, 34, I1, bytes(8),
        [K.NotifyPayload(16407, data=redirect_data(1, ipaddress.IPv4Address(GW2).packed))],
        flags=0x20)
    ike(c, 0.02, CLIENT, GW2, 2, 34, I2, bytes(8), [K.NoncePayload(bytes(32))], flags=0x08)
    ike(c, 0.03, GW2, CLIENT, 2, 34, I2, R, [K.NotifyPayload(14)], flags=0x20)
    _, a = c.run()
    first, second = a.ike
    assert (first.state, first.redirect, first.failure) == (
        "failed", GW2, "redirected to 10.5.2.53 (REDIRECT, RFC 5685)")
    assert (second.state, second.failure) == ("failed", "NO_PROPOSAL_CHOSEN")
    assert sorted((f.code, f.severity, tuple(f.frames)) for f in a.findings) == [
        ("ike-no-proposal-chosen", "error", (3, 4)), ("ike-redirect", "info", (1, 2))]
