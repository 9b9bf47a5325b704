"""The runner pool: the actor beside the TrialScheduler that starts, retires and replaces the
runners of one `optimize` call.

It asks the TrialScheduler what to do (`place`: the planner's decisions, taken under the
scheduler's lock, with the nodes this pool reads from the cluster and the runners it holds),
starts each runner on the node the plan names (a TPU slice's runner in a placement group of
the slice's hosts, removed when the runner goes), and reports a runner whose process or node
died (its trial is re-run, not failed). It waits on the runners' `serve` calls and on the
scheduler's change counter together, so it acts as soon as a trial pauses, ends or is lost, with
no polling on the trials' path. The pool owns its runners: if it dies, they die with it, and
whoever started it (the driver, or a detached run's host) tells the scheduler so and removes
the slices' placement groups, which would outlive it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import (
    NodeAffinitySchedulingStrategy,
    PlacementGroupSchedulingStrategy,
)

from raysweep.orchestrator._core._protocol import PlacementAnswer, PlacementRequest, PoolRunner
from raysweep.orchestrator._core._resources import ResourceRequest
from raysweep.orchestrator._core._trial import Trial
from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._ray._autoscale import DemandPublisher, demand_bundles
from raysweep.orchestrator._ray._cluster import ClusterView, autoscaler_can_launch
from raysweep.orchestrator._ray._handles import (
    INFRASTRUCTURE_ERRORS,
    ObjectRef,
    RunnerHandle,
    TrialSchedulerHandle,
    call,
    call_across_restarts,
    describe,
)
from raysweep.orchestrator._ray._resources import resource_options
from raysweep.orchestrator._ray._runner import Runner, ServeResult
from raysweep.orchestrator._ray._shared_storage import SharedStorageCheck
from raysweep.scheduling import SLICE_NAME_LABEL, SLICE_WORKER_LABEL, Shape, Start

_log = logging.getLogger(__name__)

# Once Ctrl-C is pressed, running trials get this long to reach their next report.
INTERRUPT_GRACE_S = 5.0
RunnerRemote: Any = ray.remote(Runner)


@dataclass(frozen=True)
class PoolResult:
    """How the pool's run ended: every runner has returned or been ended."""

    trials: int
    # The error of an objective that stops the study (it is raised to the caller).
    fatal: BaseException | None = None
    # Why the run was stopped from outside (Ctrl-C, a detached run's stop), if it was.
    stopped: str | None = None
    # What happened to the runners, in order: the caller logs it at debug level (this pool's
    # own log lines stay in its worker's log).
    runner_log: tuple[str, ...] = ()


@dataclass
class _Live:
    name: str
    actor: RunnerHandle
    serve: ObjectRef[ServeResult]
    shape: Shape
    nodes: tuple[str, ...]
    slice_name: str | None = None
    # The placement group that holds a TPU slice's hosts for the runner (removed with it).
    group: PlacementGroup | None = None


def slice_group_prefix(pool: str) -> str:
    """How the names of the placement groups pool actor `pool` makes for TPU slices begin. A
    group outlives the actor that made it (it lives as long as the job), so whoever started the
    pool removes them by this name if the pool dies (`remove_slice_groups`)."""
    return f"raysweep-slice-{pool}-"


def remove_slice_groups(pool: str) -> int:
    """Remove the placement groups of pool actor `pool` that are still there; how many."""
    from ray.util import get_placement_group, placement_group_table

    removed = 0
    for entry in placement_group_table().values():
        name = entry.get("name") or ""
        if name.startswith(slice_group_prefix(pool)) and entry.get("state") != "REMOVED":
            with contextlib.suppress(Exception):
                remove_placement_group(get_placement_group(name))
                removed += 1
    return removed


def slice_group(start: Start, name: str) -> PlacementGroup:
    """A placement group of one bundle per host of the slice `start` names, each bundle bound
    to its host by the slice's labels (Ray's TPU convention), so that the gang is the hosts the
    planner chose and nothing less."""
    assert start.slice_name is not None
    bundle = start.shape.amounts()
    selectors = [
        {SLICE_NAME_LABEL: start.slice_name, SLICE_WORKER_LABEL: str(host)}
        for host in range(start.shape.hosts)
    ]
    group: PlacementGroup = placement_group(
        [dict(bundle) for _ in selectors],
        strategy="STRICT_SPREAD",
        name=name,
        bundle_label_selector=selectors,
    )
    return group


