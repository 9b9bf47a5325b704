"""Detached studies: a study's `optimize` run by a detached actor, so it outlives its driver.

A Ray actor is owned by the process that created it and dies with it, and so do the actors it
created. A detached run therefore starts one detached actor, the **study host**, pinned to the
driver's node (which holds or reaches the log); the host opens the study itself — its
TrialScheduler and SamplerService are the host's — and runs the same loop as
`Study.optimize` (`_optimize.run_optimize`) in a thread. The driver may then exit.

The host is named after the study (``detached:<study name>`` in the ``raysweep`` namespace), so
`raysweep status`, `raysweep attach`, `raysweep stop` and `attach_study` find it by the
study's name; one detached study of a name runs on a cluster at a time.

The log stays the source of truth. Ray restarts a host whose process died (its actors and
runners died with it): the new host reopens the study from the log and goes on with the same
run, unless the log shows that run ended (`TrialSchedulerCore.run_ended`). A run that ended
leaves the host up for `ENDED_KEPT_S`, so that its outcome can still be read by name; its
study is closed by then (log committed, lease released).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, Protocol, TypeVar

import cloudpickle
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysweep.orchestrator._core._limits import MAX_TRACEBACK_CHARS, truncate_middle
from raysweep.orchestrator._core._protocol import Progress
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._errors import DetachedStudyError, RaysweepError
from raysweep.orchestrator._ray._actors import (
    NAMESPACE,
    StudyActors,
    start_study_actors,
    was_restarted,
)
from raysweep.orchestrator._ray._handles import RemoteMethod, call, call_across_restarts
from raysweep.orchestrator._ray._optimize import closing_notes, run_optimize
from raysweep.orchestrator._ray._resources import ResourceRequest
from raysweep.samplers import Sampler

_log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# How long the host of a run that ended stays up, so that its outcome can be read by name.
ENDED_KEPT_S = 3600.0
# A previous writer of the study (the driver that detached it, a host that died) may take a
# moment to be gone.
_LEASE_WAIT_S = 30.0
_PREFIX = "detached:"


class RunState(enum.Enum):
    """Where a detached run is; the last three are ends."""

    STARTING = "starting"  # opening the study
    RUNNING = "running"
    STOPPING = "stopping"  # no new trials; running ones finish (or stop at their next report)
    FINISHED = "finished"  # nothing more to run: the goal reached, the timeout, the sampler done
    STOPPED = "stopped"  # by `raysweep stop` / `DetachedStudy.stop`
    FAILED = "failed"  # the run raised: a trial's exception outside `catch`, storage, ...

    @property
    def ended(self) -> bool:
        return self in (RunState.FINISHED, RunState.STOPPED, RunState.FAILED)


@dataclass(frozen=True)
class DetachedSpec:
    """What a detached run is: the study to open and the `optimize` call to make."""

    directory: str
    requested: StudyInfo
    sampler: Sampler
    given: frozenset[str]
    checkpoint_format: str
    # cloudpickle of the objective, made in the driver, so that an objective that cannot be sent
    # is refused there before anything stops; the host ships it to its runners itself (an
    # object the driver put would be lost when the driver exits).
    objective: bytes
    n_trials: int
    max_concurrent: int
    request: ResourceRequest
    catch: tuple[type[BaseException], ...]
    # Wall-clock end of `timeout` (epoch seconds), the same for a restarted host.
    deadline: float | None
    run: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class DetachedStatus:
    """A detached run as its host sees it now: a value, safe to keep and print."""

    name: str
    directory: str
    run: str
    state: RunState
    # The study's counts and best value, as of the last look (None before the study opened).
    progress: Progress | None
    # The goal of the call (finished trials in the whole study; 2**62: no n_trials).
    n_trials: int
    max_concurrent: int
    started: float  # epoch seconds
    ended: float | None
    # What the run raised (FAILED), the reason of a stop, and what optimize would have printed.
    error: str | None = None
    notes: tuple[str, ...] = ()
    node_id: str = ""
    pid: int = 0
    # Ray restarted the host after its process died; the run went on from the log.
    restarted: bool = False

    def describe(self) -> str:
        """A few lines for a terminal."""
        goal = "no n_trials" if self.n_trials >= 2**62 else f"n_trials={self.n_trials}"
        lines = [
            f"study {self.name!r}: {self.state.value} (detached; {goal}, "
            f"max_concurrent={self.max_concurrent})",
            f"  log: {self.directory}",
        ]
        if self.progress is not None:
            counts = ", ".join(f"{s} {n}" for s, n in sorted(self.progress.counts.items()))
            best = "-" if self.progress.best_value is None else f"{self.progress.best_value:.6g}"
            lines.append(f"  trials: {counts or 'none yet'} | best {best}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        again = ", its host restarted since (the run went on from the log)"
        lines.append(f"  started {since}{again if self.restarted else ''}")
        if self.ended is not None:
            ended = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.ended))
            lines.append(f"  ended {ended}")
        if self.error:
            lines.append(f"  error: {self.error.strip().splitlines()[-1]}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def host_name(study_name: str) -> str:
    return _PREFIX + study_name


class StudyHost:
    """The detached actor of one run. Its constructor returns at once; a thread does the run."""

    def __init__(self, spec: DetachedSpec) -> None:
        self._spec = spec
        self._lock = threading.Condition()
        self._restarted = was_restarted()
        self._status = DetachedStatus(
            name=spec.requested.name,
            directory=spec.directory,
            run=spec.run,
            state=RunState.STARTING,
            progress=None,
            n_trials=spec.n_trials,
            max_concurrent=spec.max_concurrent,
            started=time.time(),
            ended=None,
            node_id=ray.get_runtime_context().get_node_id(),
            pid=os.getpid(),
        )
        self._actors: StudyActors | None = None
        self._stop_now: str | None = None
        self._stop_requested: str | None = None
        threading.Thread(target=self._run, name="detached-run", daemon=True).start()

    # ----- what callers ask ---------------------------------------------------------------------

    def status(self) -> DetachedStatus:
        with self._lock:
            actors, status = self._actors, self._status
        if actors is not None and not status.state.ended:
            with contextlib.suppress(Exception):
                progress = call(actors.scheduler.progress.remote(), timeout=10)
                status = self._update(progress=progress)
        return status

    def wait(self, timeout: float | None = None) -> DetachedStatus:
        """The status once the run has ended, or after `timeout` s (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._status.state.ended:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(left)
        return self.status()

    def wait_opened(self, timeout: float) -> DetachedStatus:
        """The status once the study is open (or the run ended trying), or after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._status.state is RunState.STARTING:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return self._status

    def actors(self) -> StudyActors | None:
        """The study's actors while the run goes on (for a `Study` bound to this run)."""
        with self._lock:
            return None if self._status.state.ended else self._actors

    def stop(self, now: bool = False) -> DetachedStatus:
        """No new trials; running ones finish, or with `now` stop at their next report.

        Trials stopped `now` are recorded as interrupted and re-run by the study's next
        `optimize`. Returns at once; `wait` for the end.
        """
        reason = "stopped by `raysweep stop`" + (" --now" if now else "")
        with self._lock:
            state, actors = self._status.state, self._actors
            if state.ended:
                return self._status
            self._stop_requested = self._stop_requested or reason
            if now:
                self._stop_now = reason
            self._status = replace(self._status, state=RunState.STOPPING)
            self._lock.notify_all()
        if actors is not None:
            with contextlib.suppress(Exception):
                call_across_restarts(actors.scheduler.stop_new_trials, reason)
        return self.status()

    def remove(self) -> bool:
        """End the host of a run that has ended (False, and nothing done, if it goes on)."""
        with self._lock:
            if not self._status.state.ended:
                return False
        # After the reply has gone out.
        threading.Timer(0.2, self._exit).start()
        return True

    def pid(self) -> int:
        """The host's process id (tests kill it to check that a run survives its host)."""
        return os.getpid()

    # ----- the run ------------------------------------------------------------------------------

    def _run(self) -> None:
        spec = self._spec
        state = RunState.FINISHED
        error: str | None = None
        notes: tuple[str, ...] = ()
        try:
            objective = cloudpickle.loads(spec.objective)
            actors = start_study_actors(
                spec.directory,
                spec.requested,
                spec.sampler,
                load_if_exists=True,
                given=spec.given,
                lease_wait=_LEASE_WAIT_S,
                checkpoint_format=spec.checkpoint_format,
            )
            with self._lock:
                self._actors = actors
                stop_requested = self._stop_requested
                # A stop asked while the study opened stands.
                running = RunState.RUNNING if stop_requested is None else RunState.STOPPING
                self._update(state=running, restarted=self._restarted)
            if self._restarted and call(actors.scheduler.run_ended.remote(spec.run)):
                # This run had ended before the host's process died: it stays ended.
                notes = ("the run had ended before its host was restarted",)
            elif stop_requested is None:
                left = None if spec.deadline is None else spec.deadline - time.time()
                if left is None or left > 0:
                    run_optimize(
                        actors.scheduler,
                        objective,
                        n_trials=spec.n_trials,
                        timeout=left,
                        max_concurrent=spec.max_concurrent,
                        request=spec.request,
                        catch=spec.catch,
                        show_progress=False,
                        runtime_env=actors.runtime_env,
                        run=spec.run,
                        interrupted=lambda: self._stop_now,
                    )
                notes = closing_notes(actors.scheduler, actors.info).lines()
            with self._lock:
                if self._stop_requested is not None:
                    state, error = RunState.STOPPED, self._stop_requested
        except BaseException as exc:
            state = RunState.FAILED
            if isinstance(exc, RaysweepError | ValueError | TypeError):
                error = f"{type(exc).__name__}: {exc}"
            else:
                error = truncate_middle(traceback.format_exc(), MAX_TRACEBACK_CHARS)
            _log.warning("study %r: detached run failed: %s", spec.requested.name, error)
        self._end(state, error, notes)

    def _end(self, state: RunState, error: str | None, notes: tuple[str, ...]) -> None:
        with self._lock:
            actors = self._actors
        progress = None
        if actors is not None:
            with contextlib.suppress(Exception):
                progress = call(actors.scheduler.progress.remote(), timeout=10)
            try:
                actors.close(timeout=60)
            except Exception as exc:
                if state is not RunState.FAILED:
                    state, error = RunState.FAILED, f"closing the study: {exc}"
        with self._lock:
            self._update(state=state, error=error, notes=notes, ended=time.time())
            if progress is not None:
                self._update(progress=progress)
        timer = threading.Timer(ENDED_KEPT_S, self._exit)
        timer.daemon = True
        timer.start()

    def _update(self, **changes: Any) -> DetachedStatus:
        with self._lock:
            self._status = replace(self._status, **changes)
            self._lock.notify_all()
            return self._status

    def _exit(self) -> None:
        # Not restarted: an ended run's host has nothing left to do.
        with contextlib.suppress(Exception):
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


StudyHostRemote: Any = ray.remote(StudyHost)


class _HostRemote(Protocol):
    """The remote methods of `StudyHost`."""

    @property
    def status(self) -> RemoteMethod[[], DetachedStatus]: ...
    @property
    def wait(self) -> RemoteMethod[[float | None], DetachedStatus]: ...
    @property
    def wait_opened(self) -> RemoteMethod[[float], DetachedStatus]: ...
    @property
    def actors(self) -> RemoteMethod[[], StudyActors | None]: ...
    @property
    def stop(self) -> RemoteMethod[[bool], DetachedStatus]: ...
    @property
    def remove(self) -> RemoteMethod[[], bool]: ...
    @property
    def pid(self) -> RemoteMethod[[], int]: ...


class StudyHostHandle:
    """Calls to a study host; DetachedStudyError, saying where the data is, once it is gone."""

    def __init__(self, actor: _HostRemote) -> None:
        self.actor = actor

    def status(self) -> DetachedStatus:
        return _call(self.actor.status)

    def wait(self, timeout: float | None) -> DetachedStatus:
        return _call(self.actor.wait, timeout)

    def wait_opened(self, timeout: float) -> DetachedStatus:
        return _call(self.actor.wait_opened, timeout)

    def actors(self) -> StudyActors | None:
        return _call(self.actor.actors)

    def stop(self, now: bool) -> DetachedStatus:
        return _call(self.actor.stop, now)

    def remove(self) -> bool:
        try:
            return _call(self.actor.remove)
        except DetachedStudyError:
            return True  # gone already

    def pid(self) -> int:
        return _call(self.actor.pid)


def _call(method: RemoteMethod[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    # Every host call is safe to repeat; Ray restarts a host whose process died.
    try:
        return call_across_restarts(method, *args, **kwargs)
    except ray.exceptions.RayActorError as exc:
        raise DetachedStudyError(
            f"the detached study's host is gone ({type(exc).__name__}); its log still holds "
            "every trial it recorded: open it with create_study(..., load_if_exists=True)"
        ) from None


def find_host(study_name: str) -> StudyHostHandle | None:
    """The host of the detached study of that name on the connected cluster, if any."""
    try:
        return StudyHostHandle(ray.get_actor(host_name(study_name), namespace=NAMESPACE))
    except ValueError:
        return None


def detached_names() -> list[str]:
    """The names of the detached studies whose hosts are up on the connected cluster."""
    named = ray.util.list_named_actors(all_namespaces=True)
    return sorted(
        entry["name"].removeprefix(_PREFIX)
        for entry in named
        if entry.get("namespace") == NAMESPACE and entry["name"].startswith(_PREFIX)
    )


def start_host(spec: DetachedSpec, runtime_env: dict[str, Any] | None) -> StudyHostHandle:
    """Start the host of a detached run on this node; DetachedStudyError if the name is taken."""
    here = NodeAffinitySchedulingStrategy(
        node_id=ray.get_runtime_context().get_node_id(), soft=False
    )
    try:
        actor = StudyHostRemote.options(
            name=host_name(spec.requested.name),
            namespace=NAMESPACE,
            lifetime="detached",
            num_cpus=0,
            max_concurrency=16,
            scheduling_strategy=here,
            max_restarts=-1,
            max_task_retries=-1,
            runtime_env=runtime_env,
        ).remote(spec)
    except ValueError as exc:  # Ray: "The name ... is already taken"
        raise DetachedStudyError(
            f"a detached study named {spec.requested.name!r} is already on this Ray cluster: "
            f"see it with `raysweep status {spec.requested.name}`, end it with "
            f"`raysweep stop {spec.requested.name}`"
        ) from exc
    return StudyHostHandle(actor)
