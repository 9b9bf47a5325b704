"""ASHA promote mode: every trial pauses at each rung; the best 1/η are resumed.

This is Algorithm 2 of Li et al., "A System for Massively Parallel Hyperparameter Tuning"
(MLSys 2020), asynchronous: whenever a worker is free, the orchestrator asks
:meth:`PromoteState.promotion` for a paused trial that ranks in the top ``floor(n/η)`` of its
rung, looking at the highest rung first, and starts a new trial only when there is none.
When the study will start no new trial, the top ``ceil(n/η)`` qualify instead (the paper's
setting is an endless stream of trials; with a fixed number, floor(n/η) = 0 at a rung holding
fewer than η trials would strand them all, and no trial would ever reach the full budget).
"""

from __future__ import annotations

import numbers
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any

from raysweep.scheduling._base import Scheduler
from raysweep.scheduling._decision import Action, Decision, Promotion
from raysweep.scheduling._rung import from_score, to_score
from raysweep.scheduling._rung_progress import RungState, show_value


class PromoteState(RungState):
    """The study state of ASHA in promote mode, over the given rungs (possibly none).

    Rung progress is per trial, not per attempt (see :class:`RungProgress`).
    """

    per_attempt = False
    not_crossed = "no new rung crossed"

    def __init__(
        self, config: Scheduler, resources: tuple[int, ...], eta: int, *, maximize: bool
    ) -> None:
        super().__init__(config, resources, eta, maximize=maximize)
        # The paused trials of each rung as (score, -trial), ascending like Rung's own list, so
        # the last one is the best paused trial and the only one promotion() needs to look at.
        self._paused: list[list[tuple[float, int]]] = [[] for _ in resources]
        self._paused_at: dict[int, int] = {}  # trial -> index of the rung it is paused at
        self._resumed_from: dict[int, int] = {}  # trial -> rung resource of its last promotion

    def saved_mode(self) -> dict[str, Any]:
        # Flat lists of numbers, as RungState.saved keeps them (a saved state packs those).
        paused_at, resumed_from = self._paused_at, self._resumed_from
        return {
            "paused": [[[s for s, _ in p], [-n for _, n in p]] for p in self._paused],
            "paused_at": [list(paused_at), list(paused_at.values())],
            "resumed_from": [list(resumed_from), list(resumed_from.values())],
        }

    def restore_mode(self, data: dict[str, Any]) -> None:
        paused = [
            [(float(score), -int(trial)) for score, trial in zip(*p, strict=True)]
            for p in data["paused"]
        ]
        if len(paused) != len(self._rungs) or any(p != sorted(p) for p in paused):
            raise ValueError("the paused trials saved are not one ranked list per rung")
        self._paused = paused
        trials, indices = data["paused_at"]
        self._paused_at = {int(t): int(i) for t, i in zip(trials, indices, strict=True)}
        trials, rungs = data["resumed_from"]
        self._resumed_from = {int(t): int(r) for t, r in zip(trials, rungs, strict=True)}

    def on_crossing(
        self, trial: int, attempt: int, step: int, value: float, crossed: range
    ) -> Decision:
        score = to_score(value, maximize=self._maximize)
        for index in crossed:
            self._rungs[index].record(trial, score)
        self._pause(trial, crossed[-1])
        rung = self._rungs[crossed[-1]]
        prefix = self._progress.crossing_prefix(step, crossed)
        n = len(rung)
        return Decision(
            Action.PAUSE,
            f"{prefix}value {show_value(value)} ranks {rung.rank(trial) + 1} of {n} at rung "
            f"{rung.resource}; paused there, the top floor({n}/{self._eta}) = {n // self._eta} "
            "may be promoted",
            rung.resource,
        )

    def on_no_crossing(self, trial: int, attempt: int, step: int) -> Decision:
        index = self._paused_at.get(trial)
        if index is None or step < self._rungs[index].resource:
            return super().on_no_crossing(trial, attempt, step)
        # A new attempt of a trial still paused here (its runner died before the pause was
        # recorded, and it is re-run): it has not been promoted, so it waits here again.
        rung = self._rungs[index]
        return Decision(
            Action.PAUSE,
            f"still paused at rung {rung.resource} (ranks {rung.rank(trial) + 1} of "
            f"{len(rung)}): not promoted yet",
            rung.resource,
        )

    def promotion(
        self, *, final: bool = False, ready: Callable[[int], bool] | None = None
    ) -> Promotion | None:
        # Paused trials are kept best last, and only the best ready one of a rung can be a
        # candidate: every other ready one there ranks below it. Once no new trial will come
        # (`final`), the rungs stop growing and floor(n/η) could stay 0 for ever: the top
        # ceil(n/η) are promoted instead, so at least one trial reaches the full budget.
        for index in range(len(self._rungs) - 1, -1, -1):
            trial = self._best_ready(index, ready)
            if trial is None:
                continue
            rung = self._rungs[index]
            rank = rung.rank(trial)
            quota = -(-len(rung) // self._eta) if final else len(rung) // self._eta
            if rank < quota:
                value = from_score(rung.score(trial), maximize=self._maximize)
                return Promotion(
                    trial,
                    rung.resource,
                    f"value {show_value(value)} ranks {rank + 1} of {len(rung)} at rung "
                    f"{rung.resource}; the top {quota} are promoted"
                    + (" (no new trials will come: ceil(n/η))" if final else ""),
                )
        return None

    def _best_ready(self, index: int, ready: Callable[[int], bool] | None) -> int | None:
        # Those passed over are trials still saving their checkpoint: at most one per runner.
        for _, negated in reversed(self._paused[index]):
            if ready is None or ready(-negated):
                return -negated
        return None

    def on_resume(self, trial: int) -> None:
        if isinstance(trial, bool) or not isinstance(trial, numbers.Integral):
            raise TypeError(f"trial must be an int, got {trial!r} ({type(trial).__name__})")
        index = self._paused_at.get(trial)
        if index is None:
            if trial in self._resumed_from:
                why = (
                    f"it was resumed from rung {self._resumed_from[trial]} and has not been "
                    "paused at a higher rung since"
                )
            else:
                why = "no report of it has reached a rung yet"
            raise ValueError(f"trial {trial} cannot be resumed: it is not paused ({why})")
        self._unpause(trial, index)
        self._resumed_from[trial] = self._rungs[index].resource

    def _pause(self, trial: int, index: int) -> None:
        old = self._paused_at.get(trial)
        if old is not None:
            # A late report of a paused trial crossed a higher rung: it now waits there.
            self._unpause(trial, old)
        insort(self._paused[index], (self._rungs[index].score(trial), -trial))
        self._paused_at[trial] = index

    def _unpause(self, trial: int, index: int) -> None:
        paused = self._paused[index]
        del paused[bisect_left(paused, (self._rungs[index].score(trial), -trial))]
        del self._paused_at[trial]
