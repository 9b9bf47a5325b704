"""Runners: long-lived worker actors that run trial after trial of one objective.

A runner pulls its next trial in the same call that hands back the last one's outcome, so a
trial costs one round trip plus the decisions it needs, and the process (with its imports and
CUDA context) is paid for once. With nothing to run yet it waits in the TrialScheduler until
something changes; it leaves when told no work can come, or when retired (`_pool`). Runners
are threaded actors with two threads: one runs the objective, the other takes `interrupt()`
while it does.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raysweep.orchestrator._core._limits import MAX_TRACEBACK_CHARS, truncate_middle
from raysweep.orchestrator._core._protocol import Assignment, Idle, TrialOutcome
from raysweep.orchestrator._core._trial import Trial, objective_values
from raysweep.orchestrator._errors import (
    ObjectiveUsageError,
    TrialInterrupted,
    TrialPaused,
    TrialPruned,
)
from raysweep.orchestrator._ray._handles import TrialSchedulerHandle, call_across_restarts
from raysweep.orchestrator._ray._links import RunnerLink
from raysweep.samplers import (
    IncompatibleDistributionError,
    InvalidDistributionError,
    SamplerConfigurationError,
    TrialState,
)

_log = logging.getLogger(__name__)
# How long an idle runner waits before it asks again unwoken (a safety net: every change that
# could give it work wakes it at once).
IDLE_WAIT_S = 30.0


@dataclass(frozen=True)
class ServeResult:
    """Why a runner's `serve` loop ended."""

    runner: str
    trials: int
    fatal: BaseException | None = None
    fatal_trial: int | None = None


class Runner:
    """Created with `ray.remote(max_concurrency=2)` and the trial's resources (`_optimize`)."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def interrupt(self) -> None:
        self._stop.set()

    def serve(
        self,
        scheduler: TrialSchedulerHandle,
        objective: Callable[[Trial], Any],
        catch: tuple[type[BaseException], ...],
        runner: str,
    ) -> ServeResult:
        outcome: TrialOutcome | None = None
        done = 0
        while True:
            # Safe to repeat across a TrialScheduler restart: an outcome already recorded is
            # ignored, and the hand-out of a lost call was queued for a re-run, so the retry
            # gets that trial.
            assignment = call_across_restarts(scheduler.next_trial, runner, outcome, True)
            outcome = None
            if isinstance(assignment, Idle):
                # Woken by any change (a pause, a loss, the call's end, our retirement).
                call_across_restarts(
                    scheduler.wait_for_work, runner, assignment.version, IDLE_WAIT_S
                )
                if self._stop.is_set():
                    return ServeResult(runner, done)
                continue
            if assignment is None:
                _log.debug("runner %s: no more trials after %d", runner, done)
                return ServeResult(runner, done)
            _log.debug(
                "runner %s: trial %d attempt %d%s",
                runner,
                assignment.number,
                assignment.attempt,
                " (resumed)" if assignment.resume is not None else "",
            )
            outcome, fatal = self._run(scheduler, objective, catch, assignment)
            done += 1
            if fatal is not None:
                call_across_restarts(scheduler.stop_new_trials, None)
            if fatal is not None or self._stop.is_set():
                # Hand the outcome back without taking a new trial.
                call_across_restarts(scheduler.next_trial, runner, outcome, False)
                return ServeResult(runner, done, fatal, assignment.number if fatal else None)

    def _run(
        self,
        scheduler: TrialSchedulerHandle,
        objective: Callable[[Trial], Any],
        catch: tuple[type[BaseException], ...],
        a: Assignment,
    ) -> tuple[TrialOutcome, BaseException | None]:
        trial = Trial(a, RunnerLink(scheduler, a, self._stop))
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
            # Cut, not refused: the user's error must be recorded, but a traceback whose message
            # holds a large repr would bloat every replay of the log.
            error = truncate_middle(traceback.format_exc(), MAX_TRACEBACK_CHARS)
            state, values = TrialState.FAILED, None
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
