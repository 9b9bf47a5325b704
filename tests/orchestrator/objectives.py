"""Objectives used by the orchestrator tests (importable by runners and by subprocess drivers)."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from raysweep.orchestrator import Trial


def quadratic(trial: Trial) -> float:
    """The brief's conditional space with a cheap, deterministic learning curve."""
    n_layers = trial.suggest_int("n_layers", 1, 3)
    width = 0.0
    for i in range(n_layers):
        width += trial.suggest_int(f"n_units_l{i}", 32, 128)
        trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)
    optimizer = trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD"])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    quality = -((math.log10(lr) + 2.5) ** 2) - 0.1 * (optimizer != "Adam") - abs(width - 150) / 500
    value = quality
    for epoch in range(1, 10):
        value = quality - 1.0 / epoch
        trial.report(value, step=epoch)
    trial.set_user_attr("pid", os.getpid())
    return value


def slow_quadratic(trial: Trial) -> float:
    """`quadratic` with a sleep per epoch, for tests that interrupt a running study."""
    x = trial.suggest_float("x", -5.0, 5.0)
    value = 0.0
    for epoch in range(1, 6):
        time.sleep(0.1)
        value = x * x + 1.0 / epoch
        trial.report(value, step=epoch)
    return value


def returns(value: Any) -> Any:
    def objective(trial: Trial) -> Any:
        trial.suggest_float("x", 0.0, 1.0)
        return value

    return objective


def long_reporting(trial: Trial) -> float:
    """A trial of 30 s that reports every 0.1 s, for tests that stop a run while trials run."""
    x = trial.suggest_float("x", -5.0, 5.0)
    value = 0.0
    for step in range(1, 301):
        time.sleep(0.1)
        value = x * x + 1.0 / step
        trial.report(value, step=step)
    return value
