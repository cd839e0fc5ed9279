"""`nhrpscope decode`: a capture frame by frame, as text or JSON lines."""

from __future__ import annotations

import json
import sys
from contextlib import closing

import click

from nhrpscope import api
from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import capture_keys_used, key_options
from nhrpscope.errors import UserError
from nhrpscope.render.safe_text import fit_line, printable_line


@click.command(short_help="A capture frame by frame, as text or JSON lines.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="text: one line per frame (-v: full tree); jsonl: one JSON object per frame.")
@click.option("-v", "--verbose", is_flag=True, help="Full decode tree of every frame (text format).")
@click.option("-c", "count", type=click.IntRange(min=0), default=None, metavar="N", help="Only the first N frames.")
@click.option("--only", type=click.Choice(["nhrp", "gre", "esp", "ike", "ipsec"]), default=None,
              help="Keep only frames that contain this layer.")
@key_options
def decode(file: str, fmt: str, verbose: bool, count: int | None, only: str | None,
           key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """Decode FILE (pcap, pcapng, gzipped; - for stdin) frame by frame."""
    from nhrpscope.render.jsonout import packet_json
    from nhrpscope.render.text import summary, tree

    with edges():
        if file == "-" and sys.stdin is None:
            raise UserError("standard input ('-') is closed")
        dec = api.decode(file, keys=key_files, esp=esp_specs, capture_keys=capture_keys_used(),
                         only=only, count=count, count_esp=fmt == "text")
        out = sys.stdout
        console = None
        if fmt == "text" and out.isatty():
            from nhrpscope.render.terminal import Console

            console = Console(highlight=False)
        with closing(iter(dec)) as packets:  # closed early: the reading process stops
            for pkt in packets:
                if fmt == "jsonl":
                    out.write(json.dumps(packet_json(pkt), ensure_ascii=False) + "\n")
                elif verbose:
                    lines = tree(pkt)
                    if console:
                        console.print(f"[bold cyan]{lines[0]}[/]", markup=True)
                        for ln in lines[1:]:
                            style = "red" if ln.lstrip().startswith("!") else ("bold" if not ln.startswith(" ") else "")
                            console.print(ln, style=style or None, markup=False)
                        console.print()
                    else:
                        out.write("\n".join(lines) + "\n\n")
                else:
                    line = summary(pkt, dec.first or 0.0)
                    if console:  # one line a frame: cut between words, never wrapped
                        console.print(fit_line(line, console.width), style="red" if pkt.problems else None,
                                      markup=False, soft_wrap=True)
                    else:
                        out.write(line + "\n")
            out.flush()
        for w in dec.warnings:
            click.echo(f"nhrpscope: warning: {printable_line(w)}", err=True)
        for where in dec.key_notes:
            click.echo(f"nhrpscope: keys from the capture: {printable_line(where)}", err=True)
        if dec.esp_stats and fmt == "text":
            click.echo(_esp_summary(dec.esp_stats), err=True)


def _esp_summary(stats: dict[int, dict[str, int]]) -> str:
    lines = ["ESP per SPI:  frames  decrypted  ICV ok  ICV failed  failed  no key"]
    for spi, s in sorted(stats.items()):
        lines.append(f"  0x{spi:08x}  {s['frames']:>7}  {s['decrypted']:>9}  {s['icv_ok']:>6}  "
                     f"{s['icv_failed']:>10}  {s['failed']:>6}  {s['no_key']:>6}")
    return "\n".join(lines)
