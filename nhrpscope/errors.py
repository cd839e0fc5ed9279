"""The library's own exceptions: what the CLI turns into one line on stderr
and exit code 2 (``CaptureError``, ``KeyFileError`` and ``ScenarioError``,
defined beside the code that raises them, are mapped the same way)."""

from __future__ import annotations


class NhrpscopeError(Exception):
    """A request the library cannot carry out; the message says why."""


class UserError(NhrpscopeError):
    """Bad usage: an option, an argument, an output file."""


class ReadingProcessError(NhrpscopeError):
    """The second process that reads a big capture (``CaptureSource.staged``)
    failed: killed (the OOM killer, say), crashed or cut short."""
