"""The study's logic without Ray: the event vocabulary, the state rebuilt from events, the
recorder, the messages between runners and actors, the `Trial` handle, proposals, and the
TrialScheduler and SamplerService cores.

No Ray and no pyarrow: these modules import ``raysweep.samplers``, ``raysweep.scheduling``,
``raysweep.orchestrator._errors`` and, of ``_storage``, only ``_storage._event`` (the stored
event value). The log, the lease and checkpoints are reached through the ``StudyStore``
protocol (``_store``) the caller hands in, so the same core runs under a Ray actor, in a test,
or over another storage. Ray lives one layer up, in ``_ray``.
"""
