"""NSGA-II's survival and mating selection (Deb et al. 2002), on plain hashable tuples.

A candidate is ``(trial number, losses, violation)``: losses are minimized (maximized objectives
already negated) and the violation is 0 for a feasible trial. Plain tuples make the inputs of a
selection cheap to compare, so that results can be memoized on them exactly: a memo hit returns
what the computation would.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from raysweep.samplers._pareto import nondominated_ranks

Candidate = tuple[int, tuple[float, ...], float]
Population = tuple[Candidate, ...]

# Fitness is asked for the same parent population by every child of a generation.
_CACHE_SIZE = 256


def parent_population(
    generations: Sequence[Population],
    size: int,
    memo: dict[int, tuple[Population, Population]] | None = None,
) -> Population:
    """The parents of the generation after ``generations`` (each its COMPLETE candidates).

    NSGA-II's elitist (mu + lambda) step, from an empty population: each generation's survivors
    are the best ``size`` of the previous survivors and that generation's candidates.
    ``memo`` (generation index -> (candidates, survivors)) skips a step whose candidates are
    unchanged; it is updated in place and only ever saves time.
    """
    population: Population = ()
    for index, offspring in enumerate(generations):
        candidates = tuple(sorted(population + offspring))
        known = None if memo is None else memo.get(index)
        if known is not None and known[0] == candidates:
            population = known[1]
            continue
        population = survivors(candidates, size)
        if memo is not None:
            memo[index] = (candidates, population)
    return population


def survivors(candidates: Population, size: int) -> Population:
    """The best ``size`` candidates: by (constrained) non-dominated rank, then crowding distance.

    Whole fronts are taken while they fit; the front that does not fit contributes its least
    crowded members. Ties in crowding distance go to the lower trial number, so the result is a
    function of the candidates alone.
    """
    if len(candidates) <= size:
        return candidates
    ranks, crowding = fitness(candidates)
    numbers = np.array([number for number, _, _ in candidates])
    order = np.lexsort((numbers, -np.array(crowding), np.array(ranks)))
    kept = sorted(order[:size].tolist())
    return tuple(candidates[i] for i in kept)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def fitness(candidates: Population) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Each candidate's rank under Deb's constrained domination and its crowding distance.

    The crowding distance is measured within the candidate's own rank (front, or group of equal
    violation among infeasible candidates).
    """
    if not candidates:
        return (), ()
    losses = np.array([losses for _, losses, _ in candidates], dtype=np.float64)
    violations = np.array([violation for _, _, violation in candidates], dtype=np.float64)
    ranks = nondominated_ranks(losses, violations)
    crowding = np.zeros(len(candidates))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = crowding_distance(losses[members])
    return tuple(ranks.tolist()), tuple(crowding.tolist())


def crowding_distance(losses: np.ndarray) -> np.ndarray:
    """Deb's crowding distance of the points of one front (``(n, m)`` losses).

    For each objective, a point's neighbours' gap divided by the objective's range; the extreme
    points of each objective get infinity so that the front's ends are always kept. Infinite
    losses are clamped to the finite range first, so that they compare but do not turn the sum
    into NaN; an objective with no range adds nothing.
    """
    n, m = losses.shape
    if n <= 2:
        return np.full(n, np.inf)
    distance = np.zeros(n)
    for j in range(m):
        finite = losses[np.isfinite(losses[:, j]), j]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        order = np.argsort(losses[:, j], kind="stable")
        column = np.clip(losses[order, j], low, high)
        span = column[-1] - column[0]
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
        distance[order[[0, -1]]] = np.inf
    return distance


def binary_tournament(
    rng: np.random.Generator,
    ranks: Sequence[int],
    crowding: Sequence[float],
    exclude: int | None = None,
) -> int:
    """The index of the better of two distinct random entrants (lower rank, then less crowded).

    ``exclude`` keeps an index out, so that a second parent differs from the first; with a
    single entrant left it wins unopposed. An exact tie goes to the first entrant drawn.
    """
    entrants = np.array([i for i in range(len(ranks)) if i != exclude])
    if len(entrants) == 1:
        return int(entrants[0])
    a, b = (int(i) for i in rng.choice(entrants, size=2, replace=False))
    if ranks[a] != ranks[b]:
        return a if ranks[a] < ranks[b] else b
    return b if crowding[b] > crowding[a] else a
