"""Runners: long-lived worker actors that run trial after trial of one objective.

A runner pulls its next trial in the same call that hands back the last one's outcome, so a
trial costs one round trip plus the decisions it needs, and the process (with its imports and
CUDA context) is paid for once. Runners are threaded actors with two threads: one runs the
objective, the other takes `interrupt()` from the driver while it does.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray

from raysweep.orchestrator import _checkpoints
from raysweep.orchestrator._errors import (
    ObjectiveUsageError,
    TrialInterrupted,
    TrialPaused,
    TrialPruned,
    TrialStateError,
)
from raysweep.orchestrator._protocol import Assignment, Note, TrialOutcome
from raysweep.orchestrator._trial import Trial, objective_values
from raysweep.samplers import (
    Distribution,
    IncompatibleDistributionError,
    InvalidDistributionError,
    SamplerConfigurationError,
    TrialState,
)
from raysweep.scheduling import Decision

_FLUSH_EVERY_S = 1.0


@dataclass(frozen=True)
class ServeResult:
    """Why a runner's `serve` loop ended."""

    runner: str
    trials: int
    fatal: BaseException | None = None
    fatal_trial: int | None = None


class _RunnerLink:
    raises_on_prune = True

    def __init__(self, scheduler: Any, assignment: Assignment, stop: threading.Event) -> None:
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
        decision: Decision | None = _unless_stale(
            self._scheduler.report.remote(self._a.number, self._a.attempt, notes)
        )
        return decision

    def interrupted(self) -> bool:
        return self._stop.is_set()

    def flush_due(self) -> bool:
        return time.monotonic() - self._last_flush >= _FLUSH_EVERY_S

    def save_checkpoint(self, step: int, data: bytes) -> str:
        if self._a.checkpoint_root is None:
            raise RuntimeError("the study gave this runner no place for checkpoints")
        return _checkpoints.save(self._a.checkpoint_root, self._a.number, step, data)


class Runner:
    """Created with `ray.remote(max_concurrency=2)` and the trial's resources (see `_pool`)."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def interrupt(self) -> None:
        self._stop.set()

    def serve(
        self,
        scheduler: Any,
        objective: Callable[[Trial], Any],
        catch: tuple[type[BaseException], ...],
        runner: str,
    ) -> ServeResult:
        outcome: TrialOutcome | None = None
        done = 0
        while True:
            assignment: Assignment | None = ray.get(scheduler.next_trial.remote(runner, outcome))
            if assignment is None:
                return ServeResult(runner, done)
            outcome, fatal = self._run(scheduler, objective, catch, assignment)
            done += 1
            if fatal is not None:
                ray.get(scheduler.stop_new_trials.remote())
            if fatal is not None or self._stop.is_set():
                # Hand the outcome back without taking a new trial.
                ray.get(scheduler.next_trial.remote(runner, outcome, False))
                return ServeResult(runner, done, fatal, assignment.number if fatal else None)

    def _run(
        self,
        scheduler: Any,
        objective: Callable[[Trial], Any],
        catch: tuple[type[BaseException], ...],
        a: Assignment,
    ) -> tuple[TrialOutcome, BaseException | None]:
        trial = Trial(a, _RunnerLink(scheduler, a, self._stop))
        fatal: BaseException | None = None
        try:
            result = objective(trial)
        except TrialPaused:
            state, values, error = TrialState.PAUSED, None, None
        except TrialPruned:
            state, values, error = TrialState.PRUNED, None, None
        except TrialInterrupted as exc:
            state, values, error = None, None, str(exc)
        except Exception as exc:
            state, values, error = TrialState.FAILED, None, traceback.format_exc()
            if not isinstance(exc, catch) or _is_usage_error(exc):
                fatal = exc
        else:
            try:
                state, values, error = (
                    TrialState.COMPLETE,
                    objective_values(result, a.n_objectives),
                    None,
                )
            except ValueError as exc:
                state, values, error = TrialState.FAILED, None, str(exc)
        paused_at, checkpoint = trial.paused if trial.paused is not None else (None, None)
        if state is TrialState.PAUSED and trial.paused is None:
            state, error = TrialState.FAILED, "the objective raised TrialPaused itself"
        outcome = TrialOutcome(
            a.number,
            a.attempt,
            state,
            values,
            error,
            trial.take_notes(),
            trial.constraints,
            paused_at,
            checkpoint,
        )
        return outcome, fatal


def _unless_stale(ref: Any) -> Any:
    """The answer of a call about the running trial, or TrialInterrupted if it stopped running.

    A trial stops running under its runner when the scheduler was restarted (it queues the
    trials that were running for a re-run) or the study is being stopped.
    """
    try:
        return ray.get(ref)
    except TrialStateError as exc:
        raise TrialInterrupted(f"the trial is no longer running here: {exc}") from None


def _is_usage_error(exc: BaseException) -> bool:
    """A misuse of the trial API fails every trial the same way: stop the study and say so."""
    return isinstance(
        exc,
        (
            InvalidDistributionError,
            IncompatibleDistributionError,
            ObjectiveUsageError,
            SamplerConfigurationError,
        ),
    )
