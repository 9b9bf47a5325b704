"""Which rungs a report crosses: the per-trial bookkeeping shared by both ASHA modes, and the
state both build on it."""

from __future__ import annotations

import abc
import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, ClassVar

from raysweep.scheduling._base import Scheduler, SchedulerState, check_report
from raysweep.scheduling._decision import Action, Decision
from raysweep.scheduling._rung import Rung


@dataclass
class _Progress:
    """Where one trial stands: its newest attempt and how many rungs it has crossed."""

    attempt: int
    crossed: int = 0  # always a prefix of the rungs


class RungProgress:
    """Tracks, per trial, the newest attempt and the rungs already crossed.

    A report *crosses* the rungs at or below its step that the trial has not crossed yet. With
    ``per_attempt=True`` (stop mode) a new attempt starts over from no rung, since its steps
    count from 1 again and it must earn each rung anew. With ``per_attempt=False`` (promote
    mode) the crossed rungs belong to the trial: a promoted trial continues where it was paused
    even when it restarts from scratch, so re-reporting lower steps crosses nothing.

    In both, a report from an attempt older than the newest seen for the trial is stale.
    """

    def __init__(self, resources: tuple[int, ...], *, per_attempt: bool) -> None:
        self.resources = resources
        self._per_attempt = per_attempt
        self._progress: dict[int, _Progress] = {}

    def advance(self, trial: int, attempt: int, step: int) -> range | None:
        """The indices of the rungs this report newly crosses (maybe none); None if stale."""
        progress = self._progress.get(trial)
        if progress is None:
            progress = self._progress[trial] = _Progress(attempt)
        elif attempt > progress.attempt:
            progress.attempt = attempt
            if self._per_attempt:
                progress.crossed = 0
        elif attempt < progress.attempt:
            return None
        first = progress.crossed
        end = max(first, bisect_right(self.resources, step))
        progress.crossed = end
        return range(first, end)

    def saved(self) -> list[list[int]]:
        """[trials], [their newest attempts], [the rungs each crossed]: flat lists, which JSON
        reads back several times faster than a list per trial."""
        progress = self._progress
        return [
            list(progress),
            [p.attempt for p in progress.values()],
            [p.crossed for p in progress.values()],
        ]

    def restore(self, data: list[list[int]]) -> None:
        progress = {}
        for trial, attempt, crossed in zip(*data, strict=True):
            if not 0 <= crossed <= len(self.resources):
                raise ValueError(f"trial {trial} crossed {crossed} of {len(self.resources)} rungs")
            progress[int(trial)] = _Progress(int(attempt), int(crossed))
        self._progress = progress

    def stale(self, trial: int, attempt: int) -> Decision:
        """The answer to a report that :meth:`advance` found stale."""
        return Decision(
            Action.CONTINUE,
            f"stale report from attempt {attempt} of trial {trial} (attempt "
            f"{self._progress[trial].attempt} is the newest); ignored",
        )

    def crossing_prefix(self, step: int, crossed: range) -> str:
        """``"step 9 crossed rungs 1, 3, 9; "`` when a report crossed several rungs, else ``""``."""
        if len(crossed) < 2:
            return ""
        rungs = ", ".join(str(self.resources[index]) for index in crossed)
        return f"step {step} crossed rungs {rungs}; "


def show_value(value: float) -> str:
    """A reported value as people read it in a reason."""
    return "nan (counted as the worst value)" if math.isnan(value) else f"{value:.6g}"


class RungState(SchedulerState):
    """The study state of ASHA over the given rungs (possibly none), in either mode.

    ``config`` validates the reports; it is the ASHA itself, or the Hyperband whose bracket this
    state serves. A report that crosses no rung continues; one that crosses rungs is judged by
    :meth:`on_crossing`, the mode's rule.
    """

    per_attempt: ClassVar[bool]
    """Whether a new attempt starts over from no rung (see :class:`RungProgress`)."""
    not_crossed: ClassVar[str]
    """The reason given to a report that crossed no rung, followed by " at step N"."""

    def __init__(
        self, config: Scheduler, resources: tuple[int, ...], eta: int, *, maximize: bool
    ) -> None:
        self._config = config
        self._maximize = maximize
        self._eta = eta
        self._rungs = [Rung(resource) for resource in resources]
        self._progress = RungProgress(resources, per_attempt=self.per_attempt)

    def saved(self) -> dict[str, Any]:
        return {
            "state": type(self).__name__,
            "resources": [rung.resource for rung in self._rungs],
            "eta": self._eta,
            "maximize": self._maximize,
            # Per rung: its scores and their trials, lowest first (flat lists, as above).
            "rungs": [list(rung.columns()) for rung in self._rungs],
            "progress": self._progress.saved(),
            **self.saved_mode(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        mine = (type(self).__name__, [r.resource for r in self._rungs], self._eta, self._maximize)
        theirs = (data["state"], data["resources"], data["eta"], data["maximize"])
        if mine != theirs or len(data["rungs"]) != len(self._rungs):
            raise ValueError(f"a saved {theirs} state cannot restore a {mine} one")
        for rung, (scores, trials) in zip(self._rungs, data["rungs"], strict=True):
            rung.restore(list(zip(scores, trials, strict=True)))
        self._progress.restore(data["progress"])
        self.restore_mode(data)

    def saved_mode(self) -> dict[str, Any]:
        """What the mode keeps beside the rungs and the progress (see :meth:`saved`)."""
        return {}

    def restore_mode(self, data: dict[str, Any]) -> None:
        """Restore what :meth:`saved_mode` saved."""

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        value = check_report(self._config, trial, attempt, step, value)
        crossed = self._progress.advance(trial, attempt, step)
        if crossed is None:
            return self._progress.stale(trial, attempt)
        if not crossed:
            return self.on_no_crossing(trial, attempt, step)
        return self.on_crossing(trial, attempt, step, value, crossed)

    def on_no_crossing(self, trial: int, attempt: int, step: int) -> Decision:
        """Judge a valid report that crossed no new rung: the trial goes on."""
        return Decision(Action.CONTINUE, f"{self.not_crossed} at step {step}")

    @abc.abstractmethod
    def on_crossing(
        self, trial: int, attempt: int, step: int, value: float, crossed: range
    ) -> Decision:
        """Judge a valid report that newly crossed the rungs at these indices (not empty)."""
