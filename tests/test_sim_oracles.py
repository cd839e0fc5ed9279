"""Generated captures against the independent oracles: tshark dissects every
one with no malformed packet, bad checksum or expert error, decrypts the ESP
ones with the written esp_sa file (every ICV good but ipsec-wrong-key's),
agrees with nhrpscope's decoder on NHRP field by field; tcpdump -E decrypts
the CBC ones with the written secrets file."""

from __future__ import annotations

import re
import subprocess

import pytest
from _simcaps import IPSEC, SCENARIOS, generated, nhrp_of
from nhrpscope.dissectors import nhrp as N

CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]


def esp_prefs(g) -> list[str]:
    out = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for line in g.path(".esp_sa").read_text().splitlines():
        if line and not line.startswith("#"):
            out += ["-o", f"uat:esp_sa:{line}"]
    return out


def run(*args: str) -> str:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def bad_lines(text: str) -> list[str]:
    keys = ("Malformed", "Expert Info (Error", "Expert Info (Warning", "[incorrect", "Bad checksum",
            "[Bad: True]")
    return [ln.strip() for ln in text.splitlines() if any(k in ln for k in keys)]


@pytest.mark.parametrize("name", SCENARIOS)
def test_tshark_dissects_clean(tshark, name):
    g = generated(name)
    out = run(tshark, "-r", str(g.capture), "-V", *CHECKS)
    assert out.count("\nFrame ") + out.startswith("Frame ") == len(g.packets)
    assert bad_lines(out) == []
    expert = run(tshark, "-r", str(g.capture), "-q", "-z", "expert", *CHECKS)
    rows = expert_rows(expert)
    assert not rows.get("Errors") and not rows.get("Warnings"), expert
    # Notes only from TCP analysis: a core tap sees a hub-relayed segment twice, and
    # mtu-blackhole's retransmissions are its lesson.
    assert all(proto == "TCP" for proto, _ in rows.get("Notes", [])), expert


def expert_rows(text: str) -> dict[str, list[tuple[str, str]]]:
    """tshark -z expert: {severity section: [(protocol, summary)]}."""
    out: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for ln in text.splitlines():
        m = re.match(r"^(Errors|Warnings|Notes|Chats|Comments) \(\d+\)", ln)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^\s+\d+\s+\S+\s+(\S+)\s+(.*)$", ln)
        if m and section:
            out.setdefault(section, []).append((m.group(1), m.group(2)))
    return out


@pytest.mark.parametrize("name", IPSEC)
def test_tshark_decrypts_esp_with_the_esp_sa_file(tshark, name):
    g = generated(name)
    out = run(tshark, "-r", str(g.capture), "-V", *CHECKS, *esp_prefs(g))
    icv = [ln for ln in out.splitlines() if "ESP ICV:" in ln]
    esp_frames = [p for p in g.packets if p.has("esp")]
    assert len(icv) == len(esp_frames)
    wrong = [ln for ln in icv if "[correct]" not in ln]
    if name == "ipsec-wrong-key":
        f = next(f for f in g.truth["findings"] if f["code"] == "esp-icv-failed")
        assert len(wrong) == len(f["frames"]) > 0
        rest = [ln for ln in bad_lines(out) if "ESP ICV" not in ln and "Expert Info (Warning" not in ln
                and "incorrect" not in ln and ln != "[Bad: True]"]
        assert rest == []
    else:
        assert wrong == []
        assert bad_lines(out) == []
        # decrypted: the NHRP inside is dissected
        assert out.count("Next Hop Resolution Protocol") >= sum(1 for p in g.packets if p.has("nhrp"))


@pytest.mark.parametrize("name", [n for n in IPSEC if n != "ipsec-wrong-key"])
def test_tcpdump_decrypts_cbc_with_the_secrets_file(tcpdump, name):
    g = generated(name)
    out = run(tcpdump, "-n", "-r", str(g.capture), "-E", f"file {g.path('.secrets')}")
    esp = [ln for ln in out.splitlines() if "ESP(spi=" in ln]
    assert esp and len(esp) == sum(1 for p in g.packets if p.has("esp"))
    assert all("GREv0" in ln for ln in esp), [ln for ln in esp if "GREv0" not in ln][:3]


