"""How a `Trial` reaches the TrialScheduler actor: from a runner, or from an ask/tell caller.

A runner's link batches what needs no answer and sends it with the next call that must wait
anyway; an ask/tell caller has no runner to batch for it, so its link sends everything as it
happens. Both are `TrialLink`s (``_core._trial``).
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar

import ray

from raysweep.orchestrator._core._protocol import Assignment, Note
from raysweep.orchestrator._errors import TrialInterrupted, TrialStateError
from raysweep.orchestrator._ray._handles import ObjectRef, TrialSchedulerHandle, call
from raysweep.orchestrator._storage import _checkpoints
from raysweep.samplers import Distribution
from raysweep.scheduling import Decision

# Reports that need no answer are still sent at least this often, so that the log (and the
# progress display) does not lag far behind a long trial.
_FLUSH_EVERY_S = 1.0
R = TypeVar("R")


class RunnerLink:
    """The link of a trial run by a runner inside `optimize`."""

    raises_on_prune = True

    def __init__(
        self, scheduler: TrialSchedulerHandle, assignment: Assignment, stop: threading.Event
    ) -> None:
        self._scheduler = scheduler
        self._a = assignment
        self._stop = stop
        self._last_flush = time.monotonic()

    def suggest(self, name: str, distribution: Distribution, notes: tuple[Note, ...]) -> Any:
        ref = self._scheduler.suggest.remote(
            self._a.number, self._a.attempt, name, distribution, notes
        )
        return _unless_stale(ref)

    def send(self, notes: tuple[Note, ...], *, wait: bool) -> Decision | None:
        self._last_flush = time.monotonic()
        if not wait:
            self._scheduler.report_later.remote(self._a.number, self._a.attempt, notes)
            return None
        return _unless_stale(self._scheduler.report.remote(self._a.number, self._a.attempt, notes))

    def interrupted(self) -> bool:
        return self._stop.is_set()

    def flush_due(self) -> bool:
        return time.monotonic() - self._last_flush >= _FLUSH_EVERY_S

    def save_checkpoint(self, step: int, state: Any) -> str:
        return _checkpoints.save(
            self._checkpoint_root(), self._a.number, step, state, checkpoint_format=self._format()
        )

    def load_checkpoint(self, step: int) -> Any:
        return _checkpoints.load(
            self._checkpoint_root(), self._a.number, step, checkpoint_format=self._format()
        )

    def _checkpoint_root(self) -> str:
        if self._a.checkpoint_root is None:
            raise RuntimeError("the study gave this runner no place for checkpoints")
        return self._a.checkpoint_root

    def _format(self) -> _checkpoints.CheckpointFormat:
        # Checked in create_study; checked again here, where it decides what may be unpickled.
        return _checkpoints.check_format(self._a.checkpoint_format)


class AskLink:
    """The link of a trial created by `Study.ask`: every call goes straight to the actor."""

    raises_on_prune = False

    def __init__(self, scheduler: TrialSchedulerHandle, number: int, attempt: int) -> None:
        self._scheduler = scheduler
        self._number = number
        self._attempt = attempt

    def suggest(self, name: str, distribution: Distribution, notes: tuple[Note, ...]) -> Any:
        return call(
            self._scheduler.suggest.remote(self._number, self._attempt, name, distribution, notes)
        )

    def send(self, notes: tuple[Note, ...], *, wait: bool) -> Decision | None:
        return call(self._scheduler.report.remote(self._number, self._attempt, notes))

    def interrupted(self) -> bool:
        return False

    def flush_due(self) -> bool:
        return True

    def save_checkpoint(self, step: int, state: Any) -> str:
        # `ask` refuses studies whose scheduler pauses trials, so no pause reaches here.
        raise RuntimeError("trials from ask are never paused")

    def load_checkpoint(self, step: int) -> Any:
        raise RuntimeError("trials from ask never resume from a checkpoint")


def _unless_stale(ref: ObjectRef[R]) -> R:
    """The answer of a call about the running trial, or TrialInterrupted if it stopped running.

    A trial stops running under its runner when the scheduler was restarted (it queues the
    trials that were running for a re-run) or the study is being stopped.
    """
    try:
        return call(ref)
    except TrialStateError as exc:
        raise TrialInterrupted(f"the trial is no longer running here: {exc}") from None
    except ray.exceptions.RayActorError as exc:
        # The TrialScheduler's process died during the call. The restarted one queues this
        # attempt for a re-run; the objective must not see Ray's error (`except Exception`
        # would swallow it, a narrow `catch=` would stop the study).
        raise TrialInterrupted(
            f"the TrialScheduler was lost during the call ({type(exc).__name__}); this "
            "attempt ends and the trial is re-run"
        ) from None
