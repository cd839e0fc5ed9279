"""Observers: sans-I/O state machines fed what the capture shows, in time
order. Each owns its state and states facts (``nhrpscope.replay.facts``)
for the detectors; none prints, reads files or words a finding.

- ``tunnel``: the frame loop (the hot path), GRE data per NBMA pair, shortcut
  use, fragments; ``esp``: ESP SAs and their anti-replay windows;
- ``nhrp``: NHRP messages routed by type to ``registration``, ``resolution``,
  ``purge`` and ``indication``, over the per-router caches;
- ``routers``: who claims which addresses, roles, NAT aliases.
"""
