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

import ray
from ray.util import get_current_placement_group

from raysweep.orchestrator._core._hardware_use import EnergyMeter, EnergyUse
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
from raysweep.orchestrator._ray._slice_hosts import SliceHostLost, SliceHosts
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
# How often a running attempt's CPU counters are read, well inside the shortest time a RAPL
# counter can wrap (about a minute on AMD; the meter says, and its figure wins when shorter).
_SAMPLE_EVERY_S = 20.0


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
        self._node_cpus: float | None = None
        # Why this runner's TPU slice can take no more trials (a host was lost), if it cannot.
        self._broken: str | None = None

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
            if self._broken is not None:
                _log.debug("runner %s leaves: %s", runner, self._broken)
            if fatal is not None or self._stop.is_set() or self._broken is not None:
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
        meter = self._meter(a)
        sampling = _Sampling(meter)
        trial = Trial(a, RunnerLink(scheduler, a, self._stop), meter, self._slice_hosts(a))
        fatal: BaseException | None = None
        crash = False
        try:
            result = objective(trial)
        except TrialPaused:
            state, values, error = TrialState.PAUSED, None, None
        except TrialPruned:
            state, values, error = TrialState.PRUNED, None, None
        except SliceHostLost as exc:
            state, values, error = None, None, str(exc)
            crash = not exc.preempted
            # The slice is broken: leave, so that the pool gives it back.
            self._broken = str(exc)
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
        energy = sampling.stop()
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
            energy=None if energy is None else energy.to_json(),
            crash=crash,
        )
        return outcome, fatal

    def _slice_hosts(self, a: Assignment) -> Callable[[Callable[[int], Any]], list[Any]] | None:
        """What runs a function on every host of the attempt's TPU slice (None: no slice)."""
        placement = a.placement
        if placement is None or placement.slice_name is None:
            return None
        group = get_current_placement_group()
        if group is None:
            return None
        return SliceHosts(group, placement.resources, placement.hosts, placement.slice_name).run

    def _meter(self, a: Assignment) -> EnergyMeter | None:
        """A meter of the attempt's share of this node's CPUs and cards (None: no placement
        to apportion by, or the node's figures are not there)."""
        if a.placement is None:
            return None
        if self._node_cpus is None:
            here = ray.get_runtime_context().get_node_id()
            nodes = ray.nodes()  # type: ignore[no-untyped-call]
            node = next((n for n in nodes if n.get("NodeID") == here), None)
            self._node_cpus = float((node or {}).get("Resources", {}).get("CPU", 0.0))
        try:
            meter = EnergyMeter.for_this_process(
                resources=a.placement.resources, node_cpus=self._node_cpus
            )
            meter.start()
        except (ValueError, OSError) as exc:
            _log.debug("no energy measured for trial %d: %s", a.number, exc)
            return None
        return meter


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


class _Sampling:
    """Reads a meter's CPU counters every so often while the attempt runs, so that they do not
    wrap unseen; `stop` ends it and gives the attempt's energy."""

    def __init__(self, meter: EnergyMeter | None) -> None:
        self._meter = meter
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if meter is not None and meter.sample_within_s is not None:
            self._thread = threading.Thread(target=self._loop, name="energy", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        assert self._meter is not None
        while True:
            within = self._meter.sample_within_s
            if within is None or self._done.wait(min(_SAMPLE_EVERY_S, within / 2)):
                return
            try:
                self._meter.sample()
            except RuntimeError:
                return  # stopped meanwhile

    def stop(self) -> EnergyUse | None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self._meter is None:
            return None
        try:
            return self._meter.stop()
        except (RuntimeError, OSError) as exc:
            _log.debug("energy not measured: %s", exc)
            return None