class RunnerPool:
    """Created with `ray.remote(max_concurrency=2)`: `run` on one thread, `interrupt` on the
    other."""

    def __init__(self) -> None:
        self._stop_reason: str | None = None
        self._lock = threading.Lock()

    def interrupt(self, reason: str) -> None:
        """Stop the run: no new trials; running ones stop at their next report, or are ended
        after `INTERRUPT_GRACE_S`. The caller then wakes the run (`stop_new_trials`)."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason

    def run(
        self,
        scheduler: TrialSchedulerHandle,
        objective: ObjectRef[Callable[[Trial], Any]],
        catch: tuple[type[BaseException], ...],
        resources: ResourceRequest,
        max_runners: int,
        runtime_env: dict[str, Any] | None,
    ) -> PoolResult:
        run = _Run(scheduler, objective, catch, resources, max_runners, runtime_env)
        try:
            return self._run(run)
        finally:
            # However the run ended: its node groups may scale down.
            run.demand.withdraw()

    def _run(self, run: _Run) -> PoolResult:
        try:
            while True:
                reason = self._stop_reason
                if reason is not None:
                    run.stop(reason)
                    return PoolResult(run.trials, stopped=reason, runner_log=tuple(run.said))
                answer = run.place()
                if answer.done and not run.live:
                    return PoolResult(run.trials, runner_log=tuple(run.said))
                fatal = run.wait(answer)
                if fatal is not None:
                    run.stop(
                        f"stopped because trial {fatal.fatal_trial} raised "
                        f"{type(fatal.fatal).__name__}"
                    )
                    return PoolResult(run.trials, fatal=fatal.fatal, runner_log=tuple(run.said))
        except BaseException:
            run.stop("the runner pool failed")
            raise


class _Run:
    """One `run` of the pool: its runners and the scheduler's counter it last saw."""

    def __init__(
        self,
        scheduler: TrialSchedulerHandle,
        objective: ObjectRef[Callable[[Trial], Any]],
        catch: tuple[type[BaseException], ...],
        resources: ResourceRequest,
        max_runners: int,
        runtime_env: dict[str, Any] | None,
    ) -> None:
        self.scheduler = scheduler
        self.objective = objective
        self.catch = catch
        self.resources = resources
        self.max_runners = max_runners
        self.runtime_env = runtime_env
        self.live: dict[str, _Live] = {}
        self.trials = 0
        self.said: list[str] = []
        self.began = time.monotonic()
        self.group_prefix = slice_group_prefix(ray.get_runtime_context().get_actor_id() or "")
        self.cluster = ClusterView()
        self.storage = SharedStorageCheck(
            call_across_restarts(scheduler.checkpoint_root),
            here=ray.get_runtime_context().get_node_id(),
        )
        self._placed_before = False
        self.demand = DemandPublisher()
        self.autoscaling = autoscaler_can_launch()
        # The scheduler's `wait_for_work` call this pool waits on, and the version it waits past.
        self._change: ObjectRef[int] | None = None
        self._change_version: int | None = None

    def place(self) -> PlacementAnswer:
        ours = [(r.shape, r.nodes) for r in self.live.values()]
        request = PlacementRequest(
            self.cluster.nodes(ours),
            tuple(PoolRunner(r.name, r.shape, r.nodes, r.slice_name) for r in self.live.values()),
            self.resources,
            self.max_runners,
            autoscaling=self.autoscaling,
        )
        if not self._placed_before:
            # Every node at the start, so that a study that cannot work across them stops
            # before any trial runs; later, the nodes a runner is meant for (those that joined).
            self.storage.check(n.id for n in request.nodes)
            self._placed_before = True
        answer = call_across_restarts(self.scheduler.place, request)
        try:
            self.storage.check(node for start in answer.starts for node in start.nodes)
        except StorageError as exc:
            for name in answer.start_names:
                with contextlib.suppress(ray.exceptions.RayActorError):
                    call_across_restarts(self.scheduler.runner_lost, name, str(exc), False)
            raise
        for retired in answer.retired:
            self._say(f"runner {retired.runner} retired: {retired.reason}")
        for name in answer.never_asked:
            # Retired before it asked for a trial: it never holds one, so it can just go.
            self._end(name, "retired before its first trial")
        for name, start in zip(answer.start_names, answer.starts, strict=True):
            self._start(name, start)
        held = [r.shape for r in self.live.values()]
        # Only what could start: beyond max_concurrent a waiting trial needs no new node.
        room = 0 if answer.done else max(0, self.max_runners - len(held))
        self.demand.publish(demand_bundles(held, answer.unmet[:room]))
        return answer

    def wait(self, answer: PlacementAnswer) -> ServeResult | None:
        """Wait for a runner to return or a change at the scheduler; a runner's fatal result."""
        if self._change is None or self._change_version != answer.version:
            self._change = self.scheduler.wait_for_work.remote(
                "pool", answer.version, answer.recheck_s
            )
            self._change_version = answer.version
        refs: list[ObjectRef[Any]] = [r.serve for r in self.live.values()]
        ready, _ = ray.wait([*refs, self._change], num_returns=1, timeout=answer.recheck_s + 5)
        for ref in ready:
            if ref == self._change:
                self._change = None  # its value does not matter: the next place() reads all
                continue
            fatal = self._returned(ref)
            if fatal is not None:
                return fatal
        return None

    def stop(self, reason: str) -> None:
        """No new trials; ask running ones to stop at their next report; end what lingers."""
        _log.debug("runner pool stopping: %s", reason)
        with contextlib.suppress(ray.exceptions.RayActorError):
            call_across_restarts(self.scheduler.stop_new_trials, reason)
        for r in self.live.values():
            r.actor.interrupt.remote()
        deadline = time.monotonic() + INTERRUPT_GRACE_S
        while self.live and time.monotonic() < deadline:
            by_ref = {r.serve: r for r in self.live.values()}
            ready, _ = ray.wait(
                list(by_ref), num_returns=1, timeout=max(0.0, deadline - time.monotonic())
            )
            for ref in ready:
                # Already stopping: whatever the runner ended with, its trial is recorded.
                with contextlib.suppress(Exception):
                    call(ref)
                self._end(by_ref[ref].name, reason)
        for name in list(self.live):
            self._end(name, f"{reason}; ended before the trial reached a report")

    def _start(self, name: str, start: Start) -> None:
        group = None
        if start.shape.pod_type is None:
            options = resource_options(start.shape)
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                node_id=start.nodes[0], soft=False
            )
        else:
            # On host 0 of the slice, holding its CPUs; the chips go to the tasks that
            # `trial.run_on_hosts` starts in the group's bundles, one per host.
            group = slice_group(start, f"{self.group_prefix}{name}")
            options = {
                "num_cpus": start.shape.amounts().get("CPU", 0.0),
                "scheduling_strategy": PlacementGroupSchedulingStrategy(
                    group, placement_group_bundle_index=0
                ),
            }
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        actor: RunnerHandle = RunnerRemote.options(max_concurrency=2, **options).remote()
        serve = actor.serve.remote(self.scheduler, self.objective, self.catch, name)
        self.live[name] = _Live(
            name, actor, serve, start.shape, start.nodes, start.slice_name, group
        )
        self._say(
            f"runner {name} started with {start.shape} on {', '.join(start.nodes)} "
            f"for {start.work} ({start.reason})"
        )

    def _returned(self, ref: ObjectRef[ServeResult]) -> ServeResult | None:
        runner = next(r for r in self.live.values() if r.serve == ref)
        try:
            result = call(ref)
        except INFRASTRUCTURE_ERRORS as exc:
            # A node taken back by its provider (drained as a preemption) is not the trial's
            # fault: its re-run does not count towards the crashes that fail a trial.
            preempted = bool(getattr(exc, "preempted", False))
            reason = ("its node was preempted: " if preempted else "") + describe(exc)
            self._say(f"runner {runner.name} lost: {reason}")
            self.cluster.stale()
            self._drop(runner.name)
            with contextlib.suppress(ray.exceptions.RayActorError):
                call_across_restarts(self.scheduler.runner_lost, runner.name, reason, not preempted)
            return None
        self._drop(runner.name)
        # A runner leaves early when its slice lost a host: read the nodes again.
        self.cluster.stale()
        self.trials += result.trials
        self._say(f"runner {runner.name} returned after {result.trials} trials")
        return result if result.fatal is not None else None

    def _drop(self, name: str) -> None:
        """Forget runner `name`; the hosts of its slice, if it held one, go back."""
        runner = self.live.pop(name, None)
        if runner is not None and runner.group is not None:
            with contextlib.suppress(Exception):
                remove_placement_group(runner.group)

    def _end(self, name: str, reason: str) -> None:
        runner = self.live.get(name)
        if runner is None:
            return
        with contextlib.suppress(Exception):
            ray.kill(runner.actor)  # type: ignore[arg-type]
        self._drop(name)
        self._say(f"runner {name} ended: {reason}")
        # A trial it held (a hand-out on its way when it was ended) goes back to be re-run.
        with contextlib.suppress(ray.exceptions.RayActorError):
            call_across_restarts(self.scheduler.runner_lost, name, reason, False)

    def _say(self, line: str) -> None:
        # Stamped with the time into the run, so that a slow start or a late retirement shows.
        line = f"+{time.monotonic() - self.began:.2f} s {line}"
        _log.debug("%s", line)
        self.said.append(line)
