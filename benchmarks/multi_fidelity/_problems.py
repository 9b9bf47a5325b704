"""Multi-fidelity benchmark problems for the scheduler simulator: one interface, three problems.

    .venv/bin/python -m benchmarks.multi_fidelity._problems   # self-check: facts about each problem

A problem gives each configuration a learning curve of `max_steps` steps (a value and the seconds
each step took) and a full-budget value used for regret. All three have 27 steps:

- `lc_digits(seed_index)`: real curves, read from `data/lc_digits.arrow` (written by
  `make_lc_digits.py`): validation accuracy of scikit-learn MLPs on the digits data set after
  each epoch, maximised. A run sees one seed's curves (pick the index from the run's seed, e.g.
  `run_seed % LC_DIGITS_SEEDS`); the full value is the mean final accuracy over all seeds.
- `hartmann6_mf()` and `branin_mf()`: the published multi-fidelity versions of Hartmann-6 and
  Branin with fidelity z = step / 27, minimised (formulas and references in `_functions.py`).

`best_full_value` is the optimum of the full value; `top5_threshold` is the full value a
configuration needs to be in the top 5%: for LC-Digits the 95th percentile of the table's
configurations, for the synthetic functions the 5% quantile over `THRESHOLD_SAMPLES` uniform
points drawn with `THRESHOLD_SEED`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from scipy.optimize import minimize

from benchmarks.multi_fidelity._functions import (
    BRANIN_ARGMIN,
    HARTMANN6_ARGMIN,
    PointConfig,
    SyntheticCurves,
    branin_mf_value,
    hartmann6_mf_value,
)
from benchmarks.multi_fidelity._lc_digits_table import (
    DEFAULT_TABLE,
    LearningCurves,
    TableConfig,
    load_curves,
)
from raysweep.samplers import Distribution, FloatDistribution

Config: TypeAlias = TableConfig | PointConfig

MAX_STEPS = 27
LC_DIGITS_SEEDS = 3
THRESHOLD_SAMPLES = 100_000
THRESHOLD_SEED = 20240601
_SECONDS_COLUMNS = {"wall": "epoch_seconds", "cpu": "epoch_cpu_seconds"}


@dataclass(frozen=True, eq=False)
class MFProblem:
    """A multi-fidelity problem: curves of configurations, their full values and search space.

    `space` holds sampler distributions, for model-based samplers; `config_from_params` maps
    their proposals to configurations. `used` (configurations this run already has) lets a
    table problem hand out a fresh row each time; the caller keeps that state.
    """

    name: str
    max_steps: int
    maximize: bool
    space: dict[str, Distribution]
    best_full_value: float
    top5_threshold: float
    _curves: LearningCurves | SyntheticCurves = field(repr=False)
    _seed_index: int = field(default=0, repr=False)

    def curve(self, config: Config, step: int) -> tuple[float, float]:
        """(value after `step`, seconds that step took) for `config`; steps are 1..max_steps."""
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise TypeError(f"step={step!r} is not an int; pass an int in 1..{self.max_steps}")
        if not 1 <= step <= self.max_steps:
            raise ValueError(f"step={step} is outside 1..{self.max_steps}; pass one inside")
        if isinstance(self._curves, LearningCurves):
            return self._curves.curve(self._table_config(config), int(step))
        return self._curves.curve(self._point_config(config), int(step))

    def full_value(self, config: Config) -> float:
        """The value `config` reaches with the full budget, without noise (regret uses it)."""
        if isinstance(self._curves, LearningCurves):
            return self._curves.full_value(self._table_config(config))
        return self._curves.full_value(self._point_config(config))

    def random_config(self, rng: np.random.Generator, *, used: Collection[Config] = ()) -> Config:
        """A uniformly random configuration (for a table, one not in `used` while any is left)."""
        if isinstance(self._curves, LearningCurves):
            taken = [self._table_config(c) for c in used]
            return self._curves.random_config(rng, self._seed_index, taken)
        return self._curves.random_config(rng)

    def config_from_params(
        self, params: Mapping[str, Any], *, used: Collection[Config] = ()
    ) -> Config:
        """The configuration for a sampler's proposal `params` (one value per `space` name).

        For a table: the nearest configuration in the unit cube of `space` (log scale where the
        distribution is log) among those not in `used`, or among all once every one is used.
        For a function: the proposed point itself.
        """
        if isinstance(self._curves, LearningCurves):
            taken = [self._table_config(c) for c in used]
            return self._curves.nearest(params, self._seed_index, taken)
        return self._curves.from_params(params)

    def params_of(self, config: Config) -> dict[str, Any]:
        """The search-space values of `config`: one per `space` name, as a sampler would propose."""
        if isinstance(self._curves, LearningCurves):
            return self._curves.params(self._table_config(config))
        return dict(zip(self.space, self._point_config(config).x, strict=True))

    def _table_config(self, config: Config) -> TableConfig:
        if not isinstance(config, TableConfig):
            raise TypeError(f"{config!r} is not a TableConfig; pass one of {self.name}'s configs")
        assert isinstance(self._curves, LearningCurves)
        if not (
            0 <= config.config < self._curves.n_configs and 0 <= config.seed < self._curves.n_seeds
        ):
            raise ValueError(
                f"{config!r} is not in the table; use random_config or config_from_params"
            )
        return config

    def _point_config(self, config: Config) -> PointConfig:
        if not isinstance(config, PointConfig) or len(config.x) != len(self.space):
            raise TypeError(f"{config!r} is not a point of {self.name}; use config_from_params")
        return config


def lc_digits(seed_index: int, path: Path = DEFAULT_TABLE, *, seconds: str = "wall") -> MFProblem:
    """LC-Digits whose runs see seed `seed_index`'s curves (maximise validation accuracy).

    A step lasts the epoch's measured wall time (`seconds="wall"`), or its CPU time
    (`seconds="cpu"`), which is free of the slowdowns other processes caused on the shared
    machine that generated the table.
    """
    if seconds not in _SECONDS_COLUMNS:
        raise ValueError(f"seconds={seconds!r} is not known; pass 'wall' or 'cpu'")
    curves = load_curves(path, _SECONDS_COLUMNS[seconds])
    whole = isinstance(seed_index, int | np.integer) and not isinstance(seed_index, bool)
    if not whole or not 0 <= seed_index < curves.n_seeds:
        raise ValueError(
            f"seed_index={seed_index!r} is not in 0..{curves.n_seeds - 1}; "
            f"pass run_seed % {curves.n_seeds}"
        )
    return MFProblem(
        name="lc-digits",
        max_steps=curves.epochs,
        maximize=True,
        space=dict(curves.space),
        best_full_value=float(curves.full_values.max()),
        top5_threshold=float(np.quantile(curves.full_values, 0.95)),
        _curves=curves,
        _seed_index=int(seed_index),
    )


def _synthetic(
    name: str, curves: SyntheticCurves, argmin: tuple[float, ...], *, exact: float | None = None
) -> MFProblem:
    if exact is None:
        bounds = [(d.low, d.high) for d in curves.space.values()]
        polished = minimize(
            lambda x: float(curves.function(x, 1.0)), np.array(argmin), bounds=bounds
        )
        exact = float(polished.fun)
    values = curves.random_values(THRESHOLD_SAMPLES, THRESHOLD_SEED)
    return MFProblem(
        name=name,
        max_steps=curves.max_steps,
        maximize=False,
        space=dict(curves.space),
        best_full_value=exact,
        top5_threshold=float(np.quantile(values, 0.05)),
        _curves=curves,
    )


@functools.lru_cache(maxsize=8)
def hartmann6_mf(noise_std: float = 0.0) -> MFProblem:
    """Multi-fidelity Hartmann-6 on [0, 1]^6 (minimise); `noise_std` adds keyed noise."""
    if not noise_std >= 0:
        raise ValueError(f"noise_std={noise_std!r} is negative; pass 0.0 or more")
    space = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(6)}
    curves = SyntheticCurves(hartmann6_mf_value, space, MAX_STEPS, float(noise_std))
    return _synthetic("hartmann6-mf", curves, HARTMANN6_ARGMIN)


@functools.lru_cache(maxsize=8)
def branin_mf(noise_std: float = 0.0) -> MFProblem:
    """Multi-fidelity Branin on [-5, 10] x [0, 15] (minimise); `noise_std` adds keyed noise."""
    if not noise_std >= 0:
        raise ValueError(f"noise_std={noise_std!r} is negative; pass 0.0 or more")
    space = {"x0": FloatDistribution(-5.0, 10.0), "x1": FloatDistribution(0.0, 15.0)}
    curves = SyntheticCurves(branin_mf_value, space, MAX_STEPS, float(noise_std))
    return _synthetic("branin-mf", curves, BRANIN_ARGMIN, exact=5 / (4 * math.pi))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    rank_a, rank_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(rank_a, rank_b)[0, 1])


def _check(problem: MFProblem, rng: np.random.Generator, count: int) -> None:
    """Print and assert the facts a simulator relies on, over `count` random configurations."""
    configs: list[Config] = []
    for _ in range(count):
        configs.append(problem.random_config(rng, used=configs))
    steps = sorted({s for s in (1, 3, 9, problem.max_steps) if s <= problem.max_steps})
    values = np.array([[problem.curve(c, s)[0] for s in steps] for c in configs])
    seconds = np.array([problem.curve(c, s)[1] for c in configs for s in steps])
    full = np.array([problem.full_value(c) for c in configs])
    sign = 1 if problem.maximize else -1
    print(
        f"{problem.name}: {problem.max_steps} steps, maximize={problem.maximize}, "
        f"space={list(problem.space)}"
    )
    print(
        f"  best full value {problem.best_full_value:.6g}, top-5% threshold "
        f"{problem.top5_threshold:.6g}; over {count} random configs: full values "
        f"{full.min():.4g}..{full.max():.4g}, step seconds {seconds.min():.3g}..{seconds.max():.3g}"
    )
    print(
        "  median value by step: "
        + ", ".join(f"{s}: {v:.4g}" for s, v in zip(steps, np.median(values, axis=0), strict=True))
    )
    print(
        "  Spearman(value at step, full value): "
        + ", ".join(f"{s}: {_spearman(values[:, i], full):.4f}" for i, s in enumerate(steps))
    )
    best_full = sign * full >= np.quantile(sign * full, 0.95)
    best_first = sign * values[:, 0] >= np.quantile(sign * values[:, 0], 0.95)
    print(
        f"  of the best 5% at step {steps[0]}, {np.mean(best_full[best_first]):.3f} are among the "
        "best 5% by full value"
    )
    assert np.all(sign * full <= sign * problem.best_full_value + 1e-9)
    assert np.all(seconds > 0)
    share = np.mean(sign * full >= sign * problem.top5_threshold)
    print(f"  share of the random configs in the top 5%: {share:.3f}")
    for config in configs[:20]:
        params = problem.params_of(config)
        assert list(params) == list(problem.space)
        assert all(problem.space[n].contains(v) for n, v in params.items()), params
        assert problem.config_from_params(params) == config, (config, params)
        if isinstance(config, TableConfig):
            assert problem.config_from_params(params, used=[config]) != config
    print("  config_from_params(params of a config) gives that config back; `used` skips it")


def _self_check() -> None:
    rng = np.random.default_rng(0)
    for problem in (hartmann6_mf(), branin_mf()):
        _check(problem, rng, 2000)
        argmin = HARTMANN6_ARGMIN if problem.name.startswith("hartmann") else BRANIN_ARGMIN
        at = problem.full_value(PointConfig(argmin))
        print(f"  full value at the published minimiser {at:.6f}")
        assert abs(at - problem.best_full_value) < 1e-4
        config = problem.random_config(rng)
        assert problem.curve(config, problem.max_steps)[0] == problem.full_value(config)
    noisy = hartmann6_mf(noise_std=0.05)
    config = noisy.random_config(rng)
    assert noisy.curve(config, 5) == noisy.curve(config, 5) != hartmann6_mf().curve(config, 5)
    print("hartmann6-mf with noise_std=0.05: the same (config, step) reads the same value")
    curves, cpu = load_curves(), load_curves(DEFAULT_TABLE, "epoch_cpu_seconds")
    diverged = int(np.sum(curves.accuracy[:, :, -1] < 0.2))
    print(
        f"lc-digits table: {curves.n_configs} configs x {curves.n_seeds} seeds x "
        f"{curves.epochs} epochs, accuracy {curves.accuracy.min():.3f}.."
        f"{curves.accuracy.max():.3f} ({diverged} runs end below 0.2); epoch seconds: wall "
        f"{curves.seconds.min():.3g}..{curves.seconds.max():.3g} "
        f"(total {curves.seconds.sum():.0f}), CPU {cpu.seconds.min():.3g}.."
        f"{cpu.seconds.max():.3g} (total {cpu.seconds.sum():.0f})"
    )
    for seed_index in range(curves.n_seeds):
        _check(lc_digits(seed_index), rng, min(200, curves.n_configs))
    median = np.median(curves.accuracy.mean(axis=1), axis=0)
    print(
        "lc-digits median (over configs) of the seed-mean curve: "
        + ", ".join(f"{e + 1}: {median[e]:.3f}" for e in (0, 2, 8, 17, curves.epochs - 1))
    )
    assert median[-1] > median[8] > median[0]
    problem, taken = lc_digits(1), []
    for _ in range(curves.n_configs + 1):
        params = {
            n: d.to_external(rng.uniform(*d.internal_bounds())) for n, d in problem.space.items()
        }
        taken.append(problem.config_from_params(params, used=taken))
    assert len({c for c in taken[:-1]}) == curves.n_configs and taken[-1] in taken[:-1]
    print(
        f"lc-digits: {curves.n_configs + 1} random proposals with `used` map to all "
        f"{curves.n_configs} rows once, then repeat"
    )


if __name__ == "__main__":
    _self_check()
