"""`create_study` and `Study`: the public face of a study, in the driver process."""

from __future__ import annotations

import atexit
import contextlib
import math
import numbers
import os
import re
import secrets
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cloudpickle
import pyarrow as pa

from raysweep.orchestrator._best import pareto_front
from raysweep.orchestrator._core._hardware_use import tally_sum
from raysweep.orchestrator._core._recorder import check_reopen
from raysweep.orchestrator._core._state import ResourceUsage, StudyInfo
from raysweep.orchestrator._core._tpu_slice import TPUSlice
from raysweep.orchestrator._core._trial import Trial, constraint_values, objective_values
from raysweep.orchestrator._detached import DetachedStudy
from raysweep.orchestrator._errors import DetachedStudyError, DuplicatedStudyError, StorageError
from raysweep.orchestrator._ray._actors import StudyActors, start_study_actors
from raysweep.orchestrator._ray._cluster import autoscaler_can_launch
from raysweep.orchestrator._ray._handles import TrialSchedulerHandle, call, call_across_restarts
from raysweep.orchestrator._ray._links import AskLink
from raysweep.orchestrator._ray._optimize import (
    closing_notes,
    run_optimize,
    unsendable_objective,
)
from raysweep.orchestrator._ray._resources import (
    ResourceRequest,
    check_placeable,
    live_nodes,
)
from raysweep.orchestrator._ray._session import ensure_ray, outlives_this_process
from raysweep.orchestrator._ray._study_host import (
    DetachedSpec,
    RunState,
    StudyHostHandle,
    find_host,
    start_host,
)
from raysweep.orchestrator._storage._checkpoints import CheckpointFormat, check_format
from raysweep.orchestrator._storage._object_store import ObjectLocation, is_uri
from raysweep.orchestrator._storage._store import ObjectStudyStore
from raysweep.orchestrator._table import trials_table
from raysweep.samplers import (
    Sampler,
    StudyDirection,
    TPESampler,
    TrialRecord,
    TrialState,
)
from raysweep.scheduling import NoPruning, Scheduler, scheduler_from_json

