"""Which file a merged frame came from: the merged stream nhrpscope writes
(``--write-merged``) notes on each frame "FILE frame N"."""

from __future__ import annotations

import re

from nhrpscope.capture import CaptureReader

_NOTE = re.compile(r"(?:^|; )([^;]+) frame (\d+)$")


def origins(merged_path: str) -> dict[int, tuple[str, int]]:
    """Merged frame number -> (file name, its number in that file)."""
    out: dict[int, tuple[str, int]] = {}
    with CaptureReader(merged_path) as reader:
        for fr in reader:
            m = _NOTE.search(fr.comment or "")
            if m:
                out[fr.number] = (m.group(1), int(m.group(2)))
    return out
