"""The per-study state of the percentile stopping rule, and its cutoff arithmetic.

Values are held as *scores* (``raysweep.scheduling._rung.to_score``: higher is better, NaN is
-inf), so the rule is written once for both directions: a trial continues when its best score
so far is at least the ``q`` quantile of the other trials' scores at the step, ``q`` being
``(100 - percentile) / 100``. For n sorted scores that quantile (linear interpolation, numpy's
default) sits at position ``(n - 1) q = k + f``; with ``q = num/den`` we get ``k`` and
``f = r/den`` exactly from integer division. Between two finite neighbours the cutoff is the
interpolated value computed exactly and rounded once to the nearest float, so a best value
that prints like the cutoff is at it (numpy's own rounding may differ from it by an ulp). An
infinite neighbour stands for ``±M``, one number ``M`` beyond every finite value, which keeps
the cutoff well defined and the same in both directions.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from fractions import Fraction

from raysweep.scheduling._base import Scheduler, SchedulerState, check_report
from raysweep.scheduling._decision import Action, Decision
from raysweep.scheduling._rung import from_score, to_score


class _StepValues:
    """The scores recorded at one step, at most one per trial, kept sorted ascending."""

    __slots__ = ("ascending", "by_trial")

    def __init__(self) -> None:
        self.by_trial: dict[int, float] = {}
        self.ascending: list[float] = []

    def record(self, trial: int, score: float) -> None:
        if trial in self.by_trial:
            self.forget(trial)
        insort(self.ascending, score)
        self.by_trial[trial] = score

    def forget(self, trial: int) -> None:
        del self.ascending[bisect_left(self.ascending, self.by_trial.pop(trial))]


def cutoff(ascending: list[float], quantile: Fraction) -> tuple[float, bool]:
    """The ``quantile`` quantile of ``ascending`` (n >= 1) as ``(value, strict)``.

    A score passes when it is above ``value``, or equal to it unless ``strict``.
    """
    k, r = divmod((len(ascending) - 1) * quantile.numerator, quantile.denominator)
    low = ascending[k]
    if r == 0 or low == ascending[k + 1]:
        return low, False
    high = ascending[k + 1]
    if low == -math.inf and high == math.inf:
        # M(2f - 1): below every finite value when f < 1/2, above every one when f > 1/2.
        side = 2 * r - quantile.denominator
        if side == 0:
            return 0.0, False
        return (math.inf, False) if side > 0 else (-math.inf, True)
    if high == math.inf:
        return math.inf, False  # above every finite value: only +inf passes
    if low == -math.inf:
        return -math.inf, True  # above -inf only: every finite value passes
    # low + (high - low) r/den on the floats' exact ratios (denominators are powers of 2);
    # int / int is correctly rounded.
    den = quantile.denominator
    low_n, low_d = low.as_integer_ratio()
    high_n, high_d = high.as_integer_ratio()
    exact_n = low_n * high_d * den + (high_n * low_d - low_n * high_d) * r
    return exact_n / (low_d * high_d * den), False


@dataclass
class _Attempt:
    """Where the newest known attempt of one trial stands."""

    attempt: int
    highest_step: int = 0
    best: float = -math.inf  # the best score so far; NaN-only is the worst
    stopped_at: int | None = None
    steps: list[int] = field(default_factory=list)  # where it has values, to forget on reset


class PercentileState(SchedulerState):
    """The state behind :class:`~raysweep.scheduling.PercentileStopping` (see its docstring)."""

    def __init__(
        self,
        config: Scheduler,
        *,
        maximize: bool,
        quantile: Fraction,
        min_trials: int,
        cutoff_name: str,
    ) -> None:
        self._config = config
        self._maximize = maximize
        self._quantile = quantile
        self._min_trials = min_trials
        self._cutoff_name = cutoff_name
        self._steps: dict[int, _StepValues] = {}
        self._trials: dict[int, _Attempt] = {}

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        value = check_report(self._config, trial, attempt, step, value)
        progress = self._trials.get(trial)
        if progress is None or attempt > progress.attempt:
            if progress is not None:
                self._forget(trial, progress)
            progress = self._trials[trial] = _Attempt(attempt)
        elif attempt < progress.attempt:
            return Decision(
                Action.CONTINUE,
                f"stale report from attempt {attempt} of trial {trial} (attempt "
                f"{progress.attempt} is the newest); ignored",
            )
        due = self._config.next_decision_step(progress.highest_step)
        crossing = due is not None and due <= step
        progress.highest_step = max(progress.highest_step, step)
        if progress.stopped_at is not None:
            reason = (
                f"trial {trial} was already stopped at step {progress.stopped_at} in attempt "
                f"{attempt}; value not recorded"
            )
            if crossing:
                return Decision(Action.STOP, reason, rung=step)
            return Decision(Action.CONTINUE, reason)
        score = to_score(value, maximize=self._maximize)
        progress.best = max(progress.best, score)
        if due is not None and crossing:
            decision = self._judge(step, due, progress.best)
        else:
            decision = Decision(Action.CONTINUE, f"no decision step reached at step {step}")
        # Judged before recording: a crossing report is the attempt's first value at its step.
        self._record(trial, step, score, progress)
        if decision.action is Action.STOP:
            progress.stopped_at = step
        return decision

    def _judge(self, step: int, due: int, best: float) -> Decision:
        table = self._steps.get(step)
        others = table.ascending if table is not None else []
        n = len(others)
        prefix = f"step {step} is past decision step {due}; " if due < step else ""
        if n < self._min_trials:
            return Decision(
                Action.CONTINUE,
                f"{prefix}only {n} other trial{'' if n == 1 else 's'} reported at step {step}, "
                f"fewer than min_trials={self._min_trials}; it continues",
                rung=step,
            )
        threshold, strict = cutoff(others, self._quantile)
        kept = best > threshold or (best == threshold and not strict)
        shown_cutoff = from_score(threshold, maximize=self._maximize)
        if self._maximize:
            relation = "is at or above" if kept else "is below"
        else:
            relation = "is at or below" if kept else "is above"
        shown = from_score(best, maximize=self._maximize)
        return Decision(
            Action.CONTINUE if kept else Action.STOP,
            f"{prefix}best value so far {shown:.6g} {relation} {shown_cutoff:.6g}, "
            f"{self._cutoff_name} of {n} other trial{'' if n == 1 else 's'} at step {step}",
            rung=step,
        )

    def _record(self, trial: int, step: int, score: float, progress: _Attempt) -> None:
        table = self._steps.get(step)
        if table is None:
            table = self._steps[step] = _StepValues()
        if trial not in table.by_trial:
            progress.steps.append(step)
        table.record(trial, score)

    def _forget(self, trial: int, progress: _Attempt) -> None:
        for step in progress.steps:
            table = self._steps[step]
            table.forget(trial)
            if not table.by_trial:
                del self._steps[step]
