"""Small pieces every section uses: escaping, times, frame references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape

from nhrpscope.render.timefmt import utc


def esc(value: object) -> str:
    """Any value as HTML text: capture text is hostile, so everything is escaped."""
    return escape("" if value is None else str(value), quote=True)


@dataclass
class Frames:
    """How a frame is named: Wireshark's number in its own file. One capture
    keeps its numbers; merged captures are numbered in the merged stream,
    and ``origin`` (merged number -> file and number there), when known,
    says which file a frame is in."""

    files: list[str]
    origin: Mapping[int, tuple[str, int]] = field(default_factory=dict)

    def name(self, n: int) -> str:
        if len(self.files) <= 1:
            return f"frame {n}"
        where = self.origin.get(n)
        if where is None:
            return f"merged frame {n}"
        return f"{where[0]} frame {where[1]} (merged {n})"

    def html(self, frames: Iterable[int], total: int = 0) -> str:
        fs = list(frames)
        text = ", ".join(self.name(n) for n in fs)
        if total > len(fs):
            text += f" ({total} in all)"
        return esc(text)


def stamp(t: float | None, t0: float | None) -> str:
    """UTC time with milliseconds, and seconds after the first frame."""
    if t is None:
        return ""
    rel = f" (+{t - t0:.3f} s)" if t0 is not None else ""
    return utc(t, "%Y-%m-%d %H:%M:%S", millis=True) + rel


def table(head: list[str] | None, rows: Iterable[list[str]], attrs: str = "") -> str:
    """A table of already escaped cells (``head`` None: no header row)."""
    out = [f"<table{attrs}>"]
    if head is not None:
        out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows]
    out.append("</tbody></table>")
    return "".join(out)

