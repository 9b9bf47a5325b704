"""Everything that imports Ray: the two study actors and how they start, the runners and their
trial links, the `optimize` loop, progress display, resource shapes, and joining a Ray cluster.

This layer turns the core's values into remote calls and back: it imports ``_core``,
``_storage`` and ``_errors``, never the public modules above it (``_study``). An error raised
inside an actor on purpose reaches the caller as itself (``_handles.call``), not wrapped by
Ray.
"""
