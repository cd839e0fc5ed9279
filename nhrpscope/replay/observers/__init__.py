"""Observers: sans-I/O state machines fed what the capture shows, in time
order. Each owns its state and states facts (``nhrpscope.replay.facts``)
for the detectors; none prints, reads files or words a finding."""
