"""What the end of the capture says of each IKE negotiation: its final state,
its IOS `show crypto isakmp sa` state, and the facts for the detectors.

A negotiation is ``established`` once its first child SA is agreed (or when
the capture started after it was set up), ``failed`` with an error notify, a
redirect, or when it was abandoned after an answer, ``unanswered`` when
nothing ever came back (given up or not: the findings say which), else
``incomplete`` (answered, still going when the capture ends). Every view
(analyze, its JSON, ``show crypto isakmp sa``) reads this one verdict.
Abandoned: a newer negotiation between the same peers followed it, or the
capture went on well past its last message (``ABANDON_AFTER``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nhrpscope.replay.facts.ipsec import (
    AuthenticationFailed,
    DpdUnanswered,
    IkeFragmentsDropped,
    IkeRedirected,
    IkeRetransmissions,
    IkeUnanswered,
    InvalidKePayload,
    NatTUnanswered,
    NoProposalChosen,
)
from nhrpscope.replay.observers.ike_records import IkeNegotiation

# A negotiation silent this long (seconds) before the capture ends was given up.
ABANDON_AFTER = 30.0

# IOS `show crypto isakmp sa` states (IKEv1), by how far main / aggressive mode got.
IOS_STATES = {0: "MM_NO_STATE", 1: "MM_NO_STATE", 2: "MM_SA_SETUP", 3: "MM_KEY_EXCH",
              4: "MM_KEY_EXCH", 5: "MM_KEY_EXCH", 6: "QM_IDLE"}
IOS_AM_STATES = {0: "AG_NO_STATE", 1: "AG_NO_STATE", 2: "AG_INIT_EXCH", 3: "QM_IDLE"}

IkeFact = (NoProposalChosen | InvalidKePayload | NatTUnanswered | AuthenticationFailed
           | IkeUnanswered | IkeRetransmissions | DpdUnanswered | IkeFragmentsDropped
           | IkeRedirected)


def close(neg: IkeNegotiation, end: float | None, nxt: IkeNegotiation | None,
          sas: list[Any]) -> None:
    """Decide ``neg``'s final state at ``end``; ``nxt``: the next negotiation
    between the same peers, if any; ``sas``: the ESP SAs the engine counted."""
    lost = lost_answer(neg)
    if lost is not None and neg.established is not None and neg.established >= lost[0].time \
            and lost[0].src != neg.initiator:
        # the answer that set the SAs up never reached the peer, which kept asking
        neg.established = None
        if neg.phase1 is not None and neg.phase1 >= lost[0].time:
            neg.phase1 = None
        neg.quick_modes = max(0, neg.quick_modes - 1)
        neg._child = [c for c in neg._child if c < lost[0].time]
    silent = end is not None and neg.last is not None and end - neg.last > ABANDON_AFTER
    abandoned = neg._abandoned or (nxt is not None and neg.established is None) or (
        silent and neg.established is None)
    # an answer seen, or one the initiator shows it got: the responder's SPI
    # (cookie) in its messages (RFC 2408 3.1, RFC 7296 3.1)
    answered = neg.responder_spi is not None or any(
        m.response or m.src == neg.responder for m in neg.messages)
    if auth_failed_inferred(neg, nxt, sas):
        neg.state = "failed"
        neg.failure = neg.failure or "AUTHENTICATION_FAILED (inferred: IKE_AUTH answered, " \
                                     "nothing more in that IKE SA, no ESP, a new IKE_SA_INIT)"
        neg.established = None
        neg.quick_modes = 0
        neg._child.clear()
    if neg.established is None and neg.phase1 is not None and abandoned and neg.failure is None:
        # phase 1 up, quick mode never answered: the peer refused it inside encryption
        neg.failure = "quick mode unanswered (phase 2: transform set or proxy identities differ?)"
    if neg.established is None and neg.redirect is not None and neg.failure is None:
        neg.failure = f"redirected to {neg.redirect} (REDIRECT, RFC 5685)"
    if neg.established is not None or (not neg.setup_seen and neg.failure is None):
        neg.state = "established"  # (established None: before the capture started)
    elif neg.failure is not None:
        neg.state = "failed"
    elif not answered:
        neg.state = "unanswered"  # whether given up yet or not: nothing came back
    elif abandoned:
        neg.state = "failed"
    else:
        neg.state = "incomplete"
    neg._abandoned = abandoned
    neg.ios_state = ios_state(neg)


def auth_failed_inferred(neg: IkeNegotiation, nxt: IkeNegotiation | None, sas: list[Any]) -> bool:
    """IKEv2 IKE_AUTH answered, then nothing: no other exchange in that IKE SA,
    no ESP between the peers, no DPD, and the same initiator starts a fresh
    IKE_SA_INIT. The answer was an AUTHENTICATION_FAILED inside SK (RFC 7296
    2.21.2: the IKE SA is not created), the only reading of all four together."""
    if neg.version != 2 or neg.established is None or nxt is None or neg.dpd:
        return False
    if nxt.initiator != neg.initiator or not nxt.setup_seen:
        return False
    if any(m.exchange not in ("ike-sa-init", "ike-auth") for m in neg.messages):
        return False  # CREATE_CHILD_SA / INFORMATIONAL: the IKE SA was up
    return not any(frozenset((s.src, s.dst)) == neg.peers and s.last is not None
                   and s.last >= neg.established and (s.first or 0) < (nxt.first or 0)
                   for s in sas)


def ios_state(neg: IkeNegotiation) -> str:
    if neg.version == 2:
        if neg.established is not None or not neg.setup_seen:
            return "READY"
        return "IN-NEG" if neg.state == "incomplete" else "DELETE"
    best = 0
    am = neg.mode == "aggressive-mode"
    for s in neg.steps:
        if s[:2] in ("MM", "AM") and s[2:].isdigit():
            best = max(best, int(s[2:]))
    if neg.phase1 is not None or any(s.startswith("QM") for s in neg.steps):
        return "QM_IDLE"
    if neg.mode not in ("main-mode", "aggressive-mode"):
        return "QM_IDLE"  # the capture started after phase 1
    return (IOS_AM_STATES if am else IOS_STATES).get(best, "MM_NO_STATE")


def no_proposal_chosen(fail: str) -> bool:
    return fail.startswith("NO-PROPOSAL-CHOSEN") or fail.startswith("NO_PROPOSAL_CHOSEN")


def facts(neg: IkeNegotiation) -> Iterator[IkeFact]:
    """What went wrong with a closed negotiation, the likeliest cause only
    (with the retransmissions that preceded a refusal); then, for one that
    came up, its retransmissions and unanswered DPD."""
    who = (neg.initiator, neg.responder, neg.version, neg.mode)
    fail = neg.failure or ""
    notify_frames = [m.frame for m in neg.messages if m.notifies and any(
        n in fail for n in m.notifies)]
    first_req = [m.frame for m in neg.messages if not m.response][:1]
    if neg.redirect is not None:
        yield IkeRedirected(neg.initiator, neg.responder, neg.redirect, neg.first,
                            tuple(first_req + [neg._redirect_frame]))
        if neg.established is None:
            return
    if no_proposal_chosen(fail):
        yield NoProposalChosen(*who, fail, neg.proposal, neg.first,
                               tuple(first_req + notify_frames))
        yield from retransmissions(neg, "failed")
        return
    ke = invalid_ke(neg, who, first_req, notify_frames)
    if ke is not None:
        yield ke
        if not ke.recovered:
            yield from retransmissions(neg, "failed")
            return
    frag = fragments_dropped(neg)
    if frag is not None:
        yield frag
        return
    moved = [m for m in neg.messages if m.frame in neg._port4500]
    if neg.state in ("failed", "unanswered", "incomplete") and moved and neg.established is None \
            and not neg._answered4500 and len({m.src for m in moved}) == 1 and (
            neg._abandoned or len(moved) >= 2):
        yield NatTUnanswered(*who, neg.nat_detail, moved[0].src, moved[0].dst, len(moved),
                             moved[0].time,
                             tuple(neg._natd_frames[:2] + [m.frame for m in moved]))
        return
    if "AUTHENTICATION" in fail.upper() or mm_stall(neg):
        stall = [m for m in neg.messages if m.step in ("MM5", "MM6", "AM2", "AM3")
                 or (neg.version == 2 and m.exchange == "ike-auth")]
        yield AuthenticationFailed(*who, neg.failure, neg.reached, neg.first,
                                   tuple([m.frame for m in stall] or neg.frames[-3:]))
        if neg.failure is not None and "inferred" not in neg.failure:
            yield from retransmissions(neg, "failed")  # refused by a notify: loss besides
        return
    if neg.state == "unanswered" and (neg._abandoned or neg.retransmits >= 2):
        yield IkeUnanswered(*who, len(neg.messages), neg.responder_port, neg.first,
                            tuple(m.frame for m in neg.messages))
        return
    if neg.state == "established":
        yield from retransmissions(neg, "established")
    dpd = dpd_unanswered(neg)
    if dpd is not None:
        yield dpd


def retransmissions(neg: IkeNegotiation, state: str) -> Iterator[IkeRetransmissions]:
    """The messages re-sent while the IKE SA was being set up (not DPD or rekeys
    later): up to its establishment, or all of them before a refusal."""
    rt = [m for m in neg.messages if m.retransmit and (
        neg.established is None or m.time <= neg.established)]
    if rt:
        yield IkeRetransmissions(neg.initiator, neg.responder, neg.version, neg.mode, rt[0].time,
                                 tuple(m.frame for m in rt), state)


def invalid_ke(neg: IkeNegotiation, who: tuple[str, str, int, str], first_req: list[int],
               notify_frames: list[int]) -> InvalidKePayload | None:
    """IKEv2 INVALID_KE_PAYLOAD (kept after a retry, RFC 7296 1.2), IKEv1
    INVALID-KEY-INFORMATION (no group named)."""
    if neg._invalid_ke is not None:
        sent, want, fr = neg._invalid_ke
        refused = [m.frame for m in neg.messages if not m.response and m.exchange == "ike-sa-init"
                   and m.frame < fr][-1:] or first_req
        retried = any(not m.response and m.exchange == "ike-sa-init" and m.frame > fr
                      for m in neg.messages)
        return InvalidKePayload(*who, "INVALID_KE_PAYLOAD", sent, neg.first,
                                tuple(refused + [fr]), want, neg.established is not None, retried)
    if (neg.failure or "") == "INVALID-KEY-INFORMATION":
        return InvalidKePayload(*who, neg.failure or "", neg.dh_group, neg.first,
                                tuple(first_req + notify_frames))
    return None


def lost_answer(neg: IkeNegotiation) -> tuple[Any, list[Any]] | None:
    """A message sent as IP fragments, after which the peer only re-sent what it
    had sent before (RFC 7296 2.1, RFC 2408 retransmission): it never got that
    message, whose fragments the path dropped. The tap, nearer the sender, saw
    them. Returns the message and the sender's copies of it."""
    msgs = neg.messages
    for k in range(len(msgs) - 1, -1, -1):
        m = msgs[k]
        if m.frame not in neg._ip_fragments or m.retransmit:
            continue
        after = msgs[k + 1:]
        theirs = [x for x in after if x.src != m.src]
        if not theirs or not all(x.retransmit for x in after):
            return None
        return m, [m] + [x for x in after if x.src == m.src]
    return None


