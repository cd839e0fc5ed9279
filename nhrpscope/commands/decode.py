"""`nhrpscope decode`: a capture frame by frame, as text or JSON lines."""

from __future__ import annotations

import json
import sys

import click

from nhrpscope.cli import edges, key_options, load_keys, main, secrets_handler


@main.command()
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
    from dissectors.frame import FrameDecoder
    from nhrpscope.capture import CaptureReader
    from nhrpscope.render.jsonout import packet_json
    from nhrpscope.render.text import summary, tree

    with edges():
        store = load_keys(key_files, esp_specs)
        reader = CaptureReader(file, on_secrets=secrets_handler(store))
        decoder = FrameDecoder(store.db.lookup)  # type: ignore[attr-defined]
        out = sys.stdout
        console = None
        if fmt == "text" and out.isatty():
            from rich.console import Console

            console = Console(highlight=False)
        wanted = {"ipsec": ("esp", "ike", "nat-keepalive")}.get(only or "", (only,) if only else ())
        esp_stats: dict[int, dict[str, int]] = {}
        t0: float | None = None
        shown = 0
        skip = _skippable(wanted, fmt)
        classify = None
        records = reader.records()
        source = None
        if skip:
            from nhrpscope.replay.source import CaptureSource

            source = CaptureSource([file], on_secrets=secrets_handler(store), dedup=False,
                                   reorder_window=0.0, reorder_max=0)
            if source.stageable():
                # a big file: a second process reads and classifies it, and hands
                # on only the frames to decode
                from nhrpscope.cli import capture_keys_used

                records = source.staged(key_files, esp_specs, skip=skip,
                                        capture_keys=capture_keys_used())
            else:
                source.close()
                source = None
                from nhrpscope.replay.fastpath import Classifier

                classify = Classifier(store.db.lookup).classify  # type: ignore[attr-defined]
        with reader:
            for rec in records:
                number, t, lt, data, wl, comment = rec
                if count is not None and number > count:
                    break
                if t0 is None:
                    t0 = t
                if classify is not None:
                    m = classify(rec)
                    if m is not None and len(m) in skip:
                        continue  # its headers show it holds none of the wanted layers
                pkt = decoder.decode(lt, data, frame=number, time=t, wire_len=wl, comment=comment)
                _count_esp(pkt, esp_stats)
                if wanted and not any(pkt.has(w) for w in wanted):
                    continue
                shown += 1
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
                    line = summary(pkt, t0 or 0.0)
                    if console:
                        console.print(line, style="red" if pkt.problems else None, markup=False)
                    else:
                        out.write(line + "\n")
            out.flush()
        if source is not None:
            source.close()  # with -c N, the reading process stops too
        for w in (source.warnings if source is not None else reader.warnings) + decoder.finish():
            click.echo(f"nhrpscope: warning: {w}", err=True)
        for where in store.from_capture:
            click.echo(f"nhrpscope: keys from the capture: {where}", err=True)
        if esp_stats and fmt == "text":
            click.echo(_esp_summary(esp_stats), err=True)


def _skippable(wanted: tuple[str, ...], fmt: str) -> tuple[int, ...]:
    """Which of ``fastpath.Classifier``'s results (by their length) need no
    decoding for ``--only``: GRE data (5) unless GRE itself is wanted; ESP
    (9: GRE data inside, or no key) unless ESP or GRE is, and only for JSON
    lines (the text format's per-SPI summary counts every ESP packet)."""
    if not wanted or "gre" in wanted:
        return ()
    if "esp" in wanted or fmt != "jsonl":
        return (5,)
    return (5, 9)


def _count_esp(pkt, stats: dict[int, dict[str, int]]) -> None:  # noqa: ANN001
    for la in pkt.layers:
        if la.proto == "esp":
            s = stats.setdefault(la.spi, {"frames": 0, "decrypted": 0, "icv_ok": 0, "icv_failed": 0,
                                          "no_key": 0, "failed": 0})
            s["frames"] += 1
            status = getattr(la, "status", "")
            if status == "decrypted":
                s["decrypted"] += 1
            elif status == "no-key":
                s["no_key"] += 1
            elif status == "decryption-failed":
                s["failed"] += 1
            if la.icv_ok is True:
                s["icv_ok"] += 1
            elif la.icv_ok is False:
                s["icv_failed"] += 1


def _esp_summary(stats: dict[int, dict[str, int]]) -> str:
    lines = ["ESP per SPI:  frames  decrypted  ICV ok  ICV failed  failed  no key"]
    for spi, s in sorted(stats.items()):
        lines.append(f"  0x{spi:08x}  {s['frames']:>7}  {s['decrypted']:>9}  {s['icv_ok']:>6}  "
                     f"{s['icv_failed']:>10}  {s['failed']:>6}  {s['no_key']:>6}")
    return "\n".join(lines)
