"""`nhrpscope annotate`: the capture with the diagnosis in its frame
comments, for Wireshark's ``frame.comment`` column and filters (which frame
gets which comment is ``nhrpscope.annotate``)."""

from __future__ import annotations

import click

from nhrpscope import api
from nhrpscope.commands._edge import edges
from nhrpscope.commands._options import capture_keys_used, key_options
from nhrpscope.errors import UserError
from nhrpscope.render.safe_text import printable_line


@click.command(short_help="Write a capture with findings and NHRP roles in frame comments.")
@click.argument("files", nargs=-1, required=True, metavar="FILE",
                type=click.Path(dir_okay=False))
@click.option("-o", "--output", "outfile", required=True, metavar="OUT.pcapng",
              help="Where to write (pcapng whatever the input; - for standard output). "
                   "Never an input; written whole or not at all.")
@click.option("--force", is_flag=True, help="Overwrite OUT.pcapng if it exists.")
@click.option("--no-dedup", is_flag=True,
              help="Replay packets seen twice as two (as analyze --no-dedup); every frame is "
                   "written either way.")
@key_options
def annotate(files: tuple[str, ...], outfile: str, force: bool, no_dedup: bool,
             key_files: tuple[str, ...], esp_specs: tuple[str, ...]) -> None:
    """Write FILE to OUT.pcapng with each frame a finding cites commented
    "CODE SEVERITY: message" and each NHRP and IKE frame with its part in
    the exchanges ("registration 3 of spoke 172.16.25.2 to NHS 172.16.15.2,
    answered by frame 12"), after the frame's own comments. Every frame is
    kept as it was.

    One capture only: merged captures are numbered afresh, so merge them
    first (analyze --write-merged) and annotate the result.

    \b
    In Wireshark: add a frame.comment column, or filter
      frame.comment contains "registration-unanswered"
    """
    with edges(stdout=outfile == "-"):
        if len(files) != 1:
            raise UserError(f"annotate takes one capture, not {len(files)}: merge them first "
                            "(analyze FILE... --write-merged MERGED.pcapng)")
        n = api.annotate(files[0], outfile, keys=key_files, esp=esp_specs,
                         capture_keys=capture_keys_used(), dedup=not no_dedup, force=force)
        for w in n.warnings:
            click.echo(f"nhrpscope: warning: {printable_line(w)}", err=True)
        where = "standard output" if outfile == "-" else printable_line(outfile)
        click.echo(f"{where}: {n.frames} frame{'' if n.frames == 1 else 's'}, {n.comments} "
                   f"comment{'' if n.comments == 1 else 's'} added to {n.annotated} of them",
                   err=True)
