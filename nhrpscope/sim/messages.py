"""The NHRP messages the simulated routers send, as each flavor puts them on the wire.

What differs between the flavors, and where it comes from:

==========================  ==========================  ===============================
                            cisco (IOS)                 frr (nhrpd)
==========================  ==========================  ===============================
hop count                   255 (captures)              64; registration and traffic
                                                        indication 1 (nhrp_packet.c,
                                                        nhrp_nhs.c, nhrp_peer.c)
registration CIE prefix     32 on IOS 15 (NHRP_         255 with the unique flag
                            registration.pcap), 255 on  (nhrp_nhs.c, RFC 2332 5.2.1)
                            12.x (ios_nhrp.pcap):
                            per-router ``cie_prefix_len``
CIE MTU                     17912 IOS 15 with a key,    the NBMA MTU if < 1500, else 0
                            1514 on 12.x                (nhrp_interface.c)
cisco-nat flag + NAT ext.   every registration on IOS   every registration and
                            15 (per-router              resolution request
                            ``nat_extension``)          (nhrp_nhs.c, nhrp_shortcut.c)
extension order             responder, forward,         forward, reverse, responder,
                            reverse, auth, NAT, end     NAT, auth, end
                            (NHRP_registration.pcap)    (nhrp_packet.c)
registration retry          new request id each time    same request id while retrying
                                                        (reqid.c keeps it until a reply
                                                        or a 16 s timeout frees it)
==========================  ==========================  ===============================
"""

from __future__ import annotations

from dataclasses import dataclass

from nhrpscope.dissectors import nhrp as N


@dataclass(frozen=True)
class Identity:
    """What a router says about itself in NHRP."""

    flavor: str
    nbma: str
    tunnel: str
    holding_time: int
    mtu: int
    cie_prefix_len: int
    nat_extension: bool
    password: str | None


def hop_count(flavor: str, kind: str) -> int:
    if flavor == "frr":
        return 1 if kind in ("registration-request", "traffic-indication") else 64
    return 255


def _auth(me: Identity) -> list[N.Extension]:
    return [N.make_auth_extension(spi=1, password=me.password)] if me.password else []


def _request_extensions(me: Identity, nat: list[N.Extension]) -> list[N.Extension]:
    responder = N.make_cie_extension(N.EXT_RESPONDER_ADDRESS)
    fwd = N.make_cie_extension(N.EXT_FORWARD_TRANSIT)
    rev = N.make_cie_extension(N.EXT_REVERSE_TRANSIT)
    if me.flavor == "frr":
        return [fwd, rev, responder, *nat, *_auth(me), N.make_end_extension()]
    return [responder, fwd, rev, *_auth(me), *nat, N.make_end_extension()]


def registration_request(me: Identity, nhs_tunnel: str, nhs_nbma: str, request_id: int,
                         *, holding_time: int | None = None) -> N.NhrpPacket:
    ht = me.holding_time if holding_time is None else holding_time
    nat: list[N.Extension] = []
    flags = ["unique"]
    if me.nat_extension:
        flags.append("cisco-nat")
        nat = [N.make_cie_extension(N.EXT_NAT_OR_CAPABILITIES, [N.make_cie(
            prefix_len=32, mtu=me.mtu, holding_time=0,
            client_nbma=nhs_nbma, client_proto=nhs_tunnel)])]
    cie = N.make_cie(prefix_len=me.cie_prefix_len, mtu=me.mtu, holding_time=ht)
    return N.make_packet("registration-request", hop_count=hop_count(me.flavor, "registration-request"),
                         request_id=request_id, flags=flags, src_nbma=me.nbma, src_proto=me.tunnel,
                         dst_proto=nhs_tunnel, cies=[cie], extensions=_request_extensions(me, nat))


def _responder(me: Identity) -> N.CieListExtension:
    return N.make_cie_extension(N.EXT_RESPONDER_ADDRESS, [N.make_cie(
        prefix_len=32 if me.flavor == "cisco" else 0, mtu=me.mtu, holding_time=me.holding_time,
        client_nbma=me.nbma, client_proto=me.tunnel)])


