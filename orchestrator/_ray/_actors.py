"""The Ray side of the two study actors: remote classes and how they are started.

The TrialScheduler is a threaded actor (one lock inside): on this machine a threaded actor's
round trip costs about 0.85 ms against 1.2 ms for an asyncio actor, and every decision a trial
waits for is one such round trip. Both actors are pinned to the driver's node, which holds the
log (or reaches it: a study on an object store is written from there too).

A study on an object store is reached with the driver's credentials and endpoint: the actors
get the storage variables of the driver's environment (``_storage._store.storage_environment``)
through their ``runtime_env``, since Ray starts them with the raylet's environment instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysweep.orchestrator._core._protocol import ProposalOrNone, Updates
from raysweep.orchestrator._core._sampler_service import SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._core._trial_scheduler import TrialSchedulerCore
from raysweep.orchestrator._ray._handles import (
    ObjectRef,
    SamplerServiceHandle,
    TrialSchedulerHandle,
    call,
)
from raysweep.orchestrator._storage._store import open_study_store, storage_environment
from raysweep.samplers import Distribution, Sampler, sampler_from_json
from raysweep.scheduling import scheduler_from_json

_log = logging.getLogger(__name__)
_SCHEDULER_CONCURRENCY = 64
# Idle runners and the runner pool wait for a change in their own threads, so that they never
# hold up the calls of trials that run.
_WAITS = "waits"
_WAITS_CONCURRENCY = 256
NAMESPACE = "raysweep"


class _RayPending:
    def __init__(self, ref: ObjectRef[dict[int, ProposalOrNone]]) -> None:
        self._ref = ref

    def result(self) -> dict[int, ProposalOrNone]:
        return call(self._ref)


class _RaySamplerClient:
    """Calls the SamplerService actor from inside the TrialScheduler."""

    def __init__(self, handle: SamplerServiceHandle) -> None:
        self._handle = handle

    def propose(self, numbers: tuple[int, ...], updates: Updates) -> _RayPending:
        return _RayPending(self._handle.propose.remote(numbers, updates))

    def suggest(self, number: int, name: str, distribution: Distribution, updates: Updates) -> Any:
        return call(self._handle.suggest.remote(number, name, distribution, updates))


def was_restarted() -> bool:
    """Whether Ray is running this actor's constructor again after its process died."""
    with warnings.catch_warnings():
        # Ray 2.60 implements this property with its own deprecated `actor_id`, and the
        # warning would reach the user's console from every study's actor.
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


class TrialSchedulerActor(TrialSchedulerCore):
    """The TrialScheduler as a Ray actor that Ray restarts when its process dies.

    A restarted actor runs this constructor again with the same arguments: it then reopens the
    study from its log at once (the first open succeeded, so the study exists), takes the lease
    over from its dead predecessor, and finds the SamplerService by name. The trials that were
    running are queued for a re-run; their runners learn it at their next call.
    """

    def __init__(
        self,
        directory: str,
        requested: StudyInfo,
        *,
        load_if_exists: bool,
        given: frozenset[str],
        lease_wait: float,
        sampler_name: str,
        driver: tuple[str, int],
        checkpoint_format: str = "safe",
    ) -> None:
        restarted = was_restarted()
        super().__init__(
            open_study_store(directory),
            requested,
            load_if_exists=load_if_exists or restarted,
            given=given,
            lease_wait=lease_wait,
            driver=driver,
            checkpoint_format=checkpoint_format,
        )
        self._sampler_name = sampler_name
        if restarted:
            try:
                self.open(restarted=True)
                self.attach_sampler_actor(ray.get_actor(sampler_name, namespace=NAMESPACE))
            except Exception as exc:
                # A constructor that raises is restarted by Ray for ever, and nobody hears why.
                # Stay up instead, and answer every call with the reason (a lease another
                # driver took meanwhile, storage that is gone), so optimize raises it.
                _log.warning(
                    "study at %s: the restarted TrialScheduler cannot open: %s", directory, exc
                )
                self._refuse_calls(exc, "reopening the study after a restart")

    def attach_sampler_actor(self, handle: SamplerServiceHandle) -> None:
        self.attach_sampler(_RaySamplerClient(handle))

    @ray.method(concurrency_group=_WAITS)
    def wait_for_work(  # type: ignore[override]
        self, runner: str, version: int, timeout: float = 30.0
    ) -> int:
        return super().wait_for_work(runner, version, timeout)

    def pid(self) -> int:
        """The actor's process id (tests kill it to check the restart)."""
        return os.getpid()


