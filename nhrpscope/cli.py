"""The command line: the only place that prints or exits.

Exit codes: 0 fine, 1 findings at or above ``--fail-on``, 2 bad usage or
unreadable input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click

from nhrpscope import __version__


class UserError(Exception):
    """Turned into one line on stderr and exit code 2."""


@contextmanager
def edges() -> Iterator[None]:
    """Map the edge exceptions to one-line errors."""
    from nhrpscope.capture import CaptureError

    errors: tuple[type[BaseException], ...] = (CaptureError, UserError)
    try:
        from nhrpscope.keys import KeyFileError

        errors += (KeyFileError,)
    except ImportError:  # pragma: no cover - keys module always ships
        pass
    try:
        from nhrpscope.sim.scenario import ScenarioError

        errors += (ScenarioError,)
    except ImportError:
        pass
    try:
        yield
    except errors as e:
        click.echo(f"nhrpscope: error: {e}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        # `nhrpscope decode big.pcap | head`: the reader left; that is fine.
        sys.stderr.close()
        sys.exit(0)


def _no_capture_keys(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["nhrpscope.ignore_capture_keys"] = True


def capture_keys_used() -> bool:
    """False under --no-capture-keys (what ``secrets_handler`` follows), for
    code that reads the capture elsewhere (the fast path's reading process)."""
    ctx = click.get_current_context(silent=True)
    return not (ctx and ctx.meta.get("nhrpscope.ignore_capture_keys"))


def key_options(f):  # noqa: ANN001, ANN201 - click decorator
    f = click.option("--no-capture-keys", is_flag=True, expose_value=False, callback=_no_capture_keys,
                     help="Ignore ESP keys embedded in a pcapng (Decryption Secrets Blocks): "
                          "see the capture as someone without the keys would.")(f)
    f = click.option("-E", "esp_specs", multiple=True, metavar="SPEC",
                     help='ESP key as tcpdump -E takes it: "SPI@DST ALGO:SECRET" (repeatable).')(f)
    f = click.option("-k", "--keys", "key_files", multiple=True, metavar="FILE",
                     type=click.Path(dir_okay=False),
                     help="Key file: tcpdump secrets, Wireshark esp_sa, `ip xfrm state` output "
                          "(format detected; repeatable).")(f)
    return f


@dataclass
class KeyStore:
    """The SAs the user gave plus those found in the capture itself."""

    db: object
    from_capture: list[str] = field(default_factory=list)


def load_keys(key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> KeyStore:
    from nhrpscope.keys import SADatabase, load_key_file, parse_tcpdump_spec

    db = SADatabase()
    for path in key_files:
        for sa in load_key_file(path):
            db.add(sa)
    for i, spec in enumerate(esp_specs, 1):
        for sa in parse_tcpdump_spec(spec, where=f"-E #{i}"):
            db.add(sa)
    return KeyStore(db)


def secrets_handler(store: KeyStore):  # noqa: ANN201
    """Feeds pcapng Decryption Secrets Blocks into the key store."""
    from nhrpscope.keys import parse_dsb

    ctx = click.get_current_context(silent=True)
    ignore = bool(ctx and ctx.meta.get("nhrpscope.ignore_capture_keys"))

    def on_secrets(stype: int, data: bytes, where: str) -> None:
        if ignore:
            return
        sas = parse_dsb(stype, data, where)
        for sa in sas:
            store.db.add(sa)  # type: ignore[attr-defined]
        if sas:
            store.from_capture.append(f"{where}: {len(sas)} ESP SA(s)")

    return on_secrets


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nhrpscope")
def main() -> None:
    """nhrpscope: read DMVPN captures (mGRE, NHRP, IPsec ESP).

    \b
    decode    show a capture packet by packet
    """


def _register() -> None:
    # Each command lives in its own module under nhrpscope/commands/.
    from nhrpscope.commands import analyze, decode, decrypt, generate  # noqa: F401




_register()
