"""The command line: the only place that prints or exits.

Exit codes: 0 fine, 1 findings at or above ``--fail-on``, 2 bad usage or
unreadable input (one line on stderr, never a traceback). Each command
lives in its own module under ``nhrpscope/commands/``; this module gathers
them under ``main``, the ``nhrpscope`` entry point.
"""

from __future__ import annotations

import click

from nhrpscope import __version__
from nhrpscope.commands._edge import edges
from nhrpscope.commands.analyze import analyze
from nhrpscope.commands.decode import decode
from nhrpscope.commands.decrypt import decrypt
from nhrpscope.commands.generate import generate
from nhrpscope.commands.show import show
from nhrpscope.commands.timeline import timeline
from nhrpscope.errors import UserError

__all__ = ["UserError", "edges", "main"]  # UserError, edges: where they were before 0.x


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nhrpscope")
def main() -> None:
    """nhrpscope: read DMVPN captures (mGRE, NHRP, IPsec ESP)."""


for _command in (analyze, decode, decrypt, generate, show, timeline):
    main.add_command(_command)
