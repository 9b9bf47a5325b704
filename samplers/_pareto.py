"""Pareto domination for multi-objective studies: fronts, ranks and constraint violations.

Everything here minimizes: :func:`losses_of` turns recorded objective values into losses by
negating the maximized objectives, so the rest never needs to know the directions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from raysweep.samplers._trial import StudyDirection


def losses_of(
    values: Sequence[Sequence[float]] | np.ndarray, directions: Sequence[StudyDirection]
) -> np.ndarray:
    """The ``(n, m)`` float64 losses of ``n`` rows of values, maximized objectives negated."""
    m = len(directions)
    rows = values if isinstance(values, np.ndarray) else [tuple(row) for row in values]
    if any(len(row) != m for row in rows):
        raise ValueError(f"losses_of: every row of values needs {m} entries, one per direction")
    losses = np.array(rows, dtype=np.float64).reshape(len(rows), m)
    maximized = np.array([d is StudyDirection.MAXIMIZE for d in directions], dtype=bool)
    losses[:, maximized] *= -1.0
    return losses


def constraint_violations(constraints: np.ndarray) -> np.ndarray:
    """How far each of ``n`` trials is from feasible: the sum of its constraints' positive parts.

    ``constraints`` is ``(n, k)``; a constraint is satisfied when ``<= 0``, so 0 means feasible.
    """
    array = _matrix("constraint_violations", "constraints", constraints)
    result: np.ndarray = np.maximum(array, 0.0).sum(axis=1)
    return result


def pareto_front_mask(losses: np.ndarray) -> np.ndarray:
    """True for each point no other point dominates (all <=, one <); copies share a verdict."""
    array = _matrix("pareto_front_mask", "losses", losses)
    unique, inverse = np.unique(array, axis=0, return_inverse=True)
    mask: np.ndarray = _front_of_sorted_unique(unique)[inverse.reshape(-1)]
    return mask


def nondominated_ranks(losses: np.ndarray, violations: np.ndarray | None = None) -> np.ndarray:
    """The non-dominated sorting of ``losses``: 0 for the Pareto front, 1 for the next, ...

    With ``violations`` (see :func:`constraint_violations`), domination is Deb's constrained
    domination (Deb et al. 2002, section VI): feasible points (violation 0) are sorted among
    themselves as without constraints, and every infeasible point ranks after the last feasible
    front, ordered by violation alone (equal violations share a rank).
    """
    array = _matrix("nondominated_ranks", "losses", losses)
    n = len(array)
    if violations is None:
        return _ranks(array)
    violation = np.asarray(violations, dtype=np.float64)
    if violation.shape != (n,):
        raise ValueError(
            f"nondominated_ranks: violations has shape {violation.shape}; pass one per point, "
            f"shape ({n},)"
        )
    if np.isnan(violation).any() or (violation < 0).any():
        raise ValueError("nondominated_ranks: violations must be >= 0 (0 for a feasible point)")
    ranks = np.empty(n, dtype=np.int64)
    feasible = violation == 0.0
    ranks[feasible] = _ranks(array[feasible])
    offset = int(ranks[feasible].max()) + 1 if feasible.any() else 0
    _, inverse = np.unique(violation[~feasible], return_inverse=True)
    ranks[~feasible] = offset + inverse.reshape(-1)
    return ranks


def _ranks(losses: np.ndarray) -> np.ndarray:
    """Peel fronts off the distinct points; duplicates of a point share its rank."""
    unique, inverse = np.unique(losses, axis=0, return_inverse=True)
    ranks = np.empty(len(unique), dtype=np.int64)
    remaining = np.arange(len(unique))
    rank = 0
    while len(remaining):
        front = _front_of_sorted_unique(unique[remaining])
        ranks[remaining[front]] = rank
        # A subsequence of lexicographically sorted rows is still sorted, as the cull needs.
        remaining = remaining[~front]
        rank += 1
    result: np.ndarray = ranks[inverse.reshape(-1)]
    return result


def _front_of_sorted_unique(points: np.ndarray) -> np.ndarray:
    """The non-dominated mask of distinct, lexicographically sorted rows (a "simple cull").

    A point can only be dominated by a lexicographically smaller one, so walking the rows in
    order and discarding whatever the current survivor dominates leaves exactly the front, in
    O(front size * n) vectorized work.
    """
    survivors = np.arange(len(points))
    i = 0
    while i < len(survivors):
        candidate = points[survivors[i]]
        # Rows are distinct, so "all >=" below means dominated, except the candidate itself.
        dominated = np.all(points[survivors[i + 1 :]] >= candidate, axis=1)
        survivors = np.concatenate((survivors[: i + 1], survivors[i + 1 :][~dominated]))
        i += 1
    mask = np.zeros(len(points), dtype=bool)
    mask[survivors] = True
    return mask


def _matrix(function: str, name: str, value: np.ndarray) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{function}: {name} has shape {array.shape}; pass a 2-D array, one row per point"
        )
    if np.isnan(array).any():
        raise ValueError(f"{function}: {name} contains NaN; drop those points first")
    return array
