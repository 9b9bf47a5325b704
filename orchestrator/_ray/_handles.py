"""Typed handles of the study's actors, and the one way to wait for their answers.

A Ray actor handle is untyped; these protocols name each remote method with its arguments and
result, so that mypy checks every call across the process boundary (``handle.m.remote(...)``
gives an ``ObjectRef`` of the method's result, and :func:`call` waits for it).

Errors raised inside an actor on purpose — raysweep's own, and the ``ValueError`` /
``TypeError`` that say what to fix — reach the caller as themselves: Ray would wrap them in a
``RayTaskError(...)`` whose message starts with the actor's pid, address and ANSI colours
before the sentence that matters. Anything else (a bug) keeps Ray's wrapping and its remote
traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

import ray
from ray import ObjectRef

from raysweep.orchestrator._core._protocol import (
    Assignment,
    Idle,
    Note,
    PlacementAnswer,
    PlacementRequest,
    Progress,
    ProposalOrNone,
    TrialOutcome,
    Updates,
)
from raysweep.orchestrator._core._resources import ResourceRequest
from raysweep.orchestrator._core._state import ResourceUsage, StudyInfo
from raysweep.orchestrator._core._trial import Trial
from raysweep.orchestrator._errors import RaysweepError
from raysweep.samplers import Distribution, SearchSpaceExhaustedError, TrialRecord, TrialState
from raysweep.scheduling import Decision

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "ObjectRef",
    "RemoteMethod",
    "RunnerHandle",
    "RunnerPoolHandle",
    "SamplerServiceHandle",
    "TrialSchedulerHandle",
    "call",
]

# Raised inside the actors on purpose, with a message for the user.
_OWN_ERRORS = (RaysweepError, ValueError, TypeError, SearchSpaceExhaustedError)

# What a call's failure looks like when its process or node died, not its code.
INFRASTRUCTURE_ERRORS = (
    ray.exceptions.RayActorError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.ObjectLostError,
)


class RemoteMethod(Protocol[P, R]):
    def remote(self, *args: P.args, **kwargs: P.kwargs) -> ObjectRef[R]: ...


class TrialSchedulerHandle(Protocol):
    """The remote methods of ``TrialSchedulerActor`` (``_core._trial_scheduler``)."""

    @property
    def open(self) -> RemoteMethod[[], StudyInfo]: ...
    @property
    def attach_sampler_actor(self) -> RemoteMethod[[SamplerServiceHandle], None]: ...
    @property
    def close(self) -> RemoteMethod[[], None]: ...
    @property
    def start_optimize(self) -> RemoteMethod[[int, int, str | None], int]: ...
    @property
    def run_ended(self) -> RemoteMethod[[str], bool]: ...
    @property
    def stop_new_trials(self) -> RemoteMethod[[str | None], None]: ...
    @property
    def wants_more(self) -> RemoteMethod[[], bool]: ...
    @property
    def next_trial(
        self,
    ) -> RemoteMethod[[str, TrialOutcome | None, bool], Assignment | Idle | None]: ...
    @property
    def wait_for_work(self) -> RemoteMethod[[str, int, float], int]: ...
    @property
    def place(self) -> RemoteMethod[[PlacementRequest], PlacementAnswer]: ...
    @property
    def checkpoint_root(self) -> RemoteMethod[[], str]: ...
    @property
    def busy_runners(self) -> RemoteMethod[[], set[str]]: ...
    @property
    def runner_lost(self) -> RemoteMethod[[str, str, bool], None]: ...
    @property
    def pool_lost(self) -> RemoteMethod[[str], None]: ...
    @property
    def report(self) -> RemoteMethod[[int, int, tuple[Note, ...]], Decision | None]: ...
    @property
    def report_later(self) -> RemoteMethod[[int, int, tuple[Note, ...]], None]: ...
    @property
    def suggest(
        self,
    ) -> RemoteMethod[[int, int, str, Distribution, tuple[Note, ...]], Any]: ...
    @property
    def exhausted(self) -> RemoteMethod[[], str | None]: ...
    @property
    def placements(self) -> RemoteMethod[[], dict[int, dict[str, Any]]]: ...
    @property
    def hardware(self) -> RemoteMethod[[], dict[int, dict[str, Any]]]: ...
    @property
    def records(self) -> RemoteMethod[[], list[TrialRecord]]: ...
    @property
    def record(self) -> RemoteMethod[[int], TrialRecord]: ...
    @property
    def progress(self) -> RemoteMethod[[], Progress]: ...
    @property
    def best(self) -> RemoteMethod[[], TrialRecord]: ...
    @property
    def resource_usage(self) -> RemoteMethod[[], ResourceUsage]: ...
    @property
    def ask(self) -> RemoteMethod[[str | None], Assignment]: ...
    @property
    def tell(
        self,
    ) -> RemoteMethod[
        [
            int,
            TrialState,
            tuple[float, ...] | None,
            str | None,
            tuple[Note, ...],
            tuple[float, ...] | None,
            str | None,
        ],
        TrialRecord,
    ]: ...
    @property
    def pid(self) -> RemoteMethod[[], int]: ...


class SamplerServiceHandle(Protocol):
    """The remote methods of the SamplerService actor (``_core._sampler_service``)."""

    @property
    def propose(
        self,
    ) -> RemoteMethod[[tuple[int, ...], Updates], dict[int, ProposalOrNone]]: ...
    @property
    def suggest(self) -> RemoteMethod[[int, str, Distribution, Updates], Any]: ...
    @property
    def pid(self) -> RemoteMethod[[], int]: ...


class RunnerHandle(Protocol):
    """The remote methods of a runner (``_runner.Runner``)."""

    @property
    def serve(
        self,
    ) -> RemoteMethod[
        [
            TrialSchedulerHandle,
            ObjectRef[Callable[[Trial], Any]],
            tuple[type[BaseException], ...],
            str,
        ],
        Any,
    ]: ...
    @property
    def interrupt(self) -> RemoteMethod[[], None]: ...


class RunnerPoolHandle(Protocol):
    """The remote methods of the runner pool (``_pool.RunnerPool``)."""

    @property
    def run(
        self,
    ) -> RemoteMethod[
        [
            TrialSchedulerHandle,
            ObjectRef[Callable[[Trial], Any]],
            tuple[type[BaseException], ...],
            ResourceRequest,
            int,
            dict[str, Any] | None,
        ],
        Any,
    ]: ...
    @property
    def interrupt(self) -> RemoteMethod[[str], None]: ...


def call(ref: ObjectRef[R], *, timeout: float | None = None) -> R:
    """Wait for a remote call's answer; an error raised on purpose comes back as itself."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, _OWN_ERRORS):
            raise cause from None
        raise


# How long a call waits for Ray to restart a lost actor before it gives up.
RESTART_WAIT_S = 60.0
_RESTART_POLL_S = 0.25


def call_across_restarts(method: RemoteMethod[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call an actor that Ray restarts; a call lost with its old process is made again.

    Only for calls that are safe to make twice: idempotent ones, or those that carry a
    request id the actor answers again instead of applying twice. RayActorError once the
    actor has not come back within `RESTART_WAIT_S`.
    """
    deadline = time.monotonic() + RESTART_WAIT_S
    while True:
        try:
            return call(method.remote(*args, **kwargs))
        except ray.exceptions.RayActorError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_RESTART_POLL_S)


def describe(exc: BaseException) -> str:
    """An error in one line, for a log or a reason: its type and first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
