"""The sampler contract, checked for every sampler the library ships.

Each sampler is driven the way the orchestrator drives it — a joint proposal at trial start,
then an independent one for each name the objective asks that the proposal did not cover with
the same distribution — over a mixed, conditional space, with histories holding failed, pruned
and running trials.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from raysweep.samplers import (
    CategoricalDistribution,
    CmaEsSampler,
    Distribution,
    FloatDistribution,
    GPSampler,
    GridSampler,
    IntDistribution,
    MultiFidelitySampler,
    NSGA2Sampler,
    QMCSampler,
    RandomSampler,
    Sampler,
    SamplingContext,
    StudyDirection,
    TPESampler,
    TrialRecord,
    TrialState,
)

MIN = StudyDirection.MINIMIZE
Suggest = Callable[[str, Distribution], Any]

MIXED = {
    "f": FloatDistribution(-3.0, 3.0),
    "f_log": FloatDistribution(1e-5, 1e-1, log=True),
    "f_step": FloatDistribution(0.0, 1.0, step=0.25),
    "i": IntDistribution(-4, 9),
    "i_log": IntDistribution(1, 1024, log=True),
    "i_step": IntDistribution(0, 12, step=3),
    "c": CategoricalDistribution(choices=("a", None, 3, 2.5, True)),
}
GRID = {
    "f": [-3.0, 0.0, 1.5],
    "f_log": [1e-5, 1e-3],
    "f_step": [0.0, 0.75],
    "i": [-4, 9],
    "i_log": [1, 32],
    "i_step": [3, 12],
    "c": ["a", None, True],
    "n_layers": [1, 2, 3],
    "n_units_l0": [32, 128],
    "n_units_l1": [64],
    "n_units_l2": [100],
    "dropout_l0": [0.2, 0.5],
    "dropout_l1": [0.3],
    "dropout_l2": [0.4],
    "optimizer": ["Adam", "SGD"],
    "lr": [1e-4, 1e-2],
}

# name -> (factory taking a seed, number of objectives)
SAMPLERS: dict[str, tuple[Callable[[int], Sampler], int]] = {
    "random": (lambda seed: RandomSampler(seed=seed), 1),
    "tpe": (lambda seed: TPESampler(seed=seed, n_startup_trials=5), 1),
    "tpe-univariate": (
        lambda seed: TPESampler(seed=seed, n_startup_trials=5, multivariate=False),
        1,
    ),
    "tpe-multi-objective": (lambda seed: TPESampler(seed=seed, n_startup_trials=5), 2),
    "qmc": (lambda seed: QMCSampler(seed=seed), 1),
    "grid": (lambda seed: GridSampler(GRID, seed=seed), 1),
    "gp": (lambda seed: GPSampler(seed=seed, n_startup_trials=5), 1),
    "cmaes": (lambda seed: CmaEsSampler(seed=seed, popsize=4), 1),
    "nsga2": (lambda seed: NSGA2Sampler(seed=seed, population_size=6), 2),
    "multi-fidelity": (
        lambda seed: MultiFidelitySampler(TPESampler(seed=seed, n_startup_trials=5)),
        1,
    ),
}


def _mixed(suggest: Suggest) -> tuple[float, ...]:
    p = {name: suggest(name, d) for name, d in MIXED.items()}
    return (p["f"] ** 2 + math.log10(p["f_log"]) ** 2 / 10 + p["i"] + (p["c"] == "a"),)


def _conditional(suggest: Suggest) -> tuple[float, ...]:
    n_layers = suggest("n_layers", IntDistribution(1, 3))
    loss = 0.0
    for i in range(n_layers):
        units = suggest(f"n_units_l{i}", IntDistribution(32, 128))
        dropout = suggest(f"dropout_l{i}", FloatDistribution(0.2, 0.5))
        loss += abs(units - 64) / 64 + dropout
    optimizer = suggest("optimizer", CategoricalDistribution(choices=("Adam", "RMSprop", "SGD")))
    lr = suggest("lr", FloatDistribution(1e-5, 1e-1, log=True))
    return (loss + (optimizer != "Adam") + abs(math.log10(lr) + 3),)


class _Study:
    """A study run in process, as the orchestrator runs one, one trial at a time."""

    def __init__(self, sampler: Sampler, n_objectives: int, seed: int = 7) -> None:
        self.sampler = sampler
        self.directions = (MIN,) * n_objectives
        sampler.check_directions(self.directions)
        self.seed = seed
        self.history: list[TrialRecord] = []

    def run(self, objective: Callable[[Suggest], tuple[float, ...]], state: TrialState) -> None:
        number = len(self.history)
        context = SamplingContext(self.seed, number, self.directions, tuple(self.history))
        space = self.sampler.infer_relative_search_space(context)
        proposal = self.sampler.sample_relative(context, space) if space else {}
        assert set(proposal) == set(space)
        for name, value in proposal.items():
            assert space[name].contains(value), (name, value, space[name])
        params: dict[str, Any] = {}
        distributions: dict[str, Distribution] = {}

        def suggest(name: str, distribution: Distribution) -> Any:
            if name in proposal and space[name] == distribution:
                value = proposal[name]
            else:
                value = self.sampler.sample_independent(context, name, distribution)
            assert distribution.contains(value), (name, value, distribution)
            params[name], distributions[name] = value, distribution
            return value

        values = objective(suggest)
        values = values * len(self.directions) if len(values) == 1 else values
        if len(self.directions) == 2:
            values = (values[0], -values[0] + 0.1 * len(params))
        complete = state is TrialState.COMPLETE
        self.history.append(
            TrialRecord(
                number=number,
                state=state,
                params=params,
                distributions=distributions,
                values=tuple(values[: len(self.directions)]) if complete else None,
                intermediate_values={1: values[0]} if state is TrialState.PRUNED else {},
            )
        )


def _states(n: int) -> list[TrialState]:
    """Mostly complete, with failed, pruned and (still) running trials mixed in."""
    cycle = [TrialState.COMPLETE] * 5 + [TrialState.FAILED, TrialState.PRUNED, TrialState.RUNNING]
    return [cycle[i % len(cycle)] for i in range(n)]


def _run(name: str, objective: Callable[[Suggest], tuple[float, ...]], n: int, seed: int) -> _Study:
    factory, n_objectives = SAMPLERS[name]
    study = _Study(factory(seed), n_objectives, seed=seed)
    for state in _states(n):
        study.run(objective, state)
    return study


ALL = sorted(SAMPLERS)


@pytest.mark.parametrize("name", ALL)
def test_values_stay_in_a_mixed_space_with_failed_pruned_and_running_trials(name: str) -> None:
    study = _run(name, _mixed, 24, seed=1)  # the checks are inside _Study.run
    assert len(study.history) == 24


@pytest.mark.parametrize("name", ALL)
def test_conditional_spaces_are_proposed_validly(name: str) -> None:
    study = _run(name, _conditional, 24, seed=2)
    for record in study.history:
        layers = record.params["n_layers"]
        assert {k for k in record.params if k.startswith("n_units_l")} == {
            f"n_units_l{i}" for i in range(layers)
        }


@pytest.mark.parametrize("name", ALL)
def test_an_empty_history_and_a_history_of_only_failures_are_fine(name: str) -> None:
    factory, n_objectives = SAMPLERS[name]
    study = _Study(factory(3), n_objectives)
    for state in [TrialState.FAILED, TrialState.PRUNED, TrialState.FAILED, TrialState.RUNNING]:
        study.run(_mixed, state)
    assert {r.state for r in study.history} == {
        TrialState.FAILED,
        TrialState.PRUNED,
        TrialState.RUNNING,
    }


@pytest.mark.parametrize("name", ALL)
def test_proposals_are_a_function_of_the_seed(name: str) -> None:
    first = [r.params for r in _run(name, _conditional, 16, seed=4).history]
    again = [r.params for r in _run(name, _conditional, 16, seed=4).history]
    other = [r.params for r in _run(name, _conditional, 16, seed=5).history]
    assert first == again
    assert first != other


@pytest.mark.parametrize("name", ALL)
def test_simultaneous_asks_do_not_repeat_a_point(name: str) -> None:
    """Eight trials asked at once: each sees the others' proposals as running trials."""
    factory, n_objectives = SAMPLERS[name]
    space = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(5)}
    if name == "grid":
        factory = lambda seed: GridSampler({k: [0.1, 0.5, 0.9] for k in space}, seed=seed)  # noqa: E731
    study = _Study(factory(6), n_objectives)
    for _ in range(20):
        study.run(
            lambda s: (sum((s(k, d) - 0.3) ** 2 for k, d in space.items()),), TrialState.COMPLETE
        )
    points = []
    for _ in range(8):
        study.run(lambda s: tuple(s(k, d) for k, d in space.items())[:1], TrialState.RUNNING)
        points.append(tuple(study.history[-1].params[k] for k in space))
    assert len(set(points)) == 8