class SamplerServiceActor(SamplerServiceCore):
    """The SamplerService as a Ray actor; Ray restarts it with its constructor's arguments."""

    def pid(self) -> int:
        """The actor's process id (fault tests and the chaos benchmark kill it)."""
        return os.getpid()


SchedulerRemote: Any = ray.remote(concurrency_groups={_WAITS: _WAITS_CONCURRENCY})(  # type: ignore[call-overload]
    TrialSchedulerActor
)
SamplerRemote: Any = ray.remote(SamplerServiceActor)


@dataclass(frozen=True)
class StudyActors:
    """The two actors of one open study, and what opening it read from its log."""

    scheduler: TrialSchedulerHandle
    sampler: SamplerServiceHandle
    info: StudyInfo
    # The sampler the SamplerService was started with (a detached run starts it again).
    sampler_spec: Sampler
    # What the runners of this study may load (create_study's checkpoint_format).
    checkpoint_format: str = "safe"
    # What runners of this study are started with: the storage's environment (checkpoints).
    runtime_env: dict[str, Any] | None = None

    def close(self, *, timeout: float | None = None) -> None:
        """Commit the log and release the lease (waiting up to `timeout` s), then end both."""
        if not ray.is_initialized():
            # Ray was shut down (at exit, say) and the actors with it; a call now would start
            # a new Ray only to find them gone.
            return
        try:
            call(self.scheduler.close.remote(), timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        for actor in (self.scheduler, self.sampler):
            with contextlib.suppress(Exception):
                ray.kill(actor)  # type: ignore[arg-type]
        _log.debug("study %r: actors stopped", self.info.name)


def start_study_actors(
    directory: str,
    requested: StudyInfo,
    sampler: Sampler,
    *,
    load_if_exists: bool,
    given: frozenset[str],
    lease_wait: float,
    checkpoint_format: str = "safe",
) -> StudyActors:
    """Start the TrialScheduler and SamplerService of a study, and open it.

    Raises what opening the study raised: a duplicate study, a held lease, storage that cannot
    be written.
    """
    here = NodeAffinitySchedulingStrategy(
        node_id=ray.get_runtime_context().get_node_id(), soft=False
    )
    environment = storage_environment(directory)
    runtime_env = {"env_vars": environment} if environment else None
    sampler_name = f"raysweep-sampler-{uuid.uuid4().hex}"
    # Calls in flight when the scheduler's process dies are not retried (a hand-off is not
    # idempotent): they fail, and their runners are replaced; later calls wait for the restart.
    scheduler: TrialSchedulerHandle = SchedulerRemote.options(
        num_cpus=0,
        max_concurrency=_SCHEDULER_CONCURRENCY,
        scheduling_strategy=here,
        max_restarts=-1,
        max_task_retries=0,
        runtime_env=runtime_env,
    ).remote(
        directory,
        requested,
        load_if_exists=load_if_exists,
        given=given,
        lease_wait=lease_wait,
        sampler_name=sampler_name,
        # The lease names this process, which holds the study, to a second driver refused it.
        driver=(socket.gethostname(), os.getpid()),
        checkpoint_format=checkpoint_format,
    )
    try:
        info = call(scheduler.open.remote())
        if info.sampler != requested.sampler and "sampler" not in given:
            # A study opened again without a sampler goes on with the one it was created with.
            sampler = _recorded_sampler(info)
    except BaseException:
        with contextlib.suppress(Exception):
            call(scheduler.close.remote())
        ray.kill(scheduler)  # type: ignore[arg-type]
        raise
    # The study may be older than this call: the sampler follows the seed the log recorded.
    # Ray restarts a lost SamplerService and retries its calls; the restarted service asks the
    # scheduler for the whole history (SamplerOutOfStepError) before it proposes again.
    sampler_service: SamplerServiceHandle = SamplerRemote.options(
        name=sampler_name,
        namespace=NAMESPACE,
        num_cpus=0,
        scheduling_strategy=here,
        max_restarts=-1,
        max_task_retries=-1,
    ).remote(sampler, info.seed, info.directions, scheduler_from_json(info.scheduler).fidelities())
    call(scheduler.attach_sampler_actor.remote(sampler_service))
    _log.debug("study %r: actors started, log at %s", info.name, directory)
    return StudyActors(scheduler, sampler_service, info, sampler, checkpoint_format, runtime_env)


def _recorded_sampler(info: StudyInfo) -> Sampler:
    try:
        return sampler_from_json(info.sampler)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"study {info.name!r} was created with a sampler raysweep cannot rebuild from its "
            f"log ({exc}); pass the same sampler again: create_study(..., sampler=...)"
        ) from None
