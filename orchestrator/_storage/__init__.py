"""The study's files: event log (segments, snapshots, replay, on-disk format), writer lease,
trial checkpoints and the durable file primitives under them.

Arrow and files only: nothing here imports Ray, ``raysweep.orchestrator._core`` or
``_ray``; it may import ``raysweep.orchestrator._errors``. Payloads are opaque JSON objects to
this layer: what they mean is ``_core._events``. ``_event`` (the stored event and its JSON text)
imports no pyarrow, so that ``_core`` can use it; the rest is reached from ``_core`` only
through the ``StudyStore`` it is handed (``_store.LocalStudyStore``).
"""
