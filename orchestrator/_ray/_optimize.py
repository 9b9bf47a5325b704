"""The driver's loop behind `Study.optimize`: start runners, watch them, stop cleanly.

The TrialScheduler decides which trial runs next; this loop only keeps the right number of
runners alive, replaces a runner whose process or node died (its trial is re-run, not failed),
shows progress, and turns a timeout or Ctrl-C into "no new trials".
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import ray

from raysweep.orchestrator._core._protocol import Progress
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._core._trial import Trial
from raysweep.orchestrator._ray._actors import RunnerRemote
from raysweep.orchestrator._ray._handles import (
    ObjectRef,
    RemoteMethod,
    RunnerHandle,
    TrialSchedulerHandle,
    call,
    call_across_restarts,
)
from raysweep.orchestrator._ray._progress import ProgressDisplay
from raysweep.orchestrator._ray._resources import ResourceShape
from raysweep.orchestrator._ray._runner import ServeResult
from raysweep.samplers import TrialState
from raysweep.scheduling import NoPruning, scheduler_from_json

_log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# Once Ctrl-C is pressed, running trials get this long to reach their next report.
INTERRUPT_GRACE_S = 5.0
_POLL_S = 0.5
_INFRASTRUCTURE_ERRORS = (
    ray.exceptions.RayActorError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.ObjectLostError,
)


@dataclass
class _Pool:
    scheduler: TrialSchedulerHandle
    objective: ObjectRef[Callable[[Trial], Any]]
    catch: tuple[type[BaseException], ...]
    shape: ResourceShape
    # The runners' runtime_env: what they need to reach the study's storage (checkpoints).
    runtime_env: dict[str, Any] | None
    # A runner's `serve` call -> the runner's name and handle.
    running: dict[ObjectRef[ServeResult], tuple[str, RunnerHandle]] = field(default_factory=dict)

    def spawn(self) -> None:
        name = f"runner-{uuid.uuid4().hex[:8]}"
        options = self.shape.actor_options()
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        actor: RunnerHandle = RunnerRemote.options(max_concurrency=2, **options).remote()
        ref = actor.serve.remote(self.scheduler, self.objective, self.catch, name)
        self.running[ref] = (name, actor)
        _log.debug("runner %s started with %s", name, self.shape)

    def retire(self, ref: ObjectRef[ServeResult]) -> tuple[str, RunnerHandle]:
        name, actor = self.running.pop(ref)
        ray.kill(actor)  # type: ignore[arg-type]
        _log.debug("runner %s retired", name)
        return name, actor

    def kill_all(self, reason: str) -> None:
        for ref in list(self.running):
            name, _ = self.retire(ref)
            call(self.scheduler.runner_lost.remote(name, reason, False))


def run_optimize(
    scheduler: TrialSchedulerHandle,
    objective: Callable[..., Any],
    *,
    n_trials: int,
    timeout: float | None,
    max_concurrent: int,
    shape: ResourceShape,
    catch: tuple[type[BaseException], ...],
    show_progress: bool,
    runtime_env: dict[str, Any] | None = None,
    run: str | None = None,
    interrupted: Callable[[], str | None] = lambda: None,
) -> None:
    """Run `objective` on runners until the TrialScheduler has nothing more to hand out.

    `run` names a detached run (recorded with the goal); `interrupted` is polled by the loop:
    a reason, once it returns one, stops the call as Ctrl-C does.
    """
    remaining = call(scheduler.start_optimize.remote(n_trials, max_concurrent, run))
    if remaining == 0:
        _ask(scheduler.stop_new_trials, None)
        return
    try:
        objective_ref = ray.put(objective)
    except Exception as exc:
        raise unsendable_objective(exc) from exc
    pool = _Pool(scheduler, objective_ref, catch, shape, runtime_env)
    for _ in range(min(max_concurrent, remaining)):
        pool.spawn()
    progress: Progress | None = None
    display = ProgressDisplay(total=n_trials, already=n_trials - remaining, enabled=show_progress)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while pool.running:
            ready, _ = ray.wait(list(pool.running), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                _collect(pool, ref)
            reason = interrupted()
            if reason is not None:
                _interrupt(pool, reason)
                break
            if deadline is not None and time.monotonic() >= deadline:
                _log.debug("optimize: timeout reached, no new trials")
                # Waited for: the stop is committed, so a restarted scheduler keeps to it.
                _ask(scheduler.stop_new_trials, None)
                deadline = None
            progress = _ask(scheduler.progress) or progress
            if progress is not None:
                display.update(progress)
    except KeyboardInterrupt:
        _interrupt(pool, "stopped by the user (Ctrl-C)")
        raise
    except BaseException as exc:
        _interrupt(pool, f"stopped because another trial raised {type(exc).__name__}")
        raise
    finally:
        _ask(scheduler.stop_new_trials, None)
        display.close(progress)


def unsendable_objective(exc: Exception) -> ValueError:
    """The error for an objective that cannot be pickled, saying how to make one that can."""
    return ValueError(
        f"the objective cannot be sent to Ray workers ({exc}); define it at module level "
        "and keep unpicklable objects (open files, locks, clients) out of its closure"
    )


@dataclass(frozen=True)
class ClosingNotes:
    """What `optimize` tells the user once it has returned."""

    # A pruning scheduler whose trials never reported could decide nothing.
    never_reported: str | None
    # The sampler ran out of new points (a finished grid, say).
    exhausted: str | None

    def lines(self) -> tuple[str, ...]:
        return tuple(text for text in (self.never_reported, self.exhausted) if text)


def closing_notes(scheduler: TrialSchedulerHandle, info: StudyInfo) -> ClosingNotes:
    never_reported = None
    pruner = scheduler_from_json(info.scheduler)
    if not isinstance(pruner, NoPruning):
        silent = [
            r.number
            for r in call(scheduler.records.remote())
            if r.state is TrialState.COMPLETE and not r.intermediate_values
        ]
        if silent:
            never_reported = (
                f"{len(silent)} trials (e.g. trial {silent[0]}) finished without calling "
                f"trial.report(value, step), so {type(pruner).__name__} could not compare, "
                "pause or stop them: they ran to the end. Report the objective's value after "
                "each epoch (step = epoch number)."
            )
    exhausted = call(scheduler.exhausted.remote())
    return ClosingNotes(
        never_reported,
        None
        if exhausted is None
        else f"optimize stopped early: the sampler has no new point ({exhausted})",
    )


def _collect(pool: _Pool, ref: ObjectRef[ServeResult]) -> None:
    """A runner's `serve` returned or failed: act on why."""
    try:
        result = call(ref)
    except _INFRASTRUCTURE_ERRORS as exc:
        name, _ = pool.retire(ref)
        _log.debug("runner %s lost: %s", name, _describe(exc))
        _ask(pool.scheduler.runner_lost, name, _describe(exc), True)
        if _ask(pool.scheduler.wants_more):
            pool.spawn()
        return
    pool.retire(ref)
    if result.fatal is not None:
        raise result.fatal
    if _ask(pool.scheduler.wants_more) is False:
        # No trial will be handed out any more: runners still waiting for resources (or for
        # their first trial) would only start to be told so. Free their places now. A runner
        # that has asked for a trial returns by itself, maybe with the error that stops the
        # study: killing it between its last trial and its return lost that error. Unknown
        # (None, the scheduler restarting) frees nothing.
        started = _ask(pool.scheduler.started_runners)
        if started is not None:
            for idle in [r for r, (name, _) in pool.running.items() if name not in started]:
                name, _ = pool.retire(idle)
                # It may have asked for a trial since, and been handed a promotion: that
                # trial goes back to be run again, not left RUNNING on a runner that is gone.
                _ask(pool.scheduler.runner_lost, name, "retired: no trial was wanted", False)


def _interrupt(pool: _Pool, reason: str) -> None:
    """No new trials; ask running ones to stop at their next report; kill what lingers."""
    _log.debug("optimize stopping: %s", reason)
    _ask(pool.scheduler.stop_new_trials, reason)
    for _, actor in pool.running.values():
        actor.interrupt.remote()
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    try:
        while pool.running and time.monotonic() < deadline:
            ready, _ = ray.wait(
                list(pool.running),
                num_returns=1,
                timeout=deadline - time.monotonic(),
            )
            for ref in ready:
                # Already stopping: whatever the runner ended with, its trial is recorded.
                with contextlib.suppress(Exception):
                    call(ref)
                name, _ = pool.retire(ref)
                call(pool.scheduler.runner_lost.remote(name, reason, False))
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: stop waiting
    pool.kill_all(f"{reason}; killed before the trial reached a report")


def _ask(method: RemoteMethod[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
    """Call the TrialScheduler, across a restart; None if it did not come back.

    Every call made here is safe to repeat (queries, and a stop that is a no-op the second
    time), and each caller can do without its answer.
    """
    try:
        return call_across_restarts(method, *args, **kwargs)
    except ray.exceptions.RayActorError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
