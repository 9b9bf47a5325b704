"""Run the no-op study on each system and measure it: raysweep, Ray Tune, Optuna.

Ray Tune and Optuna are benchmark-only dependencies: only benchmarks/ imports them.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import ray

from benchmarks._shared.optuna_logging import quiet_optuna
from benchmarks._shared.ray_tune_peer import tune_asha_config
from benchmarks.overhead._trials import (
    Probe,
    flat,
    raysweep_objective,
    read_samples,
    tune_trainable,
)
from raysweep.orchestrator import create_study
from raysweep.samplers import RandomSampler, TrialState
from raysweep.scheduling import ASHA

MIN_RESOURCE, MAX_RESOURCE, REDUCTION_FACTOR = 1, 10, 3
ASHA_CONFIG = ASHA(
    min_resource=MIN_RESOURCE, max_resource=MAX_RESOURCE, reduction_factor=REDUCTION_FACTOR
)
# The steps where a decision is made, the same for all three systems: 1, 3 and 9.
RUNGS = tuple(ASHA_CONFIG.decision_steps())
CONCURRENCY = 2


@dataclass
class Measured:
    system: str
    reports: int
    trials: int
    wall_s: float
    results: int
    pruned: int | None  # None where the system does not say (Tune with one report)
    latency_s: list[float] = field(default_factory=list)
    rtt_s: list[float] = field(default_factory=list)
    handoff_s: list[float] = field(default_factory=list)
    # Hand-off p50 over the first and the last fifth of each runner's trials (seconds).
    handoff_drift_s: tuple[float, float] | None = None

    @property
    def trials_per_s(self) -> float:
        return self.trials / self.wall_s

    @property
    def results_per_s(self) -> float:
        return self.results / self.wall_s


def start_probe() -> ray.actor.ActorHandle:
    probe = ray.remote(Probe).options(num_cpus=0).remote()
    ray.get(probe.ping.remote())
    return probe


def run_raysweep(
    trials: int, reports: int, work: Path, probe: object, system: str = "raysweep"
) -> Measured:
    """raysweep on the no-op objective; without a probe (None), no round-trip pings."""
    samples = work / "samples"
    samples.mkdir(parents=True)
    study = create_study(
        name=f"overhead-r{reports}",
        storage=work / "studies",
        direction="maximize",
        sampler=RandomSampler(seed=0),
        scheduler=ASHA_CONFIG,
    )
    objective = functools.partial(
        raysweep_objective, reports=reports, rungs=RUNGS, probe=probe, out_dir=str(samples)
    )
    try:
        start = time.perf_counter()
        study.optimize(
            objective,
            n_trials=trials,
            max_concurrent=CONCURRENCY,
            resources={"CPU": 1},
            show_progress=False,
        )
        wall = time.perf_counter() - start
        records = study.trials
    finally:
        study.close()
    found = read_samples(str(samples), "raysweep")
    handoffs = found.get("handoff", [])
    return Measured(
        system=system,
        reports=reports,
        trials=len(records),
        wall_s=wall,
        results=sum(len(r.intermediate_values) for r in records),
        pruned=sum(r.state is TrialState.PRUNED for r in records),
        latency_s=flat(found.get("decision", [])),
        rtt_s=flat(found.get("rtt", [])),
        handoff_s=flat(handoffs),
        handoff_drift_s=_drift(handoffs),
    )


def _drift(per_process: list[list[float]]) -> tuple[float, float] | None:
    first = [x for values in per_process for x in values[: len(values) // 5]]
    last = [x for values in per_process for x in values[len(values) - len(values) // 5 :]]
    if not first or not last:
        return None
    return float(np.median(first)), float(np.median(last))


def run_tune(trials: int, reports: int, work: Path) -> Measured:
    from ray import tune

    samples = work / "samples"
    samples.mkdir(parents=True)
    tuner = tune.Tuner(
        tune.with_resources(tune_trainable, {"cpu": 1}),
        param_space={
            "x": tune.uniform(0.0, 1.0),
            "reports": reports,
            "rungs": list(RUNGS),
            "out_dir": str(samples),
        },
        tune_config=tune_asha_config(
            ASHA_CONFIG, metric="v", concurrency=CONCURRENCY, num_samples=trials
        ),
        run_config=tune.RunConfig(
            name=f"overhead-r{reports}", storage_path=str(work / "tune"), verbose=0
        ),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    done = [grid[i] for i in range(len(grid))]
    results = sum(int((r.metrics or {}).get("training_iteration", 0)) for r in done)
    errors = sum(r.error is not None for r in done)
    if errors:
        raise RuntimeError(f"{errors} Tune trials failed; first: {grid.errors[0]!r}")
    return Measured(
        system="Ray Tune",
        reports=reports,
        trials=len(done),
        wall_s=wall,
        results=results,
        # ASHA stops a trial before its last report, and a stop at the last one looks like the
        # trial's end: with one report per trial Tune cannot tell them apart.
        pruned=sum(int((r.metrics or {}).get("training_iteration", 0)) < reports for r in done)
        if reports > 1
        else None,
        latency_s=flat(read_samples(str(samples), "tune").get("decision", [])),
    )


def run_optuna(trials: int, reports: int, work: Path) -> Measured:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    quiet_optuna()
    work.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(work / "journal.log")))
    study = optuna.create_study(
        study_name=f"overhead-r{reports}",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=MIN_RESOURCE, reduction_factor=REDUCTION_FACTOR
        ),
    )
    latency: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(1, reports + 1):
            start = time.perf_counter()
            trial.report(x, step)
            prune = trial.should_prune()
            if step in RUNGS:
                latency.append(time.perf_counter() - start)
            if prune:
                raise optuna.TrialPruned()
        return x

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=1)
    wall = time.perf_counter() - start
    done = study.get_trials(deepcopy=False)
    return Measured(
        system="Optuna",
        reports=reports,
        trials=len(done),
        wall_s=wall,
        results=sum(len(t.intermediate_values) for t in done),
        pruned=sum(t.state is optuna.trial.TrialState.PRUNED for t in done),
        latency_s=latency,
    )
