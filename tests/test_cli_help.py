"""`nhrpscope --help` and `nhrpscope show --help` list every command, one line each."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from nhrpscope.cli import main


def listed(args: list[str]) -> dict[str, str]:
    r = CliRunner().invoke(main, [*args, "--help"], terminal_width=100)
    assert r.exit_code == 0, r.output
    body = r.stdout.split("Commands:\n", 1)[1]
    lines = body.splitlines()
    assert all(re.match(r"^  \S+ +\S", ln) for ln in lines if ln.strip()), lines  # one line each
    return dict(ln.split(None, 1) for ln in lines if ln.strip())


def test_main_help_lists_every_command():
    got = listed([])
    assert sorted(got) == ["analyze", "annotate", "decode", "decrypt", "generate", "report",
                           "show", "timeline"]
    assert all(not help.endswith("...") for help in got.values()), got
    # --help lists the commands without loading them: its lines are the
    # commands' own one-line help, word for word
    ctx = click.Context(main)
    for name, line in got.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
        assert cmd.short_help == line, name


def test_show_help_lists_every_view():
    show = main.get_command(click.Context(main), "show")
    assert isinstance(show, click.Group)
    got = listed(["show"])
    assert sorted(got) == ["crypto", "dmvpn", "nhrp"]
    assert "show dmvpn" in got["dmvpn"] and "show ip nhrp" in got["nhrp"]
    assert sorted(listed(["show", "crypto"])) == ["ipsec", "isakmp"]
