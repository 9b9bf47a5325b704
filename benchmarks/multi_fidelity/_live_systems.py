"""Run one seed's replay on each system and return every epoch it trained, with its timestamp.

Systems: raysweep's ASHA in promote mode (checkpoints, so a resumed trial continues) and in stop
mode, and Ray Tune's `ASHAScheduler` (stop only). All run 2 trials at a time with one CPU each,
on the Ray session the caller started. Ray Tune is a benchmark-only dependency: only benchmarks/
imports it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._shared.ray_tune_peer import tune_asha_config
from benchmarks.multi_fidelity._live_trials import STAMP, Curve, ours_objective, tune_trainable
from raysweep.orchestrator import create_study
from raysweep.orchestrator._storage._log import EventLog
from raysweep.samplers import RandomSampler
from raysweep.scheduling import ASHA

MIN_RESOURCE, MAX_RESOURCE, REDUCTION_FACTOR = 1, 27, 3
WORKERS = 2
SYSTEMS = ("ours-promote", "ours-stop", "raytune-asha")


@dataclass(frozen=True)
class Epoch:
    """One trained epoch: when it ended (unix seconds), its trial's index in the run, the epoch,
    the value; `log_ts` is the raysweep event log's time for the report (None for Tune)."""

    ts: float
    trial: int
    step: int
    value: float
    log_ts: float | None = None


@dataclass(frozen=True)
class Trace:
    """What one run did: every epoch (repeated ones included), when the call started (unix
    seconds), how long it took, and counters the system reports about itself."""

    epochs: tuple[Epoch, ...]
    start_ts: float
    wall_s: float
    extra: dict[str, int]


def _asha(mode: str) -> ASHA:
    """Our ASHA on the benchmark's rungs (Ray Tune's gets the same ones)."""
    return ASHA(
        min_resource=MIN_RESOURCE,
        max_resource=MAX_RESOURCE,
        reduction_factor=REDUCTION_FACTOR,
        mode=mode,
    )


def run_system(system: str, curves: Sequence[Curve], work: Path, seed: int) -> Trace:
    """Run `system` on `curves` (trial i replays curves[i]) in the folder `work`."""
    runners: dict[str, Callable[[], Trace]] = {
        "ours-promote": lambda: run_ours("promote", curves, work, seed),
        "ours-stop": lambda: run_ours("stop", curves, work, seed),
        "raytune-asha": lambda: run_tune(curves, work, seed),
    }
    if system not in runners:
        raise ValueError(f"system {system!r} is not known; pass one of {list(runners)}")
    return runners[system]()


def run_ours(mode: str, curves: Sequence[Curve], work: Path, seed: int) -> Trace:
    """raysweep with ASHA in `mode`; trial number i replays curves[i]."""
    study = create_study(
        name=f"live-{mode}-{seed}",
        storage=work / "studies",
        direction="maximize",
        sampler=RandomSampler(seed=seed),
        scheduler=_asha(mode),
    )
    try:
        start_ts, start = time.time(), time.perf_counter()
        study.optimize(
            functools.partial(ours_objective, curves=curves),
            n_trials=len(curves),
            max_concurrent=WORKERS,
            resources={"CPU": 1},
            show_progress=False,
        )
        wall = time.perf_counter() - start
        records = {r.number: r for r in study.trials}
        usage = study.resource_usage()
        directory = study.directory
    finally:
        study.close()
    log, events, _ = EventLog.open(directory, create=False)
    log.close()
    epochs = []
    for event in events:
        if event.kind != "report":
            continue
        step = int(event.payload["step"])
        assert event.trial is not None
        stamp = records[event.trial].user_attrs.get(STAMP.format(epoch=step))
        # A repeated epoch (a re-run without a checkpoint) overwrote its stamp: the log's time
        # is the closest we have for it.
        ts = float(stamp) if stamp is not None else event.ts
        epochs.append(Epoch(ts, event.trial, step, float(event.payload["value"]), event.ts))
    extra = {
        "reported_steps": usage.reported_steps,
        "repeated_steps": usage.repeated_steps,
        "pauses": usage.pauses,
        "resumed_from_checkpoint": usage.resumed_from_checkpoint,
        "restarted_from_scratch": usage.restarted_from_scratch,
        "trials": len(records),
        "trial_runs": len(records) + usage.resumed_from_checkpoint + usage.restarted_from_scratch,
    }
    return Trace(tuple(epochs), start_ts, wall, extra)


def run_tune(curves: Sequence[Curve], work: Path, seed: int) -> Trace:
    """Ray Tune's ASHAScheduler; a grid search over the trial indexes runs them in order."""
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(tune_trainable, curves=list(curves)), {"cpu": 1}
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"i": tune.grid_search(list(range(len(curves))))},
        tune_config=tune_asha_config(_asha("stop"), metric="acc", concurrency=WORKERS),
        run_config=tune.RunConfig(name=f"live-{seed}", storage_path=str(work / "tune"), verbose=0),
    )
    start_ts, start = time.time(), time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    if grid.errors:
        raise RuntimeError(f"{len(grid.errors)} Tune trials failed; first: {grid.errors[0]!r}")
    epochs = []
    for result in (grid[i] for i in range(len(grid))):
        assert result.config is not None
        frame = result.metrics_dataframe
        assert frame is not None
        index = int(result.config["i"])
        for step, value, ts in zip(
            frame["training_iteration"], frame["acc"], frame["t"], strict=True
        ):
            epochs.append(Epoch(float(ts), index, int(step), float(value)))
    return Trace(tuple(epochs), start_ts, wall, {"trials": len(grid), "trial_runs": len(grid)})
