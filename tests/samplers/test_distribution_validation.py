"""Every invalid distribution is refused on construction, with a message that says what to fix."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import numpy as np
import pytest

from raysweep.samplers import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    InvalidDistributionError,
)


class Color(enum.IntEnum):
    RED = 1


INVALID: list[tuple[Callable[[], object], list[str]]] = [
    (lambda: FloatDistribution(1.0, 1.0), ["low=1.0", "high=1.0", "pass low < high"]),
    (lambda: FloatDistribution(2.0, 1.0), ["low=2.0", "not less than high=1.0"]),
    (lambda: IntDistribution(3, 3), ["low=3", "pass low < high"]),
    (lambda: FloatDistribution(0.0, math.inf), ["high=inf", "not finite"]),
    (lambda: FloatDistribution(math.nan, 1.0), ["low=nan", "not finite"]),
    (lambda: FloatDistribution(-1e308, 1e308), ["overflows", "narrow the range"]),
    (lambda: IntDistribution(True, 3), ["low=True", "is a bool", "pass an int"]),
    (lambda: IntDistribution(0, 5, step=True), ["step=True", "is a bool"]),
    (lambda: FloatDistribution(False, 1.0), ["low=False", "not a number"]),
    (lambda: IntDistribution(0, 2.5), ["high=2.5", "not an int"]),  # type: ignore[arg-type]
    (lambda: IntDistribution(0, 2**60), ["2**53", "narrow the range"]),
    (lambda: FloatDistribution("0", 1.0), ["low='0'", "not a number"]),  # type: ignore[arg-type]
    (lambda: FloatDistribution(0.0, 1.0, log=True), ["log=True needs low > 0", "low=0.0"]),
    (lambda: IntDistribution(-3, 5, log=True), ["log=True needs low > 0", "low=-3"]),
    (lambda: FloatDistribution(0.0, 1.0, log=1), ["log=1", "pass log=True or log=False"]),  # type: ignore[arg-type]
    (lambda: FloatDistribution(1.0, 2.0, log=True, step=0.5), ["log=True", "step", "drop one"]),
    (lambda: IntDistribution(1, 10, log=True, step=3), ["log=True needs step=1", "step=3"]),
    (lambda: FloatDistribution(0.0, 1.0, step=0.0), ["step=0.0", "not positive"]),
    (lambda: FloatDistribution(0.0, 1.0, step=-0.5), ["step=-0.5", "not positive"]),
    (lambda: IntDistribution(0, 10, step=0), ["step=0", "not positive", "step >= 1"]),
    (lambda: IntDistribution(0, 10, step=-2), ["step=-2", "not positive"]),
    (lambda: FloatDistribution(0.0, 1.0, step=2.0), ["step=2.0 exceeds high - low"]),
    (lambda: FloatDistribution(0.0, 1.0, step=0.3), ["does not divide", "pass high=0.9"]),
    (lambda: FloatDistribution(1e9, 2e9, step=1e-4), ["too small", "step=None"]),
    (lambda: IntDistribution(0, 10, step=3), ["step=3 does not divide", "pass high=9"]),
    (lambda: CategoricalDistribution([]), ["no choices", "at least one"]),
    (lambda: CategoricalDistribution("abc"), ["not a sequence", "list or tuple"]),
    (lambda: CategoricalDistribution([1, [2]]), ["choice 1", "list", "not a JSON scalar"]),  # type: ignore[list-item]
    (lambda: CategoricalDistribution([{"a": 1}]), ["choice 0", "dict", "not a JSON scalar"]),  # type: ignore[list-item]
    (lambda: CategoricalDistribution([object()]), ["choice 0", "object"]),  # type: ignore[list-item]
    (lambda: CategoricalDistribution([Color.RED]), ["Color", "enum's .value"]),
    (lambda: CategoricalDistribution([1.0, math.nan]), ["choice 1", "nan", "not a finite"]),
    (lambda: CategoricalDistribution([-math.inf]), ["-inf", "not a finite"]),
    (lambda: CategoricalDistribution(["a", "b", "a"]), ["choices 0 ('a') and 2 ('a')", "remove"]),
    (lambda: CategoricalDistribution([1, 1.0]), ["choices 0 (1) and 1 (1.0)", "same JSON value"]),
    (lambda: CategoricalDistribution([0.0, -0.0]), ["choices 0 (0.0) and 1 (-0.0)"]),
    (lambda: CategoricalDistribution([None, None]), ["choices 0 (None) and 1 (None)"]),
]


@pytest.mark.parametrize(("build", "fragments"), INVALID)
def test_invalid_distribution_is_refused_with_a_helpful_message(
    build: Callable[[], object], fragments: list[str]
) -> None:
    with pytest.raises(InvalidDistributionError) as info:
        build()
    assert isinstance(info.value, ValueError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_message_names_the_distribution_as_written() -> None:
    with pytest.raises(InvalidDistributionError, match=r"^IntDistribution\(low=5, high=1, "):
        IntDistribution(5, 1)


@pytest.mark.parametrize(
    "build",
    [
        lambda: FloatDistribution(0.0, 1.0, step=0.1),
        lambda: FloatDistribution(0.0, 0.3, step=0.1),  # 0.3 / 0.1 = 2.9999999999999996
        lambda: FloatDistribution(10000.0, 10000.0001, step=0.0001),
        lambda: FloatDistribution(-1.0, 1.0, step=1 / 3 * 2),
        lambda: FloatDistribution(1e-8, 1.0, log=True),
        lambda: IntDistribution(1, 2, log=True),
        lambda: IntDistribution(-(2**53), 2**53),
        lambda: IntDistribution(0, 10, step=5),
        lambda: CategoricalDistribution([None, True, 1, 1.5, "1", ""]),
        lambda: CategoricalDistribution([False, 0]),
    ],
)
def test_valid_edge_cases_are_accepted(build: Callable[[], object]) -> None:
    build()


def test_bounds_are_normalized_to_the_declared_types() -> None:
    floats = FloatDistribution(np.int64(0), 2, step=1)  # type: ignore[arg-type]
    assert (type(floats.low), type(floats.high), type(floats.step)) == (float, float, float)
    ints = IntDistribution(np.int64(1), np.int32(9), log=np.bool_(True))  # type: ignore[arg-type]
    assert (type(ints.low), type(ints.high), ints.log) == (int, int, True)
    assert ints == IntDistribution(1, 9, log=True)


def test_categorical_accepts_any_iterable_and_stores_builtin_scalars() -> None:
    distribution = CategoricalDistribution(np.array([0.5, 1.5]))
    assert distribution.choices == (0.5, 1.5)
    assert all(type(choice) is float for choice in distribution.choices)
    assert CategoricalDistribution(iter(["a"])).choices == ("a",)


def test_distributions_are_frozen() -> None:
    with pytest.raises(AttributeError):
        FloatDistribution(0.0, 1.0).low = 0.5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        CategoricalDistribution(["a"]).choices = ("b",)  # type: ignore[misc]