# A previous writer of this study on this host (a driver just killed, say) can take a few
# seconds to be gone; wait that long before saying the study is in use.
_LEASE_WAIT_S = 5.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Studies opened by this process, so that opening one again reuses its actors (a re-run
# notebook cell, say) instead of colliding with its own lease.
_OPEN: dict[str, StudyActors] = {}
# How long `optimize(detach=True)` waits for the detached run to open the study (its lease wait
# included) before it returns anyway.
_DETACH_OPEN_WAIT_S = 120.0


class Study:
    """A study whose trials run on Ray. Create or load one with `create_study`."""

    def __init__(
        self, directory: Path | str, actors: StudyActors, host: StudyHostHandle | None = None
    ) -> None:
        self._directory = directory
        self._actors = actors
        self._info = actors.info
        self._closed = False
        # Set when the actors are a detached run's (they belong to its host, not to us).
        self._host = host

    def _live(self) -> TrialSchedulerHandle:
        """The TrialScheduler's handle; a clear error once the study is closed."""
        if self._closed:
            raise RuntimeError(
                f"study {self.name!r} is closed; open it again with "
                "create_study(..., load_if_exists=True)"
            )
        if self._host is not None:
            actors = self._host.actors()
            if actors is None:
                raise DetachedStudyError(
                    f"study {self.name!r} ran detached and that run has ended "
                    f"({self._host.status().state.value}); open it again with "
                    "create_study(..., load_if_exists=True)"
                )
            self._actors = actors
        return self._actors.scheduler

    # ----- what the study is --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def directory(self) -> Path | str:
        """Where the study's log lives: a directory, or its URI (``s3://bucket/prefix/<name>``,
        with the query it was opened with)."""
        return self._directory

    @property
    def seed(self) -> int:
        """The root of all randomness in the study (recorded in its log)."""
        return self._info.seed

    @property
    def directions(self) -> tuple[StudyDirection, ...]:
        return self._info.directions

    @property
    def direction(self) -> StudyDirection:
        if len(self._info.directions) != 1:
            raise ValueError("this study has several objectives; use Study.directions")
        return self._info.directions[0]

    # ----- running trials -----------------------------------------------------------------------

    def optimize(
        self,
        objective: Callable[[Trial], Any],
        n_trials: int | None = None,
        *,
        timeout: float | None = None,
        max_concurrent: int = 1,
        resources: Mapping[str, Any]
        | TPUSlice
        | Sequence[Mapping[str, Any] | TPUSlice]
        | Callable[[dict[str, Any], int], Any]
        | None = None,
        catch: type[BaseException] | Sequence[type[BaseException]] = (Exception,),
        show_progress: bool = True,
        detach: bool = False,
    ) -> DetachedStudy | None:
        """Run trials of `objective` on Ray until the study has `n_trials` finished trials.

        `n_trials` counts every finished trial of the study (complete, pruned or failed), not
        just those of this call, so re-running a script after a crash continues the study
        instead of doubling it. `timeout` (seconds) bounds this call: no trial starts after
        it, and running trials finish. Each trial runs on a runner actor holding `resources`
        (default one CPU; GPU shares and custom resources as Ray names them; a `TPUSlice`;
        alternatives; a function of the parameters and rung: see the README), with at most
        `max_concurrent` at once. An exception of a type in `catch` marks its trial FAILED with
        the traceback and the study goes on; any other ends the study and is raised here.
        Ctrl-C stops new trials, asks running ones to stop at their next report, and records
        them as interrupted; they are re-run by the next `optimize`.

        `detach=True` returns at once with a `DetachedStudy`: the run goes on on the Ray
        cluster after this process exits (it needs a cluster that outlives it: `ray start
        --head`, or `ray job submit`), found again by the study's name with
        `raysweep status | attach | stop NAME` or `attach_study(name)`. This `Study` stays
        bound to the run while it goes on.
        """
        if not callable(objective):
            raise TypeError(f"objective must be a callable taking a trial, not {objective!r}")
        target = check_n_trials(n_trials, timeout)
        if (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or (max_concurrent < 1)
        ):
            raise ValueError(f"max_concurrent must be an int ≥ 1, not {max_concurrent!r}")
        request = ResourceRequest.parse(resources)
        if not autoscaler_can_launch():
            check_placeable(request, live_nodes())
        if self._host is not None and self._host.actors() is not None:
            raise DetachedStudyError(
                f"study {self.name!r} runs detached on the Ray cluster; a second optimize "
                f"would race it. Stop it first (`raysweep stop {self.name}`), or follow it "
                f"with `raysweep attach {self.name}`"
            )
        if detach:
            return self._detach(
                objective,
                n_trials=target,
                timeout=timeout,
                max_concurrent=max_concurrent,
                request=request,
                catch=check_catch(catch),
                show_progress=show_progress,
            )
        run_optimize(
            self._live(),
            objective,
            n_trials=target,
            timeout=timeout,
            max_concurrent=max_concurrent,
            request=request,
            catch=check_catch(catch),
            show_progress=show_progress,
            runtime_env=self._actors.runtime_env,
        )
        notes = closing_notes(self._live(), self._info)
        if notes.never_reported is not None:
            warnings.warn(notes.never_reported, RuntimeWarning, stacklevel=2)
        if notes.exhausted is not None and show_progress:
            print(notes.exhausted, file=sys.stderr)
        return None

    def _detach(
        self,
        objective: Callable[[Trial], Any],
        *,
        n_trials: int,
        timeout: float | None,
        max_concurrent: int,
        request: ResourceRequest,
        catch: tuple[type[BaseException], ...],
        show_progress: bool,
    ) -> DetachedStudy:
        if not outlives_this_process():
            raise DetachedStudyError(
                "optimize(detach=True) needs a Ray cluster that outlives this process, and the "
                "Ray here was started by it (it stops when this process exits). Start one with "
                "`ray start --head` (this script then joins it), set RAY_ADDRESS, or submit the "
                "script with `ray job submit`"
            )
        try:
            payload = cloudpickle.dumps(objective)
        except Exception as exc:
            raise unsendable_objective(exc) from exc
        _forget_ended_run(self.name)
        spec = DetachedSpec(
            directory=str(self._directory),
            requested=self._info,
            sampler=self._actors.sampler_spec,
            # Everything the log recorded is the study's now: the host reopens it as it is.
            given=frozenset({"seed", "sampler", "scheduler"}),
            checkpoint_format=self._actors.checkpoint_format,
            objective=payload,
            n_trials=n_trials,
            max_concurrent=max_concurrent,
            request=request,
            catch=catch,
            deadline=None if timeout is None else time.time() + timeout,
        )
        runtime_env = self._actors.runtime_env
        # Hand the study over: this process commits and releases the lease, the host takes it.
        _OPEN.pop(str(self._directory), None)
        self._actors.close()
        try:
            host = start_host(spec, runtime_env)
        except BaseException:
            self._closed = True
            raise
        status = host.wait_opened(timeout=_DETACH_OPEN_WAIT_S)
        if status.state is RunState.FAILED:
            self._closed = True
            raise DetachedStudyError(
                f"the detached run of study {self.name!r} could not start: {status.error}"
            )
        self._host = host
        if show_progress:
            print(
                f"[raysweep] study {self.name!r} runs detached on the Ray cluster: follow it "
                f"with `raysweep attach {self.name}`, stop it with `raysweep stop {self.name}`",
                file=sys.stderr,
                flush=True,
            )
        return DetachedStudy(self.name, host)

    def ask(self) -> Trial:
        """Start a trial that the caller runs; finish it with `tell`.

        The trial stays RUNNING, across restarts too, until it is told by number.
        """
        if scheduler_from_json(self._info.scheduler).pauses:
            raise ValueError(
                "this study's scheduler pauses trials and resumes them on runners (promote "
                "mode), which ask/tell cannot do: run it with study.optimize(...), or create "
                "the study with mode='stop' to use ask/tell"
            )
        # With an id, a call whose reply is lost to a TrialScheduler restart is made again
        # and gets the trial the first one created.
        assignment = call_across_restarts(self._live().ask, uuid.uuid4().hex)
        return Trial(assignment, AskLink(self._live(), assignment.number, assignment.attempt))

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        *,
        state: TrialState | str | None = None,
        constraints: Sequence[float] | None = None,
    ) -> TrialRecord:
        """Finish a trial from `ask`: with its value(s), or as PRUNED or FAILED.

        `state` is a `TrialState` or its name (``"pruned"``, ``"FAILED"``, ...).
        A value that is not a finite number marks the trial FAILED with the reason.
        `constraints` (feasible when every value is <= 0) default to what the trial handle was
        given with `set_constraints`; in a constrained study a COMPLETE trial needs them.
        """
        number = trial.number if isinstance(trial, Trial) else trial
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"tell takes a Trial or a trial number, not {trial!r}")
        state = _told_state(state)
        if values is not None:
            _check_told_types(values)
        checked_constraints = (
            constraint_values(constraints, None)
            if constraints is not None
            else (trial.constraints if isinstance(trial, Trial) else None)
        )
        notes = trial.take_notes() if isinstance(trial, Trial) else ()
        error: str | None = None
        checked: tuple[float, ...] | None = None
        if state is None:
            state = TrialState.COMPLETE if values is not None else TrialState.FAILED
        if state is TrialState.COMPLETE:
            if values is None:
                raise ValueError("tell(..., state=COMPLETE) needs the trial's value(s)")
            try:
                checked = objective_values(values, len(self.directions))
            except ValueError as exc:
                state, error = TrialState.FAILED, str(exc)
        elif state not in (TrialState.PRUNED, TrialState.FAILED):
            raise ValueError(f"a trial can be told COMPLETE, PRUNED or FAILED, not {state.value}")
        elif values is not None:
            raise ValueError(f"a trial told {state.value} takes no values")
        request = uuid.uuid4().hex  # a retried tell is answered, not applied twice
        return call_across_restarts(
            self._live().tell, number, state, checked, error, notes, checked_constraints, request
        )

    # ----- results ------------------------------------------------------------------------------

    @property
    def trials(self) -> list[TrialRecord]:
        return call(self._live().records.remote())

    def trial(self, number: int) -> TrialRecord:
        return call(self._live().record.remote(number))

    @property
    def best_trial(self) -> TrialRecord:
        """The best COMPLETE trial of a single-objective study; only feasible ones count.

        In a constrained study (trials report `set_constraints`), a trial whose constraints are
        not all <= 0 is never the best; ties go to the lower trial number. The TrialScheduler
        keeps it as trials finish and sends that one record, not the study's history.
        """
        self.direction  # noqa: B018 (raises, saying what to use, in a multi-objective study)
        return call(self._live().best.remote())

    @property
    def best_trials(self) -> list[TrialRecord]:
        """The Pareto front: feasible COMPLETE trials that no other such trial dominates.

        Works for one objective too (the trials tied for the best value). Ordered by number.
        """
        return pareto_front(self.trials, self.directions)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        values = self.best_trial.values
        assert values is not None  # best_trial only picks trials with values
        return values[0]

    def resource_usage(self) -> ResourceUsage:
        """The training work done so far, in reported steps: how much was repeated, how many
        trials paused, resumed from a checkpoint, or restarted from scratch (no checkpoint, or
        re-run after a lost runner)."""
        return call(self._live().resource_usage.remote())

    def trials_table(self) -> pa.Table:
        """One row per trial: state, value(s), times, `params_<name>`, curves, user attributes,
        and where its latest attempt ran (`placement_resources` as JSON text,
        `placement_nodes` as a list of Ray node ids)."""
        placements = call(self._live().placements.remote())
        hardware = call(self._live().hardware.remote())
        return trials_table(self.trials, len(self.directions), placements, hardware)

    def hardware_use(self) -> dict[str, float | int]:
        """What the study's ended attempts held and used, over all trials: ``cpu_s``,
        ``gpu_s``, ``tpu_chip_s`` (resource-seconds, exact), ``cpu_joules``, ``gpu_joules``
        (summed over the trials whose energy is known) and ``energy_unknown_trials`` (how
        many trials' energy the hardware did not report). Per trial: `trials_table`."""
        return tally_sum(call(self._live().hardware.remote()).values())

    def close(self) -> None:
        """Commit the log, release the study's lease and stop its actors. Idempotent.

        A study bound to a detached run only lets go of it: the run goes on.
        """
        if self._closed:
            return
        self._closed = True
        if self._host is not None:
            return
        _OPEN.pop(str(self._directory), None)
        self._actors.close()

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, directory={str(self._directory)!r})"


