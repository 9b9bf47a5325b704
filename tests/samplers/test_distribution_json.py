"""JSON round trips of distributions, decoding errors, and the cross-trial compatibility rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from samplers_strategies import distributions

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IncompatibleDistributionError,
    IntDistribution,
    InvalidDistributionError,
    check_compatible,
    distribution_from_json,
)


def _through_json(distribution: Distribution) -> Distribution:
    return distribution_from_json(json.loads(json.dumps(distribution.to_json(), allow_nan=False)))


@given(distributions)
def test_json_round_trip_gives_an_equal_distribution(distribution: Distribution) -> None:
    again = _through_json(distribution)
    assert again == distribution
    assert type(again) is type(distribution)
    assert again.to_json() == distribution.to_json()


def test_round_trip_keeps_the_type_of_every_choice() -> None:
    distribution = CategoricalDistribution([None, True, 0, 1.0, "1", 2**70])
    again = _through_json(distribution)
    assert isinstance(again, CategoricalDistribution)
    assert [type(c) for c in again.choices] == [type(None), bool, int, float, str, int]


def test_categorical_equality_is_type_aware_as_json_is() -> None:
    assert CategoricalDistribution([True]) != CategoricalDistribution([1])
    assert CategoricalDistribution([1]) != CategoricalDistribution([1.0])
    assert CategoricalDistribution([1, "a"]) != CategoricalDistribution(["a", 1])
    assert CategoricalDistribution((1, "a")) == CategoricalDistribution([1, "a"])
    assert hash(CategoricalDistribution((1, "a"))) == hash(CategoricalDistribution([1, "a"]))
    assert len({CategoricalDistribution([True]), CategoricalDistribution([1])}) == 2


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        (
            FloatDistribution(0, 1, step=0.5),
            {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": 0.5},
        ),
        (
            IntDistribution(1, 8, log=True),
            {"type": "int", "low": 1, "high": 8, "log": True, "step": 1},
        ),
        (CategoricalDistribution(("a", None)), {"type": "categorical", "choices": ["a", None]}),
    ],
)
def test_to_json_format(distribution: Distribution, expected: dict[str, Any]) -> None:
    assert distribution.to_json() == expected


def test_from_json_accepts_ints_for_float_bounds_written_by_other_tools() -> None:
    decoded = distribution_from_json(
        {"type": "float", "low": 0, "high": 2, "log": False, "step": None}
    )
    assert decoded == FloatDistribution(0.0, 2.0)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "uniform", "low": 0, "high": 1}, "'type' is 'uniform'"),
        ({"low": 0, "high": 1}, "'type' is None"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": False}, "missing ['step']"),
        (
            {"type": "int", "low": 0, "high": 1, "log": False, "step": 1, "q": 2},
            "unknown ['q']",
        ),
        ({"type": "categorical", "choices": "ab"}, "'choices' must be a JSON array"),
        ({"type": "categorical", "choices": []}, "no choices"),
        ({"type": "int", "low": 0, "high": 0, "log": False, "step": 1}, "pass low < high"),
        (["float", 0, 1], "is not a JSON object"),
    ],
)
def test_from_json_refuses_malformed_input(data: Any, fragment: str) -> None:
    with pytest.raises(InvalidDistributionError) as info:
        distribution_from_json(data)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (FloatDistribution(0.0, 1.0), FloatDistribution(-5.0, 5.0, step=0.5)),
        (FloatDistribution(0.1, 1.0), FloatDistribution(0.1, 1.0, log=True)),
        (IntDistribution(0, 10), IntDistribution(1, 100, log=True)),
        (IntDistribution(0, 10), IntDistribution(0, 20, step=2)),
        (CategoricalDistribution(["a", 1]), CategoricalDistribution(("a", 1))),
    ],
)
def test_range_log_and_step_may_change_between_trials(old: Distribution, new: Distribution) -> None:
    check_compatible(old, new)


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (FloatDistribution(0.0, 10.0), IntDistribution(0, 10), "keeps its kind"),
        (IntDistribution(0, 1), CategoricalDistribution([0, 1]), "keeps its kind"),
        (CategoricalDistribution(["a"]), FloatDistribution(0.0, 1.0), "keeps its kind"),
        (CategoricalDistribution(["a", "b"]), CategoricalDistribution(["b", "a"]), "choices"),
        (CategoricalDistribution(["a"]), CategoricalDistribution(["a", "b"]), "choices"),
        (CategoricalDistribution([1]), CategoricalDistribution([True]), "choices"),
        (CategoricalDistribution([1]), CategoricalDistribution([1.0]), "choices"),
    ],
)
def test_kind_and_choices_may_not_change(
    old: Distribution, new: Distribution, fragment: str
) -> None:
    with pytest.raises(IncompatibleDistributionError) as info:
        check_compatible(old, new)
    assert isinstance(info.value, ValueError)
    assert fragment in str(info.value)
    assert repr(old) in str(info.value)
    assert "use a new name" in str(info.value)
