"""The numeric kernels of TPE's Parzen estimator: bandwidths, truncation normalizers and the
Gaussian design, for all columns at once.

Kernels are held column by column in ``(d, n + 1)`` C arrays (row ``k`` is column ``k``, the last
entry the prior). Columns are processed in chunks of at most ``_CHUNK`` kernels: one numpy call
per chunk rather than per column, while every temporary stays small enough for the allocator to
reuse. Fresh large blocks are mapped from the system and page-faulted on every call, which costs
more than the arithmetic. Each entry is computed by the same floating-point operations whatever
the chunking, so results do not depend on it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

_LOG_2PI = math.log(2.0 * math.pi)
# Kernels per chunk: 64 KiB of float64, below glibc's default 128 KiB mmap threshold.
_CHUNK = 8192
# ndtr(-x) is exactly 0.0 from x of about 38 on.
_UNDERFLOW = 40.0


def fit_columns(
    mu: np.ndarray,
    sigma: np.ndarray,
    log_z: np.ndarray,
    orders: np.ndarray | None,
    lower: np.ndarray,
    consider_endpoints: bool,
) -> None:
    """Fill ``sigma`` (bandwidths) and ``log_z`` (log masses on [0, 1]) in place from ``mu``.

    ``mu[:, :n]`` holds the observations (NaN = missing), the last entry of each row the prior,
    whose ``sigma`` is set already. ``orders``, when given, is ``(n, d)``: per column the
    positions with a value sorted by it (ties by trial number), then those without. ``lower``
    holds each column's smallest bandwidth. Missing observations get the prior's kernel.
    """
    d, n = mu.shape[0], mu.shape[1] - 1
    step = max(1, _CHUNK // (n + 1))
    for start in range(0, d, step):
        rows = slice(start, start + step)
        m, s = mu[rows], sigma[rows]
        missing = np.isnan(m[:, :n])
        # Without given orders, a stable sort: NaN sorts last.
        order = np.argsort(m[:, :n], axis=1, kind="stable") if orders is None else orders[:, rows].T
        _neighbor(m, order, missing, consider_endpoints, s)
        np.maximum(s, lower[rows, None], out=s)
        np.minimum(s, 1.0, out=s)
        # Components without a value here take the prior's kernel: they say nothing.
        if missing.any():
            m[:, :n][missing], s[:, :n][missing] = 0.5, 1.0
        _log_normalizer(m, s, missing, log_z[rows])


def _neighbor(
    mu: np.ndarray,
    orders: np.ndarray,
    missing: np.ndarray,
    consider_endpoints: bool,
    out: np.ndarray,
) -> None:
    """Write each point's larger gap to its neighbours into ``out`` (anything where a point has
    no value); the range's ends count as neighbours, except for the outermost points unless
    ``consider_endpoints``. ``orders[k]`` sorts row ``k``, points without a value last."""
    d, n = orders.shape
    if n == 0 or d == 0:
        return
    counts = n - missing.sum(axis=1)
    # Flat indices: ``take`` and item assignment are several times faster than along-axis ones.
    flat = orders + (np.arange(d) * (n + 1))[:, None]
    padded = np.empty((d, n + 2))
    padded[:, 0], padded[:, -1] = 0.0, 1.0
    ordered = padded[:, 1:-1]
    np.take(mu, flat, out=ordered)
    if counts.min() < n:
        # The missing values sort last: as the range's end they leave the others' gaps alone.
        np.copyto(ordered, 1.0, where=np.isnan(ordered))
    steps = np.diff(padded, axis=1)
    gaps = np.maximum(steps[:, :-1], steps[:, 1:])
    if not consider_endpoints:
        columns = np.flatnonzero(counts >= 2)
        last = counts[columns] - 1
        gaps[columns, 0] = steps[columns, 1]
        gaps[columns, last] = steps[columns, last]
    out.ravel()[flat] = gaps


def _log_normalizer(
    mu: np.ndarray, sigma: np.ndarray, missing: np.ndarray, out: np.ndarray
) -> None:
    """Each kernel's log mass on [0, 1] into ``out``; mu lies inside, so it is at least ~0.5.

    A kernel further than 8 bandwidths from an end loses nothing measurable there (Phi(-8) is
    6e-16). Only the kernels whose mean lies within 8 of their column's widest bandwidths of an
    end are computed: on a large, concentrated set of observations they are a small fraction.
    The ``missing`` kernels (wide) and the prior (the last one) are always computed.
    """
    n = missing.shape[1]
    reach = 8.0 * np.max(sigma[:, :n], axis=1, where=~missing, initial=-np.inf)[:, None]
    near = np.ones(mu.shape, dtype=bool)
    observed = mu[:, :n]
    np.less(observed, reach, out=near[:, :n])
    near[:, :n] |= observed >= 1.0 - reach
    near[:, :n] |= missing
    # Flat indices: a boolean index of a scattered mask is several times slower.
    where = np.flatnonzero(near)
    m, s = mu.ravel().take(where), sigma.ravel().take(where)
    # Distances to the two ends in bandwidths; the mass beyond the further end is usually
    # exactly 0.0 in double precision: computed only where it is not.
    below, above = m / s, (1.0 - m) / s
    near_end, far_end = np.minimum(below, above), np.maximum(below, above)
    lost = ndtr(-near_end)
    both = np.flatnonzero(far_end < _UNDERFLOW)
    lost[both] += ndtr(-far_end[both])
    out[:] = 0.0
    out.ravel()[where] = np.log1p(-lost)


def gaussian_design(
    mu: np.ndarray, sigma: np.ndarray, log_z: np.ndarray, log_weights: np.ndarray, floor: float
) -> np.ndarray:
    """Columns ``(-1/(2 s^2), mu/s^2, constant)`` over the ``(c, K)`` continuous kernels, so
    that a component's log weight plus log density at x is ``(x^2, x, 1) . column``."""
    c, size = mu.shape
    design = np.empty((2 * c + 1, size))
    precision, linear = design[:c], design[c : 2 * c]
    np.multiply(sigma, sigma, out=precision)
    np.reciprocal(precision, out=precision)
    np.multiply(mu, precision, out=linear)
    constant = design[2 * c]
    constant[:] = log_weights - 0.5 * c * _LOG_2PI
    product = np.ones(size)
    # Bandwidths lie in [floor, 1]: a product of this many of them stays a normal float, so
    # one log per run of columns replaces one per column. Columns are summed one at a time, in
    # order, so that every sum is rounded the same way whatever the chunking.
    run = max(1, int(600.0 / max(1.0, -math.log(floor))))
    step = max(1, _CHUNK // size)
    for start in range(0, c, step):
        rows = slice(start, start + step)
        scratch = mu[rows] * linear[rows]
        scratch *= 0.5
        scratch += log_z[rows]
        for offset, term in enumerate(scratch):
            i = start + offset
            constant -= term
            product *= sigma[i]
            if (i + 1) % run == 0 or i == c - 1:
                constant -= np.log(product)
                product[:] = 1.0
    precision *= -0.5
    return design


def distinct_kernels(
    mu: np.ndarray, sigma: np.ndarray, log_z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (mean, bandwidth) pairs of one column, their log normalizers, and for each
    component the index of its pair. Equal pairs have equal normalizers."""
    pairs, first, inverse = np.unique(mu + 1j * sigma, return_index=True, return_inverse=True)
    return pairs.real.copy(), pairs.imag.copy(), log_z[first], inverse.reshape(-1)
