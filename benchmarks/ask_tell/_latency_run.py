"""The measurements of `latency.py`: per space, one history grown 100 → 1,000 → 10,000
trials per system, and K timed proposals at each size.

Levels:

* bare — ours: a `SamplingContext` over the pre-built COMPLETE records (built per proposal, as
  the SamplerService builds it), the joint proposal and the independent ones the objective asks
  for; Optuna: `study.ask()` + the suggest calls on an in-memory study filled with
  `add_trials`. Optuna's public ask/tell is this same in-process call, so it has no other level.
* ask/tell — ours: `study.ask()` + the suggest calls on a study on the local Ray session,
  filled to N trials through ask/tell with RandomSampler, then reopened with the TPE under test.

Each measured proposal is told, so a history grows by K (+1 warm-up) per size: the first
proposal of each cell is not timed (for ours through ask/tell it is the first request after the
reopen, which carries the whole history to the new sampler service).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.ask_tell._bare_study import BareStudy
from benchmarks.ask_tell._optuna_study import OptunaStudy, tpe
from benchmarks.ask_tell._ray_study import SEED, RayStudy
from benchmarks.ask_tell._spaces import RandomTrial, objective, suggest_params
from raysweep.samplers import Distribution, Sampler, TPESampler

# Set explicitly on both sides: the settings the comparison is about.
MATCHED: dict[str, Any] = {"multivariate": True, "n_startup_trials": 10}
BARE, ASK_TELL = "bare", "ask/tell"


@dataclass(frozen=True)
class Cell:
    """K timed proposals of one system at one level, with a history of `size` trials."""

    space: str
    size: int
    system: str  # "ours", "ours-defaults" or "optuna"
    level: str
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def p90(self) -> float:
        return float(np.percentile(self.samples, 90))


@dataclass
class Fill:
    """What filling ours through ask/tell cost: random trials added and the seconds their
    ask/tell took; the seconds spent closing and reopening the study (any sampler)."""

    trials: int = 0
    seconds: float = 0.0
    reopens: int = 0  # times the study was opened
    reopen_s: float = 0.0


@dataclass
class Measured:
    cells: list[Cell] = field(default_factory=list)
    fills: dict[str, Fill] = field(default_factory=dict)


def our_samplers(with_defaults: bool) -> dict[str, Callable[[], Sampler]]:
    """Our TPE with the matched settings, and with its defaults when those differ."""
    found: dict[str, Callable[[], Sampler]] = {"ours": lambda: TPESampler(seed=SEED, **MATCHED)}
    if with_defaults:
        found["ours-defaults"] = lambda: TPESampler(seed=SEED)
    return found


def defaults_differ() -> bool:
    return bool(TPESampler(seed=SEED, **MATCHED).to_json() != TPESampler(seed=SEED).to_json())


class _Pool:
    """Random COMPLETE trials of a space, drawn once and shared: every system's history starts
    with the same ones."""

    def __init__(self, space: str) -> None:
        self.space = space
        self._rng = np.random.default_rng(SEED)
        self.rows: list[tuple[dict[str, Any], dict[str, Distribution], float]] = []

    def take(
        self, start: int, count: int
    ) -> list[tuple[dict[str, Any], dict[str, Distribution], float]]:
        while len(self.rows) < start + count:
            trial = RandomTrial(self._rng)
            params = suggest_params(trial, self.space)
            self.rows.append((params, trial.distributions, objective(self.space, params)))
        return list(self.rows[start : start + count])


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _bare_proposal(study: BareStudy, space: str) -> float:
    started = time.perf_counter()
    trial = study.propose(space)
    elapsed = time.perf_counter() - started
    study.tell(trial, space)
    return elapsed


def _in_process(
    space: str,
    size: int,
    k: int,
    bare: dict[str, BareStudy],
    optuna: OptunaStudy,
    pool: _Pool,
    used: dict[str, int],
) -> list[Cell]:
    """Ours bare and Optuna, their proposals interleaved so that both meet the same load.

    `used` counts the pool's trials each system's history holds already.
    """
    for name, study in bare.items():
        rows = pool.take(used.get(name, 0), max(0, size - len(study)))
        for params, dists, value in rows:
            study.add(params, dists, value)
        used[name] = used.get(name, 0) + len(rows)
    rows = pool.take(used.get("optuna", 0), max(0, size - len(optuna)))
    optuna.add(rows)
    used["optuna"] = used.get("optuna", 0) + len(rows)
    runs: dict[str, Callable[[], float]] = {
        name: functools.partial(_bare_proposal, study, space) for name, study in bare.items()
    }
    runs["optuna"] = functools.partial(optuna.timed_proposal, space)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(k + 1):
        for name, run in runs.items():
            elapsed = run()
            if round_:  # the first is the warm-up
                samples[name].append(elapsed)
    return [
        Cell(space, size, name, ASK_TELL if name == "optuna" else BARE, tuple(values))
        for name, values in samples.items()
    ]


def _through_ray(
    space: str,
    size: int,
    k: int,
    ray_study: RayStudy,
    samplers: dict[str, Callable[[], Sampler]],
    fill: Fill,
) -> list[Cell]:
    before = ray_study.finished
    fill.seconds += ray_study.fill(space, size)
    fill.trials += ray_study.finished - before
    cells = []
    for name, make in samplers.items():
        ray_study.use(make())
        ray_study.timed_proposal(space)  # warm-up: the new service receives the history
        samples = tuple(ray_study.timed_proposal(space) for _ in range(k))
        cells.append(Cell(space, size, name, ASK_TELL, samples))
    return cells


def run_space(
    space: str, plan: list[tuple[int, int]], storage: Path, with_defaults: bool, out: Measured
) -> None:
    """Measure every system on `space` for each (size, K) of `plan`, in increasing size."""
    samplers = our_samplers(with_defaults)
    bare = {name: BareStudy(make(), seed=SEED) for name, make in samplers.items()}
    optuna = OptunaStudy(tpe(SEED, **MATCHED))
    pool = _Pool(space)
    ray_study = RayStudy(storage, f"latency-{space}")
    fill = out.fills.setdefault(space, Fill())
    used: dict[str, int] = {}
    try:
        for size, k in plan:
            started = time.perf_counter()
            out.cells += _in_process(space, size, k, bare, optuna, pool, used)
            middle = time.perf_counter()
            out.cells += _through_ray(space, size, k, ray_study, samplers, fill)
            _log(
                f"{space} N={size} K={k}: in-process {middle - started:.1f} s, through Ray "
                f"{time.perf_counter() - middle:.1f} s (random fill so far {fill.trials} trials "
                f"in {fill.seconds:.1f} s; reopening {ray_study.reopen_s:.1f} s)"
            )
    finally:
        ray_study.close()
        fill.reopens, fill.reopen_s = ray_study.opened, ray_study.reopen_s
