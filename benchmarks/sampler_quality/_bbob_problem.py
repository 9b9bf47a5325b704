"""BBOB problems through IOHprofiler (`ioh`), and a run's summary: its log regret.

Seed `s` runs BBOB instance `s` (seeds 1..N, instances 1..N) with sampler seed `s`: every system
sees the same N instances, and a result is not tied to where one instance put the optimum (an
instance shifts the optimum and rotates / scales the function).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import ioh

from benchmarks._shared.results_md import version
from benchmarks.sampler_quality._drive import Outcome, Problem, Trace

# Part of every cached run's key: change it when a definition changes, so old runs are not reused.
PROBLEM_VERSION = f"bbob via ioh {version('ioh')}, instance = seed, box [-5, 5]"
FLOOR = 1e-8  # regret below this counts as solved (COCO's final target)
CHECKPOINT = 10  # the best-so-far log regret is kept every this many evaluations


def log_regret(best: float, optimum: float) -> float:
    """log10 of the regret, floored at `FLOOR`."""
    return math.log10(max(best - optimum, FLOOR))


def make_problem(seed: int, *, fid: int, dim: int) -> Problem:
    """BBOB function `fid` in `dim` dimensions, instance `seed`, over x0..x{dim-1} in [-5, 5]."""
    # Any: ioh's type stubs declare the point as a list of ints.
    problem: Any = ioh.get_problem(fid, seed, dim, ioh.ProblemClass.BBOB)
    names = [f"x{i}" for i in range(dim)]

    def evaluate(params: Mapping[str, float]) -> Outcome:
        return Outcome((float(problem([params[n] for n in names])),))

    low, high = float(problem.bounds.lb[0]), float(problem.bounds.ub[0])
    return Problem(
        space={n: (low, high) for n in names},
        evaluate=evaluate,
        meta={"f_opt": float(problem.optimum.y), "name": problem.meta_data.name},
    )


def summarize(problem: Problem, trace: Trace) -> dict[str, Any]:
    """Final log regret, the best value, f_opt, and the best-so-far log regret every
    `CHECKPOINT` evaluations (for curves)."""
    f_opt = float(problem.meta["f_opt"])
    best = math.inf
    curve = []
    for i, outcome in enumerate(trace.outcomes, 1):
        best = min(best, outcome.values[0])
        if i % CHECKPOINT == 0 or i == len(trace.outcomes):
            curve.append(round(log_regret(best, f_opt), 4))
    return {
        "log_regret": log_regret(best, f_opt),
        "best": best,
        "f_opt": f_opt,
        "name": problem.meta["name"],
        "curve": curve,
    }
