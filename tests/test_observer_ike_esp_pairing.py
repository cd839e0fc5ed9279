"""The ESP SA pairing (observers.ipsec_sas) fed directly: SAs paired within
the IKE exchange that agreed them, rekeys, one-way SAs and the facts stated."""

from __future__ import annotations

from nhrpscope.replay.facts.ipsec import EspOneWay, EspRekey, EspSasWithoutIke
from nhrpscope.replay.model import SecurityAssociation
from nhrpscope.replay.observers.ike_records import IkeNegotiation
from nhrpscope.replay.observers.ipsec_sas import SaPairing

A, B = "10.0.0.1", "10.0.0.2"


def sa(spi: int, src: str, dst: str, first: float, last: float, packets: int = 5,
       frames: tuple[int, int] = (1, 2)) -> SecurityAssociation:
    return SecurityAssociation(f"0x{spi:08x}", src, dst, packets, 100 * packets, first, last,
                               frames=list(frames))


def ike_with_children(*times: float) -> dict[frozenset[str], list[IkeNegotiation]]:
    neg = IkeNegotiation(A, B, 1, first=0.0, mode="main-mode")
    neg._child.extend(times)
    return {frozenset((A, B)): [neg]}


def test_paired_within_each_ike_exchange_and_rekeys():
    # two quick modes: at 1 s and at 50 s; the second pair comes up near the first's end
    sas = [sa(1, A, B, 1.1, 55.0), sa(2, B, A, 1.2, 55.0), sa(3, A, B, 50.1, 90.0),
           sa(4, B, A, 50.05, 90.0)]
    pairing = SaPairing(ike_with_children(1.0, 50.0))
    pairing.pair_sas(sas)
    assert [s.paired_spi for s in sas] == ["0x00000002", "0x00000001", "0x00000004", "0x00000003"]
    assert all(s.ike for s in sas)
    assert (sas[2].rekey_of, sas[2].overlap) == ("0x00000001", 4.9)
    facts = list(pairing.facts(sas))
    assert facts[0] == EspSasWithoutIke(())
    assert [f.spi for f in facts if isinstance(f, EspRekey)] == ["0x00000003", "0x00000004"]
    assert not [f for f in facts if isinstance(f, EspOneWay)]


def test_one_way_with_and_without_ike():
    for by_pair, known in ((ike_with_children(1.0), True), ({}, False)):
        sas = [sa(1, A, B, 2.0, 9.0, packets=4, frames=(10, 15))]
        pairing = SaPairing(by_pair)
        pairing.pair_sas(sas)
        facts = list(pairing.facts(sas))
        assert facts[-1] == EspOneWay("0x00000001", A, B, 4, known, 2.0, (10, 15), 9.0)
        assert sas[0].one_way and sas[0].ike is known
        assert len(facts[0].sas) == (0 if known else 1)


def test_too_few_packets_or_traffic_back_is_not_one_way():
    sas = [sa(1, A, B, 2.0, 9.0, packets=2)]
    assert not [f for f in SaPairing({}).facts(sas) if isinstance(f, EspOneWay)]
    # SA 2 is left unpaired (1 pairs with 3, the nearer in time), yet 1 answers it meanwhile
    sas = [sa(1, A, B, 2.0, 9.0), sa(2, B, A, 8.0, 20.0), sa(3, B, A, 2.5, 3.0)]
    pairing = SaPairing({})
    pairing.pair_sas(sas)
    assert sas[1].paired_spi is None and sas[1].rekey_of == "0x00000003"
    assert not [f for f in pairing.facts(sas) if isinstance(f, EspOneWay)]
