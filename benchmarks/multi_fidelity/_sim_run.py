"""One simulated run of the multi-fidelity benchmark, its cache key and its summary.

A run is (problem, workers, method, seed, epoch budget). Its record holds the summary numbers and
the incumbent's regret trace; the cache key includes a hash of the method's configuration, of the
problem's definition (for LC-Digits, of the table file's bytes) and of `SUMMARY_VERSION`, so a
changed method, table or summary reruns; `benchmarks._shared.run_cache` runs what its cache lacks.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.multi_fidelity._lc_digits_table import DEFAULT_TABLE
from benchmarks.multi_fidelity._methods import METHODS, proposer
from benchmarks.multi_fidelity._problems import (
    LC_DIGITS_SEEDS,
    MFProblem,
    branin_mf,
    hartmann6_mf,
    lc_digits,
)
from raysweep.scheduling import Simulation, simulate

# Bump when what a record holds, or how it is computed, changes.
SUMMARY_VERSION = "1"

PROBLEMS: dict[str, Callable[[int], MFProblem]] = {
    # CPU seconds: the table's wall times include slowdowns from other work on the machine
    # that made it.
    "lc_digits": lambda seed: lc_digits(seed % LC_DIGITS_SEEDS, seconds="cpu"),
    "hartmann6": lambda seed: hartmann6_mf(),
    "branin": lambda seed: branin_mf(),
}


@functools.cache
def problem_version(name: str) -> str:
    """What identifies the problem's definition: its table's digest, or its key numbers."""
    if name == "lc_digits":
        digest = hashlib.sha256(DEFAULT_TABLE.read_bytes()).hexdigest()[:16]
        return f"table-sha256:{digest}:cpu-seconds"
    problem = PROBLEMS[name](0)
    return f"{problem.name}:{problem.best_full_value!r}:{problem.top5_threshold!r}"


@dataclass(frozen=True)
class SimRun:
    """One run: `method` (a `METHODS` name) on `problem` with `workers` simulated workers."""

    problem: str
    workers: int
    method: str
    seed: int
    budget: int

    @property
    def key(self) -> str:
        """The cache key of the run."""
        text = json.dumps(
            {
                "method": METHODS[self.method].config(),
                "problem": problem_version(self.problem),
                "v": SUMMARY_VERSION,
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return (
            f"{self.method}|{self.problem}|workers={self.workers}|seed={self.seed}"
            f"|budget={self.budget}|{digest}"
        )

    @property
    def label(self) -> str:
        return f"{self.method} {self.problem} workers={self.workers} seed={self.seed}"


def regret(problem: MFProblem, full_value: float) -> float:
    """How far a full-budget value is from the problem's best (0 at the optimum)."""
    gap = problem.best_full_value - full_value
    # Clipped: the synthetic optima are numerical, a hair above what a lucky point may reach.
    return max(0.0, gap if problem.maximize else -gap)


def summarize(problem: MFProblem, sim: Simulation, budget: int) -> dict[str, Any]:
    """The numbers a run is judged by (see simulated.py's docstring)."""
    target_epochs: int | None = None
    target_time: float | None = None
    sign = 1.0 if problem.maximize else -1.0
    for completion in sim.completions:
        full = problem.full_value(sim.trials[completion.trial].config)
        if sign * full >= sign * problem.top5_threshold:
            target_epochs, target_time = completion.epochs, completion.time
            break
    # The incumbent is chosen by what the run observed; its regret by its true full value.
    trace: list[list[float]] = []
    for entry in sim.incumbent_trace():
        found = regret(problem, problem.full_value(sim.trials[entry.trial].config))
        if not trace or found != trace[-1][2]:
            trace.append([entry.epochs, round(entry.time, 6), found])
    return {
        "epochs_to_top5": target_epochs,
        "time_to_top5": target_time,
        "final_regret": trace[-1][2] if trace else None,
        "trace": trace,
        "epochs": sim.epochs,
        "end_time": sim.end_time,
        "budget": budget,
        "trials": len(sim.trials),
        "completed": len(sim.completions),
        "resumes": sim.resumes,
        "repeated_epochs": sim.repeated_epochs,
    }


def run_one(run: SimRun) -> dict[str, Any]:
    """Simulate one run and return its cache record."""
    started = time.perf_counter()
    method = METHODS[run.method]
    problem = PROBLEMS[run.problem](run.seed)
    sim = simulate(
        method.scheduler,
        curve=problem.curve,
        propose=proposer(method, problem, run.seed),
        n_workers=run.workers,
        max_steps=problem.max_steps,
        maximize=problem.maximize,
        max_epochs=run.budget,
        checkpoints=method.checkpoints,
    )
    return {
        "key": run.key,
        "method": run.method,
        "problem": run.problem,
        "workers": run.workers,
        "seed": run.seed,
        "result": summarize(problem, sim, run.budget),
        "wall_s": round(time.perf_counter() - started, 3),
    }
