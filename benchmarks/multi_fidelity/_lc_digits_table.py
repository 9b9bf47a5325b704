"""LC-Digits as a lookup table: one seed's learning curve per configuration, nearest-config mapping.

The table is written once by `make_lc_digits.py`; this module only reads it (cached per path) and
answers the queries of `_problems.MFProblem`. A configuration is a table row (config id) plus
the seed whose curve a simulated run sees; its full-budget value is the mean over all seeds, so a
scheduler is judged on what it picked, not on the luck of one seed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.feather as feather

from raysweep.samplers import Distribution, FloatDistribution, IntDistribution

DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "lc_digits.arrow"


@dataclass(frozen=True)
class TableConfig:
    """One LC-Digits configuration (`config`, a table id) seen through seed `seed` (an index)."""

    config: int
    seed: int


@dataclass(frozen=True, eq=False)
class LearningCurves:
    """The whole table as arrays: `accuracy[c, s, e]` and `seconds[c, s, e]` of config c, seed
    s after epoch e + 1; `unit[c]` is config c in the normalised unit cube of `space`."""

    accuracy: np.ndarray
    seconds: np.ndarray
    values: dict[str, np.ndarray]
    space: dict[str, Distribution]
    unit: np.ndarray

    @property
    def n_configs(self) -> int:
        """How many configurations the table holds."""
        return int(self.accuracy.shape[0])

    @property
    def n_seeds(self) -> int:
        """How many seeds each configuration was trained with."""
        return int(self.accuracy.shape[1])

    @property
    def epochs(self) -> int:
        """The length of every curve."""
        return int(self.accuracy.shape[2])

    @functools.cached_property
    def full_values(self) -> np.ndarray:
        """Per config, the final-epoch accuracy averaged over the seeds."""
        return np.asarray(self.accuracy[:, :, -1].mean(axis=1), dtype=np.float64)

    def curve(self, config: TableConfig, step: int) -> tuple[float, float]:
        """(validation accuracy, seconds) of epoch `step` of `config`'s seed."""
        return (
            float(self.accuracy[config.config, config.seed, step - 1]),
            float(self.seconds[config.config, config.seed, step - 1]),
        )

    def full_value(self, config: TableConfig) -> float:
        """Mean final accuracy of `config` over all seeds (its seed index does not matter)."""
        return float(self.full_values[config.config])

    def params(self, config: TableConfig) -> dict[str, Any]:
        """The hyperparameters of `config`'s table row (ints for int dimensions)."""
        return {
            name: round(float(self.values[name][config.config]))
            if isinstance(distribution, IntDistribution)
            else float(self.values[name][config.config])
            for name, distribution in self.space.items()
        }

    def random_config(
        self, rng: np.random.Generator, seed: int, used: Collection[TableConfig]
    ) -> TableConfig:
        """A uniformly drawn config id among those not in `used` (among all once all are)."""
        free = self._free(used)
        return TableConfig(int(free[rng.integers(len(free))]), seed)

    def nearest(
        self, params: Mapping[str, Any], seed: int, used: Collection[TableConfig]
    ) -> TableConfig:
        """The config nearest to `params` in the unit cube, skipping `used` while any is left."""
        missing = sorted(set(self.space) - set(params))
        if missing:
            raise ValueError(f"params lack {missing}; pass a value for each of {list(self.space)}")
        point = np.array([_to_unit(d, params[n]) for n, d in self.space.items()])
        free = self._free(used)
        distances = np.sum((self.unit[free] - point) ** 2, axis=1)
        # argmin keeps the lowest id among equally near configs, so the choice is deterministic.
        return TableConfig(int(free[int(np.argmin(distances))]), seed)

    def _free(self, used: Collection[TableConfig]) -> np.ndarray:
        taken = np.zeros(self.n_configs, dtype=bool)
        taken[[c.config for c in used]] = True
        free = np.flatnonzero(~taken)
        return free if len(free) else np.arange(self.n_configs)


def _to_unit(distribution: Distribution, value: Any) -> float:
    """`value`'s search coordinate scaled so the distribution's range spans [0, 1]."""
    if not isinstance(distribution, FloatDistribution | IntDistribution):
        raise TypeError(f"{distribution!r} has no unit coordinate; use float or int dimensions")
    low, high = distribution.internal_bounds()
    return (distribution.to_internal(value) - low) / (high - low)


def _space(metadata: Mapping[bytes, bytes]) -> dict[str, Distribution]:
    """The search space the generator sampled, read back from the table's metadata."""
    spec = json.loads(metadata[b"space"])
    space: dict[str, Distribution] = {}
    for name, (kind, low, high, log) in spec.items():
        if kind == "int":
            space[name] = IntDistribution(int(low), int(high), log=bool(log))
        else:
            space[name] = FloatDistribution(float(low), float(high), log=bool(log))
    return space


@functools.lru_cache(maxsize=4)
def load_curves(path: Path = DEFAULT_TABLE, seconds: str = "epoch_seconds") -> LearningCurves:
    """Read and check the LC-Digits table at `path` (once per path and column), taking each
    epoch's duration from column `seconds` (`epoch_seconds`: wall time, `epoch_cpu_seconds`)."""
    if not path.exists():
        raise ValueError(
            f"{path} does not exist; generate it with "
            "`python -m benchmarks.multi_fidelity.make_lc_digits` or pass its path"
        )
    table = feather.read_table(str(path))
    if seconds not in ("epoch_seconds", "epoch_cpu_seconds") or seconds not in table.schema.names:
        raise ValueError(
            f"{path} has no seconds column {seconds!r}; pass 'epoch_seconds' or "
            "'epoch_cpu_seconds' (regenerate the table if it lacks it)"
        )
    metadata = table.schema.metadata or {}
    space = _space(metadata)
    config = table["config"].to_numpy().astype(np.int64)
    seed = table["seed"].to_numpy().astype(np.int64)
    epoch = table["epoch"].to_numpy().astype(np.int64) - 1
    shape = (int(config.max()) + 1, int(seed.max()) + 1, int(epoch.max()) + 1)
    filled = np.zeros(shape, dtype=np.int64)
    np.add.at(filled, (config, seed, epoch), 1)
    if config.min() < 0 or seed.min() < 0 or epoch.min() < 0 or not np.all(filled == 1):
        raise ValueError(f"{path} is not one row per (config, seed, epoch); regenerate it")
    accuracy = np.empty(shape, dtype=np.float64)
    durations = np.empty(shape, dtype=np.float64)
    accuracy[config, seed, epoch] = table["val_accuracy"].to_numpy()
    durations[config, seed, epoch] = table[seconds].to_numpy()
    values: dict[str, np.ndarray] = {}
    for name in space:
        column = np.empty(shape[0], dtype=np.float64)
        column[config] = table[name].to_numpy()
        values[name] = column
    unit = np.column_stack(
        [[_to_unit(d, values[n][c]) for c in range(shape[0])] for n, d in space.items()]
    )
    return LearningCurves(accuracy, durations, values, space, unit)
