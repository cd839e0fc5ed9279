"""Facts: what an observer saw, as typed records (one NamedTuple per
kind of fact), for the detectors to judge. A fact names routers by NBMA
address and cites its frames; it carries no wording.

``nhrp``: the control plane; ``tunnel``: fragments and ESP; ``capture``:
the end of the capture, with a read-only view for the whole-capture rules.
"""