def fragments_dropped(neg: IkeNegotiation) -> IkeFragmentsDropped | None:
    """The sender's last messages all came as IP fragments and nothing answered
    them, though it retried or gave up: the fragments were lost on the path.
    Any unfragmented message among them unanswered too, and it is not that.
    Or the peer kept re-sending what the fragmented message answered."""
    if neg.established is not None or not neg._ip_fragments or not neg.messages:
        return None
    lost = lost_answer(neg)
    if lost is not None:
        m, copies = lost
        frames = sorted({f for x in copies for f in neg._ip_fragments.get(x.frame, (x.frame,))})
        asked = sum(1 for x in neg.messages if x.src != m.src and x.time > m.time)
        return IkeFragmentsDropped(neg.initiator, neg.responder, neg.version, neg.mode, m.src,
                                   m.step, len(copies), True, m.time, tuple(frames), asked)
    sender = neg.messages[-1].src
    tail: list[Any] = []
    for m in reversed(neg.messages):
        if m.src != sender:
            break
        tail.append(m)
    tail.reverse()
    if any(m.frame not in neg._ip_fragments for m in tail):
        return None
    if len(tail) < 2 and not neg._abandoned:
        return None  # one try, and the capture ends: too soon to tell
    answered = len(tail) < len(neg.messages)
    frames = sorted({f for m in tail for f in neg._ip_fragments[m.frame]})
    return IkeFragmentsDropped(neg.initiator, neg.responder, neg.version, neg.mode, sender,
                               tail[0].step, len(tail), answered, tail[0].time, tuple(frames))


