"""Small DMVPN captures built with the encoders, for the replay tests.

``Cap`` collects raw-IP frames; ``run()`` replays them through the engine,
``write()`` makes a pcap for the CLI tests. Addresses follow the classic lab:
hub 172.16.15.2 / 192.168.0.1, spokes 172.16.25.2 / .2, 172.16.35.2 / .3,
172.16.45.2 / .4.
"""

from __future__ import annotations

import struct
from pathlib import Path

from nhrpscope.dissectors.gre import PT_IPV4, PT_NHRP, encode_gre
from nhrpscope.dissectors.ip import encode_ipv4
from nhrpscope.dissectors.nhrp import (
    EXT_END,
    EXT_FORWARD_TRANSIT,
    EXT_NAT_OR_CAPABILITIES,
    encode_nhrp,
    make_cie,
    make_cie_extension,
    make_end_extension,
    make_packet,
)
from nhrpscope.dissectors.transport import encode_icmp_echo

from nhrpscope.capture import LINKTYPE_RAW, PcapWriter
from nhrpscope.replay.engine import Engine
from nhrpscope.replay.source import Item

T0 = 1_700_000_000.0
HUB, HUB_T = "172.16.15.2", "192.168.0.1"
R2, R2_T = "172.16.25.2", "192.168.0.2"
R3, R3_T = "172.16.35.2", "192.168.0.3"
R4, R4_T = "172.16.45.2", "192.168.0.4"


class Cap:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self._ident = 0

    def add(self, t: float, data: bytes) -> int:
        n = len(self.items) + 1
        self.items.append(Item(n, T0 + t, LINKTYPE_RAW, data, len(data)))
        return n

    def ip(self, t: float, src: str, dst: str, proto: int, payload: bytes, **kw) -> int:
        self._ident += 1
        kw.setdefault("ident", self._ident)
        return self.add(t, encode_ipv4(src, dst, proto, payload, **kw))

    def nhrp(self, t: float, src: str, dst: str, typ: str, *, key: int | None = None,
             **kw) -> int:
        exts = list(kw.get("extensions") or ())
        if exts and exts[-1].type != EXT_END:
            # RFC 2332 5.3: extensions end with the End Of Extensions; a packet
            # without one fails its length checks and its receiver drops it
            kw["extensions"] = [*exts, make_end_extension()]
        return self.ip(t, src, dst, 47, encode_gre(PT_NHRP, encode_nhrp(make_packet(typ, **kw)),
                                                   key=key))

    def data(self, t: float, src: str, dst: str, inner_src: str, inner_dst: str, *,
             key: int | None = None, seq: int = 1) -> int:
        inner = encode_ipv4(inner_src, inner_dst, 1, encode_icmp_echo(7, seq, b"x" * 32),
                            ident=seq)
        return self.ip(t, src, dst, 47, encode_gre(PT_IPV4, inner, key=key))

    # -- NHRP conversations -------------------------------------------------

    def reg_request(self, t: float, spoke: str, spoke_t: str, rid: int, *, hub: str = HUB,
                    hub_t: str = HUB_T, ht: int = 300, outer: str | None = None,
                    key: int | None = None, exts=()) -> int:
        return self.nhrp(t, outer or spoke, hub, "registration-request", key=key, request_id=rid,
                         flags=("unique",), src_nbma=spoke, src_proto=spoke_t, dst_proto=hub_t,
                         cies=[make_cie(prefix_len=32, mtu=1514, holding_time=ht)],
                         extensions=exts)

    def reg_reply(self, t: float, spoke: str, spoke_t: str, rid: int, *, hub: str = HUB,
                  hub_t: str = HUB_T, ht: int = 300, code: int = 0, to: str | None = None,
                  key: int | None = None, exts=()) -> int:
        return self.nhrp(t, hub, to or spoke, "registration-reply", key=key, request_id=rid,
                         flags=("unique",), src_nbma=spoke, src_proto=spoke_t, dst_proto=hub_t,
                         cies=[make_cie(code=code, prefix_len=32, mtu=1514, holding_time=ht)],
                         extensions=exts)

    def register(self, t: float, spoke: str, spoke_t: str, rid: int, *, code: int = 0,
                 **kw) -> tuple[int, int]:
        return (self.reg_request(t, spoke, spoke_t, rid, **kw),
                self.reg_reply(t + 0.01, spoke, spoke_t, rid, code=code, **kw))

    def res_request(self, t: float, src: str, dst: str, req: str, req_t: str, target: str,
                    rid: int, *, hop: int = 255, via: tuple[str, str] | None = None) -> int:
        exts = [make_cie_extension(EXT_FORWARD_TRANSIT,
                                   [make_cie(client_nbma=via[0], client_proto=via[1])])] if via else []
        return self.nhrp(t, src, dst, "resolution-request", request_id=rid, hop_count=hop,
                         src_nbma=req, src_proto=req_t, dst_proto=target,
                         cies=[make_cie(holding_time=300, mtu=1514)], extensions=exts)

    def res_reply(self, t: float, src: str, dst: str, req: str, req_t: str, target: str, rid: int,
                  *, nbma: str | None, proto: str | None, code: int = 0, plen: int = 32) -> int:
        return self.nhrp(t, src, dst, "resolution-reply", request_id=rid, src_nbma=req,
                         src_proto=req_t, dst_proto=target,
                         cies=[make_cie(code=code, prefix_len=plen, holding_time=300, mtu=1514,
                                        client_nbma=nbma, client_proto=proto)])

    def resolve(self, t: float, a: str, a_t: str, b: str, b_t: str, rid: int) -> int:
        """a asks the hub for b's tunnel address; the hub forwards; b answers a directly."""
        self.res_request(t, a, HUB, a, a_t, b_t, rid)
        self.res_request(t + 0.01, HUB, b, a, a_t, b_t, rid, hop=254, via=(HUB, HUB_T))
        return self.res_reply(t + 0.02, b, a, a, a_t, b_t, rid, nbma=b, proto=b_t)

    def lab(self) -> None:
        """The three spokes register with the hub."""
        self.register(1.0, R2, R2_T, 1)
        self.register(1.5, R3, R3_T, 1)
        self.register(2.0, R4, R4_T, 1)

    # -- replay ---------------------------------------------------------------

    def run(self, end: float | None = None, *, sa_lookup=None, on_event=None):  # noqa: ANN001
        eng = Engine(sa_lookup, on_event=on_event)
        for it in sorted(self.items, key=lambda i: i.time):
            eng.feed(it)
        eng.finish(None if end is None else T0 + end)
        return eng, eng.analysis(["test"])

    def write(self, path: Path) -> Path:
        with open(path, "wb") as fh:
            w = PcapWriter(fh, LINKTYPE_RAW)
            for it in self.items:
                w.write(it.time, it.data)
        return path


def codes(analysis) -> list[str]:  # noqa: ANN001
    return sorted(f.code for f in analysis.findings)


def nat_ext(nbma: str, proto: str):  # noqa: ANN201
    return make_cie_extension(EXT_NAT_OR_CAPABILITIES,
                              [make_cie(prefix_len=32, mtu=1514, client_nbma=nbma, client_proto=proto)])


def esp(spi: int, seq: int, body: bytes = b"\0" * 48) -> bytes:
    return struct.pack("!II", spi, seq) + body


def test_builders_make_decodable_nhrp():
    c = Cap()
    c.register(0.0, R2, R2_T, 1)
    eng, a = c.run()
    assert [r.state for r in a.registrations] == ["registered"]
    assert a.findings == []
