"""What the numeric distributions share: their search coordinate, JSON form and validation.

Each check raises :class:`InvalidDistributionError` with the distribution as the user wrote it and
what to change, because the message is usually read far from the line that built it.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from typing import Any, ClassVar, NoReturn

import numpy as np

from raysweep.samplers._errors import InvalidDistributionError

# Ints are sampled through a float search coordinate; past 2**53 neighbouring ints share a float.
MAX_EXACT_INT = 2**53


class NumericRange:
    """The base of the float and int distributions (frozen dataclasses of ``low``, ``high``,
    ``log`` and ``step``): the search coordinate is the value itself, or its natural logarithm
    when ``log``, and the JSON form is ``json_type`` and every field, in declaration order.
    """

    json_type: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    log: bool

    def to_internal(self, value: float) -> float:
        """The search coordinate of ``value``; values outside the range are mapped, not refused."""
        result = as_number(value)
        if not self.log:
            return result
        if result <= 0:
            raise ValueError(f"{value!r} has no logarithm; {self!r} needs a positive value")
        return math.log(result)

    def to_json(self) -> dict[str, Any]:
        fields = dataclasses.fields(self)
        return {"type": self.json_type, **{f.name: getattr(self, f.name) for f in fields}}


def fail(described: str, problem: str, fix: str) -> NoReturn:
    raise InvalidDistributionError(f"{described}: {problem}; {fix}")


def as_real(described: str, name: str, value: object) -> float:
    """Return a finite float bound or step, refusing bools, which Python would treat as 0/1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        fail(described, f"{name}={value!r} is not a number", f"pass an int or float as {name}")
    result = float(value)
    if not math.isfinite(result):
        fail(described, f"{name}={value!r} is not finite", f"pass a finite {name}")
    return result


def as_int(described: str, name: str, value: object) -> int:
    """Return an int bound or step; floats are refused rather than silently truncated."""
    if isinstance(value, (bool, np.bool_)):
        fail(described, f"{name}={value!r} is a bool", f"pass an int as {name}")
    try:
        result = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        fail(described, f"{name}={value!r} is not an int", f"pass an int as {name}")
    if abs(result) > MAX_EXACT_INT:
        fail(
            described,
            f"{name}={result} is beyond ±2**53, where floats no longer hold every int",
            "narrow the range, or encode the value (e.g. sample its logarithm)",
        )
    return result


def check_range(described: str, low: float, high: float, log: object) -> None:
    if not isinstance(log, (bool, np.bool_)):
        fail(described, f"log={log!r} is not a bool", "pass log=True or log=False")
    if not low < high:
        fail(
            described,
            f"low={low!r} is not less than high={high!r}",
            "pass low < high (for a single fixed value use a CategoricalDistribution of it)",
        )
    if not math.isfinite(high - low):
        fail(described, "high - low overflows a float", "narrow the range or use log=True")
    if log and low <= 0:
        fail(described, f"log=True needs low > 0, got low={low!r}", "raise low above 0")


def format_call(cls_name: str, low: object, high: object, log: object, step: object) -> str:
    return f"{cls_name}(low={low!r}, high={high!r}, log={log!r}, step={step!r})"


def snap_index(offset: float, step: float, last: int) -> int:
    """The grid index nearest to ``offset`` (a distance from low), clamped to ``0..last``."""
    index = math.floor(offset / step + 0.5)
    return min(max(index, 0), last)


def as_number(value: object) -> float:
    """A value or search coordinate as a float, refusing non-numbers and NaN with ``ValueError``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"{value!r} is not a number")
    result = float(value)
    if math.isnan(result):
        raise ValueError("NaN is not a value of any distribution")
    return result
