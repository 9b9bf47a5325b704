"""ASHA stop mode: a trial that falls behind at a rung is stopped there."""

from __future__ import annotations

from raysweep.scheduling._base import Scheduler, SchedulerState, check_report
from raysweep.scheduling._decision import Action, Decision
from raysweep.scheduling._rung import Rung, from_score, to_score
from raysweep.scheduling._rung_progress import RungProgress, show_value


class StopState(SchedulerState):
    """The study state of ASHA in stop mode, over the given rungs (possibly none).

    ``config`` validates the reports; it is the ASHA itself, or the Hyperband whose bracket this
    state serves.
    """

    def __init__(
        self, config: Scheduler, resources: tuple[int, ...], eta: int, *, maximize: bool
    ) -> None:
        self._config = config
        self._maximize = maximize
        self._eta = eta
        self._rungs = [Rung(resource) for resource in resources]
        self._progress = RungProgress(resources, per_attempt=True)
        # trial -> (attempt, rung resource) of the stop; a newer attempt is judged afresh.
        self._stopped: dict[int, tuple[int, int]] = {}

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        value = check_report(self._config, trial, attempt, step, value)
        crossed = self._progress.advance(trial, attempt, step)
        if crossed is None:
            return self._progress.stale(trial, attempt)
        if not crossed:
            return Decision(Action.CONTINUE, f"no rung crossed at step {step}")
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
