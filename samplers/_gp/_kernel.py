"""The GP model of GPSampler: a Matérn-5/2 ARD kernel, its hyperparameter fit and its posterior.

Inputs are rows of a normalized design: numeric columns in [0, 1] (the internal coordinate scaled
by ``internal_bounds``) and categorical columns holding a choice's index. A categorical column
adds ``[a != b] / lengthscale**2`` to the squared distance (a Hamming term). That equals half the
squared Euclidean distance between one-hot encodings, so the kernel stays the Matérn kernel of a
Euclidean distance and is positive definite, with one lengthscale per categorical parameter
rather than one per choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.optimize

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_SQRT5 = math.sqrt(5.0)
_LENGTHSCALE_BOUNDS = (5e-3, 1e2)
_AMPLITUDE_BOUNDS = (1e-2, 1e2)
# The least noise variance fitted, on standardized values: 1% of their standard deviation.
NOISE_FLOOR = 1e-4
_NOISE_CEILING = 2.0
# Weak log-normal priors. Lengthscales follow Hvarfner et al. (2024), "Vanilla Bayesian
# Optimization Performs Great in High Dimensions": log l ~ N(sqrt(2) + log(d) / 2, sqrt(3)) on
# the unit cube; the noise variance follows the same paper, log s2 ~ N(-4, 1), on standardized
# values. The amplitude prior only keeps it near the standardized scale.
_LOG_LENGTHSCALE_SD = math.sqrt(3.0)
_LOG_AMPLITUDE_SD = 1.5
_LOG_NOISE_MEAN, _LOG_NOISE_SD = -4.0, 1.0


def squared_differences(a: FloatArray, b: FloatArray, is_categorical: BoolArray) -> FloatArray:
    """Per-column squared differences, shape (len(a), len(b), d); categoricals give 0 or 1."""
    diff = a[:, None, :] - b[None, :, :]
    return np.where(is_categorical, (diff != 0.0).astype(np.float64), diff * diff)


def matern52(sq_dist: FloatArray, amplitude: float) -> tuple[FloatArray, FloatArray]:
    """The kernel at scaled squared distances, and its derivative with respect to them."""
    r = np.sqrt(sq_dist)
    decay = amplitude * np.exp(-_SQRT5 * r)
    value = (1.0 + _SQRT5 * r + (5.0 / 3.0) * sq_dist) * decay
    # d k / d(r**2) is finite at r = 0, unlike d k / d r, so the scales are fitted through r**2.
    return value, (-5.0 / 6.0) * (1.0 + _SQRT5 * r) * decay


@dataclass(frozen=True)
class KernelParams:
    """Inverse squared lengthscales (one per column), the signal amplitude and the noise."""

    inverse_sq_lengthscales: FloatArray
    amplitude: float
    noise: float


def _cholesky(matrix: FloatArray) -> FloatArray:
    # Near-duplicate rows with a tiny noise can be numerically singular: add jitter until not.
    jitter = 0.0
    scale = float(np.mean(np.diag(matrix)))
    for _ in range(8):
        try:
            factor = scipy.linalg.cholesky(
                matrix + jitter * np.eye(len(matrix)), lower=True, check_finite=False
            )
            return np.asarray(factor, dtype=np.float64)
        except np.linalg.LinAlgError:
            jitter = max(jitter * 10.0, 1e-10 * scale)
    raise np.linalg.LinAlgError("GPSampler: the kernel matrix is not positive definite")


def _inverse(chol: FloatArray) -> FloatArray:
    """The inverse of L L^T from its lower Cholesky factor L (LAPACK potri: a third of a solve)."""
    lower, info = scipy.linalg.lapack.dpotri(chol, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"GPSampler: potri failed with info={info}")
    return np.asarray(np.tril(lower) + np.tril(lower, -1).T, dtype=np.float64)


def _log_prior_and_grad(
    theta: FloatArray, d: int, fit_noise_prior: bool
) -> tuple[float, FloatArray]:
    """Log prior density of theta = [log w (d), log amplitude, log noise] and its gradient."""
    grad = np.zeros_like(theta)
    # log w = -2 log l, so the lengthscale prior maps to mean -2 m and sd 2 s on log w.
    mean_w, sd_w = -2.0 * (math.sqrt(2.0) + 0.5 * math.log(max(d, 1))), 2.0 * _LOG_LENGTHSCALE_SD
    dev_w = (theta[:d] - mean_w) / sd_w
    grad[:d] = -dev_w / sd_w
    value = -0.5 * float(dev_w @ dev_w)
    value -= 0.5 * (theta[d] / _LOG_AMPLITUDE_SD) ** 2
    grad[d] = -theta[d] / _LOG_AMPLITUDE_SD**2
    if fit_noise_prior:
        dev_n = (theta[d + 1] - _LOG_NOISE_MEAN) / _LOG_NOISE_SD
        value -= 0.5 * dev_n**2
        grad[d + 1] = -dev_n / _LOG_NOISE_SD
    return value, grad


def _neg_log_posterior(
    theta: FloatArray, sq_diffs: FloatArray, y: FloatArray, noise_prior: bool
) -> tuple[float, FloatArray]:
    """Minus (log marginal likelihood + log prior) and its gradient, analytic."""
    n, d = len(y), sq_diffs.shape[2]
    w, amplitude, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
    signal, dk_dsq = matern52(sq_diffs @ w, amplitude)
    chol = _cholesky(signal + noise * np.eye(n))
    alpha = scipy.linalg.cho_solve((chol, True), y, check_finite=False)
    log_lik = -0.5 * float(y @ alpha) - float(np.sum(np.log(np.diag(chol))))
    log_lik -= 0.5 * n * math.log(2.0 * math.pi)
    # d logL / d theta_j = tr((alpha alpha^T - K^-1) dK/d theta_j) / 2.
    inner = np.outer(alpha, alpha) - _inverse(chol)
    grad = np.empty_like(theta)
    grad[:d] = 0.5 * w * np.einsum("ab,abi->i", inner * dk_dsq, sq_diffs)
    grad[d] = 0.5 * float(np.sum(inner * signal))
    grad[d + 1] = 0.5 * noise * float(np.trace(inner))
    prior, prior_grad = _log_prior_and_grad(theta, d, noise_prior)
    return -(log_lik + prior), -(grad + prior_grad)


def fit_kernel(
    x: FloatArray,
    y: FloatArray,
    is_categorical: BoolArray,
    *,
    fixed_noise: float | None = None,
) -> KernelParams:
    """Maximize the log marginal likelihood plus the priors by L-BFGS-B from two fixed starts.

    ``y`` should be standardized. The noise variance is fitted (at least ``NOISE_FLOOR``) unless
    ``fixed_noise`` is given. The starts (a smooth, long-lengthscale model and a wiggly one) are
    fixed, so the fit is a function of the data alone.
    """
    d = x.shape[1]
    sq_diffs = squared_differences(x, x, is_categorical)
    low_l, high_l = _LENGTHSCALE_BOUNDS
    bounds = [(-2.0 * math.log(high_l), -2.0 * math.log(low_l))] * d
    bounds.append((math.log(_AMPLITUDE_BOUNDS[0]), math.log(_AMPLITUDE_BOUNDS[1])))
    if fixed_noise is None:
        bounds.append((math.log(NOISE_FLOOR), math.log(_NOISE_CEILING)))
    else:
        bounds.append((math.log(fixed_noise), math.log(fixed_noise)))
    best: tuple[float, FloatArray] | None = None
    for lengthscale, noise in ((1.0, 1e-2), (0.2, 1e-3)):
        start = np.array([-2.0 * math.log(lengthscale)] * d + [0.0, math.log(noise)])
        start = np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])
        result = scipy.optimize.minimize(
            _neg_log_posterior,
            start,
            args=(sq_diffs, y, fixed_noise is None),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200},
        )
        if np.isfinite(result.fun) and (best is None or result.fun < best[0]):
            best = (float(result.fun), np.asarray(result.x, dtype=np.float64))
    theta = best[1] if best is not None else start
    return KernelParams(np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1]))


class Posterior:
    """The GP posterior given training rows ``x``, targets ``y`` and fixed kernel parameters."""

    def __init__(
        self, x: FloatArray, y: FloatArray, params: KernelParams, is_categorical: BoolArray
    ) -> None:
        self.x, self.y, self.params, self.is_categorical = x, y, params, is_categorical
        sq = squared_differences(x, x, is_categorical) @ params.inverse_sq_lengthscales
        signal, _ = matern52(sq, params.amplitude)
        self._chol = _cholesky(signal + params.noise * np.eye(len(x)))
        self._alpha = scipy.linalg.cho_solve((self._chol, True), y, check_finite=False)

    def mean_var(self, points: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Posterior mean and variance of the latent function (noise excluded) at each row."""
        sq = squared_differences(points, self.x, self.is_categorical)
        cross, _ = matern52(sq @ self.params.inverse_sq_lengthscales, self.params.amplitude)
        v = scipy.linalg.solve_triangular(self._chol, cross.T, lower=True, check_finite=False)
        var = self.params.amplitude - np.sum(v * v, axis=0)
        return cross @ self._alpha, np.maximum(var, 1e-12)

    def mean_var_grad(self, point: FloatArray) -> tuple[float, float, FloatArray, FloatArray]:
        """Mean, variance and their gradients at one row (zero along categorical columns)."""
        w = self.params.inverse_sq_lengthscales
        sq = squared_differences(point[None, :], self.x, self.is_categorical)[0]
        cross, dk_dsq = matern52(sq @ w, self.params.amplitude)
        # d sq / d point_i = 2 w_i (point_i - x_ji) for numeric columns.
        dsq = 2.0 * w * (point[None, :] - self.x) * ~self.is_categorical
        dcross = dk_dsq[:, None] * dsq  # (n, d)
        k_inv_cross = scipy.linalg.cho_solve((self._chol, True), cross, check_finite=False)
        var = self.params.amplitude - float(cross @ k_inv_cross)
        mean_grad = dcross.T @ self._alpha
        var_grad = -2.0 * (dcross.T @ k_inv_cross)
        if var < 1e-12:
            return float(cross @ self._alpha), 1e-12, mean_grad, np.zeros_like(var_grad)
        return float(cross @ self._alpha), var, mean_grad, var_grad

    def with_fantasies(self, points: FloatArray, value: float) -> Posterior:
        """The same kernel, with ``points`` taken as observed at ``value`` (a constant liar)."""
        if len(points) == 0:
            return self
        return Posterior(
            np.vstack([self.x, points]),
            np.concatenate([self.y, np.full(len(points), value)]),
            self.params,
            self.is_categorical,
        )
