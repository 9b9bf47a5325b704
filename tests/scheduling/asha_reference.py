"""A literal, slow restatement of the ASHA stop rule, to test the real one against.

Written from the rule's text, not from the implementation: rung values kept per (rung, trial),
crossing tracked per attempt by the highest step seen, and the quantile computed exactly with
fractions by linear interpolation between order statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from raysweep.scheduling import Action


def exact_quantile(values: list[float], q: Fraction) -> Fraction:
    """numpy's default ("linear") quantile, computed without rounding; finite values only."""
    ordered = sorted(Fraction(v) for v in values)
    position = (len(ordered) - 1) * q
    k = math.floor(position)
    if k == len(ordered) - 1:
        return ordered[k]
    return ordered[k] + (ordered[k + 1] - ordered[k]) * (position - k)


@dataclass
class Tracker:
    """What a report crosses, and the values each rung holds, given the rung steps."""

    rungs: tuple[int, ...]
    values: dict[int, dict[int, float]] = field(default_factory=dict)
    newest_attempt: dict[int, int] = field(default_factory=dict)
    highest_step: dict[int, int] = field(default_factory=dict)
    stopped: dict[int, bool] = field(default_factory=dict)

    def crossed(self, trial: int, attempt: int, step: int) -> list[int] | None:
        """The rungs this report crosses (updating the attempt's progress), None if stale."""
        newest = self.newest_attempt.get(trial)
        if newest is not None and attempt < newest:
            return None
        if newest is None or attempt > newest:
            self.newest_attempt[trial] = attempt
            self.highest_step[trial] = 0
            self.stopped[trial] = False
        previous = self.highest_step[trial]
        self.highest_step[trial] = max(previous, step)
        return [r for r in self.rungs if previous < r <= step]

    def record(self, rung: int, trial: int, value: float) -> list[float]:
        """Record the value; return every value at the rung now, the trial's own included."""
        at_rung = self.values.setdefault(rung, {})
        at_rung[trial] = value
        return list(at_rung.values())


class ReferenceASHA:
    """Decisions as (action, rung) pairs, for finite values."""

    def __init__(self, rungs: tuple[int, ...], eta: int, *, maximize: bool) -> None:
        self.tracker = Tracker(rungs)
        self.eta = eta
        self.maximize = maximize

    def report(
        self, trial: int, attempt: int, step: int, value: float
    ) -> tuple[Action, int | None]:
        crossed = self.tracker.crossed(trial, attempt, step)
        if not crossed:
            return Action.CONTINUE, None
        if self.tracker.stopped[trial]:
            return Action.STOP, crossed[-1]
        for rung in crossed:
            at_rung = self.tracker.record(rung, trial, value)
            if self.maximize:
                good = Fraction(value) >= exact_quantile(at_rung, 1 - Fraction(1, self.eta))
            else:
                good = Fraction(value) <= exact_quantile(at_rung, Fraction(1, self.eta))
            if not good:
                self.tracker.stopped[trial] = True
                return Action.STOP, rung
        return Action.CONTINUE, crossed[-1]
