"""A quick BBOB check of TPESampler settings against Optuna's multivariate TPE, and its latency.

    .venv/bin/python -m benchmarks.sampler_quality.tpe_tuning --fids 1,6,8,10,15,20,21 --dims 5 \\
        --seeds 5 --config '{}' --config '{"n_ei_candidates": 24}' --config '{"_magic_exponent": 1}'
    .venv/bin/python -m benchmarks.sampler_quality.tpe_tuning --latency 10000,20

Each config (constructor arguments as JSON; a key starting with "_" sets that field of the
sampler's KernelSettings instead) runs every (function, dim, seed) for ``--evals`` evaluations
(seed s = BBOB instance s = sampler seed s, box [-5, 5]; the problems and drivers of `bbob.py`);
Optuna's ``TPESampler(multivariate=True)`` with the same start-up count runs once per cell and
is cached in ``--cache``. The report gives, per config, the mean normalized log regret (per
problem, log10 regret floored at 1e-8 and scaled to [0, 1] by the min and max over every run of
that problem, Optuna's included), the raw mean log10 regret, and wins / ties / losses against
Optuna by a two-sided Mann–Whitney U at 0.05. Set OMP_NUM_THREADS=1: runs go in parallel
(``--workers``). ``--latency N,D`` times one bare ``sample_relative`` over N finished trials in
D dimensions. It prints its report and writes no RESULTS.md section: a tool for choosing
defaults, whose choices `bbob.py` then measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from benchmarks.sampler_quality import _bbob_problem
from benchmarks.sampler_quality._drive import drive_optuna, drive_ours
from raysweep.samplers import TPESampler


def run_ours(config: dict[str, Any], fid: int, dim: int, seed: int, evals: int) -> float:
    problem = _bbob_problem.make_problem(seed, fid=fid, dim=dim)
    # Keys starting with "_" override KernelSettings fields that are not constructor arguments:
    # a private attribute, on purpose (this tool tries settings the public API does not offer).
    hidden = {k[1:]: v for k, v in config.items() if k.startswith("_")}
    sampler = TPESampler(**{k: v for k, v in config.items() if not k.startswith("_")})
    sampler._settings = dataclasses.replace(sampler._settings, **hidden)
    trace = drive_ours(sampler, problem, evals, seed)
    return float(_bbob_problem.summarize(problem, trace)["log_regret"])


def run_optuna(fid: int, dim: int, seed: int, evals: int, startup: int) -> float:
    import optuna

    problem = _bbob_problem.make_problem(seed, fid=fid, dim=dim)
    sampler = optuna.samplers.TPESampler(multivariate=True, n_startup_trials=startup, seed=seed)
    trace = drive_optuna(sampler, problem, evals)
    return float(_bbob_problem.summarize(problem, trace)["log_regret"])


def latency(n_trials: int, dim: int, repeats: int = 7) -> None:
    """Median wall time of one bare ``sample_relative`` over ``n_trials`` finished trials."""
    import time

    from raysweep.samplers import FloatDistribution, SamplingContext, StudyDirection, TrialRecord
    from raysweep.samplers import TrialState as State

    space = {f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(dim)}
    points = np.random.default_rng(0).uniform(-5.0, 5.0, (n_trials, dim))
    records = [
        TrialRecord(
            i,
            State.COMPLETE,
            dict(zip(space, map(float, row), strict=True)),
            space,
            values=(float(row @ row),),
        )
        for i, row in enumerate(points)
    ]
    sampler = TPESampler()
    times = []
    for repeat in range(repeats):
        context = SamplingContext(0, n_trials + repeat, (StudyDirection.MINIMIZE,), records)
        space_now = sampler.infer_relative_search_space(context)
        start = time.perf_counter()
        sampler.sample_relative(context, space_now)
        times.append(time.perf_counter() - start)
    print(
        f"sample_relative, {n_trials} trials, {dim}-D: first {times[0] * 1e3:.1f} ms, "
        f"median of the rest {np.median(times[1:]) * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fids", default="1,6,8,10,15,20,21")
    parser.add_argument("--dims", default="5")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--cache", default="/tmp/tpe_tuning_optuna.json")
    parser.add_argument("--latency", help="N,D: time one proposal over N trials in D dims")
    args = parser.parse_args()
    if args.latency:
        n_trials, dim = (int(x) for x in args.latency.split(","))
        latency(n_trials, dim)
        return
    fids = [int(f) for f in args.fids.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    configs = [json.loads(c) for c in args.config] or [{}]
    cells = [(f, d, s) for f in fids for d in dims for s in range(1, args.seeds + 1)]
    cache: dict[str, float] = {}
    if os.path.exists(args.cache):
        with open(args.cache) as stream:
            cache = json.load(stream)
    with ProcessPoolExecutor(args.workers) as pool:
        keys = [f"{f}/{d}/{s}/{args.evals}" for f, d, s in cells]
        todo = [(k, c) for k, c in zip(keys, cells, strict=True) if k not in cache]
        jobs = [pool.submit(run_optuna, *c, args.evals, 10) for _, c in todo]
        for (key, _), job in zip(todo, jobs, strict=True):
            cache[key] = job.result()
        with open(args.cache, "w") as stream:
            json.dump(cache, stream)
        theirs = np.array([cache[k] for k in keys])
        ours = [
            np.array(
                [
                    job.result()
                    for job in [pool.submit(run_ours, cfg, *c, args.evals) for c in cells]
                ]
            )
            for cfg in configs
        ]
    _report(cells, configs, ours, theirs, args.seeds)


def _report(
    cells: list[tuple[int, int, int]],
    configs: list[dict[str, Any]],
    ours: list[np.ndarray],
    theirs: np.ndarray,
    n_seeds: int,
) -> None:
    from scipy.stats import mannwhitneyu

    everything = np.vstack([*ours, theirs]).reshape(len(ours) + 1, -1, n_seeds)
    low = everything.min(axis=(0, 2), keepdims=True)
    span = np.maximum(everything.max(axis=(0, 2), keepdims=True) - low, 1e-12)
    normalized = (everything - low) / span
    problems = [c[:2] for c in cells[::n_seeds]]
    print(f"optuna: mean normalized {normalized[-1].mean():.3f}  raw {theirs.mean():.3f}")
    for i, config in enumerate(configs):
        outcome = []
        for p in range(len(problems)):
            a, b = everything[i, p], everything[-1, p]
            pvalue = mannwhitneyu(a, b).pvalue if not np.array_equal(a, b) else 1.0
            outcome.append("T" if pvalue >= 0.05 else ("W" if a.mean() < b.mean() else "L"))
        per = " ".join(
            f"f{f}d{d}:{everything[i, p].mean():+.2f}/{everything[-1, p].mean():+.2f}{o}"
            for p, ((f, d), o) in enumerate(zip(problems, outcome, strict=True))
        )
        print(
            f"{json.dumps(config)}: mean normalized {normalized[i].mean():.3f} raw "
            f"{ours[i].mean():.3f} W/T/L {outcome.count('W')}/{outcome.count('T')}/"
            f"{outcome.count('L')}\n   {per}"
        )


if __name__ == "__main__":
    main()
