"""Limits for tests that feed hostile input: a hang fails the test instead of
blocking the run, memory is measured, and the CLI runs under both."""

from __future__ import annotations

import signal
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner, Result


class Hang(BaseException):
    """Raised by the alarm. A BaseException, like KeyboardInterrupt, so code
    under test that catches Exception cannot swallow it."""


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail the test if the block runs longer than ``seconds`` (wall time).

    SIGALRM interrupts the main thread wherever it is, so a hang is a
    failure naming ``what``; the alarm repeats each second in case a bare
    ``except`` ate the first. Where there is no SIGALRM (Windows, or not the
    main thread), the time is checked when the block ends."""
    t0 = time.monotonic()
    armed = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    old = None
    if armed:
        def on_alarm(_signum: int, _frame: object) -> None:
            raise Hang(f"{what}: still running after {seconds:g} s")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    except Hang as e:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
        pytest.fail(str(e), pytrace=False)
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    elapsed = time.monotonic() - t0
    assert elapsed < seconds, f"{what}: took {elapsed:.1f} s (limit {seconds:g} s)"


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Python's peak allocation inside the block, in bytes (``out[0]``)."""
    out = [0]
    tracemalloc.start()
    try:
        yield out
    finally:
        out[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def invoke(args: list[str], limit: float = 20.0) -> Result:
    """Run the ``nhrpscope`` command in-process under ``time_limit``.
    Anything but SystemExit escaping is a failure."""
    from nhrpscope.cli import main

    with time_limit(limit, f"nhrpscope {' '.join(args)}"):
        r = CliRunner().invoke(main, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{args}: raised {r.exception!r}") from r.exception
    return r


def run_cli(args: list[str], limit: float = 20.0) -> tuple[int, str]:
    """``invoke``: (exit code, stdout and stderr as a terminal shows them)."""
    r = invoke(args, limit)
    return r.exit_code, r.output


def check_exit(code: int, out: str, what: object) -> None:
    """Exit 0, or 2 with one error line and no traceback."""
    assert code in (0, 2), (what, code, out[-2000:])
    assert "Traceback" not in out, (what, out[-2000:])
    if code == 2:
        errors = [line for line in out.splitlines() if line.startswith("nhrpscope: error:")]
        assert len(errors) == 1, (what, out[-2000:])
