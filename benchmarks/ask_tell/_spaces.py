"""The search spaces of the sampler benchmarks (latency, parallel asks), written once for any
trial object with `suggest_float` / `suggest_int` / `suggest_categorical`: raysweep's, Optuna's,
and the in-process proposers below.

* `float5`, `float20`: x0..x{d-1}, floats in [0, 1]; objective a sphere centred off the middle.
* `mixed`: `n_layers` int 1–3; for i < n_layers `n_units_l{i}` int 32–128 and `dropout_l{i}`
  float 0.2–0.5; `optimizer` one of Adam / RMSprop / SGD; `lr` float 1e-5–1e-1, log scale. Its
  objective is a smooth stand-in for a validation loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)

SPACES = ("float5", "float20", "mixed")
OPTIMIZERS = ("Adam", "RMSprop", "SGD")
_OPTIMIZER_PENALTY = {"Adam": 0.0, "RMSprop": 0.1, "SGD": 0.3}


class Suggester(Protocol):
    """The part of a trial (ours or Optuna's) that a space uses."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


def centre(i: int) -> float:
    """The optimum of the float spaces' sphere in dimension i: spread over [0.2, 0.4]."""
    return 0.2 + 0.2 * ((i * 0.618) % 1.0)


def suggest_params(trial: Suggester, space: str) -> dict[str, Any]:
    """Ask `trial` for the parameters of `space`, in the objective's order."""
    if space in ("float5", "float20"):
        return {f"x{i}": trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(dims(space))}
    if space != "mixed":
        raise ValueError(f"unknown space {space!r}; use one of {SPACES}")
    params: dict[str, Any] = {"n_layers": trial.suggest_int("n_layers", 1, 3)}
    for i in range(params["n_layers"]):
        params[f"n_units_l{i}"] = trial.suggest_int(f"n_units_l{i}", 32, 128)
        params[f"dropout_l{i}"] = trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)
    params["optimizer"] = trial.suggest_categorical("optimizer", OPTIMIZERS)
    params["lr"] = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    return params


def dims(space: str) -> int:
    return int(space.removeprefix("float"))


def distributions(space: str) -> dict[str, Distribution]:
    """Every parameter `space` can ask for, with its distribution."""
    if space != "mixed":
        return {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(dims(space))}
    found: dict[str, Distribution] = {"n_layers": IntDistribution(1, 3)}
    for i in range(3):
        found[f"n_units_l{i}"] = IntDistribution(32, 128)
        found[f"dropout_l{i}"] = FloatDistribution(0.2, 0.5)
    found["optimizer"] = CategoricalDistribution(OPTIMIZERS)
    found["lr"] = FloatDistribution(1e-5, 1e-1, log=True)
    return found


def objective(space: str, params: Mapping[str, Any]) -> float:
    """The value a trial of `space` with `params` reports (minimized)."""
    if space != "mixed":
        return float(sum((params[f"x{i}"] - centre(i)) ** 2 for i in range(dims(space))))
    loss = 0.1 * (math.log10(params["lr"]) + 3.0) ** 2 + 0.05 * abs(params["n_layers"] - 2)
    for i in range(params["n_layers"]):
        loss += ((params[f"n_units_l{i}"] - 96) / 96) ** 2 + (params[f"dropout_l{i}"] - 0.3) ** 2
    return float(loss + _OPTIMIZER_PENALTY[params["optimizer"]])


@dataclass
class RandomTrial:
    """Draws each parameter uniformly (log-uniformly with `log`) and keeps its distribution: the
    pre-built histories of the bare-sampler measurements."""

    rng: np.random.Generator

    def __post_init__(self) -> None:
        self.distributions: dict[str, Distribution] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        self.distributions[name] = FloatDistribution(low, high, log=log)
        if log:
            return float(math.exp(self.rng.uniform(math.log(low), math.log(high))))
        return float(self.rng.uniform(low, high))

    def suggest_int(self, name: str, low: int, high: int) -> int:
        self.distributions[name] = IntDistribution(low, high)
        return int(self.rng.integers(low, high + 1))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.distributions[name] = CategoricalDistribution(choices)
        return choices[int(self.rng.integers(len(choices)))]


def optuna_distribution(distribution: Distribution) -> Any:
    """Optuna's equivalent of one of our distributions (for `optuna.trial.create_trial`)."""
    import optuna

    if isinstance(distribution, FloatDistribution):
        return optuna.distributions.FloatDistribution(
            distribution.low, distribution.high, log=distribution.log
        )
    if isinstance(distribution, IntDistribution):
        return optuna.distributions.IntDistribution(distribution.low, distribution.high)
    if isinstance(distribution, CategoricalDistribution):
        return optuna.distributions.CategoricalDistribution(list(distribution.choices))
    raise TypeError(f"no Optuna equivalent for {distribution!r}")