def mm_stall(neg: IkeNegotiation) -> bool:
    """IKEv1 main mode that got to message 5 or 6 and no further, given up
    or retried: the pre-shared key (or certificate) does not match."""
    if neg.version != 1 or neg.mode != "main-mode" or neg.phase1 is not None and \
            any(s.startswith("QM") for s in neg.steps):
        return False
    if neg.reached not in ("MM5", "MM6"):
        return False
    rtx = sum(1 for m in neg.messages if m.retransmit and m.step in ("MM5", "MM6"))
    return neg.state in ("failed", "unanswered") or rtx >= 2


def dpd_unanswered(neg: IkeNegotiation) -> DpdUnanswered | None:
    """DPD requests from one side with no answer: three or more in a row."""
    run: list[tuple[float, int]] = []
    sender = None
    for t, fr, src, kind in neg._info:
        if kind in ("dpd", "request", "encrypted"):
            if sender not in (None, src):
                run = []
            sender = src
            run.append((t, fr))
        elif kind in ("dpd-ack", "response") or (kind == "encrypted" and src != sender):
            run = []
    rtx = [m for m in neg.messages if m.retransmit and m.exchange == "informational"]
    if len(run) + len(rtx) < 3 or sender is None:
        return None
    other = neg.responder if sender == neg.initiator else neg.initiator
    frames = [fr for _, fr in run] + [m.frame for m in rtx]
    return DpdUnanswered(sender, other, neg.responder_port, run[0][0] if run else neg.first,
                         tuple(sorted(frames)))
