"""Asynchronous successive halving (ASHA), stop mode: cut a trial that falls behind at a rung."""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from raysweep.scheduling._base import Scheduler, SchedulerState, check_report
from raysweep.scheduling._decision import Action, Decision
from raysweep.scheduling._rung import Rung, from_score, to_score


@dataclass(frozen=True, kw_only=True)
class ASHA(Scheduler):
    """Asynchronous successive halving that stops the trials falling behind at each rung.

    Rungs sit at ``min_resource * reduction_factor**k`` for k = 0, 1, ... while below
    ``max_resource`` (reaching ``max_resource`` ends training: there is nothing left to decide).
    The first report of an attempt at or past a rung's step records its value there; the trial
    continues if that value is at least as good as the ``1 - 1/reduction_factor`` quantile (the
    ``1/reduction_factor`` quantile when minimising) of the values at the rung, its own
    included, with the quantile by linear interpolation (numpy's default). So the first trial at
    a rung always continues, a trial as good as the best so far always continues, and a stopped
    trial always has at least ``ceil(n / reduction_factor)`` of the n values strictly better.
    NaN counts as the worst value (tied with -inf when maximising, +inf when minimising).

    A report that crosses several rungs at once records its value at each in increasing order
    and stops at the first rung that says stop; rungs above that one get no value.

    Each trial has one value per rung: a new attempt of an interrupted trial overwrites its
    earlier attempt's value when it reaches the rung again, and earlier values stay where the new
    attempt has not reached yet. Reports from an attempt older than the newest seen for the
    trial are ignored. After a stop, later reports of that attempt record nothing and a crossing
    one is answered with STOP again.

    Only ``mode="stop"`` exists; ``"promote"`` (pause at each rung, resume the best) will come.
    """

    min_resource: int = 1
    max_resource: int
    reduction_factor: int = 3
    mode: str = "stop"

    def __post_init__(self) -> None:
        for name in ("min_resource", "max_resource", "reduction_factor"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, numbers.Integral):
                raise TypeError(
                    f"ASHA {name} must be an int, got {number!r} ({type(number).__name__})"
                )
        if self.min_resource < 1:
            raise ValueError(
                f"ASHA min_resource must be at least 1, got {self.min_resource}: it is the "
                "first step at which trials are compared"
            )
        if self.max_resource <= self.min_resource:
            raise ValueError(
                f"ASHA max_resource ({self.max_resource}) must be greater than min_resource "
                f"({self.min_resource}): raise max_resource to the step at which training ends, "
                "or lower min_resource"
            )
        if self.reduction_factor < 2:
            raise ValueError(
                f"ASHA reduction_factor must be at least 2, got {self.reduction_factor}: each "
                "rung keeps the best 1/reduction_factor of its trials (3 is the usual choice)"
            )
        if not isinstance(self.mode, str):
            raise TypeError(f"ASHA mode must be a str, got {self.mode!r}")
        if self.mode != "stop":
            raise ValueError(
                f"ASHA mode {self.mode!r} is not available: only mode='stop' exists for now "
                "(promote mode is not available yet)"
            )

    def decision_steps(self) -> tuple[int, ...]:
        rungs: list[int] = []
        resource = self.min_resource
        while resource < self.max_resource:
            rungs.append(resource)
            resource *= self.reduction_factor
        return tuple(rungs)

    def new_state(self, *, maximize: bool) -> SchedulerState:
        if not isinstance(maximize, bool):
            raise TypeError(f"maximize must be a bool, got {maximize!r}")
        return _ASHAState(self, maximize=maximize)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "asha",
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "reduction_factor": self.reduction_factor,
            "mode": self.mode,
        }

    def validate_step(self, step: int) -> None:
        super().validate_step(step)
        if step > self.max_resource:
            raise ValueError(
                f"step {step} is beyond max_resource={self.max_resource}; report at most up to "
                "max_resource or raise max_resource"
            )


@dataclass
class _AttemptProgress:
    """Where the newest known attempt of one trial stands."""

    attempt: int
    rungs_crossed: int = 0  # always a prefix of the rungs: those at or below its highest step
    stopped_at: int | None = None


class _ASHAState(SchedulerState):
    def __init__(self, config: ASHA, *, maximize: bool) -> None:
        self._config = config
        self._maximize = maximize
        self._eta = config.reduction_factor
        self._rungs = [Rung(resource) for resource in config.decision_steps()]
        self._resources = [rung.resource for rung in self._rungs]
        self._progress: dict[int, _AttemptProgress] = {}

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        value = check_report(self._config, trial, attempt, step, value)
        progress = self._progress.get(trial)
        if progress is None or attempt > progress.attempt:
            progress = self._progress[trial] = _AttemptProgress(attempt)
        elif attempt < progress.attempt:
            return Decision(
                Action.CONTINUE,
                f"stale report from attempt {attempt} of trial {trial} (attempt "
                f"{progress.attempt} is the newest); ignored",
            )
        first = progress.rungs_crossed
        end = bisect_right(self._resources, step)
        if end <= first:
            return Decision(Action.CONTINUE, f"no rung crossed at step {step}")
        progress.rungs_crossed = end
        crossed = self._resources[first:end]
        if progress.stopped_at is not None:
            return Decision(
                Action.STOP,
                f"trial {trial} was already stopped at rung {progress.stopped_at} in attempt "
                f"{attempt}; value not recorded",
                rung=crossed[-1],
            )
        score = to_score(value, maximize=self._maximize)
        prefix = (
            f"step {step} crossed rungs {', '.join(map(str, crossed))}; "
            if len(crossed) > 1
            else ""
        )
        for rung in self._rungs[first:end]:
            rung.record(trial, score)
            passed = rung.passes(score, self._eta)
            if not passed:
                progress.stopped_at = rung.resource
                return Decision(
                    Action.STOP, prefix + self._explain(rung, value, passed), rung.resource
                )
        return Decision(Action.CONTINUE, prefix + self._explain(rung, value, passed), rung.resource)

    def _explain(self, rung: Rung, value: float, passed: bool) -> str:
        shown = "nan (counted as the worst value)" if math.isnan(value) else f"{value:.6g}"
        n = len(rung)
        if n == 1:
            return f"value {shown} is the only one at rung {rung.resource} so far; it continues"
        cutoff = from_score(rung.cutoff(self._eta), maximize=self._maximize)
        if self._maximize:
            relation = "is at or above" if passed else "is below"
        else:
            relation = "is at or below" if passed else "is above"
        return (
            f"value {shown} {relation} the rung-{rung.resource} cutoff {cutoff:.6g} "
            f"(best 1/{self._eta} of {n} trials)"
        )
