"""Asynchronous successive halving (ASHA): the configuration, in stop or promote mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from raysweep.scheduling._asha_promote import PromoteState
from raysweep.scheduling._asha_stop import StopState
from raysweep.scheduling._base import SchedulerState, check_maximize
from raysweep.scheduling._ladder import LadderScheduler, ladder


@dataclass(frozen=True, kw_only=True)
class ASHA(LadderScheduler):
    """Asynchronous successive halving, which stops (or pauses) the trials behind at each rung.

    Rungs sit at ``min_resource * reduction_factor**k`` for k = 0, 1, ... while below
    ``max_resource`` (reaching ``max_resource`` ends training: there is nothing left to decide).
    Values are compared by direction; NaN counts as the worst value (tied with -inf when
    maximising, +inf when minimising). Reports from an attempt older than the newest seen for
    the trial are ignored in both modes.

    ``mode="stop"`` (the default): the first report of an attempt at or past a rung's step
    records its value there; the trial continues if that value is at least as good as the
    ``1 - 1/reduction_factor`` quantile (the ``1/reduction_factor`` quantile when minimising) of
    the values at the rung, its own included, with the quantile by linear interpolation (numpy's
    default). So the first trial at a rung always continues, a trial as good as the best so far
    always continues, and a stopped trial always has at least ``ceil(n / reduction_factor)`` of
    the n values strictly better. A report that crosses several rungs at once records its value
    at each in increasing order and stops at the first rung that says stop; rungs above that one
    get no value. Each trial has one value per rung: a new attempt of an interrupted trial starts
    over from the first rung and overwrites its earlier attempt's value when it reaches a rung
    again; earlier values stay where the new attempt has not reached yet. After a stop, later
    reports of that attempt record nothing and a crossing one is answered with STOP again.

    ``mode="promote"`` (Li et al. 2020, Algorithm 2): a report that crosses rungs the trial has
    not crossed before records its value at each of them and answers PAUSE at the highest; the
    trial waits there until :meth:`SchedulerState.promotion` names it, which it does once the
    trial ranks in the top ``floor(n / reduction_factor)`` of the n values at its rung (ties to
    the lower trial number), higher rungs first — or the top ``ceil(n / reduction_factor)`` when
    asked with ``final=True`` (no new trial will come). Rungs crossed belong to the trial, not the
    attempt: a promoted trial restarted from scratch, or re-run after a crash, crosses nothing
    until it passes its highest rung.
    """

    json_type: ClassVar[str] = "asha"

    def decision_steps(self) -> tuple[int, ...]:
        return ladder(self.min_resource, self.max_resource, self.reduction_factor)

    def new_state(self, *, maximize: bool) -> SchedulerState:
        check_maximize(maximize)
        state = PromoteState if self.pauses else StopState
        return state(self, self.decision_steps(), self.reduction_factor, maximize=maximize)
