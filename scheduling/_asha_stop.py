"""ASHA stop mode: a trial that falls behind at a rung is stopped there."""

from __future__ import annotations

from typing import Any

from raysweep.scheduling._base import Scheduler
from raysweep.scheduling._decision import Action, Decision
from raysweep.scheduling._rung import Rung, from_score, to_score
from raysweep.scheduling._rung_progress import RungState, show_value


class StopState(RungState):
    """The study state of ASHA in stop mode, over the given rungs (possibly none)."""

    per_attempt = True
    not_crossed = "no rung crossed"

    def __init__(
        self, config: Scheduler, resources: tuple[int, ...], eta: int, *, maximize: bool
    ) -> None:
        super().__init__(config, resources, eta, maximize=maximize)
        # trial -> (attempt, rung resource) of the stop; a newer attempt is judged afresh.
        self._stopped: dict[int, tuple[int, int]] = {}

    def saved_mode(self) -> dict[str, Any]:
        stopped = self._stopped
        return {
            "stopped": [
                list(stopped),
                [a for a, _ in stopped.values()],
                [r for _, r in stopped.values()],
            ]
        }

    def restore_mode(self, data: dict[str, Any]) -> None:
        trials, attempts, rungs = data["stopped"]
        self._stopped = {
            int(t): (int(a), int(r)) for t, a, r in zip(trials, attempts, rungs, strict=True)
        }

    def on_crossing(
        self, trial: int, attempt: int, step: int, value: float, crossed: range
    ) -> Decision:
        stopped = self._stopped.get(trial)
        if stopped is not None and stopped[0] == attempt:
            return Decision(
                Action.STOP,
                f"trial {trial} was already stopped at rung {stopped[1]} in attempt "
                f"{attempt}; value not recorded",
                rung=self._rungs[crossed[-1]].resource,
            )
        score = to_score(value, maximize=self._maximize)
        prefix = self._progress.crossing_prefix(step, crossed)
        for index in crossed:
            rung = self._rungs[index]
            rung.record(trial, score)
            passed = rung.passes(score, self._eta)
            if not passed:
                self._stopped[trial] = (attempt, rung.resource)
                return Decision(
                    Action.STOP, prefix + self._explain(rung, value, passed), rung.resource
                )
        return Decision(Action.CONTINUE, prefix + self._explain(rung, value, passed), rung.resource)

    def _explain(self, rung: Rung, value: float, passed: bool) -> str:
        shown = show_value(value)
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
