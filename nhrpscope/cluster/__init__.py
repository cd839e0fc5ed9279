"""The per-file stage on a Dask cluster (``analyze --workers/--scheduler``).

Workers read, reorder and classify a file or a byte range of one
(``task``, ``split``); the client merges their streams by time,
de-duplicates, renumbers and feeds the one engine (``merge``), which stays
single-threaded and deterministic: the result is a one-process run's.
``run`` makes or joins the cluster. Dask is imported only there, only
when asked for (the ``dask`` extra).
"""
