"""Constrained (c-TPE) and multi-objective (MOTPE) proposals, and the splits behind them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tpe_test_helpers import box_objective, run

from raysweep.samplers import (
    FloatDistribution,
    RandomSampler,
    StudyDirection,
    TPESampler,
    hypervolume,
)
from raysweep.samplers._tpe._options import parse_gamma
from raysweep.samplers._tpe._split import Outcomes, split

PLANE = {"x": FloatDistribution(-5.0, 5.0), "y": FloatDistribution(-5.0, 5.0)}
TWO = (StudyDirection.MINIMIZE, StudyDirection.MINIMIZE)


def _disc(params: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Minimize x + y inside the disc of radius 2 around (2, 2): 12.6 % of the box."""
    x, y = params["x"], params["y"]
    return (x + y,), ((x - 2) ** 2 + (y - 2) ** 2 - 4.0,)


def _best_feasible(records: list[Any]) -> float:
    return min((r.values[0] for r in records if r.feasible), default=math.inf)


def test_constrained_proposals_are_mostly_feasible_and_better_than_random() -> None:
    objective = box_objective(PLANE, _disc)
    for seed in (0, 1):
        tpe = run(TPESampler(), objective, 70, seed=seed)
        rnd = run(RandomSampler(), objective, 70, seed=seed)
        after_startup = tpe[10:]
        assert sum(r.feasible for r in after_startup) > 0.5 * len(after_startup)  # random: 13 %
        assert _best_feasible(tpe) < _best_feasible(rnd)
        assert _best_feasible(tpe) < 4 - 2 * math.sqrt(2) + 0.3  # the optimum is 1.17


def test_multi_objective_hypervolume_beats_random() -> None:
    def objective(params: dict[str, Any]) -> tuple[tuple[float, ...], None]:
        x, y = params["x"], params["y"]
        return (x**2 + y**2, (x - 2) ** 2 + y**2), None

    reference = np.array([30.0, 30.0])
    for seed in (0, 1):
        volumes = []
        for sampler in (TPESampler(), RandomSampler()):
            records = run(sampler, box_objective(PLANE, objective), 60, seed=seed, directions=TWO)
            volumes.append(hypervolume(np.array([r.values for r in records]), reference))
        assert volumes[0] > volumes[1]


def test_constrained_multi_objective_runs_and_favours_feasible_points() -> None:
    def objective(params: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        x, y = params["x"], params["y"]
        return (x**2 + y**2, (x - 2) ** 2 + y**2), (1.0 - x,)  # feasible when x >= 1

    records = run(TPESampler(), box_objective(PLANE, objective), 50, directions=TWO)
    assert sum(r.feasible for r in records[10:]) >= 0.6 * 40  # random: 40 %


def _outcomes(**columns: Any) -> Outcomes:
    n = len(columns["values"])
    defaults: dict[str, Any] = {
        "complete": np.ones(n, dtype=bool),
        "number": np.arange(n),
        "step": np.full(n, np.nan),
        "last": np.full(n, np.nan),
        "constraints": np.full((n, 1), np.nan),
        "has_constraints": np.zeros(n, dtype=bool),
    }
    defaults.update(columns)
    defaults["values"] = np.asarray(columns["values"], dtype=float).reshape(n, -1)
    return Outcomes(**defaults)


MIN = (StudyDirection.MINIMIZE,)


def test_pruned_trials_rank_after_complete_ones_by_step_then_last_value() -> None:
    outcomes = _outcomes(
        values=[5.0, 1.0, np.nan, np.nan, np.nan, np.nan],
        complete=np.array([True, True, False, False, False, False]),
        step=np.array([np.nan, np.nan, 3, 7, 7, 7]),
        last=np.array([np.nan, np.nan, 0.0, 2.0, 1.0, np.nan]),
    )
    below_sizes = []
    for count in range(1, 7):
        result = split(outcomes, MIN, parse_gamma(f"linear:{count / 6}"))
        below_sizes.append(list(np.flatnonzero(result.below)))
    # Order: value 1.0, value 5.0, step 7 / 1.0, step 7 / 2.0, step 7 / NaN, step 3.
    assert [set(s) for s in below_sizes] == [
        {1},
        {0, 1},
        {0, 1, 4},
        {0, 1, 3, 4},
        {0, 1, 3, 4, 5},
        {0, 1, 2, 3, 4, 5},
    ]


def test_constrained_split_needs_feasible_trials_below_and_lowers_thresholds() -> None:
    values = np.arange(10.0)
    constraints = np.array([[1.0, 2.0, 0.5, -1.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]).T
    outcomes = _outcomes(
        values=values, constraints=constraints, has_constraints=np.ones(10, dtype=bool)
    )
    result = split(outcomes, MIN, parse_gamma("linear:0.2"))  # 2 feasible wanted, 1 exists
    assert result.below.all() and result.gamma == 1.0  # the objective's term falls silent
    (constraint,) = result.constraints
    # Only trial 3 satisfies it: the threshold rises to the 2nd smallest value, 0.5.
    assert list(np.flatnonzero(constraint.satisfied)) == [2, 3]
    assert constraint.gamma == 0.2


def test_multi_objective_split_takes_fronts_then_the_best_spread_of_the_next() -> None:
    front = [[0.0, 4.0], [1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [4.0, 0.0]]
    dominated = [[5.0, 5.0], [6.0, 6.0]]
    outcomes = _outcomes(values=front + dominated)
    result = split(outcomes, TWO, parse_gamma("linear:0.43"))  # ceil(0.43 * 7) = 4 below
    below = set(np.flatnonzero(result.below))
    assert below < {0, 1, 2, 3, 4} and len(below) == 4
    # Of the 4-subsets of the front, the two without an end point cover the most hypervolume.
    assert below in ({0, 1, 2, 3}, {1, 2, 3, 4})
    assert result.below_weights is not None
    assert np.all(result.below_weights[result.below] > 0)
