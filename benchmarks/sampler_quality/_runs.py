"""The runs of a quality benchmark: their keys, the plan, and one run in a worker process.

A run is keyed by system, problem, seed, evaluations and a hash of the system's configuration
(see `_systems.config`) and of the problem definition's version, so a changed sampler, changed
arguments or a changed problem reruns; `benchmarks._shared.run_cache` runs what its cache lacks.

A benchmark's problem module (`bench`, by its full name) provides `PROBLEM_VERSION: str`,
`make_problem(seed: int, **problem) -> Problem` and `summarize(problem, trace) -> dict`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.sampler_quality import _systems


@dataclass(frozen=True)
class Task:
    """One run: `system` on `bench.make_problem(seed, **problem)` for `evals` evaluations."""

    bench: str
    system: str
    problem: Mapping[str, Any]
    seed: int
    evals: int
    config_hash: str

    @property
    def key(self) -> str:
        problem = json.dumps(dict(self.problem), sort_keys=True)
        return f"{self.system}|{problem}|seed={self.seed}|evals={self.evals}|{self.config_hash}"

    @property
    def label(self) -> str:
        problem = " ".join(f"{k}={v}" for k, v in self.problem.items())
        return f"{self.system} {problem} seed={self.seed}"


def config_hash(bench: str, system: str, problem: Mapping[str, Any]) -> str | None:
    """The hash of `system`'s configuration on this problem, or None if it is not available."""
    module = importlib.import_module(bench)
    sample = module.make_problem(1, **problem)
    found = _systems.config(system, sample)
    if found is None:
        return None
    text = json.dumps({"system": found, "problem": module.PROBLEM_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def execute(task: Task) -> dict[str, Any]:
    """Run `task` (in a worker process) and return its cache record."""
    module = importlib.import_module(task.bench)
    problem = module.make_problem(task.seed, **task.problem)
    trace = _systems.run(task.system, problem, task.seed, task.evals)
    return {
        "key": task.key,
        "system": task.system,
        "problem": dict(task.problem),
        "seed": task.seed,
        "evals": task.evals,
        "config_hash": task.config_hash,
        "result": module.summarize(problem, trace),
        "wall_s": round(trace.wall_s, 4),
        "sampler_s": round(trace.sampler_s, 4),
    }


def plan(
    bench: str,
    systems: Sequence[str],
    problems: Sequence[Mapping[str, Any]],
    seeds: Sequence[int],
    evals: int,
) -> tuple[list[Task], list[str]]:
    """The tasks of every available system, and the systems that are not available.

    Tasks are ordered problem by problem, seed by seed, system by system, so an interrupted run
    leaves whole problems finished and the progress line's time estimate mixes every system.
    """
    hashes = {
        (system, i): config_hash(bench, system, problem)
        for i, problem in enumerate(problems)
        for system in systems
    }
    missing = [s for s in systems if any(hashes[(s, i)] is None for i in range(len(problems)))]
    tasks = [
        Task(bench, system, dict(problem), seed, evals, found)
        for i, problem in enumerate(problems)
        for seed in seeds
        for system in systems
        if system not in missing and (found := hashes[(system, i)]) is not None
    ]
    return tasks, missing
