"""The Parzen estimator: proper densities, discrete cell masses, kernels and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from raysweep.samplers._tpe._parzen import KernelSettings, ParzenEstimator
from raysweep.samplers._tpe._parzen_space import ParzenSpace

SETTINGS = KernelSettings(prior_weight=1.0, consider_endpoints=False, min_bandwidth=0.01)


def _estimator(
    distributions: list[Distribution], internal: list[list[float]], endpoints: bool = False
) -> tuple[ParzenSpace, ParzenEstimator]:
    space = ParzenSpace(distributions)
    points = space.encode_points(np.array(internal, dtype=float).reshape(len(internal), -1))
    settings = KernelSettings(1.0, endpoints, 0.01)
    return space, ParzenEstimator(space, points, np.ones(len(internal)), settings)


@pytest.mark.parametrize("consider_endpoints", [False, True])
def test_continuous_density_integrates_to_one(consider_endpoints: bool) -> None:
    distribution = FloatDistribution(-2.0, 3.0)
    _, estimator = _estimator([distribution], [[-1.9], [0.5], [0.6], [2.9]], consider_endpoints)
    grid = np.linspace(0.0, 1.0, 20001)[:, None]
    density = np.exp(estimator.log_pdf(grid))
    assert np.trapezoid(density, grid[:, 0]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    "distribution",
    [
        IntDistribution(1, 9),
        IntDistribution(0, 100, step=20),
        IntDistribution(1, 1000, log=True),
        FloatDistribution(0.0, 1.0, step=0.25),
    ],
)
def test_discrete_probabilities_sum_to_one_and_match_sampling(distribution: Distribution) -> None:
    assert not isinstance(distribution, CategoricalDistribution)
    low, high = distribution.low, distribution.high
    observed = [distribution.to_internal(v) for v in (low, low, high)]
    space, estimator = _estimator([distribution], [[x] for x in observed])
    values = _values_of(distribution)
    unit = np.array([space.encode(0, np.array([distribution.to_internal(v) for v in values]))]).T
    probabilities = np.exp(estimator.log_pdf(unit))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    draws = estimator.sample(np.random.default_rng(0), 20000)
    decoded = [space.decode(row)[0] for row in draws[:300]]
    assert all(distribution.contains(v) for v in decoded)
    counts = np.array([np.sum(np.isclose(draws[:, 0], u)) for u in unit[:, 0]])
    assert counts.sum() == 20000  # every draw sits exactly on a grid value
    assert np.allclose(counts / 20000, probabilities, atol=0.015)


def _values_of(distribution: Distribution) -> list[float]:
    if isinstance(distribution, IntDistribution):
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    assert isinstance(distribution, FloatDistribution) and distribution.step is not None
    count = round((distribution.high - distribution.low) / distribution.step) + 1
    return [distribution.low + i * distribution.step for i in range(count)]


def test_categorical_kernel_favours_the_observed_choice_and_samples_accordingly() -> None:
    distribution = CategoricalDistribution(["a", "b", "c", "d"])
    _, estimator = _estimator([distribution], [[1.0], [1.0], [1.0], [3.0]])
    probabilities = np.exp(estimator.log_pdf(np.array([[0.0], [1.0], [2.0], [3.0]])))
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[1] > probabilities[3] > probabilities[0] == pytest.approx(probabilities[2])
    draws = estimator.sample(np.random.default_rng(1), 20000)[:, 0]
    frequencies = np.bincount(draws.astype(int), minlength=4) / 20000
    assert np.allclose(frequencies, probabilities, atol=0.015)


def test_joint_kernels_keep_dependencies() -> None:
    """Two clusters on a diagonal: the joint density is high on it and low off it."""
    distributions: list[Distribution] = [FloatDistribution(0.0, 1.0), FloatDistribution(0, 1)]
    points = [[0.1, 0.1]] * 5 + [[0.9, 0.9]] * 5
    _, estimator = _estimator(distributions, points)
    on, off = estimator.log_pdf(np.array([[0.1, 0.1], [0.9, 0.9], [0.1, 0.9], [0.9, 0.1]])).reshape(
        2, 2
    )
    assert on.min() > off.max() + 3.0


def test_missing_coordinates_take_the_prior_kernel() -> None:
    distributions: list[Distribution] = [FloatDistribution(0.0, 1.0), FloatDistribution(0, 1)]
    space = ParzenSpace(distributions)
    partial = ParzenEstimator(space, np.array([[0.3, np.nan]]), np.ones(1), SETTINGS)
    grid = np.linspace(0.0, 1.0, 11)
    along_missing = partial.log_pdf(np.column_stack([np.full(11, 0.3), grid]))
    # The missing column is modelled by the wide prior: nearly flat, unlike a real kernel.
    assert np.ptp(along_missing) < 0.5


def test_sampling_stays_in_the_unit_box_with_narrow_kernels_at_the_edges() -> None:
    distributions: list[Distribution] = [FloatDistribution(0.0, 1.0)] * 3
    _, estimator = _estimator(distributions, [[0.0, 1.0, 0.0], [0.0, 1.0, 1e-9]] * 10)
    draws = estimator.sample(np.random.default_rng(2), 5000)
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    assert np.isfinite(estimator.log_pdf(draws)).all()


def test_the_narrowest_bandwidths_keep_densities_finite() -> None:
    distributions: list[Distribution] = [FloatDistribution(0.0, 1.0)] * 40
    space = ParzenSpace(distributions)
    points = np.full((30, 40), 0.25)
    settings = KernelSettings(1.0, False, 1e-6, magic_exponent=50.0)
    estimator = ParzenEstimator(space, points, np.ones(30), settings)
    at = np.full((1, 40), 0.25)
    assert np.isfinite(estimator.log_pdf(at)).all()
    assert estimator.log_pdf(at)[0] > estimator.log_pdf(at + 0.01)[0]