FIELDS = ["frame.number", "nhrp.hdr.op.type", "nhrp.reqid", "nhrp.hdr.hopcnt", "nhrp.src.nbma.addr",
          "nhrp.src.prot.addr", "nhrp.dst.prot.addr", "nhrp.code", "nhrp.prefix", "nhrp.mtu", "nhrp.htime",
          "nhrp.client.nbma.addr", "nhrp.client.prot.addr", "nhrp.ext.type", "nhrp.err.code"]


def _ours(pkt: N.NhrpPacket) -> dict[str, str]:
    cies = list(pkt.cies)
    for e in pkt.extensions:
        if isinstance(e, N.CieListExtension):
            cies += e.cies
    ext = [str(e.type) for e in pkt.extensions]

    def j(vals) -> str:
        return ",".join(str(v) for v in vals if v is not None)

    return {
        "nhrp.hdr.op.type": str(pkt.type_code), "nhrp.reqid": "" if pkt.request_id is None else str(pkt.request_id),
        "nhrp.hdr.hopcnt": str(pkt.hop_count), "nhrp.src.nbma.addr": pkt.src_nbma or "",
        "nhrp.src.prot.addr": pkt.src_proto or "", "nhrp.dst.prot.addr": pkt.dst_proto or "",
        "nhrp.code": j(c.code for c in cies), "nhrp.prefix": j(c.prefix_len for c in cies),
        "nhrp.mtu": j(c.mtu for c in cies), "nhrp.htime": j(c.holding_time for c in cies),
        "nhrp.client.nbma.addr": j(c.client_nbma for c in cies),
        "nhrp.client.prot.addr": j(c.client_proto for c in cies), "nhrp.ext.type": j(ext),
        "nhrp.err.code": "" if pkt.error_code is None else str(pkt.error_code),
    }


def _norm(field: str) -> str:
    """tshark prints some numbers in hex (0x00000001): make them decimal."""
    out = []
    for v in field.split(","):
        try:
            out.append(str(int(v, 0)) if v.startswith("0x") else v)
        except ValueError:
            out.append(v)
    return ",".join(out)


@pytest.mark.parametrize("name", SCENARIOS)
def test_nhrpscope_and_tshark_agree_on_nhrp(tshark, name):
    g = generated(name)
    extra = esp_prefs(g) if g.result.ipsec else []
    cmd = [tshark, "-r", str(g.capture), "-Y", "nhrp", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
           "-E", "aggregator=,", *extra]
    for f in FIELDS:
        cmd += ["-e", f]
    rows = [[_norm(x) for x in ln.split("|")] for ln in run(*cmd).splitlines()]
    by_frame = {p.frame: p for p in g.packets}
    checked = 0
    for row in rows:
        d = dict(zip(FIELDS, row, strict=True))
        pkt = nhrp_of(by_frame[int(d["frame.number"])])
        assert pkt is not None
        ours = _ours(pkt)
        if pkt.type_code in (N.ERROR_INDICATION, N.TRAFFIC_INDICATION):
            # tshark also lists the quoted packet's fields; compare the header only
            keys = ["nhrp.hdr.op.type", "nhrp.src.nbma.addr", "nhrp.src.prot.addr", "nhrp.dst.prot.addr"]
            assert {k: d[k].split(",")[0] for k in keys} == {k: ours[k] for k in keys}
            if pkt.type_code == N.ERROR_INDICATION:
                assert d["nhrp.err.code"] == ours["nhrp.err.code"]
        else:
            assert {k: d[k] for k in ours if k != "nhrp.err.code"} == {
                k: v for k, v in ours.items() if k != "nhrp.err.code"}, d["frame.number"]
        checked += 1
    assert checked == sum(1 for p in g.packets if p.has("nhrp"))


def test_tshark_dissects_a_small_scale_capture(tshark, tmp_path):
    from nhrpscope.sim.run import Options, simulate, write_outputs
    from nhrpscope.sim.scenario import load_scenario

    res = simulate(load_scenario("scale"), Options(spokes=30, packets=5000))
    cap = write_outputs(res, str(tmp_path / "s"), "pcap")[0]
    out = run(tshark, "-r", str(cap), "-V", *CHECKS)
    assert bad_lines(out) == []
    rows = expert_rows(run(tshark, "-r", str(cap), "-q", "-z", "expert", *CHECKS))
    assert not rows.get("Errors") and not rows.get("Warnings")