def create_study(
    *,
    name: str,
    storage: str | os.PathLike[str] = "./studies",
    direction: str | StudyDirection | None = None,
    directions: Sequence[str | StudyDirection] | None = None,
    sampler: Sampler | None = None,
    scheduler: Scheduler | None = None,
    seed: int | None = None,
    load_if_exists: bool = False,
    checkpoint_format: CheckpointFormat = "safe",
) -> Study:
    """Create a study (or, with `load_if_exists`, continue the one already in `storage`).

    The study lives in `<storage>/<name>/`: its event log, and everything needed to resume it.
    `storage` is a directory (local, or a shared file system), or an object store's URI:
    ``s3://bucket/prefix`` (needs ``pip install 'raysweep[s3]'``; an S3-compatible server's
    endpoint goes in the URI: ``s3://bucket/prefix?endpoint_override=host:port&scheme=http``,
    credentials in the environment). README.md's "Storage" says what each guarantees.
    One seed is the root of all randomness: `seed`, else the sampler's seed, else one drawn now
    and recorded in the log. `sampler` defaults to `TPESampler()`; one that cannot serve the
    study's number of objectives is refused here, before anything is written.

    `checkpoint_format` is how paused trials' checkpoints (promote mode) are stored, and what
    the runners agree to load. ``"safe"`` (the default) holds data only — dicts with str or int
    keys, lists, tuples, numbers, strings, None, numpy arrays and scalars, torch tensors (a
    model's and an optimizer's ``state_dict()``) — so that loading one cannot run code.
    ``"pickle"`` holds any picklable object, and trusts the storage: whoever can write it can
    run code in every runner. It is this process's choice, not recorded in the study: each
    process that opens the study chooses again.
    """
    checkpoint_format = check_format(checkpoint_format)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"study name {name!r} must be 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it names a folder)"
        )
    resolved = resolve_directions(direction, directions)
    given = frozenset(
        name
        for name, value in (("sampler", sampler), ("scheduler", scheduler))
        if value is not None
    )
    sampler = TPESampler() if sampler is None else sampler
    if not isinstance(sampler, Sampler):
        raise TypeError(f"sampler must be a raysweep Sampler, not {type(sampler).__name__}")
    sampler.check_directions(resolved)
    scheduler = NoPruning() if scheduler is None else scheduler
    if not isinstance(scheduler, Scheduler):
        raise TypeError(f"scheduler must be a raysweep Scheduler, not {type(scheduler).__name__}")
    if len(resolved) > 1 and not isinstance(scheduler, NoPruning):
        raise ValueError(
            f"{type(scheduler).__name__} prunes on one objective; this study has "
            f"{len(resolved)}. Use the default NoPruning for multi-objective studies"
        )
    root_seed, seed_given = study_seed(seed, sampler)
    if seed_given:
        given |= {"seed"}
    directory = _prepare_storage(storage, name)
    requested = StudyInfo(
        name=name,
        directions=resolved,
        seed=root_seed,
        seed_source="create_study"
        if seed is not None
        else ("sampler" if sampler.seed is not None else "drawn"),
        sampler=sampler.to_json(),
        scheduler=scheduler.to_json(),
    )
    ensure_ray()
    key = str(directory)
    if key in _OPEN:
        study = Study(directory, _OPEN[key])
        if not load_if_exists:
            raise DuplicatedStudyError(
                f"study {name!r} is already open in this process (storage {storage}); pass "
                "load_if_exists=True to use it again, or choose another name"
            )
        check_reopen(study._info, requested, given=given)
        if _OPEN[key].checkpoint_format != checkpoint_format:
            raise ValueError(
                f"study {name!r} is open in this process with checkpoint_format="
                f'"{_OPEN[key].checkpoint_format}"; call study.close() before opening it with '
                f'checkpoint_format="{checkpoint_format}"'
            )
        return study
    bound = _bound_to_detached_run(name, key, requested, given, load_if_exists)
    if bound is not None:
        return bound
    actors = start_study_actors(
        key,
        requested,
        sampler,
        load_if_exists=load_if_exists,
        given=given,
        lease_wait=_LEASE_WAIT_S,
        checkpoint_format=checkpoint_format,
    )
    if not _OPEN:
        atexit.register(_close_open_studies)
    _OPEN[key] = actors
    return Study(directory, actors)