def _reply_extensions(me: Identity, req: N.NhrpPacket, nat_cies: list[N.Cie]) -> list[N.Extension]:
    """The request's extensions as a reply carries them: responder address
    filled in, transit records copied, our own authentication, NAT CIEs added."""
    out: list[N.Extension] = []
    have_nat = False
    for ext in req.extensions:
        if ext.type == N.EXT_END:
            continue
        if ext.type == N.EXT_RESPONDER_ADDRESS:
            out.append(_responder(me))
        elif ext.type == N.EXT_AUTHENTICATION:
            out.extend(_auth(me))
        elif ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension):
            have_nat = True
            out.append(N.make_cie_extension(N.EXT_NAT_OR_CAPABILITIES, [*ext.cies, *nat_cies]))
        else:
            out.append(ext)
    if nat_cies and not have_nat:
        out.append(N.make_cie_extension(N.EXT_NAT_OR_CAPABILITIES, nat_cies))
    out.append(N.make_end_extension())
    return out


def registration_reply(me: Identity, req: N.NhrpPacket, codes: list[int],
                       natted_nbma: str | None) -> N.NhrpPacket:
    """The NHS's answer: the request's CIEs with their codes, the NAT
    extension with the address the request really came from when it differs."""
    cies = [N.make_cie(code=code, prefix_len=c.prefix_len, mtu=c.mtu, holding_time=c.holding_time,
                       preference=c.preference, client_nbma=c.client_nbma, client_proto=c.client_proto)
            for c, code in zip(req.cies, codes, strict=True)]
    nat_cies = []
    if natted_nbma:
        nat_cies = [N.make_cie(prefix_len=32, mtu=me.mtu, client_nbma=natted_nbma, client_proto=req.src_proto)]
    flags = [f for f in req.flags if f in ("unique", "cisco-nat")]
    return N.make_packet("registration-reply", hop_count=hop_count(me.flavor, "registration-reply"),
                         request_id=req.request_id or 0, flags=flags, src_nbma=req.src_nbma,
                         src_proto=req.src_proto, dst_proto=me.tunnel, cies=cies,
                         extensions=_reply_extensions(me, req, nat_cies))


RES_REQUEST_FLAGS = ("is-router", "authoritative", "source-stable", "cisco-nat")
RES_REPLY_FLAGS = ("is-router", "authoritative", "destination-stable", "unique", "source-stable", "cisco-nat")


def resolution_request(me: Identity, target: str, request_id: int,
                       nat_nbma: str | None) -> N.NhrpPacket:
    nat: list[N.Extension] = []
    flags = list(RES_REQUEST_FLAGS)
    if me.nat_extension:
        cies = []
        if nat_nbma:
            cies = [N.make_cie(prefix_len=32, mtu=me.mtu, client_nbma=nat_nbma, client_proto=me.tunnel)]
        nat = [N.make_cie_extension(N.EXT_NAT_OR_CAPABILITIES, cies)]
    else:
        flags.remove("cisco-nat")
    plen = 255 if me.flavor == "frr" else me.cie_prefix_len
    cie = N.make_cie(prefix_len=plen, mtu=me.mtu, holding_time=me.holding_time)
    return N.make_packet("resolution-request", hop_count=hop_count(me.flavor, "resolution-request"),
                         request_id=request_id, flags=flags, src_nbma=me.nbma, src_proto=me.tunnel,
                         dst_proto=target, cies=[cie], extensions=_request_extensions(me, nat))


def resolution_reply(me: Identity, req: N.NhrpPacket, *, code: int = 0, prefix_len: int = 32,
                     client_proto: str | None = None, nat_nbma: str | None = None,
                     negative_holding: int | None = None) -> N.NhrpPacket:
    """A positive reply (the responder's binding) or, with ``code`` 12, a NAK."""
    if code == 0:
        cie = N.make_cie(prefix_len=prefix_len, mtu=me.mtu, holding_time=me.holding_time,
                         client_nbma=me.nbma, client_proto=client_proto or me.tunnel)
    else:
        cie = N.make_cie(code=code, prefix_len=prefix_len, mtu=me.mtu,
                         holding_time=negative_holding if negative_holding is not None else me.holding_time)
    nat_cies = []
    if nat_nbma:
        nat_cies = [N.make_cie(prefix_len=32, mtu=me.mtu, client_nbma=nat_nbma, client_proto=me.tunnel)]
    flags = [f for f in RES_REPLY_FLAGS if f in req.flags or f in ("destination-stable", "authoritative", "unique")]
    if code != 0:
        flags = [f for f in flags if f != "unique"]
    return N.make_packet("resolution-reply", hop_count=hop_count(me.flavor, "resolution-reply"),
                         request_id=req.request_id or 0, flags=flags, src_nbma=req.src_nbma,
                         src_proto=req.src_proto, dst_proto=req.dst_proto, cies=[cie],
                         extensions=_reply_extensions(me, req, nat_cies))


