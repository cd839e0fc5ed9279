"""The command line: the only place that prints or exits.

Exit codes: 0 fine, 1 findings at or above ``--fail-on``, 2 bad usage or
unreadable input (one line on stderr, never a traceback), 130 interrupted
(Ctrl-C: one line, the output files' temporary files removed). Each command
lives in its own module under ``nhrpscope/commands/``; this module gathers
them under ``main``, the ``nhrpscope`` entry point, and imports a command's
module only when that command runs (or ``--help`` lists it): ``generate``
need not load the replay engine, nor ``analyze`` the simulator.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from nhrpscope import __version__

# name -> (module under nhrpscope.commands, attribute, one line for --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "analyze": ("analyze", "analyze", "Routers, registrations, shortcuts, IPsec SAs and findings."),
    "annotate": ("annotate", "annotate", "Write a capture with findings and NHRP roles in frame comments."),
    "decode": ("decode", "decode", "A capture frame by frame, as text or JSON lines."),
    "decrypt": ("decrypt", "decrypt",
                "Write a capture with its ESP decrypted (or its keys embedded)."),
    "generate": ("generate", "generate", "Simulate a DMVPN scenario and write its capture."),
    "report": ("report", "report",
               "One self-contained HTML page: findings, charts, ladder, show dmvpn over time."),
    "show": ("show", "show", "What the routers would have printed (show dmvpn, ip nhrp, crypto)."),
    "timeline": ("timeline", "timeline", "The NHRP exchanges and state changes, in order."),
}


INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a job Ctrl-C ended


class _LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C: the command's ``with`` blocks have run as it unwound (an
        # output's temporary file removed, the reading process stopped);
        # click alone would print "Aborted!" and exit 1.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            pass  # out of the handler first: its traceback holds the command's frames
        click.echo("nhrpscope: interrupted", err=True)
        sys.exit(INTERRUPTED)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module, attr, _ = entry
        cmd = getattr(importlib.import_module(f"nhrpscope.commands.{module}"), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the one-line help without importing every command's module
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in sorted(COMMANDS)])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nhrpscope")
def main() -> None:
    """nhrpscope: read DMVPN captures (mGRE, NHRP, IPsec ESP)."""


def __getattr__(name: str) -> Any:
    # UserError and edges lived here before 0.x; imported on demand
    if name == "UserError":
        from nhrpscope.errors import UserError

        return UserError
    if name == "edges":
        from nhrpscope.commands._edge import edges

        return edges
    raise AttributeError(name)
