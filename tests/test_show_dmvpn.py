"""`nhrpscope show dmvpn` and `show nhrp`: the routers' own layouts, at any instant."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_replay_build import HUB, HUB_T, R2, R2_T, R3, R3_T, R4, R4_T, Cap

from nhrpscope.cli import main

LEGEND = [
    "Legend: Attrb --> S - Static, D - Dynamic, I - Incomplete",
    "    N - NATed, L - Local, X - No Socket",
    "    # Ent --> Number of NHRP entries with same NBMA peer",
]
HEADER = " # Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb"
DASHES = " ----- --------------- --------------- ----- -------- -----"
ROW = re.compile(r"^ +(\d+) +(\S+) +(\S+) +(UP|NHRP|IKE|DOWN) +(\d\d:\d\d:\d\d|\d+d\d\dh|\d+w\dd|never) "
                 r"([SDIN]+) *$")


def show(*args: str) -> str:
    r = CliRunner().invoke(main, ["show", *args])
    assert r.exit_code == 0, (r.output, r.stderr)
    return r.stdout


def rows(text: str) -> list[tuple]:
    return [m.groups() for m in map(ROW.match, text.splitlines()) if m]


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """The classic lab: three spokes register; R2 pings R4 at +20 s (phase 2)."""
    c = Cap()
    c.lab()
    c.data(20.0, R2, HUB, R2_T, R4_T, seq=1)
    c.data(20.01, HUB, R4, R2_T, R4_T, seq=1)  # the hub forwards the first ping
    c.resolve(20.0, R2, R2_T, R4, R4_T, 2)
    c.resolve(20.03, R4, R4_T, R2, R2_T, 2)
    for i in range(3):
        c.data(21.0 + i, R2, R4, R2_T, R4_T, seq=i + 2)
        c.data(21.01 + i, R4, R2, R4_T, R2_T, seq=i + 2)
    return c.write(tmp_path / "lab.pcap")


def test_hub_shows_three_dynamic_spokes_in_ios_layout(lab):
    out = show("dmvpn", str(lab), "--router", HUB).splitlines()
    assert out[0].startswith("% show dmvpn of 172.16.15.2") and "inferred" in out[0]
    assert "capture lab.pcap" in out[0] and "Tunnel0 is assumed" in out[0]
    assert out[1:4] == LEGEND and out[4] == ""
    assert out[5] == "Tunnel0, Type:Hub, NHRP Peers:3, "
    assert out[6:8] == [HEADER, DASHES]
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows("\n".join(out))] == [
        ("1", R2, R2_T, "UP", "D"), ("1", R3, R3_T, "UP", "D"), ("1", R4, R4_T, "UP", "D")]
    # the classic lab's own row, character for character (its times aside), with the
    # leading spaces the lab's web copy collapsed: '# Ent' is right-aligned in its group
    assert re.sub(r"\d\d:\d\d:\d\d", "00:57:47", out[8]) == \
        "     1     172.16.25.2     192.168.0.2    UP 00:57:47 D    "


def test_spoke_before_and_after_the_ping(lab):
    before = show("dmvpn", str(lab), "--router", R2, "--at", "+10")
    assert "Tunnel0, Type:Spoke, NHRP Peers:1, " in before
    assert [(r[1], r[2], r[5]) for r in rows(before)] == [(HUB, HUB_T, "S")]
    after = show("dmvpn", str(lab), "--router", R2_T)
    assert "Tunnel0, Type:Spoke, NHRP Peers:2, " in after
    got = rows(after)
    assert [(r[1], r[2], r[3], r[5]) for r in got] == [(HUB, HUB_T, "UP", "S"),
                                                       (R4, R4_T, "UP", "D")]
    assert got[0][4] == "00:00:22" and got[1][4] == "00:00:02"


def test_at_a_frame_and_every_router(lab):
    out = show("dmvpn", str(lab), "--at", "frame:2")
    assert out.count("% show dmvpn of") == 2  # only the hub and R2 exist by frame 2
    assert "frame 2" in out
    assert rows(out) == [("1", R2, R2_T, "UP", "00:00:00", "D"),
                         ("1", HUB, HUB_T, "UP", "00:00:00", "S")]


def test_registration_sent_not_answered_is_nhrp_state(tmp_path):
    c = Cap()
    c.reg_request(0.0, R2, R2_T, 1)
    out = show("dmvpn", str(c.write(tmp_path / "x.pcap")), "--router", R2)
    assert [(r[1], r[3], r[5]) for r in rows(out)] == [(HUB, "NHRP", "S")]


def test_long_uptimes_print_as_ios_does(tmp_path):
    c = Cap()
    c.register(0.0, R2, R2_T, 1, ht=65535)
    c.register(21600.0, R2, R2_T, 2, ht=65535)
    c.register(43200.0, R2, R2_T, 3, ht=65535)
    c.register(64800.0, R2, R2_T, 4, ht=65535)
    c.register(93600.0, R2, R2_T, 5, ht=65535)
    out = show("dmvpn", str(c.write(tmp_path / "x.pcap")), "--router", HUB)
    assert rows(out)[0][4] == "1d02h"


def test_detail_and_json(lab):
    out = show("dmvpn", str(lab), "--router", R2, "--detail", "--interface", "Tunnel100")
    assert "Interface Tunnel100 is up/up, Addr. is 192.168.0.2" in out
    assert "Type:Spoke, Total NBMA Peers (v4/v6): 2" in out
    assert "IPv4 NHS:" in out and "192.168.0.1  RE" in out
    assert "# Ent  Peer NBMA Addr Peer Tunnel Add State  UpDn Tm Attrb    Target Network" in out
    assert re.search(r"^    1 172\.16\.45\.2 +192\.168\.0\.4 +UP 00:00:0\d +D +192\.168\.0\.4/32$",
                     out, re.M)
    [doc] = json.loads(show("dmvpn", str(lab), "--router", R2, "--format", "json"))
    assert doc["type"] == "Spoke" and doc["nhrp_peers"] == 2
    assert [(p["nbma"], p["attrb"]) for p in doc["peers"]] == [(HUB, "S"), (R4, "D")]


def test_show_ip_nhrp_cisco(lab):
    out = show("nhrp", str(lab), "--router", HUB).splitlines()
    assert out[1] == "192.168.0.2/32 via 192.168.0.2, Tunnel0 created 00:00:22, expire 00:04:38"
    assert out[2] == "  Type: dynamic, Flags: unique registered"
    assert out[3] == "  NBMA address: 172.16.25.2"
    assert out[8] == "  Type: dynamic, Flags: unique registered used"  # R4: the hub sent it data
    spoke = show("nhrp", str(lab), "--router", R2)
    assert "192.168.0.1/32 via 192.168.0.1, Tunnel0 created 00:00:22, never expire" in spoke
    assert "  Type: static, Flags: used" in spoke
    assert re.search(r"^192\.168\.0\.4/32 via 192\.168\.0\.4, Tunnel0 created 00:00:0\d, expire "
                     r"00:04:5\d$", spoke, re.M)


def test_show_ip_nhrp_frr(lab):
    out = show("nhrp", str(lab), "--router", R2, "--style", "frr").splitlines()
    hdr = "%-8s %-8s %-24s %-24s %-24s %-6s %s" % ("Iface", "Type", "Protocol", "NBMA",  # noqa: UP031
                                                  "Claimed NBMA", "Flags", "Identity")
    assert out[1] == hdr
    assert out[2] == "%-8s %-8s %-24s %-24s %-24s %s    %s" % (  # noqa: UP031
        "Tunnel0", "nhs", HUB_T, HUB, HUB, "U  ", "")
    assert out[3].split() == ["Tunnel0", "cached", R4_T, R4, R4, "UT"]
    nhs = out[out.index("") + 2:]
    assert nhs[0] == "%-8s %-24s %-16s %-16s" % ("Iface", "FQDN", "NBMA", "Protocol")  # noqa: UP031
    assert nhs[1].split() == ["Tunnel0", HUB, HUB, HUB_T]
    doc = json.loads(show("nhrp", str(lab), "--router", R2, "--style", "frr", "--format", "json"))
    assert doc[0]["cache"]["attr"]["entriesCount"] == 2
    empty = show("nhrp", str(lab), "--router", HUB, "--style", "frr")
    assert "% No entries" in empty  # a hub has no NHS


def test_unknown_router_is_a_usage_error(lab):
    r = CliRunner().invoke(main, ["show", "dmvpn", str(lab), "--router", "10.9.9.9"])
    assert r.exit_code == 2 and "no router 10.9.9.9" in r.stderr


def test_nated_spoke_has_attribute_n(tmp_path):
    c = Cap()
    c.reg_request(0.0, "10.0.0.3", R3_T, 1, outer="203.0.113.3")
    c.reg_reply(0.01, "10.0.0.3", R3_T, 1, to="203.0.113.3")
    out = show("dmvpn", str(c.write(tmp_path / "n.pcap")), "--router", HUB)
    assert [(r[1], r[5]) for r in rows(out)] == [("203.0.113.3", "DN")]
    nh = show("nhrp", str(tmp_path / "n.pcap"), "--router", HUB)
    assert "    (Claimed NBMA address: 10.0.0.3)" in nh and "nat" in nh


def test_seed_lab_scenario(tmp_path):
    from nhrpscope.sim.run import simulate, write_outputs
    from nhrpscope.sim.scenario import load_scenario

    paths = write_outputs(simulate(load_scenario("seed-lab")), str(tmp_path / "seed-lab"))
    hub = rows(show("dmvpn", str(paths[0]), "--router", "172.16.15.2"))
    assert [(r[1], r[3], r[5]) for r in hub] == [(R2, "UP", "D"), (R3, "UP", "D"), (R4, "UP", "D")]
    r2 = rows(show("dmvpn", str(paths[0]), "--router", "172.16.25.2"))
    assert [(r[1], r[3], r[5]) for r in r2] == [(HUB, "UP", "S"), (R4, "UP", "D")]


HUB2 = "172.16.55.2"


@pytest.fixture
def two_clouds(tmp_path: Path) -> Path:
    """Two DMVPN clouds: R2 and R3 each have Tunnel0 in 10.0.0.0/24 (NHS
    HUB, 10.0.0.1) and Tunnel1 in 10.1.0.0/24 (NHS HUB2, 10.1.0.1); R2
    resolves R3 in the second cloud."""
    c = Cap()
    for i, (spoke, host) in enumerate(((R2, 2), (R3, 3))):
        c.register(1.0 + i, spoke, f"10.0.0.{host}", 1, hub=HUB, hub_t="10.0.0.1")
        c.register(1.2 + i, spoke, f"10.1.0.{host}", 2, hub=HUB2, hub_t="10.1.0.1")
    c.res_request(5.0, R2, HUB2, R2, "10.1.0.2", "10.1.0.3", 3)
    c.res_request(5.01, HUB2, R3, R2, "10.1.0.2", "10.1.0.3", 3, hop=254)
    c.res_reply(5.02, R3, R2, R2, "10.1.0.2", "10.1.0.3", 3, nbma=R3, proto="10.1.0.3")
    return c.write(tmp_path / "two-clouds.pcap")


def test_two_clouds_show_two_interfaces(two_clouds):
    out = show("dmvpn", str(two_clouds), "--router", R2)
    blocks = out.split("\n\n% show dmvpn")
    assert len(blocks) == 2
    assert "of 172.16.25.2 / 10.0.0.2 (spoke)" in blocks[0] and "Tunnel0 is assumed" in blocks[0]
    assert "of 172.16.25.2 / 10.1.0.2 (spoke)" in blocks[1] and "Tunnel1 is assumed" in blocks[1]
    assert "Tunnel0, Type:Spoke, NHRP Peers:1, " in blocks[0]
    assert "Tunnel1, Type:Spoke, NHRP Peers:2, " in blocks[1]
    assert [(r[1], r[2], r[5]) for r in rows(blocks[0])] == [(HUB, "10.0.0.1", "S")]
    assert sorted((r[1], r[2], r[5]) for r in rows(blocks[1])) == [(R3, "10.1.0.3", "D"),
                                                                   (HUB2, "10.1.0.1", "S")]
    detail = show("dmvpn", str(two_clouds), "--router", R2, "--detail")
    assert "Interface Tunnel0 is up/up, Addr. is 10.0.0.2" in detail
    assert "Interface Tunnel1 is up/up, Addr. is 10.1.0.2" in detail
    assert "10.0.0.1  RE" in detail and "10.1.0.1  RE" in detail
    doc = json.loads(show("dmvpn", str(two_clouds), "--router", R2, "--format", "json"))
    assert [(d["interface"], d["tunnel"], d["nhrp_peers"]) for d in doc] == [
        ("Tunnel0", "10.0.0.2", 1), ("Tunnel1", "10.1.0.2", 2)]


def test_each_hub_its_own_cloud(two_clouds):
    for hub, net in ((HUB, "10.0.0"), (HUB2, "10.1.0")):
        out = show("dmvpn", str(two_clouds), "--router", hub)
        assert out.count("% show dmvpn of") == 1 and "Tunnel0, Type:Hub, NHRP Peers:2, " in out
        assert {r[2] for r in rows(out)} == {f"{net}.2", f"{net}.3"}


def test_one_cloud_with_two_hubs_is_one_interface():
    """dual-hub: the spokes register with two NHSes in one subnet: one
    Tunnel0 holding both."""
    out = show("dmvpn", str(Path(__file__).parents[1] / "captures" / "dual-hub.pcapng"),
               "--router", R2)
    assert out.count("% show dmvpn of") == 1
    assert {r[1] for r in rows(out)} >= {"172.16.15.2", "172.16.55.2"}
