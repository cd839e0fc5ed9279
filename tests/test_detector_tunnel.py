"""The data-plane detectors (fragments, ESP), fed facts directly."""

from __future__ import annotations

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


def test_esp_no_key_is_info_and_names_the_sa():
    [f] = judge(esp_no_key_, EspNoKey(*SA, 1.0, 2), EspNoKey(*SA, 1.1, 3))
    assert (f.severity, f.frames) == ("info", [2, 3])
    assert f.message.startswith("ESP SA 0x00001234 from 172.16.25.2 to 172.16.15.2 cannot be "
                                "decrypted: no key")


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
