"""Questions the TrialScheduler asks of a study's state: may this trial be touched, what does it
hand out, how far along is the study. Pure functions of the state (the caller holds the lock)."""

from __future__ import annotations

import math

from raysweep.orchestrator import _events as ev
from raysweep.orchestrator._errors import TrialStateError
from raysweep.orchestrator._protocol import Assignment, Progress
from raysweep.orchestrator._recorder import StudyRecorder
from raysweep.samplers import StudyDirection, TrialState


def require_running(rec: StudyRecorder, number: int, attempt: int) -> None:
    trial = rec.state.trials.get(number)
    if trial is None:
        raise TrialStateError(f"trial {number} does not exist in this study")
    if trial.state is not TrialState.RUNNING or trial.attempt != attempt:
        raise TrialStateError(
            f"trial {number} (attempt {attempt}) is not running: it is "
            f"{trial.state.value} at attempt {trial.attempt}"
        )


def require_tellable(rec: StudyRecorder, number: int) -> int:
    """The attempt of a trial that `tell` may finish; TrialStateError saying why not."""
    trial = rec.state.trials.get(number)
    if trial is None:
        raise TrialStateError(f"trial {number} does not exist in this study")
    if trial.origin != ev.ORIGIN_ASK:
        raise TrialStateError(
            f"trial {number} was started by optimize, which records its result; "
            "tell only trials that came from ask"
        )
    if trial.state is not TrialState.RUNNING:
        raise TrialStateError(f"trial {number} cannot be told: it is already {trial.state.value}")
    return trial.attempt


def assignment(rec: StudyRecorder, number: int, attempt: int) -> Assignment:
    """The trial as it stands, before its proposal is attached."""
    trial = rec.state.trials[number]
    return Assignment(
        number=number,
        attempt=attempt,
        params=dict(trial.params),
        distributions=dict(trial.distributions),
        proposal={},
        scheduler=rec.scheduler,
        n_objectives=len(rec.info.directions),
        n_constraints=rec.state.n_constraints,
    )


def progress(rec: StudyRecorder, target: int | None, accepting: bool) -> Progress:
    """Counts by state and the best feasible value so far (single objective)."""
    counts: dict[str, int] = {}
    best: float | None = None
    sign = 1.0 if rec.info.directions[0] is StudyDirection.MAXIMIZE else -1.0
    for trial in rec.state.trials.values():
        counts[trial.state.value] = counts.get(trial.state.value, 0) + 1
        if (
            trial.state is TrialState.COMPLETE
            and trial.values
            and len(trial.values) == 1
            and (trial.constraints is None or max(trial.constraints) <= 0.0)
        ):
            v = trial.values[0]
            if not math.isnan(v) and (best is None or sign * v > sign * best):
                best = v
    return Progress(
        counts=counts,
        best_value=best,
        target=target,
        # Paused trials count as done: they hold no runner, and run again only if promoted.
        finished=rec.state.settled_count(),
        accepting=accepting,
    )
