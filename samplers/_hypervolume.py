"""Exact hypervolume (minimization) and each point's exclusive contribution to it.

Two objectives use a sort-and-sweep (O(n log n)). More use the WFG algorithm (While, Bradstreet
and Barone, "A Fast Way of Calculating Exact Hypervolumes", IEEE TEC 2012): a point's exclusive
volume is its box minus the hypervolume of the other points "limited" to that box. With the
points sorted by their last objective and each compared only with the points before it, every
limited point shares the last coordinate, so the limit set's volume is a slab height times an
(m-1)-dimensional hypervolume: the recursion drops one dimension per level and ends in the sweep.
"""

from __future__ import annotations

import numpy as np

from raysweep.samplers._pareto import pareto_front_mask


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume of the region that ``points`` dominate and ``reference`` bounds.

    ``points`` is ``(n, m)``, ``reference`` is ``(m,)``. A point that does not strictly dominate
    the reference (some coordinate ``>=`` its reference) adds nothing; duplicates and dominated
    points are harmless; a point with a ``-inf`` loss makes the volume infinite.
    """
    array, ref = _checked("hypervolume", points, reference)
    inside = array[np.all(array < ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    if np.isneginf(inside).any():
        return float("inf")
    return _inside_volume(inside, ref)


def hypervolume_contributions(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(n,)``: how much the hypervolume shrinks when each point alone is removed.

    Zero for a point outside the reference box, for a dominated point, and for every copy of a
    duplicated point (its twin still covers the same region). Meaningful for finite points only.
    """
    array, ref = _checked("hypervolume_contributions", points, reference)
    result = np.zeros(len(array))
    inside = np.flatnonzero(np.all(array < ref, axis=1))
    if len(inside) == 0:
        return result
    # Only a front point can contribute, but removing it may uncover points it dominated, so
    # each is measured against all the other points in the box, not just the front.
    others = array[inside]
    for k in np.flatnonzero(pareto_front_mask(others)):
        point = others[k]
        limited = np.maximum(np.delete(others, k, axis=0), point)
        covered = _inside_volume(limited, ref) if len(limited) else 0.0
        result[inside[k]] = float(np.prod(ref - point)) - covered
    return result


def _inside_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of a non-empty set of points that all strictly dominate ``ref``."""
    if ref.size == 1:
        return float(ref[0] - points.min())
    if ref.size == 2:
        return _sweep_2d(points, ref)
    return _wfg(_front(points), ref)


def _sweep_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Area of a union of boxes: sort by x, the running minimum of y is the staircase."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    x = points[order, 0]
    y = np.minimum.accumulate(points[order, 1])
    widths = np.diff(np.append(x, ref[0]))
    return float(np.dot(widths, ref[1] - y))


def _wfg(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of distinct non-dominated points that strictly dominate ``ref`` (m >= 3)."""
    if len(points) == 1:
        return float(np.prod(ref - points[0]))
    order = np.argsort(points[:, -1], kind="stable")
    points = points[order]
    heights = ref[-1] - points[:, -1]
    flat, flat_ref = points[:, :-1], ref[:-1]
    total = 0.0
    for i in range(len(points)):
        box = float(np.prod(flat_ref - flat[i]))
        if i:
            # Earlier points have a lower (or equal) last coordinate, so limiting them to point
            # i's box gives them its last coordinate: their union is a slab over an (m-1)-D set.
            limited = np.maximum(flat[:i], flat[i])
            box -= _inside_volume(limited, flat_ref)
        total += heights[i] * box
    return total


def _front(points: np.ndarray) -> np.ndarray:
    """The distinct non-dominated rows: fewer, smaller subproblems for the recursion."""
    unique = np.unique(points, axis=0)
    front: np.ndarray = unique[pareto_front_mask(unique)]
    return front


def _checked(function: str, points: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, ...]:
    ref = np.asarray(reference, dtype=np.float64)
    array = np.asarray(points, dtype=np.float64)
    if ref.ndim != 1 or ref.size == 0:
        raise ValueError(
            f"{function}: reference has shape {ref.shape}; pass one value per objective"
        )
    if array.ndim != 2 or array.shape[1] != ref.size:
        raise ValueError(
            f"{function}: points has shape {array.shape}; pass a 2-D array with {ref.size} columns"
        )
    if np.isnan(array).any() or np.isnan(ref).any():
        raise ValueError(f"{function}: points and reference must not contain NaN")
    return array, ref
