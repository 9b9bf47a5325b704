"""A literal, slow restatement of the percentile stopping rule, to test the real one against.

Written from the rule's text, not from the implementation: it keeps every report of each
trial's newest attempt, finds decision steps by testing each step against their definition,
and works in the objective's own direction (no scores). Values are compared as pairs
``(m, a)`` standing for ``a + m*M`` with one number M beyond every finite value, so +inf is
``(1, 0)``, -inf is ``(-1, 0)`` and NaN is the worst of the two; the quantile is interpolated
exactly on these pairs with fractions, and a finite result is rounded to the nearest float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from raysweep.scheduling import Action, PercentileStopping

Pair = tuple[Fraction, Fraction]


def as_pair(value: float, *, maximize: bool) -> Pair:
    if math.isnan(value):
        value = -math.inf if maximize else math.inf
    if math.isinf(value):
        return (Fraction(1 if value > 0 else -1), Fraction(0))
    return (Fraction(0), Fraction(value))


def exact_quantile(values: list[Pair], q: Fraction) -> Pair:
    """numpy's default ("linear") quantile of the pairs, computed without rounding."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    k = math.floor(position)
    if k == len(ordered) - 1:
        return ordered[k]
    f = position - k
    (lm, la), (hm, ha) = ordered[k], ordered[k + 1]
    m, a = lm + (hm - lm) * f, la + (ha - la) * f
    return (m, Fraction(float(a))) if m == 0 else (m, a)


@dataclass
class _Attempt:
    number: int
    reported: list[tuple[int, float]] = field(default_factory=list)  # every report kept
    recorded: dict[int, float] = field(default_factory=dict)  # step -> value, until the stop
    stopped: bool = False


@dataclass
class ReferencePercentile:
    rule: PercentileStopping
    maximize: bool
    trials: dict[int, _Attempt] = field(default_factory=dict)

    def is_decision_step(self, step: int) -> bool:
        w, i, top = self.rule.warmup_steps, self.rule.interval_steps, self.rule.max_resource
        return step > w and (step - w - 1) % i == 0 and (top is None or step <= top)

    def report(
        self, trial: int, attempt: int, step: int, value: float
    ) -> tuple[Action, int | None]:
        current = self.trials.get(trial)
        if current is not None and attempt < current.number:
            return Action.CONTINUE, None
        if current is None or attempt > current.number:
            current = self.trials[trial] = _Attempt(attempt)
        highest = max((s for s, _ in current.reported), default=0)
        crossing = any(self.is_decision_step(s) for s in range(highest + 1, step + 1))
        if current.stopped:
            current.reported.append((step, value))
            return (Action.STOP, step) if crossing else (Action.CONTINUE, None)
        current.reported.append((step, value))
        others = [
            as_pair(t.recorded[step], maximize=self.maximize)
            for number, t in self.trials.items()
            if number != trial and step in t.recorded
        ]
        current.recorded[step] = value
        if not crossing:
            return Action.CONTINUE, None
        if len(others) < self.rule.min_trials:
            return Action.CONTINUE, step
        pairs = [as_pair(v, maximize=self.maximize) for _, v in current.reported]
        p = Fraction(self.rule.percentile) / 100
        if self.maximize:
            kept = max(pairs) >= exact_quantile(others, 1 - p)
        else:
            kept = min(pairs) <= exact_quantile(others, p)
        current.stopped = not kept
        return (Action.CONTINUE if kept else Action.STOP), step
