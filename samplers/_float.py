"""The float distribution: a range, optionally log-scaled or on a step grid."""

from __future__ import annotations

import decimal
import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from raysweep.samplers._numeric import (
    NumericRange,
    as_number,
    as_real,
    check_range,
    fail,
    format_call,
    snap_index,
)

# Relative slack when checking that a float step divides the range.
_STEP_TOLERANCE = 1e-9
# A step this small relative to the bounds leaves grid points a few ulps apart, where rounding
# would merge neighbours.
_MIN_RELATIVE_STEP = 1e-12


@dataclass(frozen=True)
class FloatDistribution(NumericRange):
    """Floats in ``[low, high]``; log-uniform when ``log``; on ``low + k * step`` when ``step``.

    The search coordinate (see :meth:`to_internal`) is the value itself, or its natural logarithm
    when ``log``. With a step, ``high`` itself is always on the grid (it must be ``low + n * step``
    up to a relative 1e-9), and interior grid points are rounded to the decimals of ``low`` and
    ``step``, so ``low=0, step=0.1`` yields ``0.3``, not ``0.30000000000000004``.
    """

    json_type: ClassVar[str] = "float"

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        described = format_call(type(self).__name__, self.low, self.high, self.log, self.step)
        low = as_real(described, "low", self.low)
        high = as_real(described, "high", self.high)
        check_range(described, low, high, self.log)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", bool(self.log))
        if self.step is None:
            return
        step = as_real(described, "step", self.step)
        object.__setattr__(self, "step", step)
        if self.log:
            fail(described, "log=True cannot be combined with a step", "drop one of them")
        if step <= 0:
            fail(described, f"step={step!r} is not positive", "pass a step > 0 or step=None")
        width = high - low
        # Bounds typed as decimals carry float error of a few ulps of their magnitude; 0.1 does
        # not divide 1.0 exactly in binary either, and users mean it to.
        slack = _STEP_TOLERANCE * width + 4 * math.ulp(max(abs(low), abs(high)))
        if step - width > slack:
            fail(described, f"step={step!r} exceeds high - low", "pass a smaller step")
        if step < _MIN_RELATIVE_STEP * max(abs(low), abs(high)):
            fail(described, "step is too small to separate values this large", "use step=None")
        count = round(width / step)
        if abs(count * step - width) > slack:
            below = math.floor(width / step)
            decimals = max(_decimal_places(low), _decimal_places(step))
            fail(
                described,
                f"step={step!r} does not divide high - low = {width!r}",
                f"pass high={round(low + below * step, decimals)!r} or a step that divides it",
            )

    @functools.cached_property
    def _last_index(self) -> int:
        assert self.step is not None
        return round((self.high - self.low) / self.step)

    @functools.cached_property
    def _decimals(self) -> int:
        assert self.step is not None
        return max(_decimal_places(self.low), _decimal_places(self.step))

    def _grid_point(self, index: int) -> float:
        assert self.step is not None
        if index >= self._last_index:
            return self.high
        if index <= 0:
            return self.low
        value = round(self.low + index * self.step, self._decimals)
        return min(max(value, self.low), self.high)

    def internal_bounds(self) -> tuple[float, float]:
        """Bounds of the search coordinate; uniform there gives each grid point equal mass."""
        if self.log:
            return (math.log(self.low), math.log(self.high))
        if self.step is not None:
            half = self.step / 2
            return (self.low - half, self.high + half)
        return (self.low, self.high)

    def to_external(self, x: float) -> float:
        """Map a search coordinate to a value: clamped into the range and snapped to the grid.

        Exact inverse of :meth:`to_internal` on contained values, except with ``log``, where
        ``exp(log(v))`` may differ from ``v`` in the last bits (neighbouring floats share a log).
        """
        low, high = self.internal_bounds()
        x = min(max(as_number(x), low), high)
        if self.log:
            return min(max(math.exp(x), self.low), self.high)
        if self.step is None:
            return x
        return self._grid_point(snap_index(x - self.low, self.step, self._last_index))

    def contains(self, value: object) -> bool:
        """Whether ``value`` is a float this distribution can produce (on the grid if stepped)."""
        if not isinstance(value, (float, np.floating)) or not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        index = snap_index(float(value) - self.low, self.step, self._last_index)
        return bool(value == self._grid_point(index))


def _decimal_places(value: float) -> int:
    """Digits after the point in the shortest repr of ``value`` (``0.25`` -> 2, ``1e-05`` -> 5)."""
    exponent = decimal.Decimal(repr(value)).as_tuple().exponent
    assert isinstance(exponent, int)  # finite by validation
    return max(0, -exponent)
