"""The one exception of key parsing, and the rule for what of a key line an
error may quote.

The rule (issue 13): an error about a key line names the file, the line and
the column, and quotes nothing from the line but the format's own words
(algorithm names, protocol names, keywords), which each format module lists
with ``known_words``. Anything else could be a secret in the wrong place (a
swapped column, a key where the SPI goes, a secret that looks like an
algorithm name), so an error gives only its length and where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


class KeyFileError(Exception):
    """A key source that cannot be used: where (file, or "-E #n"), which
    line (or item) and column, and why. Never carries key material."""

    def __init__(self, where: str, line: int | None, reason: str,
                 column: int | None = None) -> None:
        self.where = where
        self.line = line
        self.column = column
        self.reason = reason
        if line is None:
            text = f"{where}: {reason}"
        elif column is None:
            text = f"{where}:{line}: {reason}"
        else:
            text = f"{where}:{line}: column {column}: {reason}"
        super().__init__(text)


# Words of the key formats, lowercased: filled by each format module (its
# algorithm tables and keywords) when it is imported, never from input.
_KNOWN: set[str] = set()


def known_words(words: Iterable[str]) -> None:
    _KNOWN.update(w.lower() for w in words)


def is_known(text: str) -> bool:
    return text.lower() in _KNOWN


def show(text: str) -> str:
    """A field's text for an error message if it is one of the formats'
    own words; otherwise only its length."""
    if is_known(text):
        return repr(text)
    return f"({len(text)} characters, not shown)"


@contextmanager
def at_column(where: str, line: int | None, column: int | None) -> Iterator[None]:
    """Errors raised inside about this line, and not yet pointing at a
    column, point at ``column`` (1-based). Errors about another file (an
    included one) are left as they are."""
    try:
        yield
    except KeyFileError as e:
        if e.column is not None or e.where != where or e.line != line or line is None:
            raise
        raise KeyFileError(where, line, e.reason, column) from None


def guard(where: str, line: int | None, fn: Callable[[], object]) -> None:
    """Run one line's parser; anything but KeyFileError becomes one (and
    loses its text, which might quote a key)."""
    try:
        fn()
    except KeyFileError:
        raise
    except Exception as e:  # noqa: BLE001
        raise KeyFileError(where, line, f"cannot parse this line ({type(e).__name__})") from None
