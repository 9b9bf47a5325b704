"""The driver's loop behind `Study.optimize`: start the runner pool, show progress, stop.

The TrialScheduler decides which trial runs next and, with the runner pool beside it, which
runners run where (`_pool`); this loop only starts the pool, shows progress, and turns a
timeout or Ctrl-C into "no new trials".
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysweep.orchestrator._core._protocol import Progress
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._ray._autoscale import withdraw_demand
from raysweep.orchestrator._ray._handles import (
    INFRASTRUCTURE_ERRORS,
    ObjectRef,
    RemoteMethod,
    RunnerPoolHandle,
    TrialSchedulerHandle,
    call,
    call_across_restarts,
    describe,
)
from raysweep.orchestrator._ray._pool import (
    INTERRUPT_GRACE_S,
    PoolResult,
    RunnerPool,
    remove_slice_groups,
)
from raysweep.orchestrator._ray._progress import ProgressDisplay
from raysweep.orchestrator._ray._resources import ResourceRequest
from raysweep.samplers import TrialState
from raysweep.scheduling import NoPruning, scheduler_from_json

_log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
RunnerPoolRemote: Any = ray.remote(RunnerPool)

_POLL_S = 0.5
# After its grace, the pool has this long to report that it stopped before it is ended.
_STOP_MARGIN_S = 10.0


def run_optimize(
    scheduler: TrialSchedulerHandle,
    objective: Callable[..., Any],
    *,
    n_trials: int,
    timeout: float | None,
    max_concurrent: int,
    request: ResourceRequest,
    catch: tuple[type[BaseException], ...],
    show_progress: bool,
    runtime_env: dict[str, Any] | None = None,
    run: str | None = None,
    interrupted: Callable[[], str | None] = lambda: None,
) -> None:
    """Run `objective` on runners until the TrialScheduler has nothing more to hand out.

    The runner pool, beside the scheduler, owns the runners; this loop starts it, shows
    progress, and turns a timeout, Ctrl-C or `interrupted` into a stop. `run` names a detached
    run (recorded with the goal); `interrupted` is polled: a reason, once it returns one, stops
    the call as Ctrl-C does.
    """
    remaining = call(scheduler.start_optimize.remote(n_trials, max_concurrent, run))
    if remaining == 0:
        _ask(scheduler.stop_new_trials, None)
        return
    try:
        objective_ref = ray.put(objective)
    except Exception as exc:
        raise unsendable_objective(exc) from exc
    here = NodeAffinitySchedulingStrategy(
        node_id=ray.get_runtime_context().get_node_id(), soft=False
    )
    options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 2, "scheduling_strategy": here}
    if runtime_env is not None:
        options["runtime_env"] = runtime_env
    pool: RunnerPoolHandle = RunnerPoolRemote.options(**options).remote()
    done = pool.run.remote(scheduler, objective_ref, catch, request, max_concurrent, runtime_env)
    progress: Progress | None = None
    display = ProgressDisplay(total=n_trials, already=n_trials - remaining, enabled=show_progress)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            ready, _ = ray.wait([done], num_returns=1, timeout=_POLL_S)
            if ready:
                _raise_fatal(scheduler, done)
                break
            reason = interrupted()
            if reason is not None:
                _stop(scheduler, pool, done, reason)
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
        _stop(scheduler, pool, done, "stopped by the user (Ctrl-C)")
        raise
    except BaseException as exc:
        _stop(scheduler, pool, done, f"stopped because {type(exc).__name__} was raised")
        raise
    finally:
        _ask(scheduler.stop_new_trials, None)
        # A pool that returned withdrew the study's autoscaler demand itself.
        returned = False
        with contextlib.suppress(Exception):
            returned = bool(ray.wait([done], num_returns=1, timeout=0)[0])
        with contextlib.suppress(Exception):
            ray.kill(pool)  # type: ignore[arg-type]
        if not returned:
            withdraw_demand()
            with contextlib.suppress(Exception):
                # The TPU slices its runners held: their groups outlive the pool.
                remove_slice_groups(pool._actor_id.hex())  # type: ignore[attr-defined]
        display.close(progress)


def _raise_fatal(scheduler: TrialSchedulerHandle, done: ObjectRef[PoolResult]) -> None:
    """The pool returned: raise the objective's error that stopped the study, if one did."""
    try:
        result = call(done)
    except INFRASTRUCTURE_ERRORS as exc:
        # The pool's process or node died, and its runners with it.
        _ask(scheduler.pool_lost, f"the runner pool was lost: {describe(exc)}")
        raise
    for line in result.runner_log:
        _log.debug("%s", line)
    if result.fatal is not None:
        raise result.fatal


def _stop(
    scheduler: TrialSchedulerHandle,
    pool: RunnerPoolHandle,
    done: ObjectRef[PoolResult],
    reason: str,
) -> None:
    """Have the pool stop its runners (they get a grace to reach a report); end it if it
    does not return in time, or on a second Ctrl-C."""
    _log.debug("optimize stopping: %s", reason)
    pool.interrupt.remote(reason)
    # Wakes the pool (and every idle runner) at once.
    _ask(scheduler.stop_new_trials, reason)
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: stop waiting
        ray.wait([done], num_returns=1, timeout=INTERRUPT_GRACE_S + _STOP_MARGIN_S)
    with contextlib.suppress(Exception):
        ray.kill(pool)  # type: ignore[arg-type]
    _ask(scheduler.pool_lost, f"{reason}; killed before the trial reached a report")


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


def _ask(method: RemoteMethod[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
    """Call the TrialScheduler, across a restart; None if it did not come back.

    Every call made here is safe to repeat (queries, and a stop that is a no-op the second
    time), and each caller can do without its answer.
    """
    try:
        return call_across_restarts(method, *args, **kwargs)
    except ray.exceptions.RayActorError:
        return None
