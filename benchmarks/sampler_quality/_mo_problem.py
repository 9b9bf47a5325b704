"""ZDT1, ZDT2, ZDT3 and DTLZ2, and a run's summary: the hypervolume of what it found.

Formulas (all objectives minimized, every x_i in [0, 1]):

* ZDT (Zitzler, Deb, Thiele 2000), n variables: f1 = x1, g = 1 + 9 / (n − 1) · Σ_{i≥2} x_i,
  f2 = g · h(f1 / g) with h(r) = 1 − √r (ZDT1), 1 − r² (ZDT2), 1 − √r − r · sin(10π f1) (ZDT3).
  The Pareto front is g = 1.
* DTLZ2 (Deb, Thiele, Laumanns, Zitzler 2002), M = 3 objectives, n variables, g = Σ_{i≥3}
  (x_i − 0.5)², f1 = (1 + g) cos(x1 π/2) cos(x2 π/2), f2 = (1 + g) cos(x1 π/2) sin(x2 π/2),
  f3 = (1 + g) sin(x1 π/2). The Pareto front is the unit sphere's positive octant (g = 0).

Each objective is normalized by the true front's ideal and nadir points ((f − ideal) / (nadir −
ideal)): the identity except for ZDT3's f2, whose front spans [−0.7734, 1]. The hypervolume is
taken against the reference point 1.1 in every normalized objective, over the points inside that
box, with Optuna's exact `compute_hypervolume` for every system.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna._hypervolume import compute_hypervolume

from benchmarks.sampler_quality._drive import Outcome, Problem, Trace

# Part of every cached run's key: change it when a definition changes, so old runs are not reused.
PROBLEM_VERSION = "zdt/dtlz2 v1, normalized by the true front, reference 1.1"
REFERENCE = 1.1


def _zdt(which: int, x: np.ndarray) -> tuple[float, float]:
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(np.sum(x[1:])) / (len(x) - 1)
    r = f1 / g
    if which == 1:
        h = 1.0 - math.sqrt(r)
    elif which == 2:
        h = 1.0 - r * r
    else:
        h = 1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * f1)
    return f1, g * h


def _dtlz2(x: np.ndarray) -> tuple[float, float, float]:
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return (
        (1 + g) * math.cos(a) * math.cos(b),
        (1 + g) * math.cos(a) * math.sin(b),
        (1 + g) * math.sin(a),
    )


@functools.cache
def _zdt3_front_bounds() -> tuple[float, float, float]:
    """ZDT3's front from a fine grid of f1 (g = 1): its f1 maximum and f2 minimum and maximum."""
    f1 = np.linspace(0.0, 1.0, 2_000_001)
    f2 = 1.0 - np.sqrt(f1) - f1 * np.sin(10.0 * np.pi * f1)
    # Sorted by f1, a point is on the front when its f2 is below every f2 to its left.
    on_front = f2 < np.concatenate(([np.inf], np.minimum.accumulate(f2)[:-1]))
    return float(f1[on_front].max()), float(f2[on_front].min()), float(f2[on_front].max())


def bounds(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The true front's ideal and nadir points."""
    if name == "dtlz2":
        return np.zeros(3), np.ones(3)
    if name == "zdt3":
        f1_max, f2_min, f2_max = _zdt3_front_bounds()
        return np.array([0.0, f2_min]), np.array([f1_max, f2_max])
    return np.zeros(2), np.ones(2)


def hypervolume(points: np.ndarray, n_objectives: int) -> float:
    """Hypervolume of normalized `points` against `REFERENCE`; points outside the box add 0."""
    reference = np.full(n_objectives, REFERENCE)
    inside = points[np.all(points <= reference, axis=1)] if len(points) else points
    if not len(inside):
        return 0.0
    return float(compute_hypervolume(inside, reference))


@functools.cache
def best_hypervolume(name: str) -> float:
    """The hypervolume of the true front (a 20,001-point sample of it for the ZDTs)."""
    if name == "dtlz2":
        return REFERENCE**3 - math.pi / 6  # the box minus the unit sphere's octant
    f1 = np.linspace(0.0, 1.0, 20_001)
    front = np.array([_zdt(int(name[-1]), np.array([v, 0.0])) for v in f1])
    ideal, nadir = bounds(name)
    return hypervolume((front - ideal) / (nadir - ideal), 2)


def make_problem(seed: int, *, name: str, n: int) -> Problem:
    """`name` (zdt1, zdt2, zdt3, dtlz2) with `n` variables x0..x{n-1} in [0, 1]."""
    if name not in ("zdt1", "zdt2", "zdt3", "dtlz2"):
        raise ValueError(f"unknown problem {name!r}: use zdt1, zdt2, zdt3 or dtlz2")
    names = [f"x{i}" for i in range(n)]
    m = 3 if name == "dtlz2" else 2

    def evaluate(params: Mapping[str, float]) -> Outcome:
        x = np.array([params[k] for k in names])
        return Outcome(_dtlz2(x) if name == "dtlz2" else _zdt(int(name[-1]), x))

    return Problem(
        space={k: (0.0, 1.0) for k in names}, evaluate=evaluate, n_objectives=m, meta={"name": name}
    )


def summarize(problem: Problem, trace: Trace) -> dict[str, Any]:
    """The final hypervolume, its share of the true front's, and the hypervolume after each
    quarter of the run."""
    name = str(problem.meta["name"])
    ideal, nadir = bounds(name)
    points = (np.array([o.values for o in trace.outcomes]) - ideal) / (nadir - ideal)
    m = problem.n_objectives
    quarters = [len(points) * q // 4 for q in (1, 2, 3)]
    final = hypervolume(points, m)
    return {
        "hv": final,
        "hv_share": final / best_hypervolume(name),
        "hv_quarters": [round(hypervolume(points[:k], m), 6) for k in quarters],
    }