def forwarded(me: Identity, pkt: N.NhrpPacket, *, requester_nat: str | None = None) -> N.NhrpPacket:
    """A request or reply passed on by an NHS: hop count down by one, the NHS
    appended to the forward (requests) or reverse (replies) transit record, a
    NAT CIE for the requester when it is behind NAT and none is there yet."""
    is_reply = pkt.type_code in (N.RESOLUTION_REPLY, N.REGISTRATION_REPLY, N.PURGE_REPLY)
    record = N.EXT_REVERSE_TRANSIT if is_reply else N.EXT_FORWARD_TRANSIT
    me_cie = N.make_cie(prefix_len=32 if me.flavor == "cisco" else 0, mtu=me.mtu,
                        holding_time=me.holding_time, client_nbma=me.nbma, client_proto=me.tunnel)
    exts: list[N.Extension] = []
    for ext in pkt.extensions:
        if ext.type == record and isinstance(ext, N.CieListExtension):
            exts.append(N.make_cie_extension(record, [*ext.cies, me_cie]))
        elif (ext.type == N.EXT_NAT_OR_CAPABILITIES and isinstance(ext, N.CieListExtension)
              and not ext.cies and requester_nat and not is_reply):
            exts.append(N.make_cie_extension(N.EXT_NAT_OR_CAPABILITIES, [N.make_cie(
                prefix_len=32, mtu=me.mtu, client_nbma=requester_nat, client_proto=pkt.src_proto)]))
        else:
            exts.append(ext)
    return N.make_packet(pkt.type_code, hop_count=pkt.hop_count - 1, request_id=pkt.request_id or 0,
                         flags=pkt.flags_raw, src_nbma=pkt.src_nbma, src_proto=pkt.src_proto,
                         dst_proto=pkt.dst_proto, cies=pkt.cies, extensions=exts)


def error_indication(me: Identity, bad: bytes, bad_pkt: N.NhrpPacket, code: int) -> N.NhrpPacket:
    """RFC 2332 5.2.7: sent back to the source of the packet in error, which it
    carries; an error indication carries no extensions (5.2.7, as Wireshark checks)."""
    return N.make_packet("error-indication", hop_count=hop_count(me.flavor, "error-indication"),
                         src_nbma=me.nbma, src_proto=me.tunnel, dst_proto=bad_pkt.src_proto,
                         error_code=code, error_offset=0, offending_raw=bad)


def traffic_indication(me: Identity, src_of_packet: str, packet: bytes) -> N.NhrpPacket:
    """The hub's redirect (phase 3): the first bytes of the packet it relayed."""
    quoted = packet[: min(len(packet), 64)]
    return N.make_packet("traffic-indication", hop_count=hop_count(me.flavor, "traffic-indication"),
                         src_nbma=me.nbma, src_proto=me.tunnel, dst_proto=src_of_packet,
                         traffic_code=0, offending_raw=quoted,
                         extensions=[*_auth(me), N.make_end_extension()] if me.password else [])


def purge_request(me: Identity, nhs_tunnel: str, request_id: int) -> N.NhrpPacket:
    cie = N.make_cie(prefix_len=32, mtu=me.mtu, holding_time=0, client_nbma=me.nbma,
                     client_proto=me.tunnel)
    return N.make_packet("purge-request", hop_count=hop_count(me.flavor, "purge-request"),
                         request_id=request_id, flags=[], src_nbma=me.nbma, src_proto=me.tunnel,
                         dst_proto=nhs_tunnel, cies=[cie],
                         extensions=[*_auth(me), N.make_end_extension()] if me.password else [])


def purge_reply(me: Identity, req: N.NhrpPacket) -> N.NhrpPacket:
    return N.make_packet("purge-reply", hop_count=hop_count(me.flavor, "purge-reply"),
                         request_id=req.request_id or 0, flags=req.flags_raw, src_nbma=req.src_nbma,
                         src_proto=req.src_proto, dst_proto=req.dst_proto, cies=req.cies,
                         extensions=[*_auth(me), N.make_end_extension()] if me.password else [])
