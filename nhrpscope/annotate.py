"""``nhrpscope annotate``: which frame of a capture gets which comment, and
the copy of the capture that carries them.

Each frame a finding cites gets ``code severity: message`` and each NHRP
(and IKE) frame its part in the story ("registration 3 of spoke
172.16.25.2 to NHS 172.16.15.2, answered by frame 12"), read from the
``Analysis`` records. The copy keeps every frame, its time, link type,
wire length and original comments (first), and the capture's decryption
secrets; it is pcapng whatever the input, since only pcapng has comments.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nhrpscope.capture import CaptureReader, PcapngWriter
from nhrpscope.output import OutputFile, check
from nhrpscope.replay.findings import Finding
from nhrpscope.replay.model import Analysis, Purge, Registration, Resolution

# A finding's message is a paragraph; a comment column shows one line.
MESSAGE_CHARS = 200

Notes = dict[int, list[str]]  # frame number -> comments to add, in order


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line (control characters and runs of space made one
    space), cut at a word before ``limit`` characters."""
    s = re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()
    if limit is None or len(s) <= limit:
        return s
    head = s[: limit - 1]
    # at the end of a clause if one ends in the second half, else at a word
    clause = max(head.rfind(": "), head.rfind("; "), head.rfind(". "))
    cut = head[:clause] if clause > limit // 2 else head.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def finding_note(f: Finding) -> str:
    return one_line(f"{f.code} {f.severity}: {one_line(f.message, MESSAGE_CHARS)}")


def _outcome(answer: int | None, code: int | None, code_name: str | None, state: str) -> str:
    if answer is not None:
        return f"answered by frame {answer}" + (f" ({code_name or code})" if code else "")
    return {"unanswered": "unanswered", "pending": "no reply in the capture",
            "sent": "no reply in the capture"}.get(state, state)


def _registrations(regs: Iterable[Registration], kinds: Mapping[int, str], out: Notes) -> None:
    count: dict[tuple[str | None, str | None], int] = defaultdict(int)
    for r in regs:
        hub = r.hub_nbma or r.hub_tunnel or "?"
        who = f"spoke {r.spoke_nbma or r.spoke_tunnel or '?'} to NHS {hub}"
        requests = [f for f in r.frames if kinds.get(f) == "registration-request"]
        replies = [f for f in r.frames if kinds.get(f) == "registration-reply"]
        if requests:
            count[(r.spoke_nbma, hub)] += 1
            story = f"registration {count[(r.spoke_nbma, hub)]} of {who}"
            first = requests[0]
            out[first].append(f"{story}, "
                              + _outcome(replies[0] if replies else None, r.code, r.code_name,
                                         r.state))
            for f in requests[1:]:
                out[f].append(f"retransmission of frame {first} ({story})")
        else:
            story = f"registration of {who} (its request is not in the capture)"
        for i, f in enumerate(replies):
            asked = [q for q in requests if q < f]
            to = f"to frame {asked[-1]}" if asked else f"({story})"
            what = "registration reply" if i == 0 else "registration reply again"
            out[f].append(f"{what} {to}" + (f": {r.code_name or r.code}" if r.code else ""))


def _resolutions(ress: Iterable[Resolution], out: Notes) -> None:
    for r in ress:
        target = r.target_tunnel or "?"
        requests = sorted((h for h in r.hops if h.kind == "request"), key=lambda h: h.frame)
        replies = sorted((h for h in r.hops if h.kind == "reply"), key=lambda h: h.frame)
        story = f"resolution request for {target} by {r.requester_nbma or '?'}"
        if requests:
            first = requests[0]
            out[first.frame].append(f"{story}, " + _outcome(
                replies[0].frame if replies else None, r.code, r.code_name, r.state))
            for h in requests[1:]:
                if h.from_nbma == first.from_nbma:
                    out[h.frame].append(f"retransmission of frame {first.frame} ({story})")
                else:
                    out[h.frame].append(f"{story} (frame {first.frame}) passed on by "
                                        f"{h.from_nbma} to {h.to_nbma}")
        to = f"to frame {requests[0].frame}" if requests else f"({story}; not in the capture)"
        answer = (f": {target} is at {r.resolved_nbma}" if r.state == "resolved" and r.resolved_nbma
                  else f": {r.code_name or r.code}" if r.code else "")
        for i, h in enumerate(replies):
            if i == 0:
                out[h.frame].append(f"resolution reply {to}{answer}")
            else:
                out[h.frame].append(f"resolution reply {to} passed on by {h.from_nbma} "
                                    f"to {h.to_nbma}")


