"""Helpers for the simulator tests: flat curves, list proposals and fake pausing schedulers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raysweep.scheduling import (
    Action,
    Decision,
    Promotion,
    Scheduler,
    SchedulerState,
    SimulatedTrial,
    Simulation,
    simulate,
)

# A config is (value reported at every step, seconds each step takes).
Config = tuple[float, float]


def flat(config: Config, step: int) -> tuple[float, float]:
    return config


def from_list(configs: Sequence[Any]) -> Callable[[int, Sequence[SimulatedTrial]], Any]:
    def propose(number: int, trials: Sequence[SimulatedTrial]) -> Any:
        assert [trial.number for trial in trials] == list(range(number))
        return configs[number]

    return propose


def run(scheduler: Scheduler, configs: Sequence[Config], **kwargs: Any) -> Simulation:
    arguments: dict[str, Any] = {
        "curve": flat,
        "propose": from_list(configs),
        "n_workers": 1,
        "max_steps": 4,
        "maximize": True,
        "max_trials": len(configs),
    }
    arguments.update(kwargs)
    return simulate(scheduler, **arguments)


def rows(simulation: Simulation) -> list[tuple[float, int, int, int, str]]:
    """(time, worker, trial, step, action) of every event."""
    return [(e.time, e.worker, e.trial, e.step, e.action) for e in simulation.events]


@dataclass(frozen=True, kw_only=True)
class Gate(Scheduler):
    """A pausing fake: pauses each trial (of ``pause_trials``, default all) once, at ``rung``.

    Paused trials become promotable, best value first (ties: lower number), once ``quorum``
    trials have reached the rung or a report has reached ``release_step``. Its states are kept
    in ``states`` so that a test can read the calls they received.
    """

    rung: int = 2
    quorum: int = 10**9
    release_step: int | None = None
    pause_trials: frozenset[int] | None = None
    states: list[GateState] = field(default_factory=list, compare=False, repr=False)

    def decision_steps(self) -> tuple[int, ...]:
        return (self.rung,)

    @property
    def pauses(self) -> bool:
        return True

    def new_state(self, *, maximize: bool) -> SchedulerState:
        state = GateState(self, maximize)
        self.states.append(state)
        return state

    def to_json(self) -> dict[str, Any]:
        return {"type": "gate"}


class GateState(SchedulerState):
    def __init__(self, config: Gate, maximize: bool) -> None:
        self.config = config
        self.maximize = maximize
        self.arrived: set[int] = set()
        self.paused: dict[int, float] = {}
        self.released = False
        self.calls: list[tuple[Any, ...]] = []

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        self.calls.append(("report", trial, attempt, step))
        config = self.config
        if config.release_step is not None and step >= config.release_step:
            self.released = True
        selected = config.pause_trials is None or trial in config.pause_trials
        if step == config.rung and selected and trial not in self.arrived:
            self.arrived.add(trial)
            self.paused[trial] = value
            self.released |= len(self.arrived) >= config.quorum
            return Decision(Action.PAUSE, "gate", config.rung)
        return Decision(Action.CONTINUE, "go on")

    def promotion(
        self, *, final: bool = False, ready: Callable[[int], bool] | None = None
    ) -> Promotion | None:
        self.calls.append(("promotion",))
        if not self.released or not self.paused:
            return None
        sign = 1.0 if self.maximize else -1.0
        best = max(self.paused, key=lambda trial: (sign * self.paused[trial], -trial))
        return Promotion(best, self.config.rung, "gate open")

    def on_resume(self, trial: int) -> None:
        self.calls.append(("resume", trial))
        del self.paused[trial]


def counter_timer() -> Callable[[], float]:
    """A fake clock that advances 1 s per reading, so every measured call takes 1 s."""
    ticks = itertools.count()
    return lambda: float(next(ticks))


@dataclass(frozen=True, kw_only=True)
class LateGate(Gate):
    """A gate that hides its decision step, so the simulator cannot reject it up front."""

    def decision_steps(self) -> tuple[int, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class BogusPromoter(Gate):
    def new_state(self, *, maximize: bool) -> SchedulerState:
        return BogusPromoterState(self, maximize)


class BogusPromoterState(GateState):
    def promotion(
        self, *, final: bool = False, ready: Callable[[int], bool] | None = None
    ) -> Promotion | None:
        return Promotion(0, 1, "whatever")
