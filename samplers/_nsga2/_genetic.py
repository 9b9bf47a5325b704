"""Crossover and mutation on vectors of internal coordinates, for genetic samplers.

A child is built from two parents' internal coordinates (see ``Distribution.to_internal``), so
log scales, int grids and categorical indices all look like boxes of floats here. Categorical
coordinates are indices without an order: every crossover swaps them whole (uniformly, with
``swapping_prob``) instead of blending them, and a mutated one is redrawn uniformly.
"""

from __future__ import annotations

import numpy as np

CROSSOVERS = ("uniform", "blxalpha", "sbx")
# BLX-alpha (Eshelman & Schaffer 1993) with the usual alpha: the child is drawn from the parents'
# interval widened by half its length on each side.
BLX_ALPHA = 0.5
# SBX's distribution index (Deb & Agrawal 1995); 20 is the value NSGA-II papers and Optuna use
# for multi-objective problems: children stay near their parents.
SBX_ETA = 20.0


def crossover(
    kind: str,
    rng: np.random.Generator,
    first: np.ndarray,
    second: np.ndarray,
    bounds: np.ndarray,
    categorical: np.ndarray,
    swapping_prob: float,
) -> np.ndarray:
    """One child of ``first`` and ``second`` (``(d,)`` internal coordinates), inside ``bounds``.

    ``bounds`` is ``(d, 2)`` (low, high); ``categorical`` is a ``(d,)`` bool mask. ``kind`` is
    one of :data:`CROSSOVERS`:

    * ``"uniform"``: each coordinate comes from ``second`` with probability ``swapping_prob``;
    * ``"blxalpha"``: each numeric coordinate uniform on the parents' interval widened by
      :data:`BLX_ALPHA` times its length on both sides;
    * ``"sbx"``: simulated binary crossover, bounded variant as in Deb's NSGA-II code, with
      distribution index :data:`SBX_ETA`; each numeric coordinate is crossed with probability
      0.5 and otherwise inherited from either parent.
    """
    swap = rng.random(len(first)) < swapping_prob
    child = np.where(swap, second, first)
    numeric = ~categorical
    if kind == "blxalpha":
        low = np.minimum(first, second)
        high = np.maximum(first, second)
        spread = BLX_ALPHA * (high - low)
        drawn = rng.uniform(low - spread, high + spread)
        child = np.where(numeric, drawn, child)
    elif kind == "sbx":
        child = np.where(numeric, _sbx(rng, first, second, bounds), child)
    elif kind != "uniform":
        raise ValueError(f"crossover {kind!r} is unknown; pass one of {', '.join(CROSSOVERS)}")
    result: np.ndarray = np.clip(child, bounds[:, 0], bounds[:, 1])
    return result


def mutate(
    rng: np.random.Generator, child: np.ndarray, bounds: np.ndarray, mutation_prob: float
) -> np.ndarray:
    """Redraw each coordinate uniformly within its bounds with probability ``mutation_prob``."""
    mutated = rng.random(len(child)) < mutation_prob
    fresh = rng.uniform(bounds[:, 0], bounds[:, 1])
    result: np.ndarray = np.where(mutated, fresh, child)
    return result


def _sbx(
    rng: np.random.Generator, first: np.ndarray, second: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """Bounded simulated binary crossover: one of the two children, per coordinate."""
    d = len(first)
    low, high = bounds[:, 0], bounds[:, 1]
    y1, y2 = np.minimum(first, second), np.maximum(first, second)
    gap = y2 - y1
    crossed = (rng.random(d) < 0.5) & (gap > 1e-14 * np.maximum(1.0, np.abs(y2)))
    u = rng.random(d)
    safe_gap = np.where(crossed, gap, 1.0)
    exponent = 1.0 / (SBX_ETA + 1.0)
    # The spread factor's distribution is truncated so that a child cannot leave the bounds:
    # beta measures the room between each parent and its nearer bound.
    children = []
    for room, sign in ((y1 - low, -1.0), (high - y2, 1.0)):
        beta = 1.0 + 2.0 * np.maximum(room, 0.0) / safe_gap
        alpha = 2.0 - beta ** -(SBX_ETA + 1.0)
        below = u <= 1.0 / alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            betaq = np.where(
                below,
                (u * alpha) ** exponent,
                (1.0 / np.maximum(2.0 - u * alpha, 1e-300)) ** exponent,
            )
        children.append(0.5 * (y1 + y2) + sign * 0.5 * betaq * gap)
    pick_second = rng.random(d) < 0.5
    # Which parent a coordinate is inherited from when it is not crossed.
    inherit_second = rng.random(d) < 0.5
    child = np.where(pick_second, children[1], children[0])
    inherited = np.where(inherit_second, second, first)
    result: np.ndarray = np.where(crossed, child, inherited)
    return result
