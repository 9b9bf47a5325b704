"""GPSampler's design matrix: parameters as normalized columns, snapped to grids and decoded.

A numeric parameter's column is its internal coordinate scaled by ``internal_bounds`` to [0, 1],
so log scales are handled by the distributions. Ints and stepped floats are relaxed to that
continuous column in the model, and points are snapped to the grid before they are scored, so
the acquisition is judged at the value a trial would really get. A categorical column holds the
index of the choice (the kernel compares indices only for equality).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._gp._kernel import BoolArray, FloatArray
from raysweep.samplers._int import IntDistribution


class Design:
    """The columns of one relative search space, in the order of its names."""

    def __init__(self, space: Mapping[str, Distribution]) -> None:
        self.names = tuple(space)
        self.distributions = tuple(space.values())
        self.bounds = [d.internal_bounds() for d in self.distributions]
        self.is_categorical: BoolArray = np.array(
            [isinstance(d, CategoricalDistribution) for d in self.distributions], dtype=bool
        )
        self.n_choices: npt.NDArray[np.int64] = np.array(
            [
                len(d.choices) if isinstance(d, CategoricalDistribution) else 0
                for d in space.values()
            ],
            dtype=np.int64,
        )

    @property
    def dim(self) -> int:
        return len(self.names)

    def encode(self, params: Mapping[str, Any]) -> FloatArray:
        """A trial's row; a value outside a narrowed range lands outside [0, 1]."""
        row = np.empty(self.dim)
        for i, (name, dist) in enumerate(zip(self.names, self.distributions, strict=True)):
            internal = dist.to_internal(params[name])
            if isinstance(dist, CategoricalDistribution):
                row[i] = internal
            else:
                low, high = self.bounds[i]
                row[i] = (internal - low) / (high - low)
        return row

    def decode(self, row: FloatArray) -> dict[str, Any]:
        """External values of a row; every value is contained in its distribution."""
        params: dict[str, Any] = {}
        for i, (name, dist) in enumerate(zip(self.names, self.distributions, strict=True)):
            if isinstance(dist, CategoricalDistribution):
                params[name] = dist.to_external(float(row[i]))
            else:
                low, high = self.bounds[i]
                params[name] = dist.to_external(
                    low + min(max(float(row[i]), 0.0), 1.0) * (high - low)
                )
        return params

    def from_unit(self, unit: FloatArray) -> FloatArray:
        """Rows from points of the unit cube: categorical columns pick a choice uniformly."""
        rows = unit.copy()
        cat = self.is_categorical
        rows[:, cat] = np.minimum(
            np.floor(unit[:, cat] * self.n_choices[cat]), self.n_choices[cat] - 1
        )
        return rows

    def snap(self, rows: FloatArray) -> FloatArray:
        """Rows clipped to [0, 1] with grid columns moved to the nearest grid point."""
        rows = rows.copy()
        for i, dist in enumerate(self.distributions):
            if isinstance(dist, CategoricalDistribution):
                continue
            low, high = self.bounds[i]
            column = np.clip(rows[:, i], 0.0, 1.0)
            internal = low + column * (high - low)
            if isinstance(dist, IntDistribution) and dist.log:
                # Rounded in value space, as IntDistribution.to_external does.
                value = np.clip(np.floor(np.exp(internal) + 0.5), dist.low, dist.high)
                internal = np.log(value)
            elif isinstance(dist, IntDistribution) or (
                isinstance(dist, FloatDistribution) and dist.step is not None
            ):
                step = float(dist.step) if dist.step is not None else 1.0
                last = round((dist.high - dist.low) / step)
                index = np.clip(np.floor((internal - dist.low) / step + 0.5), 0, last)
                internal = dist.low + index * step
            rows[:, i] = (internal - low) / (high - low)
        return rows

    def neighbours(self, row: FloatArray) -> FloatArray:
        """Rows that differ from ``row`` in the choice of exactly one categorical column."""
        result = []
        for i in np.flatnonzero(self.is_categorical):
            for choice in range(int(self.n_choices[i])):
                if choice != row[i]:
                    other = row.copy()
                    other[i] = choice
                    result.append(other)
        return np.array(result).reshape(len(result), self.dim)
