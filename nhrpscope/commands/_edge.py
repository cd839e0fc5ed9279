"""The edge: library exceptions become one line on stderr and exit code 2;
a reader who left (``| head``) is exit 0, never 1 (``--fail-on``'s code)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from nhrpscope.errors import NhrpscopeError
from nhrpscope.output import STDOUT, failure
from nhrpscope.render.safe_text import printable_line

# Each names the file (and line, record or key) or the option at fault:
# (module, class). Looked up when something failed, among the modules the
# command loaded (one it did not load raised nothing), so a command pays
# for no import it does not use.
_EDGE_ERRORS = (("nhrpscope.capture", "CaptureError"), ("nhrpscope.keys.errors", "KeyFileError"),
                ("nhrpscope.sim.scenario", "ScenarioError"))


def edge_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [NhrpscopeError]
    for module, name in _EDGE_ERRORS:
        m = sys.modules.get(module)
        if m is not None:
            found.append(getattr(m, name))
    return tuple(found)
# What writing standard output raises when it cannot: full, too big, closed.
_STDOUT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EBADF, errno.EIO, errno.EINVAL}


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null: what Python still holds for stdout is
    flushed there at exit instead of failing again with a traceback."""
    if sys.stdout is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _fail(message: str) -> None:
    click.echo(f"nhrpscope: error: {printable_line(message)}", err=True)
    sys.exit(2)


@contextmanager
def edges(*, stdout: bool = True) -> Iterator[None]:
    """Map the edge exceptions to one-line errors. ``stdout`` False: the
    command prints nothing there (``decrypt -o FILE``), so a closed one is
    no error."""
    try:
        if stdout and sys.stdout is None:
            _fail("standard output is closed; redirect it (to /dev/null, say)")
        yield
        if stdout and sys.stdout is not None:
            sys.stdout.flush()  # a full disk says so here, not at exit
    except BrokenPipeError:
        # `nhrpscope decode big.pcap | head`: the reader left; that is fine.
        _silence_stdout()
        sys.exit(0)
    except Exception as e:
        if isinstance(e, edge_errors()):
            _fail(str(e))
        if not isinstance(e, OSError):
            raise
        # Every file we write names itself (OutputError); what is left is
        # standard output, full or closed.
        _silence_stdout()
        if e.filename is None and e.errno in _STDOUT_ERRNOS:
            _fail(str(failure(STDOUT, e)))
        _fail(f"{e.filename}: {e.strerror}" if e.filename else (e.strerror or str(e)))
