"""Shared helpers for the TPESampler tests: contexts, records and a small in-process study loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from raysweep.samplers import (
    Distribution,
    RandomSampler,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)

MIN = (StudyDirection.MINIMIZE,)
Suggest = Callable[[str, Distribution], Any]
# An objective asks for parameters (possibly conditionally) and returns (values, constraints).
Objective = Callable[[Suggest], tuple[tuple[float, ...], tuple[float, ...] | None]]


def context(
    number: int,
    history: Sequence[TrialRecord] = (),
    directions: tuple[StudyDirection, ...] = MIN,
    seed: int = 0,
) -> SamplingContext:
    return SamplingContext(seed, number, directions, list(history))


def record(
    number: int,
    params: Mapping[str, Any],
    space: Mapping[str, Distribution],
    values: tuple[float, ...] | None = None,
    state: TrialState = TrialState.COMPLETE,
    **extra: Any,
) -> TrialRecord:
    distributions = {name: space[name] for name in params}
    return TrialRecord(number, state, dict(params), distributions, values=values, **extra)


def ask(sampler: Sampler, ctx: SamplingContext, objective: Objective) -> tuple[dict[str, Any], Any]:
    """Run ``objective`` once the way the orchestrator would; returns (params, its result)."""
    relative_space = sampler.infer_relative_search_space(ctx)
    relative = sampler.sample_relative(ctx, relative_space) if relative_space else {}
    assert set(relative) == set(relative_space)
    params: dict[str, Any] = {}
    distributions: dict[str, Distribution] = {}

    def suggest(name: str, distribution: Distribution) -> Any:
        if relative_space.get(name) == distribution:
            value = relative[name]
        else:
            value = sampler.sample_independent(ctx, name, distribution)
        assert distribution.contains(value), (name, value, distribution)
        params[name], distributions[name] = value, distribution
        return value

    result = objective(suggest)
    return params, (distributions, result)


def run(
    sampler: Sampler,
    objective: Objective,
    n_trials: int,
    *,
    seed: int = 0,
    directions: tuple[StudyDirection, ...] = MIN,
    history: Sequence[TrialRecord] = (),
) -> list[TrialRecord]:
    """``n_trials`` sequential COMPLETE trials after ``history``; returns all records."""
    records = list(history)
    for number in range(len(records), len(records) + n_trials):
        params, (distributions, (values, constraints)) = ask(
            sampler, context(number, records, directions, seed), objective
        )
        records.append(
            TrialRecord(
                number,
                TrialState.COMPLETE,
                params,
                distributions,
                values=tuple(values),
                constraints=None if constraints is None else tuple(constraints),
            )
        )
    return records


def box_objective(
    space: Mapping[str, Distribution],
    function: Callable[[dict[str, Any]], tuple[tuple[float, ...], tuple[float, ...] | None]],
) -> Objective:
    """An objective that asks every name of ``space`` and scores the values with ``function``."""

    def objective(suggest: Suggest) -> tuple[tuple[float, ...], tuple[float, ...] | None]:
        return function({name: suggest(name, d) for name, d in space.items()})

    return objective


def random_history(
    space: Mapping[str, Distribution],
    n: int,
    score: Callable[[dict[str, Any]], float],
    seed: int = 0,
) -> list[TrialRecord]:
    """``n`` COMPLETE trials with uniform random parameters, scored by ``score``."""
    objective = box_objective(space, lambda p: ((score(p),), None))
    return run(RandomSampler(), objective, n, seed=seed)
