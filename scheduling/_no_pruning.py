"""The default scheduler: every trial runs to the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from raysweep.scheduling._base import Scheduler, SchedulerState, check_maximize, check_report
from raysweep.scheduling._decision import Action, Decision


@dataclass(frozen=True, kw_only=True)
class NoPruning(Scheduler):
    """Never stops a trial; reports are only recorded by the caller."""

    json_type: ClassVar[str] = "no_pruning"

    def decision_steps(self) -> tuple[int, ...]:
        return ()

    def new_state(self, *, maximize: bool) -> SchedulerState:
        check_maximize(maximize)
        return _NoPruningState(self)


class _NoPruningState(SchedulerState):
    def __init__(self, config: NoPruning) -> None:
        self._config = config

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        check_report(self._config, trial, attempt, step, value)
        return Decision(Action.CONTINUE, "no pruning: every trial runs to the end")
