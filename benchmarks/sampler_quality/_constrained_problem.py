"""Constrained single-objective problems with known optima, and a run's summary.

Every constraint is reported as c(x) <= 0 when satisfied (positive: by how much it is violated).
Feasible share is that of uniform random points (measured, 10^5 draws).

* gardner (2-D, x, y in [0, 6]), after Gardner et al. 2014 ("Bayesian optimization with
  inequality constraints"): f = cos(2x) cos(y) + sin(x), c = cos(x) cos(y) − sin(x) sin(y) − 0.5.
  f* = −2 at (3π/2, 0), on the box edge y = 0, where both terms reach their lower bound and c =
  −0.5 (the constraint is inactive there: this one mostly tests reaching a box edge). ~66% feasible.
* branin-disk (2-D, x1 in [−5, 10], x2 in [0, 15]), after Gelbart et al. 2014 ("Bayesian
  optimization with unknown constraints"): Branin, c = (x1 − 2.5)² + (x2 − 7.5)² − 50.
  f* = 0.397887 at (π, 2.275), the one of Branin's three minima inside the disk. ~70% feasible.
* rosen-suzuki (4-D, x_i in [−3, 3]), Hock–Schittkowski problem 43: f = x1² + x2² + 2x3² + x4²
  − 5x1 − 5x2 − 21x3 + 7x4 with three quadratic constraints; f* = −44 at (0, 1, 2, −1), where
  two constraints are active. ~9% feasible.
* sphere-halfspace (10-D, x_i in [−5, 5]): f = Σ x_i², c = 5 − Σ x_i; f* = 2.5 at x_i = 0.5, on
  the constraint. ~29% feasible.
* sphere-ball (5-D, x_i in [−5, 5]): f = Σ x_i², c = ‖x − (2, …, 2)‖² − 9; f* = (2√5 − 3)² at the
  ball's point nearest the origin. ~1.2% feasible: a small feasible region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from benchmarks.sampler_quality._drive import Outcome, Problem, Trace

# Part of every cached run's key: change it when a definition changes, so old runs are not reused.
PROBLEM_VERSION = "constrained v1"
FLOOR = 1e-8  # regret below this counts as solved

Function = Callable[[np.ndarray], tuple[float, tuple[float, ...]]]


def _gardner(x: np.ndarray) -> tuple[float, tuple[float, ...]]:
    a, b = x
    f = math.cos(2 * a) * math.cos(b) + math.sin(a)
    return f, (math.cos(a) * math.cos(b) - math.sin(a) * math.sin(b) - 0.5,)


def _branin_disk(x: np.ndarray) -> tuple[float, tuple[float, ...]]:
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    f = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    return f, ((x1 - 2.5) ** 2 + (x2 - 7.5) ** 2 - 50.0,)


def _rosen_suzuki(x: np.ndarray) -> tuple[float, tuple[float, ...]]:
    x1, x2, x3, x4 = x
    f = x1**2 + x2**2 + 2 * x3**2 + x4**2 - 5 * x1 - 5 * x2 - 21 * x3 + 7 * x4
    return f, (
        x1**2 + x2**2 + x3**2 + x4**2 + x1 - x2 + x3 - x4 - 8,
        x1**2 + 2 * x2**2 + x3**2 + 2 * x4**2 - x1 - x4 - 10,
        2 * x1**2 + x2**2 + x3**2 + 2 * x1 - x2 - x4 - 5,
    )


def _sphere_halfspace(x: np.ndarray) -> tuple[float, tuple[float, ...]]:
    return float(np.sum(x**2)), (5.0 - float(np.sum(x)),)


def _sphere_ball(x: np.ndarray) -> tuple[float, tuple[float, ...]]:
    return float(np.sum(x**2)), (float(np.sum((x - 2.0) ** 2)) - 9.0,)


# name -> (function, bounds per variable, known optimum)
PROBLEMS: dict[str, tuple[Function, list[tuple[float, float]], float]] = {
    "gardner": (_gardner, [(0.0, 6.0)] * 2, -2.0),
    "branin-disk": (_branin_disk, [(-5.0, 10.0), (0.0, 15.0)], 5 / (4 * math.pi)),
    "rosen-suzuki": (_rosen_suzuki, [(-3.0, 3.0)] * 4, -44.0),
    "sphere-halfspace": (_sphere_halfspace, [(-5.0, 5.0)] * 10, 2.5),
    "sphere-ball": (_sphere_ball, [(-5.0, 5.0)] * 5, (2 * math.sqrt(5) - 3) ** 2),
}


def make_problem(seed: int, *, name: str) -> Problem:
    """Problem `name` over x0..x{n-1}; the seed does not change it."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}: use one of {sorted(PROBLEMS)}")
    function, box, optimum = PROBLEMS[name]
    names = [f"x{i}" for i in range(len(box))]

    def evaluate(params: Mapping[str, float]) -> Outcome:
        value, constraints = function(np.array([params[k] for k in names]))
        return Outcome((float(value),), tuple(float(c) for c in constraints))

    return Problem(
        space=dict(zip(names, box, strict=True)),
        evaluate=evaluate,
        constrained=True,
        meta={"name": name, "optimum": optimum},
    )


def summarize(problem: Problem, trace: Trace) -> dict[str, Any]:
    """Best feasible value (None if none), its log10 regret (None then too), feasible share,
    and the trial at which the first feasible point was found."""
    ok = [o.constraints is not None and all(c <= 0 for c in o.constraints) for o in trace.outcomes]
    feasible = [o.values[0] for o, good in zip(trace.outcomes, ok, strict=True) if good]
    first = ok.index(True) if feasible else None
    best = min(feasible) if feasible else None
    optimum = float(problem.meta["optimum"])
    return {
        "best": best,
        "log_regret": None if best is None else math.log10(max(best - optimum, FLOOR)),
        "feasible_share": len(feasible) / len(trace.outcomes),
        "first_feasible": first,
    }
