"""The data-plane detectors (fragments, ESP), fed facts directly."""

from __future__ import annotations

from test_detector_capture_end import end
from test_detector_nhrp import HUB, R2, judge

from nhrpscope.replay.detectors import esp_decryption_failed as esp_decryption_failed_
from nhrpscope.replay.detectors import esp_icv_failed as esp_icv_failed_
from nhrpscope.replay.detectors import esp_no_key as esp_no_key_
from nhrpscope.replay.detectors import esp_replay as esp_replay_
from nhrpscope.replay.detectors import mtu_fragmentation as mtu_fragmentation_
from nhrpscope.replay.facts.tunnel import (
    EspDecryptionFailed,
    EspIcvFailed,
    EspNoKey,
    EspReplay,
    FragmentationNeeded,
    Fragmented,
)
from nhrpscope.replay.findings import MAX_FRAMES
from nhrpscope.replay.model import SecurityAssociation

SA = ("0x00001234", R2, HUB, R2, HUB)


def test_mtu_fragmentation_from_fragments_and_from_icmp():
    frag, icmp = judge(mtu_fragmentation_,
                       Fragmented(50, R2, HUB, R2, HUB, 1.0, 3),
                       Fragmented(50, R2, HUB, R2, HUB, 1.5, 4),
                       FragmentationNeeded("10.9.9.9", R2, 1400, R2, HUB, (R2, HUB), 2.0, 8))
    assert frag.message.startswith("ESP packets from 172.16.25.2 (192.168.0.2) to "
                                   "172.16.15.2 (192.168.0.1) are IP-fragmented")
    assert frag.frames == [3, 4]
    assert icmp.message.startswith("ICMP fragmentation-needed from 10.9.9.9 to 172.16.25.2 "
                                   "(next-hop MTU 1400) about 172.16.25.2 -> 172.16.15.2: ")


def test_esp_no_key_is_one_info_finding_per_capture():
    other = ("0x00005678", HUB, R2, HUB, R2)
    [f] = judge(esp_no_key_, EspNoKey(*SA, 1.0, 2), EspNoKey(*SA, 1.1, 3), EspNoKey(*other, 1.2, 4))
    assert (f.severity, f.frames) == ("info", [2, 3, 4])
    assert f.message.startswith("ESP could not be decrypted (no key): give the keys with -k")
    assert "SPI@DST ALGO:KEY" in esp_no_key_.RULE.summary


def test_esp_no_key_counts_sas_and_packets_at_the_end():
    sas = [SecurityAssociation(f"0x{i:08x}", f"10.0.{i}.1", HUB, first=1.0, frames=[10 + i, 900],
                               no_key=5) for i in range(200)]
    sas.append(SecurityAssociation("0x0000beef", R2, HUB, frames=[1, 2], decrypted=2))
    facts = [EspNoKey(sa.spi, sa.src, sa.dst, sa.src, sa.dst, 1.0, sa.frames[0]) for sa in sas[:200]]
    [f] = judge(esp_no_key_, *facts, end(sas=sas))
    assert f.message.startswith("1000 ESP packets on 200 SAs could not be decrypted (no key)")
    assert f.frames == list(range(10, 10 + MAX_FRAMES)) and f.frames_total == 1000
    assert HUB in f.routers and "10.0.199.1" in f.routers and R2 not in f.routers


def test_esp_no_key_names_a_single_sa():
    sa = SecurityAssociation("0x00001234", R2, HUB, first=1.0, frames=[2, 90], no_key=77)
    [f] = judge(esp_no_key_, EspNoKey(*SA, 1.0, 2), end(sas=[sa]))
    assert f.message.startswith("77 ESP packets on SA 0x00001234 from 172.16.25.2 to "
                                "172.16.15.2 could not be decrypted (no key)")
    assert (f.frames, f.frames_total) == ([2], 77)


def test_esp_no_key_silent_without_undecrypted_packets():
    assert judge(esp_no_key_, end(sas=[SecurityAssociation("0x1", R2, HUB, decrypted=3)])) == []


def test_esp_decryption_failed():
    [f] = judge(esp_decryption_failed_, EspDecryptionFailed(*SA, 1.0, 2))
    assert f.severity == "error" and "did not decrypt with the key given" in f.message


def test_esp_icv_failed():
    [f] = judge(esp_icv_failed_, EspIcvFailed(*SA, 1.0, 2))
    assert f.severity == "error" and "integrity check (ICV) failed" in f.message


def test_esp_replay():
    [f] = judge(esp_replay_, EspReplay(*SA, 1.0, 2), EspReplay(*SA, 1.2, 9))
    assert f.frames == [2, 9] and "anti-replay check drops these" in f.message
    assert f.routers == [R2, HUB]
