"""The int distribution: a range of ints, optionally log-scaled or on a step grid."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from raysweep.samplers._numeric import (
    NumericRange,
    as_int,
    as_number,
    check_range,
    fail,
    format_call,
    snap_index,
)


@dataclass(frozen=True)
class IntDistribution(NumericRange):
    """Ints ``low, low + step, ..., high``; log-uniform over ``low..high`` when ``log``.

    The search coordinate (see :meth:`to_internal`) is the value as a float, or its natural
    logarithm when ``log``. Its bounds reach half a step past each end, so that rounding a uniform
    coordinate gives every int the same probability (each int the same log-width when ``log``).
    """

    json_type: ClassVar[str] = "int"

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        described = format_call(type(self).__name__, self.low, self.high, self.log, self.step)
        low = as_int(described, "low", self.low)
        high = as_int(described, "high", self.high)
        step = as_int(described, "step", self.step)
        check_range(described, low, high, self.log)
        if step <= 0:
            fail(described, f"step={step} is not positive", "pass a step >= 1")
        if self.log and step != 1:
            fail(described, "log=True needs step=1", "drop the step or set log=False")
        if (high - low) % step:
            fail(
                described,
                f"step={step} does not divide high - low = {high - low}",
                f"pass high={low + (high - low) // step * step} or a step that divides the range",
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", bool(self.log))
        object.__setattr__(self, "step", step)

    def internal_bounds(self) -> tuple[float, float]:
        """Bounds of the search coordinate, half a step beyond each end value."""
        half = self.step / 2
        if self.log:
            return (math.log(self.low - half), math.log(self.high + half))
        return (self.low - half, self.high + half)

    def to_external(self, x: float) -> int:
        """Map a search coordinate to the nearest int of the grid, clamped into the range."""
        low, high = self.internal_bounds()
        x = min(max(as_number(x), low), high)
        if self.log:
            # Rounding in value space, not log space, matches the bounds' half-step extension.
            return min(max(math.floor(math.exp(x) + 0.5), self.low), self.high)
        last = (self.high - self.low) // self.step
        return self.low + snap_index(x - self.low, self.step, last) * self.step

    def contains(self, value: object) -> bool:
        """Whether ``value`` is an int (not a bool) of the range, on the grid."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            return False
        value = int(value)
        return self.low <= value <= self.high and (value - self.low) % self.step == 0
