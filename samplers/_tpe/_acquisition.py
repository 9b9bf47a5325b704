"""How TPE scores its candidates: the density ratio, and the distance kept from running trials.

A candidate's score is log l(x) - log g(x); with constraints, c-TPE's sum of log relative density
ratios, one term per constraint (Watanabe & Hutter 2023).

The constant liar puts running trials in the "bad" set, which lowers l(x)/g(x) around them; but
with TPE's narrow kernels a candidate a fraction of a percent away from a running point can still
score best, so workers asking at once could be handed near-copies of one point. A proposal is
therefore refused if it lies within ``MIN_SEPARATION`` of a running trial's point in every
parameter of its group (an equal categorical counts as within, a different one as apart; a
parameter the running trial does not hold counts as apart).
"""

from __future__ import annotations

import math

import numpy as np

from raysweep.samplers._tpe._parzen import ParzenEstimator

# In units of each parameter's range (internal coordinates): twice the 1 % at which two points
# count as near-duplicates, so that rounding on either side cannot bring them back together.
MIN_SEPARATION = 0.02


def acquisition(
    terms: list[tuple[ParzenEstimator, ParzenEstimator, float]], candidates: np.ndarray
) -> np.ndarray:
    """The score of each candidate under ``(below, above, gamma)`` terms, the objective's first."""
    if len(terms) == 1:
        below, above, _ = terms[0]
        result: np.ndarray = below.log_pdf(candidates) - above.log_pdf(candidates)
        return result
    total = np.zeros(len(candidates))
    for below, above, gamma in terms:
        log_ratio = above.log_pdf(candidates) - below.log_pdf(candidates)
        with np.errstate(divide="ignore"):
            log_rest = math.log1p(-gamma) if gamma < 1.0 else -np.inf
        total -= np.logaddexp(math.log(max(gamma, 1e-12)), log_rest + log_ratio)
    return total


def nearest_running(
    candidates: np.ndarray, taken: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    """For each candidate, the Chebyshev distance to the nearest running point.

    ``candidates`` (c, d) and ``taken`` (r, d) are estimator coordinates: numeric columns in
    [0, 1], categorical columns as choice indices; NaN in ``taken`` marks a missing parameter.
    """
    gaps = np.abs(candidates[:, None, :] - taken[None, :, :])
    missing = np.isnan(gaps)
    if len(categorical):
        gaps[:, :, categorical] = np.where(gaps[:, :, categorical] > 0.0, 1.0, 0.0)
    gaps[missing] = 1.0
    nearest: np.ndarray = gaps.max(axis=2).min(axis=1)
    return nearest


def keep_apart(
    scores: np.ndarray, candidates: np.ndarray, taken: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    """Scores with candidates too close to a running point ruled out (-inf).

    When every candidate is too close, the one farthest from its nearest running point wins.
    """
    if not len(taken) or not len(candidates):
        return scores
    nearest = nearest_running(candidates, taken, categorical)
    close = nearest < MIN_SEPARATION
    if not close.any():
        return scores
    if close.all():
        return nearest
    result = scores.copy()
    result[close] = -np.inf
    return result
