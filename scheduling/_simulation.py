"""The result of a simulated study: trials, finished steps and completions, as frozen values."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SimulatedTrial:
    """One trial of a simulated study as it stood when the snapshot was taken.

    ``state`` is ``"running"`` (a step was running or due, or the simulation's budget ran out
    while it still had steps to run), ``"paused"`` (the scheduler paused it and it was not resumed
    since), ``"stopped"`` (the scheduler stopped it) or ``"complete"`` (it reached ``max_steps``).
    ``values`` maps each step run so far to its newest value; ``resumes`` counts how often the
    trial was resumed after a pause.
    """

    number: int
    config: Any
    state: str
    values: Mapping[int, float]
    resumes: int

    @property
    def last_step(self) -> int | None:
        """The highest step with a value, or None before the first step finished."""
        return max(self.values) if self.values else None

    @property
    def last_value(self) -> float | None:
        """The value at :attr:`last_step` (the final value of a complete trial), or None."""
        step = self.last_step
        return None if step is None else self.values[step]


@dataclass(frozen=True, slots=True)
class StepEvent:
    """One finished step, as the simulator processed it.

    ``time`` is the simulated time the step finished, ``epochs`` the number of steps finished
    in total so far (this one included), ``action`` the value of the scheduler's decision on
    the report of this step (``"continue"``, ``"pause"`` or ``"stop"``).
    """

    time: float
    epochs: int
    worker: int
    trial: int
    step: int
    value: float
    action: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A trial at a point in simulated time and work, with the value it is judged by.

    In :attr:`Simulation.completions` it is the trial that reached ``max_steps`` then, with its
    final value; in :meth:`Simulation.incumbent_trace` it is the best trial completed so far.
    """

    time: float
    epochs: int
    trial: int
    value: float


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` returns: the whole simulated study, for benchmarks to summarise.

    ``trials`` holds the final snapshot of every trial, indexed by trial number; ``events`` every
    finished step in time order; ``completions`` every trial that reached ``max_steps``, in order.
    ``end_time`` is when the last worker went idle; ``epochs`` counts every step run (re-runs
    included), ``repeated_epochs`` the re-runs alone (resumes without checkpoints), ``resumes``
    the resumes of paused trials. ``decision_seconds`` and ``propose_seconds`` are the measured
    seconds spent in the scheduler's calls and in ``propose`` (0.0 without a timer).
    ``maximize`` is the study's direction, which :meth:`incumbent_trace` ranks by.
    """

    trials: tuple[SimulatedTrial, ...]
    events: tuple[StepEvent, ...]
    completions: tuple[Completion, ...]
    end_time: float
    epochs: int
    repeated_epochs: int
    resumes: int
    decision_seconds: float
    propose_seconds: float
    maximize: bool

    def incumbent_trace(
        self, score: Callable[[SimulatedTrial], float] | None = None
    ) -> tuple[Completion, ...]:
        """The best completed trial after each completion, one entry per completion.

        Trials are ranked by their final value, or by ``score(trial)`` when given (for example
        the true full-budget value of the trial's config, where the observed one is noisy).
        A score is in the objective's direction: higher is better when maximising, lower when
        minimising; NaN is the worst. The incumbent changes only on a strict improvement, so a
        tie keeps the earlier trial. Each entry has the time and epochs of the completion, the
        incumbent's number and its value (or score).
        """
        trace: list[Completion] = []
        best_trial = -1
        best_key = -math.inf
        best_value = math.nan
        for completion in self.completions:
            if score is None:
                value = completion.value
            else:
                scored = score(self.trials[completion.trial])
                if isinstance(scored, bool) or not isinstance(scored, numbers.Real):
                    raise TypeError(
                        f"score must return a real number, got {scored!r} for trial "
                        f"{completion.trial}"
                    )
                value = float(scored)
            key = -math.inf if math.isnan(value) else (value if self.maximize else -value)
            if best_trial < 0 or key > best_key:
                best_trial, best_key, best_value = completion.trial, key, value
            trace.append(Completion(completion.time, completion.epochs, best_trial, best_value))
        return tuple(trace)
