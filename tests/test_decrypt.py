"""`nhrpscope decrypt` and ESP decryption on the reference captures, with the
keys in every format, checked against tcpdump's decrypted output and tshark."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from nhrpscope.dissectors.frame import FrameDecoder

from nhrpscope.capture import CaptureReader
from nhrpscope.keys import SADatabase, load_key_file, parse_tcpdump_spec

KEY02 = "0x12345678@192.1.2.45 3des-cbc-hmac96:0x4043434545464649494a4a4c4c4f4f515152525454575758"
KEY08 = ["0x12345678@192.1.2.45 3des-cbc-hmac96:0x43434545464649494a4a4c4c4f4f51515252545457575840",
         "0xabcdabcd@192.0.1.1 3des-cbc-hmac96:0x434545464649494a4a4c4c4f4f5151525254545757584043"]
ESP_SA02 = ('"IPv4","*","192.1.2.45","0x12345678","TripleDES-CBC [RFC2451]",'
            '"0x4043434545464649494a4a4c4c4f4f515152525454575758",'
            '"ANY 96 bit authentication [no checking]",""')


def nhrpscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nhrpscope", *args], capture_output=True, text=True,
                          timeout=120)


def tcpdump_icmp(path) -> list[tuple[str, str, int, int]]:
    """(src, dst, id, seq) of each ICMP echo line in a tcpdump output file."""
    pat = re.compile(r"IP (\S+) > (\S+): ICMP echo request, id (\d+), seq (\d+)")
    return [(a, b, int(i), int(s)) for a, b, i, s in pat.findall(path.read_text())]


def our_icmp(path, db: SADatabase) -> list[tuple[str, str, int, int]]:
    dec = FrameDecoder(db.lookup)
    out = []
    with CaptureReader(path) as r:
        for f in r:
            layers = dec.decode(f.linktype, f.data).layers
            ip = [la for la in layers if la.proto == "ipv4"][-1]
            icmp = [la for la in layers if la.proto == "icmp"]
            if icmp:
                out.append((ip.src, ip.dst, icmp[0].id, icmp[0].seq))
    return out


def _db(specs: list[str]) -> SADatabase:
    db = SADatabase()
    for s in specs:
        for sa in parse_tcpdump_spec(s):
            db.add(sa)
    return db


@pytest.mark.parametrize("name,keys", [("02-sunrise-sunset-esp", [KEY02]),
                                       ("08-sunrise-sunset-esp2", KEY08)])
def test_decrypts_to_tcpdumps_inner_packets(reference, name, keys):
    expected = tcpdump_icmp(reference / f"{name}.tcpdump-decrypted.txt")
    assert len(expected) == 8
    assert our_icmp(reference / f"{name}.pcap", _db(keys)) == expected


def test_same_result_from_every_key_format(reference, tmp_path):
    secrets = tmp_path / "k.secrets"
    secrets.write_text(f"# tcpdump -E file\n{KEY02}\n")
    esp_sa = tmp_path / "esp_sa"
    esp_sa.write_text(ESP_SA02 + "\n")
    outs = []
    for args in (["-E", KEY02], ["-k", str(secrets)], ["-k", str(esp_sa)]):
        out = tmp_path / f"out{len(outs)}.pcap"
        r = nhrpscope("decrypt", str(reference / "02-sunrise-sunset-esp.pcap"), "-o", str(out), *args)
        assert r.returncode == 0, r.stderr
        assert "8 of 8 ESP frames decrypted" in r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    # The written file needs no keys: decode sees the clear ICMP.
    expected = tcpdump_icmp(reference / "02-sunrise-sunset-esp.tcpdump-decrypted.txt")
    assert our_icmp(tmp_path / "out0.pcap", SADatabase()) == expected


def test_agrees_with_tshark_using_the_same_esp_sa_rows(reference, tshark):
    path = reference / "02-sunrise-sunset-esp.pcap"
    r = subprocess.run([tshark, "-r", str(path), "-o", "esp.enable_encryption_decode:TRUE",
                        "-o", f"uat:esp_sa:{ESP_SA02}", "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
                        "-e", "icmp.ident", "-e", "icmp.seq"],
                       capture_output=True, text=True, timeout=120, check=True)
    theirs = []
    for line in r.stdout.splitlines():
        src, dst, ident, seq = line.split("\t")
        theirs.append((src.split(",")[-1], dst.split(",")[-1], int(ident.split(",")[0]),
                       int(seq.split(",")[0])))
    db = SADatabase()
    for sa in load_key_file_text(ESP_SA02):
        db.add(sa)
    assert our_icmp(path, db) == theirs


def load_key_file_text(text: str):
    from nhrpscope.keys import parse_esp_sa

    return parse_esp_sa(text)


def test_wrong_key_fails_every_frame_and_invents_nothing(reference, tmp_path):
    wrong = KEY02[:-4] + "0000"
    dec = FrameDecoder(_db([wrong]).lookup)
    with CaptureReader(reference / "02-sunrise-sunset-esp.pcap") as r:
        for f in r:
            p = dec.decode(f.linktype, f.data)
            assert [la.proto for la in p.layers] == ["eth", "ipv4", "esp"]
            assert p.layers[2].status == "decryption-failed"
    out = tmp_path / "o.pcap"
    r = nhrpscope("decrypt", str(reference / "02-sunrise-sunset-esp.pcap"), "-o", str(out), "-E", wrong)
    assert r.returncode == 0 and "0 of 8 ESP frames decrypted, 8 kept" in r.stderr


def test_nested_esp_written_clear_and_readable_by_tcpdump(reference, tmp_path, tcpdump):
    out = tmp_path / "clear.pcap"
    r = nhrpscope("decrypt", str(reference / "08-sunrise-sunset-esp2.pcap"), "-o", str(out),
                  "-E", KEY08[0], "-E", KEY08[1])
    assert r.returncode == 0, r.stderr
    t = subprocess.run([tcpdump, "-nr", str(out)], capture_output=True, text=True, check=True)
    assert t.stdout.count("ICMP echo request") == 8 and "ESP" not in t.stdout


def test_embed_keys_round_trip(reference, tmp_path):
    out = tmp_path / "with-keys.pcapng"
    r = nhrpscope("decrypt", str(reference / "02-sunrise-sunset-esp.pcap"), "-o", str(out),
                  "--embed-keys", "-E", KEY02)
    assert r.returncode == 0, r.stderr
    # No keys given: the Decryption Secrets Block is used without being asked.
    d = nhrpscope("decode", str(out), "--format", "jsonl")
    assert d.returncode == 0
    assert d.stdout.count('"proto": "icmp"') == 8
    assert len(load_key_file(out)) == 1


def test_refuses_to_overwrite(reference, tmp_path):
    out = tmp_path / "o.pcap"
    out.write_bytes(b"precious")
    r = nhrpscope("decrypt", str(reference / "02-sunrise-sunset-esp.pcap"), "-o", str(out), "-E", KEY02)
    assert r.returncode == 2 and "--force" in r.stderr and out.read_bytes() == b"precious"
    r = nhrpscope("decrypt", str(reference / "02-sunrise-sunset-esp.pcap"), "-o", str(out), "-E", KEY02,
                  "--force")
    assert r.returncode == 0 and out.read_bytes() != b"precious"


def test_key_file_error_names_line_not_key(reference, tmp_path):
    bad = tmp_path / "bad.secrets"
    bad.write_text("# ok\n0x12345678@192.1.2.45 3des-cbc-hmac96:0x4043ZZ34545464649\n")
    r = nhrpscope("decode", str(reference / "02-sunrise-sunset-esp.pcap"), "-k", str(bad))
    assert r.returncode == 2 and f"{bad}:2" in r.stderr
    assert "4043" not in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_no_capture_keys_sees_what_someone_without_keys_sees():
    from pathlib import Path

    cap = Path(__file__).resolve().parents[1] / "captures" / "seed-lab-ipsec.pcapng"
    with_keys = nhrpscope("analyze", str(cap), "--format", "json")
    without = nhrpscope("analyze", str(cap), "--format", "json", "--no-capture-keys")
    import json

    a, b = json.loads(with_keys.stdout), json.loads(without.stdout)
    assert len(a["registrations"]) > 0 and b["registrations"] == [] and b["routers"] == []
    assert {f["code"] for f in b["findings"]} == {"esp-no-key"}
    assert len(b["ipsec"]["ike"]) == 4  # the negotiations show without keys


def test_embed_keys_holds_the_frames_on_disk_not_in_memory():
    """--embed-keys writes its secrets block before the packets, so the
    frames wait; they wait in a temporary file, every field kept."""
    from nhrpscope.rewrite import FrameSpool

    frames = [(1_700_000_000.123456789, b"\x45" * 1500, 1, 1514, "first \u00e9"),
              (1_700_000_001.5, b"", 101, 0, None), (2.0, bytes(range(256)), 276, 9000, "")]
    spool = FrameSpool()
    for f in frames:
        spool.add(*f)
    assert spool.fh is not None and spool.fh.tell() > 1756  # on disk
    assert [(*f[:4], f[4] or None) for f in frames] == list(spool)
    spool.close()
    assert list(FrameSpool()) == []  # no frame, no temporary file
