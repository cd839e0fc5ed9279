"""`nhrpscope decrypt`: a capture any tool can read without keys
(the rewriting itself is ``nhrpscope.rewrite``)."""

from __future__ import annotations

import sys

import click

from nhrpscope import api
from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import capture_keys_used, key_options
from nhrpscope.errors import UserError
from nhrpscope.render.safe_text import printable_line


@click.command(short_help="Write a capture with its ESP decrypted (or its keys embedded).")
@click.argument("infile", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "outfile", required=True, metavar="OUTFILE",
              help="Where to write: .pcap or .pcapng (a pcapng input always gives pcapng); "
                   "- for standard output. Never an input; written whole or not at all.")
@click.option("--embed-keys", is_flag=True,
              help="Keep the ESP packets; write the SAs used into a pcapng Decryption Secrets Block.")
@click.option("--force", is_flag=True, help="Overwrite OUTFILE if it exists (a device or FIFO is "
              "written to, never replaced).")
@key_options
def decrypt(infile: str, outfile: str, embed_keys: bool, force: bool,
            key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """Write INFILE with every decryptable ESP packet replaced by its clear payload."""
    with edges(stdout=outfile == "-"):
        if infile == "-" and sys.stdin is None:
            raise UserError("standard input ('-') is closed")
        n = api.decrypt(infile, outfile, keys=key_files, esp=esp_specs,
                        capture_keys=capture_keys_used(), embed_keys=embed_keys, force=force)
        where = "standard output" if outfile == "-" else outfile
        for w in n.warnings:
            click.echo(f"nhrpscope: warning: {printable_line(w)}", err=True)
        if embed_keys:
            click.echo(f"{where}: {n.frames} frames, {n.embedded} SA(s) embedded", err=True)
        else:
            click.echo(f"{where}: {n.frames} frames; {n.decrypted} of {n.decrypted + n.kept} "
                       f"ESP frames decrypted, {n.kept} kept as they were", err=True)
