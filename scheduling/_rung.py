"""One ASHA rung: the values recorded there, ranked, and the cutoff that keeps the best 1/η.

Values are held as *scores*, where higher is better whatever the study's direction (the value
itself when maximising, its negation when minimising, and -inf for NaN), so the rule below is
written once and minimising ``v`` is exactly maximising ``-v``.

The rule: a score passes when it is at least the (1 - 1/η) quantile of all the scores at the
rung, its own included, with the quantile taken by linear interpolation between order
statistics (Hyndman & Fan's type 7, numpy's default ``method="linear"``). For n scores sorted
ascending that quantile sits at position ``(n - 1)(η - 1)/η = k + r/η``. The score being judged is
itself one of the n, so it is at least the interpolated quantile exactly when it is at least the
order statistic at rank ``k`` (if ``r == 0``) or ``k + 1`` (if not): nothing lies strictly
between two neighbours. We compare with that order statistic: exact (integer arithmetic, no
rounding), and still well defined where an infinite neighbour would make the interpolation -inf
or NaN. There it decides as if each infinity were a finite value beyond all the others, and a
NaN one below all of them, tied with -inf. The interpolated quantile is computed only for the
reason shown to people.

Promote mode reads the ranking instead: scores descending, equal scores by lower trial number,
so every trial has a distinct rank and "the top floor(n/η)" is a well-defined set.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, insort


def to_score(value: float, *, maximize: bool) -> float:
    """Map an objective value to a score where higher is better and NaN is the worst."""
    if math.isnan(value):
        return -math.inf
    # Adding 0.0 turns -0.0 into 0.0, so equal scores are also the same float.
    return (value if maximize else -value) + 0.0


def from_score(score: float, *, maximize: bool) -> float:
    """The objective value a score stands for (NaN comes back as the worst infinity)."""
    return (score if maximize else -score) + 0.0


class Rung:
    """The scores recorded at one rung, at most one per trial, kept in rank order.

    Entries are ``(score, -trial)`` pairs sorted ascending, so the scores are in ascending order
    for the quantile rule and the whole list, read from the end, is the ranking that promotion
    uses: higher score first, ties to the lower trial number.
    """

    def __init__(self, resource: int) -> None:
        self.resource = resource
        self._score_by_trial: dict[int, float] = {}
        self._ascending: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._ascending)

    def __contains__(self, trial: object) -> bool:
        return trial in self._score_by_trial

    def record(self, trial: int, score: float) -> None:
        """Record a trial's score, replacing the one an earlier attempt recorded here."""
        old = self._score_by_trial.get(trial)
        if old is not None:
            del self._ascending[bisect_left(self._ascending, (old, -trial))]
        insort(self._ascending, (score, -trial))
        self._score_by_trial[trial] = score

    def entries(self) -> list[tuple[float, int]]:
        """``(score, trial)`` of every trial recorded here, lowest score first (ties: higher
        trial number first), as :meth:`restore` reads them back."""
        return [(score, -negated) for score, negated in self._ascending]

    def columns(self) -> tuple[list[float], list[int]]:
        """The scores and trials of :meth:`entries`, as two lists (a saved state's layout;
        cheaper than transposing the entries)."""
        ascending = self._ascending
        return [score for score, _ in ascending], [-negated for _, negated in ascending]

    def restore(self, entries: list[tuple[float, int]]) -> None:
        """Hold exactly ``entries`` (from :meth:`entries`); ValueError if they are not such."""
        ascending = [(float(score), -int(trial)) for score, trial in entries]
        if any(a >= b for a, b in itertools.pairwise(ascending)):
            raise ValueError(f"the entries of rung {self.resource} are not in rank order")
        self._ascending = ascending
        self._score_by_trial = {-negated: score for score, negated in ascending}
        if len(self._score_by_trial) != len(ascending):
            raise ValueError(f"rung {self.resource} holds a trial twice")

    def score(self, trial: int) -> float:
        """The score recorded for ``trial`` (``KeyError`` if it has none here)."""
        return self._score_by_trial[trial]

    def rank(self, trial: int) -> int:
        """The 0-based rank of a recorded trial: 0 is the best, ties go to the lower trial."""
        key = (self._score_by_trial[trial], -trial)
        return len(self._ascending) - 1 - bisect_left(self._ascending, key)

    def passes(self, score: float, reduction_factor: int) -> bool:
        """Whether a recorded score is at least the rung's (1 - 1/η) quantile."""
        k, r = _quantile_position(len(self._ascending), reduction_factor)
        return score >= self._ascending[k if r == 0 else k + 1][0]

    def cutoff(self, reduction_factor: int) -> float:
        """The (1 - 1/η) quantile of the scores, for display; see the module docstring."""
        k, r = _quantile_position(len(self._ascending), reduction_factor)
        low = self._ascending[k][0]
        if r == 0 or low == self._ascending[k + 1][0]:
            return low
        high = self._ascending[k + 1][0]
        if math.isinf(low) or math.isinf(high):
            return high
        fraction = r / reduction_factor
        # This form cannot overflow for finite ends; the clamp absorbs the last rounding.
        return min(max(low * (1.0 - fraction) + high * fraction, low), high)


def _quantile_position(n: int, reduction_factor: int) -> tuple[int, int]:
    """``(k, r)`` with ``(n - 1)(η - 1)/η == k + r/η``, computed exactly."""
    if n < 1:
        raise ValueError("a rung with no scores has no cutoff")
    return divmod((n - 1) * (reduction_factor - 1), reduction_factor)
