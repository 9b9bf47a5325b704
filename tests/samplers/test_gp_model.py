"""GPSampler's model: log EI, the kernel fit, the posterior and the acquisition's gradient."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from raysweep.samplers import FloatDistribution
from raysweep.samplers._gp._acquisition import Acquisition, log_h, log_h_slope
from raysweep.samplers._gp._kernel import (
    Posterior,
    _neg_log_posterior,
    fit_kernel,
    squared_differences,
)
from raysweep.samplers._gp._space import Design

PLANE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}


# --- log EI -------------------------------------------------------------------------------------


def test_log_h_matches_the_direct_formula_where_ei_is_not_tiny() -> None:
    z = np.linspace(-8.0, 8.0, 161)
    direct = np.log(scipy.stats.norm.pdf(z) + z * scipy.stats.norm.cdf(z))
    np.testing.assert_allclose(log_h(z), direct, rtol=1e-9, atol=1e-12)
    slope = scipy.stats.norm.cdf(z) / np.exp(direct)
    np.testing.assert_allclose(log_h_slope(z), slope, rtol=1e-7)


def test_log_ei_of_a_posterior_is_log_of_expected_improvement() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((8, 2))
    y = np.sin(4 * x[:, 0]) + x[:, 1]
    design = Design(PLANE)
    params = fit_kernel(x, y, design.is_categorical)
    posterior = Posterior(x, y, params, design.is_categorical)
    best = float(y.min())
    points = rng.random((50, 2))
    mean, var = posterior.mean_var(points)
    sd = np.sqrt(var)
    z = (best - mean) / sd
    ei = (best - mean) * scipy.stats.norm.cdf(z) + sd * scipy.stats.norm.pdf(z)
    keep = ei > 1e-12
    assert keep.sum() > 10
    np.testing.assert_allclose(
        Acquisition(posterior, best).values(points)[keep], np.log(ei[keep]), rtol=1e-8
    )


def test_log_h_stays_finite_and_increasing_far_below_zero() -> None:
    z = -np.logspace(0, 15, 400)[::-1]  # from -1e15 up to -1
    values = log_h(z)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) > 0)
    with np.errstate(divide="ignore"):
        assert np.isneginf(
            np.log(scipy.stats.norm.pdf(-40.0) + -40.0 * scipy.stats.norm.cdf(-40.0))
        )
    # The asymptote log h(z) ~ -z**2/2 - log(sqrt(2 pi)) - 2 log|z| (Ament et al., 2023).
    for point in (-1e3, -1e6, -1e9):
        expected = -0.5 * point**2 - 0.5 * math.log(2 * math.pi) - 2 * math.log(-point)
        assert float(log_h(np.array(point))) == pytest.approx(expected, rel=1e-9)
    slopes = log_h_slope(z)
    assert np.all(np.isfinite(slopes)) and np.all(slopes > 0)
    np.testing.assert_allclose(slopes[:50], -z[:50], rtol=1e-6)


# --- the GP -------------------------------------------------------------------------------------


def _mixed_data(
    n: int = 25,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(3)
    x = rng.random((n, 3))
    x[:, 2] = rng.integers(0, 3, n)
    y = np.sin(5 * x[:, 0]) + x[:, 1] ** 2 + 0.5 * (x[:, 2] == 1)
    return x, (y - y.mean()) / y.std(), np.array([False, False, True])


def test_marginal_likelihood_gradient_is_exact() -> None:
    x, y, categorical = _mixed_data()
    sq = squared_differences(x, x, categorical)
    theta = np.array([0.5, -1.0, 0.3, 0.2, -3.0])
    _, grad = _neg_log_posterior(theta, sq, y, True)
    numeric = scipy.optimize.approx_fprime(
        theta, lambda t: _neg_log_posterior(t, sq, y, True)[0], 1e-6
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)


def test_fitted_gp_interpolates_its_training_data() -> None:
    x, y, categorical = _mixed_data()
    params = fit_kernel(x, y, categorical, fixed_noise=1e-6)
    mean, var = Posterior(x, y, params, categorical).mean_var(x)
    np.testing.assert_allclose(mean, y, atol=0.05)
    assert np.all(var < 0.05 * params.amplitude)


def test_acquisition_gradient_matches_finite_differences() -> None:
    x, y, categorical = _mixed_data()
    params = fit_kernel(x, y, categorical)
    posterior = Posterior(x, y, params, categorical)
    constraint = Posterior(x, x[:, 0] - 0.5, params, categorical)
    acquisition = Acquisition(posterior, float(y.min()), [(constraint, 0.0)])
    for point in ([0.3, 0.6, 1.0], [0.05, 0.9, 2.0], [0.7, 0.2, 0.0]):
        row = np.array(point)
        value, grad = acquisition.value_and_grad(row)
        assert value == pytest.approx(float(acquisition.values(row[None, :])[0]), rel=1e-9)

        def at(numeric: np.ndarray[Any, Any], row: np.ndarray[Any, Any] = row) -> float:
            return float(acquisition.values(np.array([[numeric[0], numeric[1], row[2]]]))[0])

        numeric = scipy.optimize.approx_fprime(row[:2], at, 1e-7)
        np.testing.assert_allclose(grad[:2], numeric, rtol=2e-3, atol=1e-3 * (1 + abs(value)))
        assert grad[2] == 0.0
