"""No noise from ESP without keys (issue 12 item 10): one esp-no-key finding
per capture, and `show crypto ipsec sa` counts decrypt/verify only when keys
let nhrpscope check them, with IOS's transform line then."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from nhrpscope.dissectors.esp import SecurityAssociation

from nhrpscope.cli import main
from nhrpscope.render.show_crypto import ios_transform

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
LAB = str(CAPTURES / "seed-lab-ipsec.pcapng")


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(main, list(args))


def test_one_esp_no_key_finding_for_the_whole_capture():
    doc = json.loads(run("analyze", LAB, "--no-capture-keys", "--format", "json").stdout)
    found = [f for f in doc["findings"] if f["code"] == "esp-no-key"]
    sas = [s for s in doc["ipsec"]["sas"] if s["no_key"]]
    assert len(found) == 1 and len(sas) > 1
    assert found[0]["message"].startswith(
        f"{sum(s['no_key'] for s in sas)} ESP packets on {len(sas)} SAs could not be decrypted")
    assert found[0]["frames"] == sorted(s["frames"][0] for s in sas)[:20]
    # with the keys the capture carries, nothing to say
    doc = json.loads(run("analyze", LAB, "--format", "json").stdout)
    assert "esp-no-key" not in {f["code"] for f in doc["findings"]}


def test_show_crypto_ipsec_sa_counts_only_what_it_checked():
    hub = "172.16.15.2"
    out = run("show", "crypto", "ipsec", "sa", LAB, "--router", hub, "--no-capture-keys").output
    assert "#pkts decrypt" not in out and "#pkts verify" not in out and "transform:" not in out
    keyed = run("show", "crypto", "ipsec", "sa", LAB, "--router", hub).output
    assert "#pkts decrypt:" in keyed and "#pkts verify:" in keyed
    assert "        transform: esp-aes esp-sha-hmac ,\n" in keyed
    doc = json.loads(run("show", "crypto", "ipsec", "sa", LAB, "--router", hub, "--format",
                         "json").stdout)
    peer = doc[0]["peers"][0]
    assert peer["pkts_decrypt"] == peer["pkts_decaps"] and peer["transforms"]
    doc = json.loads(run("show", "crypto", "ipsec", "sa", LAB, "--router", hub, "--format", "json",
                         "--no-capture-keys").stdout)
    assert "pkts_decrypt" not in doc[0]["peers"][0] and "transforms" not in doc[0]["peers"][0]


def test_ios_transform_names():
    def sa(enc: str, key: int, integ: str = "null", akey: int = 0) -> SecurityAssociation:
        return SecurityAssociation(1, None, None, enc, bytes(key), integ, bytes(akey))

    assert ios_transform(sa("aes-cbc", 32, "hmac-sha1-96", 20)) == "esp-256-aes esp-sha-hmac ,"
    assert ios_transform(sa("aes-cbc", 16, "hmac-sha256-128", 32)) == "esp-aes esp-sha256-hmac ,"
    assert ios_transform(sa("3des-cbc", 24, "hmac-md5-96", 16)) == "esp-3des esp-md5-hmac ,"
    assert ios_transform(sa("aes-gcm-16", 36)) == "esp-gcm 256 ,"
    assert ios_transform(sa("null", 0, "hmac-sha1-96", 20)) == "esp-null esp-sha-hmac ,"
