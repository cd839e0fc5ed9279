"""Options several commands share: the captures, the ESP keys, merging."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable)

FILES = click.argument("files", nargs=-1, required=True,
                       type=click.Path(dir_okay=False, allow_dash=True))


def _no_capture_keys(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["nhrpscope.ignore_capture_keys"] = True


def capture_keys_used() -> bool:
    """False under --no-capture-keys: the keys a pcapng carries are ignored."""
    ctx = click.get_current_context(silent=True)
    return not (ctx and ctx.meta.get("nhrpscope.ignore_capture_keys"))


def key_options(f: F) -> F:
    """-k FILE, -E SPEC (as ``key_files``, ``esp_specs``) and --no-capture-keys
    (read with ``capture_keys_used``)."""
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


def _force(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["nhrpscope.force"] = True


def force_used() -> bool:
    """True under --force: an existing --write-merged file is replaced."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get("nhrpscope.force"))


def merge_options(f: F) -> F:
    """--no-dedup, --write-merged (with --force) and the key options: for
    commands that replay."""
    f = click.option("--force", is_flag=True, expose_value=False, callback=_force,
                     help="Replace the --write-merged file if it exists (never an input).")(f)
    f = click.option("--no-dedup", is_flag=True,
                     help="Keep packets seen twice (by default the same IP packet seen again "
                          "within 1 s, TTL and checksum aside, counts once).")(f)
    f = click.option("--write-merged", "write_merged", default=None, metavar="OUT.pcapng",
                     help="Write the merged, de-duplicated stream whose frame numbers "
                          "the output cites (refused if it exists, unless --force).")(f)
    return key_options(f)
