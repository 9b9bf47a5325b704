"""The exceptions raysweep raises on purpose.

One root, :class:`RaysweepError`, so callers can catch everything raysweep means to raise; each
specific error also subclasses the built-in it resembles, so code written against the built-ins
(``except OSError``) keeps working.
"""

from __future__ import annotations

__all__ = [
    "CorruptLogError",
    "DetachedStudyError",
    "DuplicatedStudyError",
    "ObjectiveUsageError",
    "RaysweepError",
    "StorageError",
    "StudyLockedError",
    "TrialInterrupted",
    "TrialPaused",
    "TrialPruned",
    "TrialStateError",
    "UnplaceableResourcesError",
]


class RaysweepError(Exception):
    """Root of every error raysweep raises on purpose."""


class StorageError(RaysweepError, OSError):
    """The study's storage cannot be read or written.

    The message names the path and says what to fix (permissions, a missing directory, ...).
    """


class StudyLockedError(RaysweepError, RuntimeError):
    """Another live process holds the study's writer lease, or took it from us.

    The message names the owner (host, pid, description, since when, age of its last heartbeat)
    and what to do: stop that process, or wait for its lease to go stale.
    """


class CorruptLogError(RaysweepError, RuntimeError):
    """The event log cannot be replayed at all.

    Raised for data that is not ours or too new to understand, never for a torn tail: a torn
    tail is dropped and reported, because a crash mid-write is expected.
    """


class DetachedStudyError(RaysweepError, RuntimeError):
    """A detached study cannot be found, started or used as asked.

    The message says what is there instead (no cluster, no study of that name, one already
    running) and what to run.
    """


class DuplicatedStudyError(RaysweepError, ValueError):
    """`create_study` found a study of that name and was not told to load it."""


class SamplerOutOfStepError(RaysweepError, RuntimeError):
    """The SamplerService was restarted and has not seen the whole history yet.

    The TrialScheduler answers it by sending every trial again; users do not see it.
    """


class TrialStateError(RaysweepError, RuntimeError):
    """A call about a trial that does not exist, or is no longer running (told twice, say)."""


class UnplaceableResourcesError(RaysweepError, ValueError):
    """No node of the cluster can ever hold the resources asked for one trial."""


class ObjectiveUsageError(RaysweepError, ValueError):
    """The objective misused its trial (steps out of order, a value that is not a number).

    Such a mistake fails every trial the same way, so `optimize` stops and raises it instead of
    failing trial after trial.
    """


class TrialPruned(RaysweepError):
    """Raised by `Trial.report` when the scheduler stops the trial; the trial ends PRUNED.

    An objective may raise it itself to end its trial as pruned.
    """


class TrialInterrupted(BaseException):
    """Raised by `Trial.report` when the study is stopping (Ctrl-C); the trial is re-run later.

    A BaseException, like KeyboardInterrupt, so that an objective's `except Exception` does not
    swallow the stop.
    """


class TrialPaused(BaseException):
    """Raised by `Trial.report` when the scheduler pauses the trial at a rung (promote mode).

    The trial's checkpoint (if it gave one) is already saved; the runner records the pause and
    takes other work. A BaseException, so that an objective's `except Exception` does not keep
    a paused trial running.
    """
