"""The coordinates TPE's Parzen estimators work in, for one group of parameters.

Every numeric parameter is mapped from its internal coordinate (``to_internal``: the value, or its
logarithm) onto ``[0, 1]`` by its ``internal_bounds()``. Working on the unit interval makes one
bandwidth rule fit every range and keeps the kernel arithmetic well conditioned (no cancellation
between huge coordinates and tiny bandwidths). Int and stepped floats are *discrete*: each value
owns the cell of internal coordinates that round to it, the cells tile ``[0, 1]``, and a kernel's
probability for a value is its mass over that cell. Categorical parameters keep their choice index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr

from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._int import IntDistribution


class ParzenSpace:
    """The layout of a group's columns: which are continuous, discrete or categorical."""

    def __init__(
        self, distributions: Sequence[Distribution], names: Sequence[str] | None = None
    ) -> None:
        self.distributions = tuple(distributions)
        self.names = (
            tuple(names) if names is not None else tuple(map(str, range(len(distributions))))
        )
        numeric = [i for i, d in enumerate(distributions) if not _is_categorical(d)]
        self.numeric = np.array(numeric, dtype=np.intp)
        self.categorical = np.array(
            [i for i, d in enumerate(distributions) if _is_categorical(d)], dtype=np.intp
        )
        self.n_choices = np.array(
            [len(d.choices) for d in distributions if isinstance(d, CategoricalDistribution)],
            dtype=np.intp,
        )
        bounds = np.array([distributions[i].internal_bounds() for i in numeric]).reshape(-1, 2)
        self.low = bounds[:, 0]
        self.width = bounds[:, 1] - bounds[:, 0]
        # Positions within the numeric columns.
        self.discrete = np.array(
            [k for k, i in enumerate(numeric) if _step_of(distributions[i]) is not None],
            dtype=np.intp,
        )
        self.continuous = np.array(
            [k for k, i in enumerate(numeric) if _step_of(distributions[i]) is None],
            dtype=np.intp,
        )
        # A discrete kernel narrower than half a cell would put almost all its mass on one value
        # however far the data spread: the floor keeps neighbouring values reachable.
        self.half_cell = np.zeros(len(numeric))
        for k in self.discrete:
            self.half_cell[k] = 0.5 / _n_values(distributions[numeric[k]])

    @property
    def size(self) -> int:
        return len(self.distributions)

    def encode(self, column: int, internal: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """Internal coordinates of one column (NaN = missing) to estimator coordinates; with
        ``copy=False`` a float64 ``internal`` is converted in place."""
        result = np.array(internal, dtype=np.float64, copy=copy or None)
        where = np.flatnonzero(self.numeric == column)
        if len(where):
            k = int(where[0])
            result -= self.low[k]
            result /= self.width[k]
            np.clip(result, 0.0, 1.0, out=result)
        return result

    def encode_points(self, internal: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """``(n, size)`` internal coordinates (NaN = missing) to estimator coordinates; with
        ``copy=False`` a float64 ``internal`` is converted in place."""
        result = np.array(internal, dtype=np.float64, copy=copy or None).reshape(-1, self.size)
        every = len(self.numeric) == self.size
        numeric = result if every else result[:, self.numeric]
        numeric -= self.low
        numeric /= self.width
        np.clip(numeric, 0.0, 1.0, out=numeric)
        if not every:
            result[:, self.numeric] = numeric
        return result

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Move each discrete coordinate of ``points`` (in place) to its value's grid position."""
        for k in self.discrete:
            column = self.numeric[k]
            internal = self.low[k] + points[:, column] * self.width[k]
            snapped = _snap(self.distributions[column], internal)
            points[:, column] = (snapped - self.low[k]) / self.width[k]
        return points

    def cells(self, k: int, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cells ``[lo, hi]`` (unit coordinates) of snapped values of numeric column ``k``."""
        distribution = self.distributions[self.numeric[k]]
        internal = self.low[k] + unit * self.width[k]
        step = _step_of(distribution)
        assert step is not None
        if distribution.log:
            value = np.exp(internal)
            lo, hi = np.log(value - step / 2), np.log(value + step / 2)
        else:
            lo, hi = internal - step / 2, internal + step / 2
        return (lo - self.low[k]) / self.width[k], (hi - self.low[k]) / self.width[k]

    def decode(self, point: np.ndarray) -> list[Any]:
        """One point in estimator coordinates to external values, one per distribution."""
        values: list[Any] = []
        numeric_position = {int(i): k for k, i in enumerate(self.numeric)}
        for column, distribution in enumerate(self.distributions):
            x = float(point[column])
            if column in numeric_position:
                k = numeric_position[column]
                x = float(self.low[k] + x * self.width[k])
            values.append(distribution.to_external(x))
        return values


def _is_categorical(distribution: Distribution) -> bool:
    return isinstance(distribution, CategoricalDistribution)


def _step_of(distribution: Distribution) -> float | None:
    """The grid spacing in internal units before any log (None for a continuous float)."""
    if isinstance(distribution, IntDistribution):
        return float(distribution.step)
    if isinstance(distribution, FloatDistribution):
        return distribution.step
    return None


def _n_values(distribution: Distribution) -> int:
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    step = _step_of(distribution)
    assert step is not None
    return round((distribution.high - distribution.low) / step) + 1


def _snap(distribution: Distribution, internal: np.ndarray) -> np.ndarray:
    """Vectorized ``to_internal(to_external(x))`` for a discrete distribution."""
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    step = _step_of(distribution)
    assert step is not None
    if distribution.log:
        value = np.floor(np.exp(internal) + 0.5)
        result: np.ndarray = np.log(np.clip(value, distribution.low, distribution.high))
        return result
    last = _n_values(distribution) - 1
    index = np.clip(np.floor((internal - distribution.low) / step + 0.5), 0, last)
    snapped: np.ndarray = distribution.low + index * step
    if isinstance(distribution, FloatDistribution):
        # The grid's own rounding (to the decimals of low and step) is applied when the chosen
        # point is decoded; here the last point must still be exactly ``high``.
        snapped = np.where(index >= last, distribution.high, snapped)
    return snapped


def log_mass(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(Phi(hi) - Phi(lo))`` for standardized ``lo <= hi``, accurate in both tails."""
    upper = lo > 0.0
    # In the upper tail Phi(hi) - Phi(lo) is a difference of numbers near 1: mirror it, as
    # Phi(-lo) - Phi(-hi). The mirroring is chosen before ndtr: two calls, not four.
    mass = ndtr(np.where(upper, -lo, hi))
    mass -= ndtr(np.where(upper, -hi, lo))
    np.maximum(mass, _TINY, out=mass)
    result: np.ndarray = np.log(mass, out=mass)
    return result


_TINY = math.ldexp(1.0, -1000)
