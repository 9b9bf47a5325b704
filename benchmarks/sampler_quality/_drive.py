"""Drive one sampler through one problem in-process, sequentially: ours and Optuna's.

A quality benchmark compares the samplers' proposals, so no Ray and no orchestrator are involved:
each trial is proposed, evaluated and recorded before the next one is proposed, exactly as a
study with one worker would see it. Only float parameters are used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks._shared.optuna_logging import quiet_optuna
from raysweep.samplers import (
    FloatDistribution,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)


@dataclass(frozen=True)
class Outcome:
    """What the objective returned: one value per objective (all minimized), and constraints
    (feasible when every one is <= 0) for a constrained problem."""

    values: tuple[float, ...]
    constraints: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Problem:
    """A box of float parameters, an objective over it, and facts its summary needs (`meta`)."""

    space: Mapping[str, tuple[float, float]]
    evaluate: Callable[[Mapping[str, float]], Outcome]
    n_objectives: int = 1
    constrained: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """The outcomes of a run's trials in order, its wall time and the part spent proposing."""

    outcomes: tuple[Outcome, ...]
    wall_s: float
    sampler_s: float


def drive_ours(sampler: Sampler, problem: Problem, n_trials: int, seed: int) -> Trace:
    """Run `n_trials` trials of `problem` with one of our samplers and study seed `seed`.

    As the orchestrator does: a joint proposal over the inferred relative space at trial start,
    then `sample_independent` for each parameter the joint proposal did not cover (or covered
    with another distribution), in the objective's order.
    """
    space = {name: FloatDistribution(low, high) for name, (low, high) in problem.space.items()}
    directions = (StudyDirection.MINIMIZE,) * problem.n_objectives
    sampler.check_directions(directions)
    history: list[TrialRecord] = []
    outcomes: list[Outcome] = []
    sampler_s = 0.0
    started = time.perf_counter()
    for number in range(n_trials):
        tick = time.perf_counter()
        context = SamplingContext(seed, number, directions, tuple(history))
        relative_space = sampler.infer_relative_search_space(context)
        joint = sampler.sample_relative(context, relative_space) if relative_space else {}
        params: dict[str, float] = {}
        for name, distribution in space.items():
            if name in joint and relative_space.get(name) == distribution:
                params[name] = joint[name]
            else:
                params[name] = sampler.sample_independent(context, name, distribution)
            if not distribution.contains(params[name]):
                raise RuntimeError(f"{sampler!r} proposed {name}={params[name]!r} outside {space}")
        sampler_s += time.perf_counter() - tick
        outcome = problem.evaluate(params)
        outcomes.append(outcome)
        history.append(
            TrialRecord(
                number=number,
                state=TrialState.COMPLETE,
                params=params,
                distributions=space,
                values=outcome.values,
                constraints=outcome.constraints,
            )
        )
    return Trace(tuple(outcomes), time.perf_counter() - started, sampler_s)


def drive_optuna(sampler: Any, problem: Problem, n_trials: int) -> Trace:
    """Run `n_trials` trials of `problem` in an in-memory Optuna study with `sampler`.

    The objective reports a constrained problem's constraints with `trial.set_constraint`
    (keys c0, c1, ...), Optuna 5's native way, which its samplers read without a
    `constraints_func` (deprecated since 5.0).
    """
    import optuna

    quiet_optuna()
    outcomes: list[Outcome] = []
    objective_s = 0.0

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        nonlocal objective_s
        params = {
            name: trial.suggest_float(name, low, high)
            for name, (low, high) in problem.space.items()
        }
        tick = time.perf_counter()
        outcome = problem.evaluate(params)
        objective_s += time.perf_counter() - tick
        outcomes.append(outcome)
        for i, constraint in enumerate(outcome.constraints or ()):
            trial.set_constraint(f"c{i}", constraint)
        return outcome.values[0] if problem.n_objectives == 1 else outcome.values

    started = time.perf_counter()
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * problem.n_objectives)
    study.optimize(objective, n_trials=n_trials)
    wall_s = time.perf_counter() - started
    # Optuna's proposing happens inside suggest_float and between trials: all but the objective.
    return Trace(tuple(outcomes), wall_s, wall_s - objective_s)
