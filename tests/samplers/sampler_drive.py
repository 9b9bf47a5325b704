"""Run any Sampler sequentially on a Python function, in process, the way a study would.

Each trial gets a fresh :class:`SamplingContext` over the trials before it; the sampler proposes
jointly (``infer_relative_search_space`` then ``sample_relative``), ``sample_independent`` fills
in every name of the space the joint proposal did not cover (or covered with a value the
distribution does not contain, as the orchestrator redoes it), and the trial is recorded
COMPLETE with the objective's values and constraints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from raysweep.samplers import (
    Distribution,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)

Objective = Callable[[dict[str, Any]], tuple[tuple[float, ...], tuple[float, ...] | None]]


def drive(
    sampler: Sampler,
    space: Mapping[str, Distribution],
    objective: Objective,
    n_trials: int,
    *,
    directions: Sequence[str | StudyDirection] = ("minimize",),
    seed: int = 0,
    history: Sequence[TrialRecord] = (),
) -> list[TrialRecord]:
    """``n_trials`` COMPLETE records, numbered after ``history`` (which is kept in front).

    ``objective(params) -> (values, constraints or None)``; every name of ``space`` is asked in
    every trial. Checks the sampler's side of the contract on the way: a joint proposal names
    exactly its search space, and every value is contained in its distribution.
    """
    resolved = tuple(StudyDirection(d) for d in directions)
    sampler.check_directions(resolved)
    records = list(history)
    start = max((r.number for r in records), default=-1) + 1
    for number in range(start, start + n_trials):
        context = SamplingContext(seed, number, resolved, records)
        relative = sampler.infer_relative_search_space(context)
        proposal = sampler.sample_relative(context, relative) if relative else {}
        assert set(proposal) == set(relative), (sorted(proposal), sorted(relative))
        params: dict[str, Any] = {}
        for name, distribution in space.items():
            if name in proposal and distribution.contains(proposal[name]):
                params[name] = proposal[name]
            else:
                params[name] = sampler.sample_independent(context, name, distribution)
            assert distribution.contains(params[name]), (name, params[name], distribution)
        values, constraints = objective(dict(params))
        records.append(
            TrialRecord(
                number=number,
                state=TrialState.COMPLETE,
                params=params,
                distributions=dict(space),
                values=tuple(values),
                constraints=None if constraints is None else tuple(constraints),
            )
        )
    return records[len(history) :]
