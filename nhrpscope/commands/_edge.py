"""The edge: library exceptions become one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from nhrpscope.capture import CaptureError
from nhrpscope.errors import NhrpscopeError
from nhrpscope.keys import KeyFileError
from nhrpscope.sim.scenario import ScenarioError

# Each names the file (and line, record or key) or the option at fault.
EDGE_ERRORS = (CaptureError, KeyFileError, ScenarioError, NhrpscopeError)


@contextmanager
def edges() -> Iterator[None]:
    """Map the edge exceptions to one-line errors."""
    try:
        yield
    except EDGE_ERRORS as e:
        click.echo(f"nhrpscope: error: {e}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        # `nhrpscope decode big.pcap | head`: the reader left; that is fine.
        sys.stderr.close()
        sys.exit(0)