def _forget_ended_run(name: str) -> None:
    """Make way for a new detached run: remove the host of one of that name that has ended."""
    host = find_host(name)
    if host is None:
        return
    status = host.status()
    if not status.state.ended:
        raise DetachedStudyError(
            f"study {name!r} already runs detached on this Ray cluster (log {status.directory}): "
            f"follow it with `raysweep attach {name}`, or stop it with `raysweep stop {name}`"
        )
    DetachedStudy(name, host).stop()


def _bound_to_detached_run(
    name: str, key: str, requested: StudyInfo, given: frozenset[str], load_if_exists: bool
) -> Study | None:
    """A `Study` on the detached run of this study, if one is going on; else None."""
    host = find_host(name)
    if host is None:
        return None
    status = host.status()
    actors = host.actors()
    if status.directory != key or actors is None:
        return None  # another storage's study of that name, or a run that has ended
    if not load_if_exists:
        raise DuplicatedStudyError(
            f"study {name!r} exists and runs detached on this Ray cluster; pass "
            "load_if_exists=True to use it (the Study is then bound to that run)"
        )
    check_reopen(actors.info, requested, given=given)
    return Study(key if is_uri(key) else Path(key), actors, host)


def _close_open_studies() -> None:
    """At interpreter exit: commit each open study's log and release its lease.

    Registered after `ray.init`, so it runs before Ray's own exit handler shuts Ray down.
    """
    for key, actors in list(_OPEN.items()):
        with contextlib.suppress(Exception):
            actors.close(timeout=5)
        _OPEN.pop(key, None)


