"""Resumable, parallel runs: one JSON line per finished run in a cache file, skipped when present.

A run is keyed by system, problem, seed, evaluations and a hash of the system's configuration
(see `_systems.config`) and of the problem definition's version, so a changed sampler, changed
arguments or a changed problem reruns, and an interrupted benchmark resumes where it stopped.
Only the parent process appends to the cache (results arrive through the pool), one flushed line
per run; a line cut short by a kill is ignored when the cache is read.

A benchmark module (`bench`) provides `PROBLEM_VERSION: str`,
`make_problem(seed: int, **problem) -> Problem` and `summarize(problem, trace) -> dict`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _results_md
import _systems

# A worker process runs one sampler at a time: more BLAS threads would only contend for the cores.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
    record: dict[str, Any] = {
        "key": task.key,
        "system": task.system,
        "problem": dict(task.problem),
        "seed": task.seed,
        "evals": task.evals,
        "config_hash": task.config_hash,
    }
    try:
        module = importlib.import_module(task.bench)
        problem = module.make_problem(task.seed, **task.problem)
        trace = _systems.run(task.system, problem, task.seed, task.evals)
        record["result"] = module.summarize(problem, trace)
        record["wall_s"] = round(trace.wall_s, 4)
        record["sampler_s"] = round(trace.sampler_s, 4)
    except Exception:
        record["error"] = traceback.format_exc()
    return record


def _describe(record: Mapping[str, Any]) -> str:
    problem = " ".join(f"{k}={v}" for k, v in record["problem"].items())
    return f"{record['system']} {problem} seed={record['seed']}"


def _results(tasks: Sequence[Task], workers: int) -> Iterable[dict[str, Any]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(execute, tasks)
        return
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    # spawn: a worker starts clean (no inherited Optuna or BLAS state); it finds the benchmark
    # modules because spawn passes the parent's sys.path on.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(execute, tasks, chunksize=1)


def run_all(
    tasks: Sequence[Task], cache: Path, *, workers: int, every_s: float = 20.0
) -> dict[str, dict[str, Any]]:
    """Run the tasks missing from `cache`, append each result to it, return every task's record
    that exists (failed runs are printed and left out)."""
    done = _results_md.load_runs(cache)
    todo = [t for t in tasks if t.key not in done]
    print(
        f"{len(tasks)} runs: {len(tasks) - len(todo)} in {cache.name}, {len(todo)} to run "
        f"with {workers} worker(s)",
        file=sys.stderr,
        flush=True,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    started = last = time.perf_counter()
    failed = 0
    with cache.open("a", encoding="utf-8") as handle:
        for count, record in enumerate(_results(todo, workers), 1):
            if "error" in record:
                failed += 1
                print(f"FAILED {_describe(record)}:\n{record['error']}", file=sys.stderr)
                continue
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            done[record["key"]] = record
            now = time.perf_counter()
            if now - last >= every_s or count == len(todo):
                last = now
                eta = (now - started) / count * (len(todo) - count)
                print(
                    f"{count}/{len(todo)} runs ({failed} failed), {(now - started) / 60:.1f} min, "
                    f"ETA {eta / 60:.1f} min; last {_describe(record)}: {record['wall_s']:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return {t.key: done[t.key] for t in tasks if t.key in done}


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
