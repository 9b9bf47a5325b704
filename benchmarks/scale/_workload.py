"""The 100,000-trial study, driven through raysweep's TrialScheduler core without Ray.

The core (`orchestrator/_core/_trial_scheduler.py`) is what the TrialScheduler actor runs; here it
is called directly, as `tests/orchestrator/test_trial_scheduler_core.py` does, by `RUNNERS`
simulated runners taking turns, so that what is measured is the study's own bookkeeping and its
log (commits, group commit thread, snapshots), with no Ray and no training.

Every trial draws three parameters (two floats, one int) from a RandomSampler and reports at
steps 1, 3 and 9 to ASHA (1/3/9, stop mode), whose rungs decide; the objective is a cheap
deterministic function of the parameters. This module uses the core's internal API on purpose
(benchmarks/README.md lists it among the exceptions) and only calls that exist on every commit
the benchmark compares, so that `--base` can run it on an older raysweep.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raysweep.orchestrator._core._protocol import ParamNote, ReportNote, TrialOutcome
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._core._trial_scheduler import TrialSchedulerCore
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import (
    Distribution,
    FloatDistribution,
    IntDistribution,
    RandomSampler,
    StudyDirection,
    TrialState,
)
from raysweep.scheduling import ASHA, Action

SEED = 0
RUNNERS = 4
STEPS = (1, 3, 9)
SPACE: tuple[tuple[str, Distribution], ...] = (
    ("x", FloatDistribution(low=-5.0, high=5.0)),
    ("lr", FloatDistribution(low=1e-4, high=1.0, log=True)),
    ("width", IntDistribution(low=8, high=512)),
)
SCHEDULER = ASHA(min_resource=1, max_resource=9, reduction_factor=3)


def study_info() -> StudyInfo:
    return StudyInfo(
        name="scale",
        directions=(StudyDirection.MINIMIZE,),
        seed=SEED,
        seed_source="create_study",
        sampler=RandomSampler(seed=SEED).to_json(),
        scheduler=SCHEDULER.to_json(),
    )


def curve(params: dict[str, Any], step: int) -> float:
    """A learning curve that improves with the step, lowest near x = 1, lr = 0.01."""
    final = (params["x"] - 1.0) ** 2 + math.log10(params["lr"] / 0.01) ** 2 + params["width"] / 512
    return final * (1.0 + 2.0 / step)


def open_core(directory: Path) -> TrialSchedulerCore:
    """Open (or reopen: replay) the study in `directory`, as the TrialScheduler actor does."""
    core = TrialSchedulerCore(
        LocalStudyStore(directory),
        study_info(),
        load_if_exists=True,
        given=frozenset({"seed", "sampler", "scheduler"}),
    )
    core.open()
    return core


def attach_sampler(core: TrialSchedulerCore) -> None:
    service = SamplerServiceCore(
        RandomSampler(seed=SEED), SEED, (StudyDirection.MINIMIZE,), SCHEDULER.decision_steps()
    )
    core.attach_sampler(LocalSamplerClient(service))


@dataclass
class LogTimes:
    """Seconds spent in the log's commits and snapshots, from any thread."""

    commits: list[float] = field(default_factory=list)
    snapshots: list[float] = field(default_factory=list)
    snapshot_sizes: list[int] = field(default_factory=list)
    # Saving the study's state at close (commits where the commit has none).
    state_saves: list[float] = field(default_factory=list)
    # Saving what changed since the last state, with each snapshot while the study runs.
    running_state_saves: list[float] = field(default_factory=list)


def time_the_log(core: TrialSchedulerCore) -> LogTimes:
    """Wrap the open log's `commit` and `snapshot` so that each call's duration is kept."""
    log: Any = core._rec.log
    times = LogTimes()

    def timed(method: Callable[[], Any], into: list[float]) -> Callable[[], Any]:
        def call() -> Any:
            started = time.perf_counter()
            try:
                return method()
            finally:
                into.append(time.perf_counter() - started)

        return call

    commit, snapshot = log.commit, log.snapshot

    def snapshot_counted() -> Any:
        times.snapshot_sizes.append(log.next_seq)
        return timed(snapshot, times.snapshots)()

    log.commit = timed(commit, times.commits)
    log.snapshot = snapshot_counted
    if hasattr(core, "_save_state"):
        core._save_state = timed(core._save_state, times.state_saves)  # type: ignore[method-assign]
    if hasattr(core, "_save_state_while_running"):
        core._save_state_while_running = timed(  # type: ignore[method-assign]
            core._save_state_while_running, times.running_state_saves
        )
    return times


