"""Checks of what :func:`~raysweep.scheduling.simulate` is given, each error saying what to pass."""

from __future__ import annotations

import math
import numbers
from typing import Any

from raysweep.scheduling._base import Scheduler


def check_simulation_arguments(
    scheduler: Any,
    *,
    curve: Any,
    propose: Any,
    n_workers: Any,
    max_steps: Any,
    maximize: Any,
    max_trials: Any,
    max_epochs: Any,
    max_time: Any,
    checkpoints: Any,
    timer: Any,
) -> None:
    """Raise ``TypeError`` / ``ValueError`` for the first argument ``simulate`` cannot run with."""
    if not isinstance(scheduler, Scheduler):
        raise TypeError(
            f"scheduler must be a raysweep.scheduling.Scheduler (for example ASHA(max_resource=27)"
            f" or NoPruning()), got {type(scheduler).__name__}"
        )
    for name, function in (("curve", curve), ("propose", propose)):
        if not callable(function):
            raise TypeError(f"{name} must be a function, got {type(function).__name__}")
    if timer is not None and not callable(timer):
        raise TypeError(
            f"timer must be None or a function returning seconds (such as time.perf_counter), "
            f"got {type(timer).__name__}"
        )
    for name, flag in (("maximize", maximize), ("checkpoints", checkpoints)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    _check_count("n_workers", n_workers, "the number of trials run at once")
    _check_count("max_steps", max_steps, "the full budget of a trial, in steps")
    _check_max_steps(scheduler, max_steps)
    if max_trials is None and max_epochs is None and max_time is None:
        raise ValueError(
            "the simulation needs an end: pass max_trials (trials created), max_epochs (steps "
            "run in total) or max_time (simulated seconds), or several of them"
        )
    if max_trials is not None:
        _check_count("max_trials", max_trials, "the number of trials to create, or None")
    if max_epochs is not None:
        _check_count("max_epochs", max_epochs, "the number of steps to run in total, or None")
    if max_time is not None:
        if isinstance(max_time, bool) or not isinstance(max_time, numbers.Real):
            raise TypeError(
                f"max_time must be a number of simulated seconds or None, got {max_time!r}"
            )
        if not 0.0 <= float(max_time) < math.inf:
            raise ValueError(
                f"max_time must be finite and at least 0, got {max_time}; pass None for no limit"
            )


def _check_count(name: str, number: Any, meaning: str) -> None:
    if isinstance(number, bool) or not isinstance(number, numbers.Integral):
        raise TypeError(f"{name} must be an int ({meaning}), got {number!r}")
    if number < 1:
        raise ValueError(f"{name} must be at least 1 ({meaning}), got {number}")


def _check_max_steps(scheduler: Scheduler, max_steps: int) -> None:
    """The scheduler and the simulator must agree on where a trial ends."""
    name = type(scheduler).__name__
    try:
        scheduler.validate_step(max_steps)
    except ValueError as error:
        raise ValueError(
            f"max_steps={max_steps} does not fit the scheduler {name}: {error}. Pass the "
            "scheduler's full budget as max_steps (ASHA's max_resource)"
        ) from None
    decision_steps = scheduler.decision_steps()
    # The full budget is known when the fidelities go past the last decision step (ASHA's and
    # Hyperband's max_resource); a rule without one (a percentile rule) fits any max_steps.
    top = decision_steps[-1] if decision_steps else 0
    beyond = [step for step in scheduler.fidelities() if step > top]
    if beyond and beyond[-1] != max_steps:
        raise ValueError(
            f"max_steps={max_steps} but {name}'s full budget is {beyond[-1]} steps (the last of "
            f"its fidelities, ASHA's max_resource); pass max_steps={beyond[-1]} or configure the "
            f"scheduler for {max_steps} steps"
        )
    late = [step for step in decision_steps if step >= max_steps]
    if scheduler.pauses and late:
        raise ValueError(
            f"max_steps={max_steps} but {name} pauses trials at step {late[0]}: a paused trial "
            f"needs steps left to resume, so pass max_steps above {decision_steps[-1]}, or "
            "configure the scheduler for this budget"
        )


def check_step(result: Any, trial: int, step: int, zero_seconds_ok: bool) -> tuple[float, float]:
    """``(value, seconds)`` from what ``curve`` returned for one step, checked."""
    try:
        value, seconds = result
    except (TypeError, ValueError):
        raise TypeError(
            f"curve must return (value, seconds); for trial {trial} at step {step} it "
            f"returned {result!r}"
        ) from None
    if type(value) is not float:
        value = _real("value", value, trial, step)
    if type(seconds) is not float:
        seconds = _real("seconds", seconds, trial, step)
    if not 0.0 <= seconds < math.inf:
        raise ValueError(
            f"curve gave trial {trial} at step {step} a duration of {seconds} seconds; a "
            "step's duration must be finite and at least 0"
        )
    if seconds == 0.0 and not zero_seconds_ok:
        raise ValueError(
            f"curve gave trial {trial} at step {step} a duration of 0 seconds, but only "
            "max_time ends this simulation, so every step must take time: return a positive "
            "duration, or pass max_trials or max_epochs too"
        )
    return value, seconds


def _real(name: str, number: Any, trial: int, step: int) -> float:
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise TypeError(
            f"curve's {name} for trial {trial} at step {step} must be a real number, got {number!r}"
        )
    return float(number)
