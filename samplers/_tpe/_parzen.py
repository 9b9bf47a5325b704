"""TPE's Parzen estimator: a weighted mixture of product kernels plus one wide prior kernel.

Each observation is one mixture component. On a numeric column the component is a Gaussian
truncated to the unit interval (see :mod:`._parzen_space`); on a discrete column it is that
Gaussian *discretized*: a value's probability is the kernel's mass over the value's cell, so
sampling the truncated Gaussian and snapping to the grid draws exactly the distribution whose
density is evaluated. On a categorical column it is an Aitchison–Aitken kernel: most mass on
the observed choice, the rest spread evenly over the others. The prior component is centred on
the range with the range's width (uniform over a categorical's choices): it keeps every region
reachable and steadies the estimate while the observations are few.

A missing coordinate (a running trial that has not drawn that parameter yet) gets the prior's
kernel on that column, i.e. the component says nothing about it.

All work is vectorized. The Gaussian part of the log density of ``m`` points under ``K``
components is one ``(m, 2d + 1) @ (2d + 1, K)`` product: a kernel's log density is a quadratic
in x, whose coefficients are computed once per estimator (:mod:`._parzen_kernels`, all columns at
once, in chunks that keep temporaries small). On a discrete column the cell masses
are computed once per distinct (mean, bandwidth) pair: on a grid, most kernels share one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from raysweep.samplers._tpe._parzen_kernels import distinct_kernels, fit_columns, gaussian_design
from raysweep.samplers._tpe._parzen_space import ParzenSpace, log_mass

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
    """A mixture over ``(n, space.size)`` observations (estimator coordinates, NaN = missing).

    ``points[:, i]`` holds the ``n`` observations of ``space.distributions[i]``. ``orders``, when
    given, is ``(n, numeric columns)``: per numeric column the positions that have a value,
    sorted by it (ties by trial number), then the others; the bandwidth rule's sort, precomputed.
    """

    def __init__(
        self,
        space: ParzenSpace,
        points: np.ndarray,
        weights: np.ndarray,
        settings: KernelSettings,
        orders: np.ndarray | None = None,
    ) -> None:
        self._space = space
        n, d = len(weights), len(space.numeric)
        mixture = np.append(np.asarray(weights, dtype=np.float64), settings.prior_weight)
        self._weights = mixture / mixture.sum()

        # Row n is the prior: centred, as wide as the range. Kernels are kept column by column
        # (``(d, n + 1)`` C arrays, exposed transposed): see _parzen_kernels.
        floor = max(settings.min_bandwidth, (n + 2.0) ** -settings.magic_exponent)
        mu, sigma, log_z = np.empty((d, n + 1)), np.empty((d, n + 1)), np.empty((d, n + 1))
        mu[:, :n], mu[:, n], sigma[:, n] = points[:, space.numeric].T, 0.5, 1.0
        lower = np.maximum(floor, space.half_cell)
        fit_columns(mu, sigma, log_z, orders, lower, settings.consider_endpoints)
        self._mu, self._sigma, self._log_z = mu.T, sigma.T, log_z.T
        # On a grid, kernels repeat: many observations share a value and, their gaps being
        # zero, the floor bandwidth. Cell masses are computed once per distinct kernel.
        self._distinct = [distinct_kernels(mu[k], sigma[k], log_z[k]) for k in space.discrete]
        cont = space.continuous
        every = len(cont) == d  # then rows, not copies
        self._design = gaussian_design(
            mu if every else mu[cont],
            sigma if every else sigma[cont],
            log_z if every else log_z[cont],
            np.log(np.maximum(self._weights, 1e-300)),
            floor,
        ).T

        self._choices = np.full((n + 1, len(space.categorical)), np.nan)
        self._choices[:n] = points[:, space.categorical]
        # Each component's choice per column as an index into _categorical_log_prob's columns.
        self._codes = np.where(np.isnan(self._choices), space.n_choices, self._choices).astype(
            np.intp
        )
        # Aitchison–Aitken shares tied to the prior weight as Optuna's: each component adds the
        # prior's pseudo-count c = prior_weight / (n + 1) to every choice and 1 to its own.
        c = settings.prior_weight / (n + 1)
        sizes = space.n_choices.astype(np.float64)
        self._p_top = (1.0 + c) / (1.0 + sizes * c)
        self._p_other = c / (1.0 + sizes * c)

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
        stays small and is reused, where one ``(m, K)`` array would be fresh memory each call
        (fresh large blocks are page-faulted in, which costs more than the arithmetic).
        """
        space = self._space
        x = points[:, space.numeric[space.continuous]]
        features = np.hstack([x * x, x, np.ones((len(points), 1))])
        discrete = [
            self._discrete_log_mass(int(k), points[:, space.numeric[k]], kernels)
            for k, kernels in zip(space.discrete, self._distinct, strict=True)
        ]
        categorical = [
            (self._categorical_log_prob(j, points[:, column]), self._codes[:, j])
            for j, column in enumerate(space.categorical)
        ]
        m, n_components = len(points), self.n_components
        size = min(max(1, _BLOCK // max(1, m)), n_components)
        scratch = [np.empty(m * size), np.empty(m * size)]  # each below the mmap threshold
        peak = np.full(m, -np.inf)
        total = np.zeros(m)
        for start in range(0, n_components, size):
            part = slice(start, min(start + size, n_components))
            width = part.stop - start
            block = scratch[0][: m * width].reshape(m, width)
            extra = scratch[1][: m * width].reshape(m, width)
            np.matmul(features, self._design[part].T, out=block)
            for rows, kernel in discrete:
                np.take(rows, kernel[part], axis=1, out=extra)
                block += extra
            for rows, code in categorical:
                np.take(rows, code[part], axis=1, out=extra)
                block += extra
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

    def _discrete_log_mass(
        self, k: int, unit: np.ndarray, kernels: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log masses of each point's cell in numeric column ``k`` under the distinct kernels
        (``(m, kernels)``), and for each component the index of its kernel."""
        # Candidates share few distinct values on a grid: evaluate each once.
        distinct, cell = np.unique(unit, return_inverse=True)
        lo, hi = self._space.cells(k, distinct)
        mu, sigma, log_z, kernel = kernels
        table = log_mass((lo[:, None] - mu) / sigma, (hi[:, None] - mu) / sigma)
        table -= log_z
        rows: np.ndarray = table[cell.reshape(-1)]
        return rows, kernel

    def _categorical_log_prob(self, j: int, index: np.ndarray) -> np.ndarray:
        """``(m, n_choices + 1)``: each point's log probability under a component that observed
        each choice, and (last) under one that observed nothing."""
        n_choices = int(self._space.n_choices[j])
        same = index[:, None] == np.arange(n_choices)[None, :]
        result = np.empty((len(index), n_choices + 1))
        top, other = math.log(self._p_top[j]), math.log(max(self._p_other[j], 1e-300))
        result[:, :n_choices] = np.where(same, top, other)
        result[:, n_choices] = -math.log(n_choices)
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