@dataclass
class Build:
    trials: int
    events: int
    wall_s: float
    log: LogTimes
    # The longest a simulated runner waited for one call (next_trial, report, suggest): what a
    # snapshot holding the scheduler's lock shows up as.
    call_max_s: float
    call_p999_s: float
    # Wall time of each successive block of `block` trials: flat if the work per trial does
    # not grow with the study.
    block: int
    block_s: list[float]


def _runner(
    core: TrialSchedulerCore, name: str, calls: list[float], finished: list[int]
) -> Iterator[None]:
    """One simulated runner: trial after trial, yielding after every call to the core."""

    def timed(method: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args)
        finally:
            calls.append(time.perf_counter() - started)

    outcome: TrialOutcome | None = None
    while True:
        assignment = timed(core.next_trial, name, outcome)
        if outcome is not None:
            finished.append(outcome.number)
        if assignment is None:
            return
        number, attempt = assignment.number, assignment.attempt
        params: dict[str, Any] = dict(assignment.params)
        notes: list[Any] = []
        for pname, distribution in SPACE:
            if pname in params:
                continue
            proposed = assignment.proposal.get(pname)
            if proposed is not None and proposed[0] == distribution:
                params[pname] = proposed[1]
                notes.append(ParamNote(pname, distribution, proposed[1]))
            else:
                params[pname] = timed(
                    core.suggest, number, attempt, pname, distribution, tuple(notes)
                )
                notes = []
        yield
        state, value = TrialState.COMPLETE, math.nan
        for step in STEPS:
            value = curve(params, step)
            decision = timed(core.report, number, attempt, (*notes, ReportNote(step, value)))
            notes = []
            yield
            if decision is not None and decision.action is Action.STOP:
                state = TrialState.PRUNED
                break
        values = (value,) if state is TrialState.COMPLETE else None
        outcome = TrialOutcome(number, attempt, state, values)


def build(
    directory: Path, trials: int, *, block: int = 5_000, killed_copy: Path | None = None
) -> Build:
    """Run a new study of `trials` trials in `directory` and close it (its final snapshot).

    `killed_copy`: before closing, stop the commit thread and copy the study there, as a
    writer killed after its last commit leaves it (not in the wall time)."""
    return _run(directory, trials, block=block, close=True, killed_copy=killed_copy)


def extend_and_kill(directory: Path, trials: int) -> Build:
    """Reopen the study in `directory`, run `trials` more, commit them and stop as a killed
    writer does: no final snapshot, no saved state, the lease left to be taken over. The
    caller's process must end at once (`os._exit`): the core's threads are still running."""
    return _run(directory, trials, block=max(trials, 1), close=False)


def _run(
    directory: Path, trials: int, *, block: int, close: bool, killed_copy: Path | None = None
) -> Build:
    core = open_core(directory)
    attach_sampler(core)
    times = time_the_log(core)
    calls: list[float] = []
    finished: list[int] = []
    blocks: list[float] = []
    started = last = time.perf_counter()
    already = len(core._rec.state.trials)
    core.start_optimize(already + trials, RUNNERS)
    runners = [_runner(core, f"r{i}", calls, finished) for i in range(RUNNERS)]
    next_block = block
    while runners:
        for runner in list(runners):
            try:
                next(runner)
            except StopIteration:
                runners.remove(runner)
        if len(finished) >= next_block:
            now = time.perf_counter()
            blocks.append(now - last)
            last, next_block = now, next_block + block
    events = core._rec.log.next_seq
    copying = 0.0
    if killed_copy is not None:
        core._rec.log.commit()
        core._closed.set()  # the commit thread stops, as a killed writer's would
        core._background.join()
        copy_started = time.perf_counter()
        shutil.copytree(directory, killed_copy)
        copying = time.perf_counter() - copy_started
    if close:
        core.close()
    else:
        core._rec.log.commit()
    wall = time.perf_counter() - started - copying
    calls.sort()
    return Build(
        trials=trials,
        events=events,
        wall_s=wall,
        log=times,
        call_max_s=calls[-1],
        call_p999_s=calls[int(0.999 * (len(calls) - 1))],
        block=block,
        block_s=blocks,
    )