def _prepare_storage(storage: str | os.PathLike[str], name: str) -> Path | str:
    """The study's place under `storage` (a path, or a URI), checked writable."""
    if is_uri(storage):
        assert isinstance(storage, str)
        root = ObjectLocation.parse(storage)
        if root.scheme != "file":
            store = ObjectStudyStore(root.child(name).uri)
            # Before Ray starts: a missing extra, a scheme without a lease, a store that ignores
            # conditional writes or refuses ours are the caller's to fix, and said here.
            store.check_writable()
            return store.uri
        storage = root.path
    root_path = Path(storage).expanduser().absolute()
    return _prepare_directory(root_path, name)


def _prepare_directory(root: Path, name: str) -> Path:
    directory = root / name
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"cannot write the study's log under {directory}: {exc.strerror or exc}. "
            "Pass storage= a folder this process can create and write"
        ) from exc
    return directory


# ----- argument checks of create_study, optimize and tell, with what to fix ---------------------


def resolve_directions(
    direction: str | StudyDirection | None, directions: Sequence[str | StudyDirection] | None
) -> tuple[StudyDirection, ...]:
    if direction is not None and directions is not None:
        raise ValueError("pass direction= or directions=, not both")
    if directions is None:
        items: Sequence[str | StudyDirection] = ["minimize" if direction is None else direction]
    elif isinstance(directions, str) or not directions:
        raise ValueError("directions must be a non-empty list such as ['minimize', 'maximize']")
    else:
        items = directions
    resolved = []
    for item in items:
        try:
            resolved.append(StudyDirection(item))
        except ValueError:
            raise ValueError(f"direction must be 'minimize' or 'maximize', not {item!r}") from None
    return tuple(resolved)


