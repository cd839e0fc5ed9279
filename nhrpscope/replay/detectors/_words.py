"""Wording shared by several detectors."""

from __future__ import annotations

from collections.abc import Iterable

from nhrpscope.replay.facts.nhrp import ErrorIndicationSent, title


def about(f: ErrorIndicationSent) -> str:
    """' about its Registration Request id=7': what an error indication quoted."""
    if not f.about_type:
        return ""
    what = f" about its {title(f.about_type)}"
    if f.about_request_id is not None:
        what += f" id={f.about_request_id}"
    return what


def keys(ks: Iterable[int | None]) -> str:
    return "/".join("none" if k is None else str(k) for k in ks)


def passwords(pws: Iterable[str | None]) -> str:
    return "/".join("none" if p is None else repr(p) for p in sorted(pws, key=str))
