"""QMCSampler: trial n takes point n of a seeded, scrambled low-discrepancy sequence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samplers_strategies import distributions
from scipy.stats import qmc

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    QMCSampler,
    SamplingContext,
    StudyDirection,
)
from raysweep.samplers._qmc import QMCType, _engine, qmc_point

SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "layers": IntDistribution(1, 8),
    "units": IntDistribution(16, 1024, log=True),
    "act": CategoricalDistribution(["relu", "gelu", "tanh"]),
}
UNIT_SQUARE: dict[str, Distribution] = {
    "x": FloatDistribution(0.0, 1.0),
    "y": FloatDistribution(0.0, 1.0),
}
TYPES: list[QMCType] = ["sobol", "halton"]


def _context(
    number: int, seen: Mapping[str, Distribution] | None = None, seed: int = 0
) -> SamplingContext:
    return SamplingContext(seed, number, (StudyDirection.MINIMIZE,), [], seen=dict(seen or {}))


def _joint(
    sampler: QMCSampler, number: int, space: Mapping[str, Distribution], seed: int = 0
) -> dict[str, Any]:
    context = _context(number, space, seed)
    return sampler.sample_relative(context, sampler.infer_relative_search_space(context))


def _in_each_interval(values: list[float]) -> bool:
    """Whether ``len(values)`` points fall one in each equal interval of [0, 1)."""
    cells = np.floor(np.asarray(values) * len(values)).astype(int)
    return sorted(cells.tolist()) == list(range(len(values)))


@pytest.mark.parametrize("qmc_type", TYPES)
def test_same_seed_and_trial_give_the_same_values_whatever_was_cached(qmc_type: QMCType) -> None:
    first = [_joint(QMCSampler(qmc_type=qmc_type), n, SPACE) for n in (5, 0, 3)]
    _engine.cache_clear()
    again = [_joint(QMCSampler(qmc_type=qmc_type, seed=9), n, SPACE) for n in (3, 5, 0)]
    assert first == [again[1], again[2], again[0]]
    sampler = QMCSampler(qmc_type=qmc_type)
    independent = [sampler.sample_independent(_context(n), "lr", SPACE["lr"]) for n in range(3)]
    assert independent == [
        sampler.sample_independent(_context(n), "lr", SPACE["lr"]) for n in range(3)
    ]


@pytest.mark.parametrize("qmc_type", TYPES)
def test_other_seeds_give_other_points(qmc_type: QMCType) -> None:
    sampler = QMCSampler(qmc_type=qmc_type)
    assert _joint(sampler, 4, UNIT_SQUARE, seed=0) != _joint(sampler, 4, UNIT_SQUARE, seed=1)
    x = UNIT_SQUARE["x"]
    assert sampler.sample_independent(_context(4, seed=0), "x", x) != sampler.sample_independent(
        _context(4, seed=1), "x", x
    )


def test_without_scrambling_the_sequence_is_the_textbook_one() -> None:
    sampler = QMCSampler(scramble=False)
    points = [tuple(_joint(sampler, n, UNIT_SQUARE, seed=s).values()) for n, s in ((1, 0), (2, 5))]
    assert points == [(0.5, 0.5), (0.75, 0.25)]


@settings(max_examples=60, deadline=None)
@given(
    distributions,
    st.sampled_from(TYPES),
    st.booleans(),
    st.integers(0, 2**32),
    st.integers(0, 10**5),
)
def test_values_are_inside_the_distribution(
    distribution: Distribution, qmc_type: QMCType, scramble: bool, seed: int, trial: int
) -> None:
    sampler = QMCSampler(qmc_type=qmc_type, scramble=scramble)
    space = {"a": distribution, "b": SPACE["layers"], "c": SPACE["act"]}
    joint = _joint(sampler, trial, space, seed)
    assert joint.keys() == space.keys()
    assert all(space[name].contains(value) for name, value in joint.items())
    assert distribution.contains(
        sampler.sample_independent(_context(trial, seed=seed), "a", distribution)
    )


@pytest.mark.parametrize("scramble", [True, False])
def test_the_first_power_of_two_joint_points_form_a_sobol_net(scramble: bool) -> None:
    k = 6
    sampler = QMCSampler(scramble=scramble, seed=3)
    points = np.array([list(_joint(sampler, n, UNIT_SQUARE, seed=3).values()) for n in range(2**k)])
    # A (0, k, 2)-net: every dyadic box of area 2^-k holds exactly one point, which includes one
    # point in each of the 2^k equal intervals of each axis.
    for a in range(k + 1):
        cells = np.floor(points * [2**a, 2 ** (k - a)]).astype(int)
        assert len({tuple(cell) for cell in cells.tolist()}) == 2**k


@pytest.mark.parametrize("qmc_type", TYPES)
def test_first_trials_of_a_new_name_are_spread_evenly(qmc_type: QMCType) -> None:
    sampler = QMCSampler(qmc_type=qmc_type, seed=1)
    x = FloatDistribution(0.0, 1.0)
    values = [sampler.sample_independent(_context(n, seed=1), "x", x) for n in range(16)]
    assert _in_each_interval(values)


def test_halton_axes_are_stratified_in_their_own_base() -> None:
    sampler = QMCSampler(qmc_type="halton")
    points = np.array([list(_joint(sampler, n, UNIT_SQUARE).values()) for n in range(81)])
    assert _in_each_interval(points[:64, 0].tolist())  # base 2
    assert _in_each_interval(points[:81, 1].tolist())  # base 3


def test_ints_and_categoricals_get_equal_shares() -> None:
    space = {"k": IntDistribution(0, 3), "c": CategoricalDistribution(["a", "b", "c", "d"])}
    sampler = QMCSampler(seed=2)
    proposals = [_joint(sampler, n, space, seed=2) for n in range(16)]
    assert sorted(p["k"] for p in proposals) == sorted(list(range(4)) * 4)
    assert sorted(p["c"] for p in proposals) == sorted(list("abcd") * 4)


@pytest.mark.parametrize("qmc_type", TYPES)
def test_distinct_trials_never_share_a_point(qmc_type: QMCType) -> None:
    sampler = QMCSampler(qmc_type=qmc_type)
    joint = {tuple(_joint(sampler, n, UNIT_SQUARE).values()) for n in range(512)}
    assert len(joint) == 512
    x = UNIT_SQUARE["x"]
    assert len({sampler.sample_independent(_context(n), "x", x) for n in range(512)}) == 512


def test_the_relative_space_is_every_seen_name_in_sorted_order() -> None:
    sampler = QMCSampler()
    context = _context(3, SPACE)
    space = sampler.infer_relative_search_space(context)
    assert list(space) == sorted(SPACE) and space == SPACE
    assert sampler.sample_relative(_context(3), {}) == {}
    # The axis order is the sorted names, whatever order the caller gives.
    assert sampler.sample_relative(
        context, dict(reversed(SPACE.items()))
    ) == sampler.sample_relative(context, space)


def test_a_halton_jump_equals_the_engines_fast_forward() -> None:
    engine = qmc.Halton(3, scramble=True, rng=np.random.default_rng([0, 1]))
    expected = engine.fast_forward(37).random(1)[0]
    assert np.array_equal(qmc_point("halton", True, (0, 1), 3, 37), expected)


def test_configuration_and_bad_arguments() -> None:
    assert QMCSampler().to_json() == {
        "class": "QMCSampler",
        "arguments": {"qmc_type": "sobol", "scramble": True, "seed": None},
    }
    data = QMCSampler(qmc_type="halton", scramble=False, seed=4).to_json()
    assert QMCSampler(**data["arguments"]).to_json() == data
    with pytest.raises(
        ValueError, match="qmc_type='lhs' is not supported; pass one of 'sobol', 'halton'"
    ):
        QMCSampler(qmc_type="lhs")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scramble=1 must be True or False"):
        QMCSampler(scramble=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed=-2"):
        QMCSampler(seed=-2)
    with pytest.raises(TypeError):
        QMCSampler("sobol")  # type: ignore[misc]