def study_seed(seed: int | None, sampler: Sampler) -> tuple[int, bool]:
    for label, value in (("seed", seed), ("sampler.seed", sampler.seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{label} must be an int, not {value!r}")
    if seed is not None and sampler.seed is not None and seed != sampler.seed:
        raise ValueError(
            f"two different seeds for one study: create_study(seed={seed}) and the sampler's "
            f"seed={sampler.seed}. One seed is the root of all randomness: give one of them"
        )
    if seed is not None:
        return seed, True
    if sampler.seed is not None:
        return sampler.seed, True
    return secrets.randbits(62), False


def check_n_trials(n_trials: int | None, timeout: float | None) -> int:
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")
    if n_trials is None:
        return 2**62
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials <= 0:
        raise ValueError(
            f"n_trials must be an int ≥ 1 (the number of finished trials the study should "
            f"have in total), not {n_trials!r}"
        )
    return n_trials


def check_catch(
    catch: type[BaseException] | Sequence[type[BaseException]],
) -> tuple[type[BaseException], ...]:
    items = (catch,) if isinstance(catch, type) else tuple(catch)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"catch must hold exception classes, not {item!r}")
    return items


_TOLD_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


def _told_state(state: TrialState | str | None) -> TrialState | None:
    """The state `tell` was given, by value or by name; what to pass instead when neither."""
    if state is None or isinstance(state, TrialState):
        return state
    if not isinstance(state, str):
        raise TypeError(
            f"tell's state must be a TrialState or its name, not {type(state).__name__} "
            f"{state!r}: pass e.g. state=TrialState.PRUNED or state='pruned'"
        )
    for told in TrialState:
        if state.strip().lower() == told.value:
            return told
    names = ", ".join(repr(s.value) for s in _TOLD_STATES[:-1])
    raise ValueError(
        f"tell's state {state!r} is not a trial state; a trial can be told {names} or "
        f"{_TOLD_STATES[-1].value!r}"
    )


def _check_told_types(values: object) -> None:
    """A value that is not a number at all is the caller's mistake, not the trial's result.

    (A number that is not finite, NaN say, is a result: the trial is recorded FAILED.)
    """
    items = values if isinstance(values, Sequence) and not isinstance(values, str) else (values,)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            hint = " (convert it with float(...))" if isinstance(item, str) else ""
            raise TypeError(
                "tell takes the trial's value as a number, or a sequence of numbers for a "
                f"multi-objective study, not the {type(item).__name__} {item!r}{hint}"
            )