def _purges(purges: Iterable[Purge], kinds: Mapping[int, str], out: Notes) -> None:
    for p in purges:
        requests = [f for f in p.frames if kinds.get(f) == "purge-request"]
        replies = [f for f in p.frames if kinds.get(f) == "purge-reply"]
        story = (f"purge from {p.sender_nbma or '?'} to {p.receiver_nbma or '?'} of "
                 f"{', '.join(p.purged) or '?'}")
        if requests:
            out[requests[0]].append(f"{story}, " + (
                "no reply requested" if p.state == "no-reply-requested"
                else _outcome(replies[0] if replies else None, None, None, p.state)))
            for f in requests[1:]:
                out[f].append(f"retransmission of frame {requests[0]} ({story})")
        for f in replies:
            asked = [q for q in requests if q < f]
            out[f].append(f"purge reply to frame {asked[-1]}" if asked else f"purge reply ({story})")


def _indications(a: Analysis, out: Notes) -> None:
    for d in a.redirects:
        state = {"resolved": "the spoke resolved it", "ignored": "the spoke did not resolve it"}
        line = (f"redirect (traffic indication) from hub {d.hub_nbma or '?'} to "
                f"{d.spoke_nbma or '?'} for {d.orig_src or '?'} -> {d.orig_dst or '?'}")
        for f in d.frames:
            out[f].append(f"{line}; {state.get(d.state, 'no resolution in the capture')}")
    for e in a.errors:
        for f in e.frames:
            out[f].append(f"error indication {e.error_name or e.error_code} from "
                          f"{e.sender_nbma or '?'} to {e.receiver_nbma or '?'}")


def _ike(a: Analysis, out: Notes) -> None:
    for n in a.ike:
        story = f"IKEv{n.version} {n.initiator} -> {n.responder}, {n.state}"
        for m in n.messages:
            again = " again" if m.retransmit else ""
            out[m.frame].append(f"IKE {m.step}{again} from {m.src} to {m.dst} ({story})")


def frame_notes(a: Analysis, kinds: Mapping[int, str]) -> Notes:
    """The comments each frame gets: the findings citing it, then its part
    in the NHRP and IKE exchanges. ``kinds`` maps NHRP frames to their
    message type (``registration-request`` ...), as the replay's events
    tell them: the records' frame lists do not say which is which."""
    out: Notes = defaultdict(list)
    for f in a.findings:
        note = finding_note(f)
        for fr in dict.fromkeys(f.frames):
            out[fr].append(note)
    story: Notes = defaultdict(list)
    _registrations(a.registrations, kinds, story)
    _resolutions(a.resolutions, story)
    _purges(a.purges, kinds, story)
    _indications(a, story)
    _ike(a, story)
    for fr, lines in story.items():
        out[fr].extend(one_line(s) for s in dict.fromkeys(lines))
    return dict(out)


@dataclass
class AnnotateCounts:
    """What ``write_annotated`` did."""

    frames: int = 0
    annotated: int = 0  # frames given at least one comment
    comments: int = 0  # comments added
    warnings: list[str] = field(default_factory=list)


def write_annotated(infile: str, outfile: str, notes: Mapping[int, list[str]], *,
                    force: bool = False, inputs: Iterable[str] = ()) -> AnnotateCounts:
    """Copy ``infile`` to ``outfile`` (pcapng) with ``notes`` added to the
    frames they name, after the frame's own comments. ``outfile`` appears
    whole or not at all and is never an input (``nhrpscope.output``)."""
    target = OutputFile(outfile, force=force, inputs=(infile, *inputs))
    check(outfile, force=force, inputs=target.inputs)
    counts = AnnotateCounts()
    skipped = 0  # frames the reader counted but could not hand over
    with target as fh:
        w = PcapngWriter(fh, faithful=True)
        reader = CaptureReader(infile, on_secrets=lambda typ, data, _where: w.secrets(typ, data))
        with reader:
            for fr in reader:
                counts.frames += 1
                if fr.number != counts.frames + skipped:
                    # frames the reader had to skip: Wireshark numbers the
                    # copy's frames after them less than the comments do
                    counts.warnings.append(
                        f"{infile}: frame {counts.frames + skipped} could not be read and is "
                        f"left out; the frames after it are numbered "
                        f"{fr.number - counts.frames} less in {outfile}")
                    skipped = fr.number - counts.frames
                own = fr.comments or ((fr.comment,) if fr.comment else ())
                added = notes.get(fr.number, [])
                if added:
                    counts.annotated += 1
                    counts.comments += len(added)
                w.write(fr.time, fr.data, fr.linktype, fr.wire_len, [*own, *added])
        counts.warnings[:0] = reader.warnings
    return counts
