"""TPE's Parzen estimator: a weighted mixture of product kernels plus one wide prior kernel.

Each observation is one mixture component. On a numeric column the component is a Gaussian
truncated to the unit interval (see :mod:`raysweep.samplers._parzen_space`); on a discrete column
it is that Gaussian *discretized*: a value's probability is the kernel's mass over the value's
cell, so sampling the truncated Gaussian and snapping to the grid draws exactly the distribution
whose density is evaluated. On a categorical column it is an Aitchison–Aitken kernel: most mass on
the observed choice, the rest spread evenly over the others. The prior component is centred on
the range with the range's width (uniform over a categorical's choices): it keeps every region
reachable and steadies the estimate while the observations are few.

A missing coordinate (a running trial that has not drawn that parameter yet) gets the prior's
kernel on that column, i.e. the component says nothing about it.

All work is vectorized. The Gaussian part of the log density of ``m`` points under ``K``
components is one ``(m, 2d + 1) @ (2d + 1, K)`` product: a kernel's log density is a quadratic
in x, whose coefficients are computed once per estimator. Per-kernel work is done column by
column, so no large temporary is made besides the kernels' means, bandwidths and coefficients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from raysweep.samplers._parzen_space import ParzenSpace, log_mass

_LOG_2PI = math.log(2.0 * math.pi)
# Elements of log_pdf's scratch block: 128 KiB, small enough for the allocator to reuse.
_BLOCK = 16384


@dataclass(frozen=True)
class KernelSettings:
    """How kernels are shaped; see :class:`raysweep.samplers.TPESampler` for the reasons.

    Each numeric kernel's bandwidth is its observation's larger gap to its neighbours (Hyperopt's
    rule, as Optuna), the ends of the range counting as neighbours only when
    ``consider_endpoints``, clipped to ``[max(min_bandwidth, (n + 2) ** -magic_exponent), 1]`` on
    the unit interval (``n`` observations; Optuna's "magic clip" has exponent 1).
    """

    prior_weight: float
    consider_endpoints: bool
    min_bandwidth: float
    magic_exponent: float = 2.0


class ParzenEstimator:
    """A mixture over observations given column by column (estimator coordinates, NaN = missing).

    ``columns[i]`` holds the ``n`` observations of ``space.distributions[i]``. ``orders``, when
    given, holds per numeric column the positions that have a value, sorted by it (ties by trial
    number): the bandwidth rule's sort, precomputed.
    """

    def __init__(
        self,
        space: ParzenSpace,
        columns: list[np.ndarray],
        weights: np.ndarray,
        settings: KernelSettings,
        orders: list[np.ndarray] | None = None,
    ) -> None:
        self._space = space
        n, d = len(weights), len(space.numeric)
        mixture = np.append(np.asarray(weights, dtype=np.float64), settings.prior_weight)
        self._weights = mixture / mixture.sum()

        # Row n is the prior: centred, as wide as the range.
        floor = max(settings.min_bandwidth, (n + 2.0) ** -settings.magic_exponent)
        self._floor = floor
        self._mu = np.empty((n + 1, d), order="F")
        self._sigma = np.empty((n + 1, d), order="F")
        self._log_z: list[np.ndarray] = []
        for k, column in enumerate(space.numeric):
            mu, sigma = self._mu[:, k], self._sigma[:, k]
            mu[:n], mu[n], sigma[n] = columns[column], 0.5, 1.0
            order = _sorted(mu[:n]) if orders is None else orders[k]
            ordered = _neighbor(mu[:n], order, settings.consider_endpoints, sigma[:n])
            np.clip(sigma, max(floor, space.half_cell[k]), 1.0, out=sigma)
            # Components without a value here take the prior's kernel: they say nothing.
            missing = np.flatnonzero(np.isnan(mu[:n])) if len(order) < n else order[:0]
            mu[missing], sigma[missing] = 0.5, 1.0
            self._log_z.append(_log_normalizer(mu, sigma, order, ordered, missing))
        self._design = self._gaussian_design(np.log(np.maximum(self._weights, 1e-300)))

        self._choices = np.full((n + 1, len(space.categorical)), np.nan)
        for j, column in enumerate(space.categorical):
            self._choices[:n, j] = columns[column]
        # Aitchison–Aitken shares tied to the prior weight as Optuna's: each component adds the
        # prior's pseudo-count c = prior_weight / (n + 1) to every choice and 1 to its own.
        c = settings.prior_weight / (n + 1)
        sizes = space.n_choices.astype(np.float64)
        self._p_top = (1.0 + c) / (1.0 + sizes * c)
        self._p_other = c / (1.0 + sizes * c)

    def _gaussian_design(self, log_weights: np.ndarray) -> np.ndarray:
        """Rows ``(-1/(2 s^2), mu/s^2, constant)`` over the continuous columns, so that a
        component's log weight plus log density at x is ``(x^2, x, 1) . row``."""
        cont = self._space.continuous
        c = len(cont)
        design = np.empty((len(log_weights), 2 * c + 1), order="F")
        constant = design[:, 2 * c]
        constant[:] = log_weights - 0.5 * c * _LOG_2PI
        scratch, product = np.empty(len(log_weights)), np.ones(len(log_weights))
        # Bandwidths lie in [floor, 1]: a product of this many of them stays a normal float, so
        # one log per chunk of columns replaces one per column.
        chunk = max(1, int(600.0 / max(1.0, -math.log(self._floor))))
        for i, k in enumerate(cont):
            mu, sigma = self._mu[:, k], self._sigma[:, k]
            precision, linear = design[:, i], design[:, c + i]
            np.multiply(sigma, sigma, out=precision)
            np.reciprocal(precision, out=precision)
            np.multiply(mu, precision, out=linear)
            np.multiply(mu, linear, out=scratch)
            scratch *= 0.5
            scratch += self._log_z[k]
            constant -= scratch
            precision *= -0.5
            product *= sigma
            if (i + 1) % chunk == 0 or i == c - 1:
                constant -= np.log(product)
                product[:] = 1.0
        return design

    @property
    def n_components(self) -> int:
        return len(self._weights)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` points drawn from the mixture, discrete columns snapped to their grid."""
        space = self._space
        cumulative = np.cumsum(self._weights)
        draws = rng.random(size) * cumulative[-1]
        component = np.minimum(
            np.searchsorted(cumulative, draws, side="right"), len(cumulative) - 1
        )
        result = np.empty((size, space.size))
        if len(space.numeric):
            mu, sigma = self._mu[component], self._sigma[component]
            lo, hi = ndtr(-mu / sigma), ndtr((1.0 - mu) / sigma)
            z = ndtri(lo + rng.random(mu.shape) * (hi - lo))
            result[:, space.numeric] = np.clip(mu + sigma * z, 0.0, 1.0)
        if len(space.categorical):
            u = rng.random((size, len(space.categorical)))
            chosen = self._choices[component]
            for j, column in enumerate(space.categorical):
                result[:, column] = _draw_choice(
                    chosen[:, j], u[:, j], int(space.n_choices[j]), float(self._p_top[j])
                )
        return space.snap(result)

    def log_pdf(self, points: np.ndarray) -> np.ndarray:
        """``(m,)`` log densities of snapped ``points`` (``(m, space.size)``).

        Components are taken in blocks with a running log-sum-exp: the ``(m, block)`` scratch
        stays small and is reused, where one ``(m, K)`` array would be fresh memory each call.
        """
        space = self._space
        x = points[:, space.numeric[space.continuous]]
        features = np.hstack([x * x, x, np.ones((len(points), 1))])
        discrete = [
            (int(k), *self._cells(int(k), points[:, space.numeric[k]])) for k in space.discrete
        ]
        size = max(1, _BLOCK // max(1, len(points)))
        peak = np.full(len(points), -np.inf)
        total = np.zeros(len(points))
        for start in range(0, self.n_components, size):
            part = slice(start, min(start + size, self.n_components))
            block = features @ self._design[part].T
            for k, lo, hi, inverse in discrete:
                block += self._discrete_log_mass(k, lo, hi, part)[inverse]
            for j, column in enumerate(space.categorical):
                block += self._categorical_log_prob(j, points[:, column], part)
            top = np.maximum(peak, block.max(axis=1))
            total *= np.exp(peak - top)
            block -= top[:, None]
            # exp is many times slower on arguments below its underflow point: clip them first.
            np.maximum(block, -700.0, out=block)
            np.exp(block, out=block)
            total += block.sum(axis=1)
            peak = top
        result: np.ndarray = np.log(total) + peak
        return result

    def _cells(self, k: int, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Candidates share few distinct values on a grid: evaluate each once.
        distinct, inverse = np.unique(unit, return_inverse=True)
        lo, hi = self._space.cells(k, distinct)
        return lo, hi, inverse.reshape(-1)

    def _discrete_log_mass(self, k: int, lo: np.ndarray, hi: np.ndarray, part: slice) -> np.ndarray:
        mu, sigma = self._mu[part, k], self._sigma[part, k]
        block = log_mass((lo[:, None] - mu) / sigma, (hi[:, None] - mu) / sigma)
        result: np.ndarray = block - self._log_z[k][part]
        return result

    def _categorical_log_prob(self, j: int, index: np.ndarray, part: slice) -> np.ndarray:
        n_choices = int(self._space.n_choices[j])
        observed = self._choices[part, j]
        same = index[:, None] == observed[None, :]
        block = np.where(same, math.log(self._p_top[j]), math.log(max(self._p_other[j], 1e-300)))
        block[:, np.isnan(observed)] = -math.log(n_choices)
        result: np.ndarray = block
        return result


def _log_normalizer(
    mu: np.ndarray, sigma: np.ndarray, order: np.ndarray, ordered: np.ndarray, wide: np.ndarray
) -> np.ndarray:
    """Each kernel's log mass on [0, 1] in one column; mu lies inside, so it is at least ~0.5.

    A kernel further than 8 bandwidths from an end loses nothing measurable there (Phi(-8) is
    6e-16). Only the kernels whose mean lies within 8 of the column's widest bandwidths of an
    end can, and with ``ordered`` (the means sorted along ``order``) they are found by bisection:
    on a large, concentrated set of observations they are a small fraction. The ``wide`` kernels
    (missing values) and the prior (the last row) are always computed.
    """
    result = np.zeros_like(mu)
    reach = 8.0 * float(sigma[order].max()) if len(order) else 0.0
    low = int(np.searchsorted(ordered, reach))
    high = int(np.searchsorted(ordered, 1.0 - reach))
    near = np.concatenate([order[:low], order[high:], wide, [len(mu) - 1]]).astype(np.intp)
    m, s = mu[near], sigma[near]
    result[near] = np.log1p(-(ndtr(-m / s) + ndtr((m - 1.0) / s)))
    return result


def _draw_choice(observed: np.ndarray, u: np.ndarray, n_choices: int, p_top: float) -> np.ndarray:
    """One uniform ``u`` per draw decides both "the observed choice?" and "which other one"."""
    uniform = np.floor(u * n_choices)
    if n_choices == 1:
        return np.zeros_like(u)
    rest = np.floor(np.clip((u - p_top) / (1.0 - p_top), 0.0, 1.0 - 1e-12) * (n_choices - 1))
    safe = np.where(np.isnan(observed), 0.0, observed)
    other = rest + (rest >= safe)
    kernel = np.where(u < p_top, safe, other)
    return np.where(np.isnan(observed), np.minimum(uniform, n_choices - 1), kernel)


def _sorted(column: np.ndarray) -> np.ndarray:
    valid = np.flatnonzero(~np.isnan(column))
    result: np.ndarray = valid[np.argsort(column[valid], kind="stable")]
    return result


def _neighbor(
    column: np.ndarray, order: np.ndarray, consider_endpoints: bool, out: np.ndarray
) -> np.ndarray:
    """Write each point's larger gap to its neighbours into ``out`` (NaN where it has no value);
    the range's ends count as neighbours, except for the outermost points unless
    ``consider_endpoints``. Returns the values sorted along ``order``."""
    if len(order) < len(column):
        out[:] = np.nan
    padded = np.empty(len(order) + 2)
    padded[0], padded[-1] = 0.0, 1.0
    np.take(column, order, out=padded[1:-1])
    steps = np.diff(padded)
    gaps = np.maximum(steps[:-1], steps[1:])
    if not consider_endpoints and len(order) >= 2:
        gaps[0], gaps[-1] = steps[1], steps[-2]
    out[order] = gaps
    return padded[1:-1]
