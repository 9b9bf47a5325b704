"""The search coordinate: round trips, bounds, clamping, fairness of the grid, and ``contains``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from samplers_strategies import (
    categoricals,
    distributions,
    ints,
    linear_floats,
    log_floats,
    log_ints,
    stepped_floats,
)
from scipy import stats

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)


def _external_type(distribution: Distribution) -> type:
    return float if isinstance(distribution, FloatDistribution) else int


@given(distributions, st.floats(0.0, 1.0))
def test_every_point_of_the_internal_bounds_maps_to_a_contained_value(
    distribution: Distribution, fraction: float
) -> None:
    low, high = distribution.internal_bounds()
    assert low < high
    value = distribution.to_external(low + fraction * (high - low))
    assert distribution.contains(value)
    if not isinstance(distribution, CategoricalDistribution):
        assert type(value) is _external_type(distribution)


@given(st.one_of(linear_floats(), stepped_floats(), ints(), log_ints()), st.floats(0.0, 1.0))
def test_round_trip_is_exact_for_produced_values(
    distribution: FloatDistribution | IntDistribution, fraction: float
) -> None:
    low, high = distribution.internal_bounds()
    value: Any = distribution.to_external(low + fraction * (high - low))
    again = distribution.to_external(distribution.to_internal(value))
    assert again == value
    assert type(again) is type(value)


@given(log_floats(), st.floats(0.0, 1.0))
def test_log_float_round_trip_is_exact_up_to_the_last_bits(
    distribution: FloatDistribution, fraction: float
) -> None:
    # exp(log(v)) need not be v: neighbouring floats can share a logarithm.
    value = distribution.low + fraction * (distribution.high - distribution.low)
    value = min(value, distribution.high)
    assert distribution.contains(value)
    again = distribution.to_external(distribution.to_internal(value))
    assert math.isclose(again, value, rel_tol=1e-13)
    assert distribution.contains(again)


@given(ints(), st.data())
def test_every_int_on_the_grid_round_trips(
    distribution: IntDistribution, data: st.DataObject
) -> None:
    count = (distribution.high - distribution.low) // distribution.step
    value = distribution.low + data.draw(st.integers(0, count)) * distribution.step
    assert distribution.contains(value)
    assert distribution.to_external(distribution.to_internal(value)) == value


@given(categoricals)
def test_every_choice_round_trips_with_its_type(distribution: CategoricalDistribution) -> None:
    for index, choice in enumerate(distribution.choices):
        assert distribution.to_internal(choice) == index
        again = distribution.to_external(distribution.to_internal(choice))
        assert type(again) is type(choice)
        assert again == choice


@given(linear_floats(), st.floats(0.0, 1.0))
def test_any_float_inside_a_linear_range_is_contained_and_kept(
    distribution: FloatDistribution, fraction: float
) -> None:
    value = min(
        distribution.low + fraction * (distribution.high - distribution.low), distribution.high
    )
    assert distribution.contains(value)
    assert distribution.to_external(distribution.to_internal(value)) == value


def test_step_grid_points_are_the_decimals_users_wrote() -> None:
    distribution = FloatDistribution(0.0, 1.0, step=0.1)
    grid = [distribution.to_external(k * 0.1) for k in range(11)]
    assert grid == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert distribution.contains(0.3)
    assert not distribution.contains(0.1 * 3)  # 0.30000000000000004 is not a grid point
    assert not distribution.contains(0.35)
    assert FloatDistribution(-0.5, 0.25, step=0.25).to_external(0.1) == 0.0


@pytest.mark.parametrize(
    ("distribution", "bounds"),
    [
        (FloatDistribution(-1.0, 3.0), (-1.0, 3.0)),
        (FloatDistribution(1.0, math.e, log=True), (0.0, 1.0)),
        (FloatDistribution(0.0, 1.0, step=0.25), (-0.125, 1.125)),
        (IntDistribution(0, 4), (-0.5, 4.5)),
        (IntDistribution(0, 10, step=5), (-2.5, 12.5)),
        (IntDistribution(1, 9, log=True), (math.log(0.5), math.log(9.5))),
        (CategoricalDistribution(["a", "b", "c"]), (-0.5, 2.5)),
    ],
)
def test_internal_bounds(distribution: Distribution, bounds: tuple[float, float]) -> None:
    assert distribution.internal_bounds() == pytest.approx(bounds)


@pytest.mark.parametrize(
    ("distribution", "x", "expected"),
    [
        (FloatDistribution(0.0, 1.0), -5.0, 0.0),
        (FloatDistribution(0.0, 1.0), 7.0, 1.0),
        (FloatDistribution(1.0, 10.0, log=True), 1e6, 10.0),
        (FloatDistribution(1.0, 10.0, log=True), -1e6, 1.0),
        (FloatDistribution(0.0, 1.0, step=0.5), 0.74, 0.5),
        (FloatDistribution(0.0, 1.0, step=0.5), 0.76, 1.0),
        (IntDistribution(0, 10, step=5), 7.6, 10),
        (IntDistribution(0, 10, step=5), -100.0, 0),
        (IntDistribution(1, 100, log=True), 1e300, 100),
        (IntDistribution(1, 100, log=True), math.log(2.6), 3),
        (CategoricalDistribution(["a", "b"]), 9.0, "b"),
        (CategoricalDistribution(["a", "b"]), -9.0, "a"),
        (CategoricalDistribution(["a", "b"]), 0.51, "b"),
    ],
)
def test_to_external_clamps_and_snaps(
    distribution: Distribution, x: float, expected: object
) -> None:
    assert distribution.to_external(x) == expected


@pytest.mark.parametrize(
    "distribution",
    [
        FloatDistribution(0.0, 1.0),
        IntDistribution(0, 3),
        CategoricalDistribution(["a"]),
    ],
)
def test_to_external_refuses_nan(distribution: Distribution) -> None:
    with pytest.raises(ValueError, match="NaN"):
        distribution.to_external(math.nan)


def test_to_internal_maps_out_of_range_values_and_refuses_other_kinds() -> None:
    # A value from an earlier trial may lie outside a narrowed range; it is still a coordinate.
    assert FloatDistribution(0.0, 1.0).to_internal(3.0) == 3.0
    assert IntDistribution(1, 10, log=True).to_internal(100) == pytest.approx(math.log(100))
    with pytest.raises(ValueError, match="no logarithm"):
        FloatDistribution(1.0, 2.0, log=True).to_internal(-1.0)
    with pytest.raises(ValueError, match="not a number"):
        IntDistribution(0, 3).to_internal("2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a number"):
        IntDistribution(0, 3).to_internal(True)
    with pytest.raises(ValueError, match="not one of the choices"):
        CategoricalDistribution(["a"]).to_internal("b")
    with pytest.raises(ValueError, match="not one of the choices"):
        CategoricalDistribution([1]).to_internal(True)


@pytest.mark.parametrize(
    ("distribution", "value", "expected"),
    [
        (FloatDistribution(0.0, 1.0), 0.5, True),
        (FloatDistribution(0.0, 1.0), 1.0, True),
        (FloatDistribution(0.0, 1.0), np.float64(0.5), True),
        (FloatDistribution(0.0, 1.0), 1, False),  # an int is not what a float parameter yields
        (FloatDistribution(0.0, 1.0), 1.5, False),
        (FloatDistribution(0.0, 1.0), math.nan, False),
        (FloatDistribution(0.0, 1.0), "0.5", False),
        (FloatDistribution(0.0, 1.0, step=0.5), 0.5, True),
        (FloatDistribution(0.0, 1.0, step=0.5), 0.25, False),
        (IntDistribution(0, 10, step=2), 4, True),
        (IntDistribution(0, 10, step=2), np.int64(4), True),
        (IntDistribution(0, 10, step=2), 5, False),
        (IntDistribution(0, 10, step=2), 4.0, False),
        (IntDistribution(0, 10, step=2), 12, False),
        (IntDistribution(0, 1), True, False),
        (CategoricalDistribution([1, "a", None]), 1, True),
        (CategoricalDistribution([1, "a", None]), None, True),
        (CategoricalDistribution([1, "a", None]), 1.0, False),
        (CategoricalDistribution([1, "a", None]), True, False),
        (CategoricalDistribution([1, "a", None]), "b", False),
        (CategoricalDistribution([1, "a", None]), [1], False),
        (CategoricalDistribution([False]), 0, False),
    ],
)
def test_contains(distribution: Distribution, value: object, expected: bool) -> None:
    assert distribution.contains(value) is expected


def test_to_internal_finds_a_number_choice_across_int_and_float() -> None:
    # 1 and 1.0 are one JSON number (and cannot both be choices); True is not that number.
    assert CategoricalDistribution(["x", 1]).to_internal(1.0) == 1.0


def _uniform_draws(distribution: Distribution, size: int) -> list[object]:
    rng = np.random.default_rng(12345)
    low, high = distribution.internal_bounds()
    return [distribution.to_external(x) for x in rng.uniform(low, high, size)]


@pytest.mark.parametrize(
    ("distribution", "values"),
    [
        (IntDistribution(0, 4), [0, 1, 2, 3, 4]),
        (IntDistribution(-6, 6, step=3), [-6, -3, 0, 3, 6]),
        (FloatDistribution(0.0, 1.0, step=0.25), [0.0, 0.25, 0.5, 0.75, 1.0]),
        (CategoricalDistribution(["a", "b", "c"]), ["a", "b", "c"]),
    ],
)
def test_uniform_coordinates_give_every_value_equal_probability(
    distribution: Distribution, values: list[object]
) -> None:
    draws = _uniform_draws(distribution, 20_000)
    counts = [draws.count(v) for v in values]
    assert sum(counts) == len(draws)
    # Without the half-step margins the end values would get half the mass: p would be ~0.
    assert stats.chisquare(counts).pvalue > 1e-3


def test_log_int_values_get_log_uniform_mass() -> None:
    distribution = IntDistribution(1, 8, log=True)
    draws = _uniform_draws(distribution, 20_000)
    values = range(1, 9)
    widths = [math.log((v + 0.5) / (v - 0.5)) for v in values]
    expected = [len(draws) * w / sum(widths) for w in widths]
    counts = [draws.count(v) for v in values]
    assert stats.chisquare(counts, expected).pvalue > 1e-3
