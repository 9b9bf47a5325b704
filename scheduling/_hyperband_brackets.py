"""Hyperband's bracket arithmetic: each bracket's expected cost, and the trial-to-bracket rule."""

from __future__ import annotations

import functools
import math
import threading
from fractions import Fraction

from raysweep.scheduling._ladder import ladder


def bracket_count(min_resource: int, max_resource: int, reduction_factor: int) -> int:
    """``s_max + 1``: the number of brackets s whose first rung ``min_resource * η**s`` fits."""
    count, first = 0, min_resource
    while first <= max_resource:
        count += 1
        first *= reduction_factor
    return count


def bracket_rungs(
    min_resource: int, max_resource: int, reduction_factor: int, bracket: int
) -> tuple[int, ...]:
    """The rungs of bracket ``bracket``: ASHA's ladder from ``min_resource * η**bracket``.

    Empty for the bracket whose first rung would be ``max_resource`` itself.
    """
    return ladder(min_resource * reduction_factor**bracket, max_resource, reduction_factor)


def expected_resource(rungs: tuple[int, ...], max_resource: int, reduction_factor: int) -> Fraction:
    """The steps a trial of an ASHA bracket uses on average, if each rung keeps exactly 1/η.

    Every trial runs to the first rung ``r_0``; a fraction ``η**-(i+1)`` of them goes on from
    ``r_i`` to ``r_{i+1}`` (with ``r_m = max_resource``). Without rungs every trial runs to the
    end.
    """
    if not rungs:
        return Fraction(max_resource)
    levels = (*rungs, max_resource)
    total = Fraction(levels[0])
    for i in range(len(rungs)):
        total += Fraction(levels[i + 1] - levels[i], reduction_factor ** (i + 1))
    return total


def bracket_weights(costs: list[Fraction]) -> tuple[int, ...]:
    """Integer weights proportional to ``1 / cost``, in lowest terms.

    Integers keep the round robin below exact: no rounding can break a tie differently on
    another machine, or after a change in the order of floating-point operations.
    """
    inverses = [1 / cost for cost in costs]
    scale = math.lcm(*(inverse.denominator for inverse in inverses))
    weights = [int(inverse * scale) for inverse in inverses]
    divisor = math.gcd(*weights)
    return tuple(weight // divisor for weight in weights)


class BracketSequence:
    """The bracket of trial 0, 1, 2, ... by smooth weighted round robin, computed on demand.

    Each turn adds every bracket's weight to its credit, gives the turn to the bracket with the
    largest credit (ties to the lower bracket), and takes the total weight from that credit. So
    after n trials each bracket has had ``n * weight / total`` of them, give or take one.
    """

    def __init__(self, weights: tuple[int, ...]) -> None:
        self._weights = weights
        self._total = sum(weights)
        self._credits = [0] * len(weights)
        self._sequence: list[int] = []
        self._lock = threading.Lock()

    def __getitem__(self, trial: int) -> int:
        if trial >= len(self._sequence):
            # Two threads extending at once would interleave their turns and scramble the order.
            with self._lock:
                while len(self._sequence) <= trial:
                    self._sequence.append(self._turn())
        return self._sequence[trial]

    def _turn(self) -> int:
        credits = self._credits
        chosen = 0
        for index, weight in enumerate(self._weights):
            credits[index] += weight
            if credits[index] > credits[chosen]:
                chosen = index
        credits[chosen] -= self._total
        return chosen


@functools.cache
def bracket_sequence(
    min_resource: int, max_resource: int, reduction_factor: int, brackets: int
) -> BracketSequence:
    """The memoized sequence of a Hyperband configuration, weights ``∝ 1 / expected_resource``.

    Kept at module level rather than on the frozen configuration, so that configurations stay
    plain values (picklable, equal by their fields) and equal ones share the work.
    """
    costs = [
        expected_resource(
            bracket_rungs(min_resource, max_resource, reduction_factor, s),
            max_resource,
            reduction_factor,
        )
        for s in range(brackets)
    ]
    return BracketSequence(bracket_weights(costs))
