"""The percentile stopping rule and its median case: stop a trial behind the others' curves."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar

from raysweep.scheduling._base import Scheduler, SchedulerState, as_int, check_maximize
from raysweep.scheduling._percentile_state import PercentileState


@dataclass(frozen=True, kw_only=True)
class PercentileStopping(Scheduler):
    """Stop a trial whose best value so far is outside the top ``percentile``% of the others.

    The rule of Optuna's ``PercentilePruner`` ("top of 25th percentile trials are kept"), run
    asynchronously. At a decision step ``s`` the comparison set is, for every *other* trial, the
    value its newest attempt reported at exactly step ``s`` (stopped trials included: they keep
    the values they reported up to their stop). The judged trial's *best value so
    far* (the max when maximising, the min when minimising, over this attempt's reports, NaN
    ignored unless every report is NaN) is compared with the cutoff:

    * maximising: the ``100 - percentile`` percentile of the set; the trial continues if its
      best so far is at or above it;
    * minimising: the ``percentile`` percentile of the set; the trial continues if its best so
      far is at or below it.

    Example, maximising with ``percentile=25``: the others reported 1, 2, 3, 4, 5 at step 6, so
    the cutoff is their 75th percentile, 4; a trial whose best so far is 4 (or more) continues,
    one at 3.9 stops. Minimising, the cutoff is their 25th percentile, 2. Percentiles are by
    linear interpolation between order statistics (numpy's default ``method="linear"``),
    computed exactly and rounded once to the nearest float, so that a best value equal to the
    cutoff as printed is at it (``percentile=10``, maximising, over the same values gives 4.6,
    and a best of 4.6 continues). ``percentile=0`` keeps only trials tied with the best of the
    others, ``percentile=100`` stops only trials worse than all of them, and ``percentile=50`` is
    :class:`MedianStopping`.

    NaN counts as the worst value, in the set and as a best so far (a trial that reported only
    NaN continues only if the cutoff is the worst value too). Infinities take part in the
    interpolation as ``±M`` for one number ``M`` beyond every finite value.

    Decision steps (steps count from 1): the first ``warmup_steps`` steps are never judged, then
    steps ``warmup_steps + 1``, ``warmup_steps + 1 + interval_steps``, ... are: Optuna's
    ``n_warmup_steps``/``interval_steps`` convention for steps counted from 0 (our step ``s`` is
    its step ``s - 1``). A report that reaches a decision step no earlier report of the attempt
    reached is judged, at its own step (steps may jump past a decision step). With fewer than
    ``min_trials`` other values at that step the trial continues.

    A new attempt of a trial forgets the values and best so far of the earlier one; reports from
    an older attempt are ignored. After a stop, later reports of that attempt record nothing and
    one reaching a decision step is answered STOP again. ``max_resource``, when given, is the
    last step a report may have. The rule never pauses a trial.
    """

    json_type: ClassVar[str] = "percentile"

    percentile: float = 25.0
    warmup_steps: int = 0
    min_trials: int = 5
    interval_steps: int = 1
    max_resource: int | None = None

    def __post_init__(self) -> None:
        name = type(self).__name__
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"{name} percentile must be a number, got {p!r} ({type(p).__name__})")
        if not 0.0 <= p <= 100.0:  # also rejects NaN
            raise ValueError(
                f"{name} percentile must be between 0 and 100, got {p!r}: 25 keeps the trials "
                "in the top 25% at each decision step, 50 is the median rule"
            )
        object.__setattr__(self, "percentile", float(p))
        for arg in ("warmup_steps", "min_trials", "interval_steps"):
            object.__setattr__(self, arg, as_int(name, arg, getattr(self, arg)))
        if self.max_resource is not None:
            limit = as_int(name, "max_resource", self.max_resource, "an int or None")
            object.__setattr__(self, "max_resource", limit)
        if self.warmup_steps < 0:
            raise ValueError(
                f"{name} warmup_steps must be at least 0, got {self.warmup_steps}: it is the "
                "number of first steps never judged (0 judges from step 1)"
            )
        if self.min_trials < 1:
            raise ValueError(
                f"{name} min_trials must be at least 1, got {self.min_trials}: it is how many "
                "other trials must have a value at a step before any trial is stopped there"
            )
        if self.interval_steps < 1:
            raise ValueError(
                f"{name} interval_steps must be at least 1, got {self.interval_steps}: 1 "
                "judges every step after the warm-up, k every k-th step"
            )
        if self.max_resource is not None and self.max_resource <= self.warmup_steps:
            raise ValueError(
                f"{name} max_resource ({self.max_resource}) must be greater than warmup_steps "
                f"({self.warmup_steps}), or no step would ever be judged: lower warmup_steps, "
                "or pass the step at which training ends (None if unknown)"
            )

    def decision_steps(self) -> tuple[int, ...]:
        """The decision steps up to ``max_resource``; () when unbounded (no ``max_resource``)."""
        if self.max_resource is None:
            return ()
        return tuple(range(self.warmup_steps + 1, self.max_resource + 1, self.interval_steps))

    def next_decision_step(self, step: int) -> int | None:
        first = self.warmup_steps + 1
        if step < first:
            following = first
        else:
            following = first + ((step - first) // self.interval_steps + 1) * self.interval_steps
        if self.max_resource is not None and following > self.max_resource:
            return None
        return following

    def fidelities(self) -> tuple[int, ...]:
        """Empty: the rule compares trials at any decision step, not at fixed rungs."""
        return ()

    def new_state(self, *, maximize: bool) -> SchedulerState:
        check_maximize(maximize)
        # The cutoff is the (100 - percentile)/100 quantile of scores (higher is better).
        keep_fraction = (Fraction(100) - Fraction(self.percentile)) / 100
        return PercentileState(
            self,
            maximize=maximize,
            quantile=keep_fraction,
            min_trials=self.min_trials,
            cutoff_name=self._cutoff_name(),
        )

    def validate_step(self, step: int) -> None:
        super().validate_step(step)
        if self.max_resource is not None and step > self.max_resource:
            raise ValueError(
                f"step {step} is beyond max_resource={self.max_resource}; report at most up to "
                "max_resource, raise it, or pass max_resource=None"
            )

    def _cutoff_name(self) -> str:
        return f"the cutoff for the top {self.percentile:g}%"


@dataclass(frozen=True, kw_only=True)
class MedianStopping(PercentileStopping):
    """The median stopping rule: :class:`PercentileStopping` at ``percentile=50``.

    A trial stops at a decision step when its best value so far is worse than the median of the
    other trials' values at that step (Optuna's ``MedianPruner``, Vizier's median stopping rule).
    Everything else (warm-up, interval, ``min_trials``, attempts, NaN) is as in the parent.
    """

    json_type: ClassVar[str] = "median"

    # Not a constructor argument, so not in the JSON form either.
    percentile: float = field(default=50.0, init=False, repr=False)

    def _cutoff_name(self) -> str:
        return "the median"
