"""Issue 13, scenarios: the parser is linear, and every size a scenario or
``generate`` asks for has a limit, said in a one-line error naming the file
and line (Tracebacks: "Scenarios"; Memory and time: the scenario rows)."""

from __future__ import annotations

import pytest
from _limits import check_exit, run_cli, time_limit

from nhrpscope.sim import scenario as sc
from nhrpscope.sim.scenario import ScenarioError, builtin_text, load_scenario, parse_scenario

LAB = builtin_text("seed-lab")


def one_line(e: BaseException, *parts: str) -> None:
    msg = str(e)
    assert "\n" not in msg and "Traceback" not in msg, msg
    for p in parts:
        assert p in msg, (p, msg)


def lab_with(extra: str) -> str:
    return LAB + "\n" + extra


PING = '[[events]]\nat = 10\naction = "ping"\nfrom = "{src}"\nto = "{dst}"\n'


def ping(**kw: object) -> str:
    doc = parse_scenario(LAB, "lab.toml")
    spoke = next(r for r in doc.routers if r.role == "spoke")
    hub = next(r for r in doc.routers if r.role == "hub")
    return PING.format(src=spoke.name, dst=hub.tunnel) + "".join(f"{k} = {v}\n" for k, v in kw.items())


def error_of(text: str) -> str:
    with time_limit(5, "parse"):
        with pytest.raises(ScenarioError) as e:
            parse_scenario(text, "lab.toml")
    one_line(e.value, "lab.toml:")
    return str(e.value)


def line_of(text: str, start: str, last: bool = True) -> int:
    """The (last or first) line that starts with ``start``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start)]
    return found[-1] if last else found[0]


@pytest.mark.parametrize("kw,expect", [
    ({"size": 70000}, "size: 70000 is outside 28..65000 bytes"),
    ({"size": 1_000_000_000}, "size: 1000000000 is outside 28..65000 bytes"),
    ({"size": "1e9"}, "size: must be a whole number"),
    ({"size": 10}, "size: 10 is outside 28..65000 bytes"),
    ({"count": 1_000_000_000}, f"count: 1000000000 is outside 1..{sc.MAX_EVENT_COUNT}"),
    ({"count": 0}, f"count: 0 is outside 1..{sc.MAX_EVENT_COUNT}"),
    ({"interval": 0}, f"interval: 0 is outside {sc.MIN_EVENT_INTERVAL:g}.."),
    ({"interval": -1.5}, "interval: -1.5 is outside"),
])
def test_ping_sizes_have_limits(kw, expect):
    text = lab_with(ping(**kw))
    msg = error_of(text)
    assert expect in msg
    key = next(iter(kw))
    assert msg.startswith(f"lab.toml:{line_of(text, f'{key} = ')}:"), msg


def test_udp_count_1e8_and_the_events_total():
    text = lab_with(ping(count=100_000_000).replace('"ping"', '"udp"'))
    assert "count: 100000000 is outside" in error_of(text)
    many = "".join(ping(count=sc.MAX_EVENT_COUNT) for _ in range(sc.MAX_EVENT_PACKETS // sc.MAX_EVENT_COUNT + 1))
    assert f"more than {sc.MAX_EVENT_PACKETS} packets together" in error_of(lab_with(many))


@pytest.mark.parametrize("old,new,expect", [
    ("\n[[routers]]\n", "\n[[routers]]\nlink_mtu = 20\n", "link_mtu: 20 is outside 68..65535 bytes"),
    ("\n[[routers]]\n", "\n[[routers]]\nmtu = 70000\n", "mtu: 70000 does not fit a CIE's 16-bit MTU"),
    ("\n[[routers]]\n", "\n[[routers]]\nlatency = 1e9\n", "latency: 1e+09 is outside 0..60 s"),
    ("\n[[routers]]\n", "\n[[routers]]\nstart = -5\n", "start: -5 is outside"),
])
def test_router_limits(old, new, expect):
    assert old in LAB
    text = LAB.replace(old, new, 1)
    msg = error_of(text)
    key_line = text[:text.index(new)].count("\n") + 3  # the line after the [[routers]] header
    assert expect in msg and msg.startswith(f"lab.toml:{key_line}:"), msg


def test_nat_port_base_has_a_limit():
    doc = parse_scenario(LAB, "lab.toml")
    spoke = next(r for r in doc.routers if r.role == "spoke")
    text = lab_with(f'[[nat]]\npublic = "198.51.100.1"\ninside = ["{spoke.name}"]\nport_base = 99999999\n')
    msg = error_of(text)
    assert f"port_base: 99999999 is outside 1..{sc.MAX_NAT_PORT_BASE}" in msg
    assert msg.startswith(f"lab.toml:{line_of(text, 'port_base')}:")


def test_an_integer_of_5000_digits_is_one_line():
    text = LAB + "\nseed = " + "9" * 5000 + "\n"
    msg = error_of(text)
    assert "over 4300 digits" in msg and msg.startswith(f"lab.toml:{text.count(chr(10))}:"), msg[:200]
    assert len(msg) < 200


def test_scale_limits_in_the_file_and_the_options(tmp_path):
    assert "\npackets = 1000000\n" in builtin_text("scale")
    text = builtin_text("scale").replace("\npackets = 1000000\n", "\npackets = 1000000000000\n", 1)
    msg = error_of(text)
    assert "key scale.packets: 1000000000000 is outside 1..10,000,000" in msg, msg
    code, out = run_cli(["generate", "scale", "-o", str(tmp_path / "s.pcap"),
                         "--packets", "1000000000000"], 10)
    check_exit(code, out, "generate scale --packets 1e12")
    assert code == 2 and "--packets 1000000000000 is outside 1..10,000,000" in out
    assert not list(tmp_path.iterdir())


def test_generate_dev_zero_is_refused_at_the_limit(tmp_path):
    with time_limit(10, "generate /dev/zero"):
        with pytest.raises(ScenarioError) as e:
            load_scenario("/dev/zero")
    one_line(e.value, "/dev/zero: over 8 MiB")
    code, out = run_cli(["generate", "/dev/zero", "-o", str(tmp_path / "z.pcap")], 10)
    check_exit(code, out, "generate /dev/zero")
    assert code == 2 and "over 8 MiB" in out


def test_the_parser_is_linear_in_events():
    # 4,000 events took 38 s (each event's line found by rescanning the text).
    base = len(parse_scenario(LAB, "lab.toml").events)
    one = ping(count=1)
    text = lab_with(one * 20_000)
    with time_limit(15, "20,000 events"):
        doc = parse_scenario(text, "lab.toml")
    assert len(doc.events) == base + 20_000
    doc.events = doc.events[base:]
    first = line_of(text, "at = 10", last=False)
    assert doc.events[0].line == first and doc.events[-1].line > doc.events[0].line
    # the lines are those of each event's "at", in order
    assert [e.line for e in doc.events[:3]] == [first, first + 6, first + 12]


def test_locating_keys_is_what_it_was():
    text = LAB
    lines = sc._Lines(text)
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("duration"):
            assert lines.locate(("duration",)) == n
    assert lines.locate(("routers", 0, "no-such-key")) == line_of(text, "[[routers]]", last=False)
    assert lines.locate(("nowhere", 3, "x")) == 1