@pytest.mark.parametrize("name", ALL)
def test_a_sampler_is_picklable_and_its_configuration_is_json(name: str) -> None:
    factory, n_objectives = SAMPLERS[name]
    sampler = factory(8)
    config = sampler.to_json()
    assert json.loads(json.dumps(config)) == config
    assert config["class"] == type(sampler).__name__
    assert config["arguments"]["seed"] == 8
    copy = pickle.loads(pickle.dumps(sampler))
    a, b = _Study(sampler, n_objectives), _Study(copy, n_objectives)
    for _ in range(8):
        a.run(_mixed, TrialState.COMPLETE)
        b.run(_mixed, TrialState.COMPLETE)
    assert [r.params for r in a.history] == [r.params for r in b.history]


def test_every_public_sampler_is_in_the_contract_suite() -> None:
    import raysweep.samplers as samplers

    shipped = {
        name
        for name in samplers.__all__
        if isinstance(getattr(samplers, name), type)
        and issubclass(getattr(samplers, name), Sampler)
        and getattr(samplers, name) is not Sampler
    }
    covered = {type(factory(0)).__name__ for factory, _ in SAMPLERS.values()}
    assert shipped == covered


def test_the_suite_catches_a_sampler_that_breaks_the_contract() -> None:
    class OutOfRange(RandomSampler):
        def sample_independent(
            self, context: SamplingContext, name: str, distribution: Distribution
        ) -> Any:
            _, high = distribution.internal_bounds()
            return (
                distribution.to_external(float(high) + 10.0)
                if isinstance(distribution, CategoricalDistribution)
                else np.inf
            )

    with pytest.raises((AssertionError, ValueError, IndexError, OverflowError)):
        _Study(OutOfRange(seed=0), 1).run(_mixed, TrialState.COMPLETE)
