"""One simulated run of the multi-fidelity benchmark, its summary, and the JSON-lines run cache.

A run is (problem, workers, method, seed, epoch budget). Its record holds the summary numbers and
the incumbent's regret trace; the cache key includes a hash of the method's configuration, of the
problem's definition (for LC-Digits, of the table file's bytes) and of `SUMMARY_VERSION`, so a
changed method, table or summary reruns, and a finished run is never run twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _results_md
from _mf_methods import METHODS, Method, proposer
from _mf_problems import LC_DIGITS_SEEDS, MFProblem, branin_mf, hartmann6_mf, lc_digits
from _mf_table import DEFAULT_TABLE

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


def run_key(problem: str, workers: int, method: Method, seed: int, budget: int) -> str:
    """The cache key of one run."""
    text = json.dumps(
        {"method": method.config(), "problem": problem_version(problem), "v": SUMMARY_VERSION},
        sort_keys=True,
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{method.name}|{problem}|workers={workers}|seed={seed}|budget={budget}|{digest}"


def regret(problem: MFProblem, full_value: float) -> float:
    """How far a full-budget value is from the problem's best (0 at the optimum)."""
    gap = problem.best_full_value - full_value
    # Clipped: the synthetic optima are numerical, a hair above what a lucky point may reach.
    return max(0.0, gap if problem.maximize else -gap)


def summarize(problem: MFProblem, sim: Simulation, budget: int) -> dict[str, Any]:
    """The numbers a run is judged by (see multi_fidelity.py's docstring)."""
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


def run_one(
    problem_name: str, workers: int, method: Method, seed: int, budget: int
) -> dict[str, Any]:
    """Simulate one run and return its cache record."""
    started = time.perf_counter()
    problem = PROBLEMS[problem_name](seed)
    sim = simulate(
        method.scheduler,
        curve=problem.curve,
        propose=proposer(method, problem, seed),
        n_workers=workers,
        max_steps=problem.max_steps,
        maximize=problem.maximize,
        max_epochs=budget,
        checkpoints=method.checkpoints,
    )
    return {
        "key": run_key(problem_name, workers, method, seed, budget),
        "method": method.name,
        "problem": problem_name,
        "workers": workers,
        "seed": seed,
        "result": summarize(problem, sim, budget),
        "wall_s": round(time.perf_counter() - started, 3),
    }


def run_all(
    plan: list[tuple[str, int, str, int]], budget: int, cache: Path, *, every_s: float = 15.0
) -> list[dict[str, Any]]:
    """Run every (problem, workers, method, seed) of `plan` missing from `cache`, one at a time,
    appending each record; return the records of the whole plan, in plan order."""
    done = _results_md.load_runs(cache)
    keys = [run_key(p, w, METHODS[m], s, budget) for p, w, m, s in plan]
    todo = [(item, key) for item, key in zip(plan, keys, strict=True) if key not in done]
    print(
        f"{len(plan)} runs: {len(plan) - len(todo)} cached in {cache.name}, {len(todo)} to run",
        flush=True,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    started = last = time.perf_counter()
    with cache.open("a", encoding="utf-8") as handle:
        for count, ((problem, workers, method, seed), _) in enumerate(todo, 1):
            record = run_one(problem, workers, METHODS[method], seed, budget)
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            done[record["key"]] = record
            now = time.perf_counter()
            if now - last >= every_s or count == len(todo):
                last = now
                eta = (now - started) / count * (len(todo) - count)
                print(
                    f"  {count}/{len(todo)} runs, {(now - started) / 60:.1f} min, ETA "
                    f"{eta / 60:.1f} min; last: {method} {problem} workers={workers} seed={seed} "
                    f"({record['wall_s']:.2f} s)",
                    flush=True,
                )
    return [done[key] for key in keys]


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
