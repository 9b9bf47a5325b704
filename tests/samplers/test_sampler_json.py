"""Every shipped sampler's JSON form: pinned as raysweep 0.1 wrote it, and round-tripped.

A study's log stores ``to_json()`` in its ``study_created`` event, so the keys, their order and
the value types are pinned here (captured before ``to_json`` was derived from the constructors'
signatures). Samplers have no public reader of that form; ``MultiFidelitySampler`` rebuilds its
base from it, and ``type(s)(**arguments)`` rebuilds any sampler.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import raysweep.samplers as samplers
from raysweep.samplers import (
    CmaEsSampler,
    GPSampler,
    GridSampler,
    MultiFidelitySampler,
    NSGA2Sampler,
    QMCSampler,
    RandomSampler,
    Sampler,
    SamplingContext,
    TPESampler,
)
from raysweep.samplers._distributions import Distribution

PINNED: list[tuple[Callable[[], Sampler], dict[str, Any]]] = [
    (lambda: RandomSampler(), {"class": "RandomSampler", "arguments": {"seed": None}}),
    (lambda: RandomSampler(seed=3), {"class": "RandomSampler", "arguments": {"seed": 3}}),
    (
        lambda: TPESampler(),
        {
            "class": "TPESampler",
            "arguments": {
                "n_startup_trials": 10,
                "n_ei_candidates": 48,
                "gamma": None,
                "weights": "uniform",
                "prior_weight": 1.0,
                "consider_endpoints": False,
                "min_bandwidth": 0.02,
                "multivariate": True,
                "group": True,
                "constant_liar": True,
                "max_above": 2000,
                "seed": None,
            },
        },
    ),
    (
        lambda: TPESampler(
            n_startup_trials=4,
            n_ei_candidates=7,
            gamma="sqrt:0.25:25",
            weights="decay",
            prior_weight=0.5,
            consider_endpoints=True,
            min_bandwidth=0.1,
            multivariate=False,
            group=False,
            constant_liar=False,
            max_above=None,
            seed=9,
        ),
        {
            "class": "TPESampler",
            "arguments": {
                "n_startup_trials": 4,
                "n_ei_candidates": 7,
                "gamma": "sqrt:0.25:25",
                "weights": "decay",
                "prior_weight": 0.5,
                "consider_endpoints": True,
                "min_bandwidth": 0.1,
                "multivariate": False,
                "group": False,
                "constant_liar": False,
                "max_above": None,
                "seed": 9,
            },
        },
    ),
    (
        lambda: TPESampler(
            n_startup_trials=np.int64(3),
            prior_weight=np.float64(2.0),
            consider_endpoints=np.bool_(True),
            gamma=np.str_("linear:0.2"),
        ),
        {
            "class": "TPESampler",
            "arguments": {
                "n_startup_trials": 3,
                "n_ei_candidates": 48,
                "gamma": "linear:0.2",
                "weights": "uniform",
                "prior_weight": 2.0,
                "consider_endpoints": True,
                "min_bandwidth": 0.02,
                "multivariate": True,
                "group": True,
                "constant_liar": True,
                "max_above": 2000,
                "seed": None,
            },
        },
    ),
    (
        lambda: GPSampler(),
        {
            "class": "GPSampler",
            "arguments": {
                "n_startup_trials": 10,
                "deterministic_objective": False,
                "n_candidates": 2048,
                "seed": None,
            },
        },
    ),
    (
        lambda: GPSampler(
            n_startup_trials=3, deterministic_objective=True, n_candidates=17, seed=2
        ),
        {
            "class": "GPSampler",
            "arguments": {
                "n_startup_trials": 3,
                "deterministic_objective": True,
                "n_candidates": 17,
                "seed": 2,
            },
        },
    ),
    (
        lambda: QMCSampler(),
        {"class": "QMCSampler", "arguments": {"qmc_type": "sobol", "scramble": True, "seed": None}},
    ),
    (
        lambda: QMCSampler(qmc_type="halton", scramble=False, seed=5),
        {"class": "QMCSampler", "arguments": {"qmc_type": "halton", "scramble": False, "seed": 5}},
    ),
    (
        lambda: GridSampler({"b": list(np.linspace(0.0, 1.0, 3)), "a": [True, 1, None, "s"]}),
        {
            "class": "GridSampler",
            "arguments": {
                "search_space": {"b": [0.0, 0.5, 1.0], "a": [True, 1, None, "s"]},
                "seed": None,
            },
        },
    ),
    (
        lambda: GridSampler({"x": [np.int64(1), 2.5, "q"]}, seed=1),
        {"class": "GridSampler", "arguments": {"search_space": {"x": [1, 2.5, "q"]}, "seed": 1}},
    ),
    (
        lambda: NSGA2Sampler(),
        {
            "class": "NSGA2Sampler",
            "arguments": {
                "population_size": 50,
                "mutation_prob": None,
                "crossover": "uniform",
                "crossover_prob": 0.9,
                "swapping_prob": 0.5,
                "seed": None,
            },
        },
    ),
    (
        lambda: NSGA2Sampler(
            population_size=7,
            mutation_prob=0.3,
            crossover="sbx",
            crossover_prob=0.5,
            swapping_prob=0.25,
            seed=1,
        ),
        {
            "class": "NSGA2Sampler",
            "arguments": {
                "population_size": 7,
                "mutation_prob": 0.3,
                "crossover": "sbx",
                "crossover_prob": 0.5,
                "swapping_prob": 0.25,
                "seed": 1,
            },
        },
    ),
    (
        lambda: NSGA2Sampler(mutation_prob=1, crossover_prob=1, swapping_prob=0),
        {
            "class": "NSGA2Sampler",
            "arguments": {
                "population_size": 50,
                "mutation_prob": 1.0,
                "crossover": "uniform",
                "crossover_prob": 1.0,
                "swapping_prob": 0.0,
                "seed": None,
            },
        },
    ),
    (
        lambda: CmaEsSampler(),
        {
            "class": "CmaEsSampler",
            "arguments": {
                "x0": None,
                "sigma0": None,
                "popsize": None,
                "n_startup_trials": 1,
                "seed": None,
            },
        },
    ),
    (
        lambda: CmaEsSampler(
            x0={"a": 1, "b": np.float64(0.5), "c": np.int64(3)},
            sigma0=0.5,
            popsize=6,
            n_startup_trials=3,
            seed=8,
        ),
        {
            "class": "CmaEsSampler",
            "arguments": {
                "x0": {"a": 1, "b": 0.5, "c": 3},
                "sigma0": 0.5,
                "popsize": 6,
                "n_startup_trials": 3,
                "seed": 8,
            },
        },
    ),
    (
        lambda: CmaEsSampler(sigma0=1),
        {
            "class": "CmaEsSampler",
            "arguments": {
                "x0": None,
                "sigma0": 1.0,
                "popsize": None,
                "n_startup_trials": 1,
                "seed": None,
            },
        },
    ),
    (
        lambda: MultiFidelitySampler(),
        {
            "class": "MultiFidelitySampler",
            "arguments": {
                "base": {
                    "class": "TPESampler",
                    "arguments": {
                        "n_startup_trials": 10,
                        "n_ei_candidates": 48,
                        "gamma": None,
                        "weights": "uniform",
                        "prior_weight": 1.0,
                        "consider_endpoints": False,
                        "min_bandwidth": 0.02,
                        "multivariate": True,
                        "group": True,
                        "constant_liar": True,
                        "max_above": 2000,
                        "seed": None,
                    },
                },
                "min_observations": None,
                "seed": None,
            },
        },
    ),
    (
        lambda: MultiFidelitySampler(RandomSampler(seed=1), min_observations=4),
        {
            "class": "MultiFidelitySampler",
            "arguments": {
                "base": {"class": "RandomSampler", "arguments": {"seed": 1}},
                "min_observations": 4,
                "seed": 1,
            },
        },
    ),
    (
        lambda: MultiFidelitySampler(MultiFidelitySampler(GPSampler(seed=2)), seed=2),
        {
            "class": "MultiFidelitySampler",
            "arguments": {
                "base": {
                    "class": "MultiFidelitySampler",
                    "arguments": {
                        "base": {
                            "class": "GPSampler",
                            "arguments": {
                                "n_startup_trials": 10,
                                "deterministic_objective": False,
                                "n_candidates": 2048,
                                "seed": 2,
                            },
                        },
                        "min_observations": None,
                        "seed": 2,
                    },
                },
                "min_observations": None,
                "seed": 2,
            },
        },
    ),
    (
        lambda: MultiFidelitySampler(
            {"class": "TPESampler", "arguments": {"n_startup_trials": 2}}, seed=6
        ),
        {
            "class": "MultiFidelitySampler",
            "arguments": {
                "base": {
                    "class": "TPESampler",
                    "arguments": {
                        "n_startup_trials": 2,
                        "n_ei_candidates": 48,
                        "gamma": None,
                        "weights": "uniform",
                        "prior_weight": 1.0,
                        "consider_endpoints": False,
                        "min_bandwidth": 0.02,
                        "multivariate": True,
                        "group": True,
                        "constant_liar": True,
                        "max_above": 2000,
                        "seed": None,
                    },
                },
                "min_observations": None,
                "seed": 6,
            },
        },
    ),
]


@pytest.mark.parametrize(("make", "expected"), PINNED)
def test_json_form_is_unchanged(make: Callable[[], Sampler], expected: dict[str, Any]) -> None:
    # Text, not dicts: the key order and the types (1 against 1.0) are part of the form.
    assert json.dumps(make().to_json()) == json.dumps(expected)


def test_the_0_1_log_sampler_is_written_alike() -> None:
    # The sampler of tests/orchestrator/data/study_v1, as its study_created event stores it.
    stored = '{"class":"RandomSampler","arguments":{"seed":3}}'
    assert json.dumps(RandomSampler(seed=3).to_json(), separators=(",", ":")) == stored


# Every constructor argument of every shipped sampler, each away from its default.
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "CmaEsSampler": {
        "x0": {"a": 1, "b": 0.5},
        "sigma0": 0.5,
        "popsize": 6,
        "n_startup_trials": 3,
        "seed": 8,
    },
    "GPSampler": {
        "n_startup_trials": 3,
        "deterministic_objective": True,
        "n_candidates": 17,
        "seed": 2,
    },
    "GridSampler": {"search_space": {"b": [0.0, 0.5], "a": [True, "s", None]}, "seed": 1},
    "MultiFidelitySampler": {
        "base": QMCSampler(qmc_type="halton", seed=4),
        "min_observations": 4,
        "seed": 4,
    },
    "NSGA2Sampler": {
        "population_size": 7,
        "mutation_prob": 0.3,
        "crossover": "sbx",
        "crossover_prob": 0.5,
        "swapping_prob": 0.25,
        "seed": 1,
    },
    "QMCSampler": {"qmc_type": "halton", "scramble": False, "seed": 5},
    "RandomSampler": {"seed": 3},
    "TPESampler": {
        "n_startup_trials": 4,
        "n_ei_candidates": 7,
        "gamma": "sqrt:0.25:25",
        "weights": "decay",
        "prior_weight": 0.5,
        "consider_endpoints": True,
        "min_bandwidth": 0.1,
        "multivariate": False,
        "group": False,
        "constant_liar": False,
        "max_above": None,
        "seed": 9,
    },
}

SHIPPED = sorted(
    name
    for name in samplers.__all__
    if isinstance(getattr(samplers, name), type)
    and issubclass(getattr(samplers, name), Sampler)
    and not inspect.isabstract(getattr(samplers, name))
)


def test_every_shipped_sampler_is_covered() -> None:
    assert sorted(NON_DEFAULT) == SHIPPED


def _as_json(value: Any) -> Any:
    return value.to_json() if isinstance(value, Sampler) else value


@pytest.mark.parametrize("name", SHIPPED)
def test_every_argument_is_recorded_and_rebuilds_the_sampler(name: str) -> None:
    cls = getattr(samplers, name)
    arguments = NON_DEFAULT[name]
    parameters = inspect.signature(cls).parameters
    # A new argument must be added above, with a value other than its default.
    assert list(parameters) == list(arguments)
    for parameter in parameters.values():
        assert arguments[parameter.name] is not parameter.default, f"{name}.{parameter.name}"
        assert arguments[parameter.name] != parameter.default, f"{name}.{parameter.name}"
    sampler = cls(**arguments)
    data = json.loads(json.dumps(sampler.to_json()))
    assert data == {
        "class": name,
        "arguments": {key: _as_json(value) for key, value in arguments.items()},
    }
    assert cls(**data["arguments"]).to_json() == data
    # The one reader of the form in the package: a multi-fidelity sampler's base.
    assert MultiFidelitySampler(data).base.to_json() == data
    assert "to_json" not in vars(cls), f"{name} writes to_json by hand; let Sampler derive it"


class _Forgetful(RandomSampler):
    def __init__(self, *, width: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self._width = width


class _Opaque(RandomSampler):
    def __init__(self, *, kind: object = None) -> None:
        super().__init__()
        self.kind = kind


class _Forwarding(RandomSampler):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


def test_an_argument_to_json_cannot_record_is_an_error_not_a_gap() -> None:
    with pytest.raises(TypeError, match=r"_Forgetful.width is a constructor argument"):
        _Forgetful(width=2.0).to_json()
    with pytest.raises(TypeError, match=r"_Opaque.kind=.* is not JSON"):
        _Opaque(kind=object()).to_json()
    with pytest.raises(TypeError, match=r"takes \*kwargs"):
        _Forwarding().to_json()


def test_a_subclass_without_seed_in_its_signature_still_records_it() -> None:
    class Fixed(RandomSampler):
        def __init__(self) -> None:
            super().__init__(seed=5)

    assert Fixed().to_json() == {"class": "Fixed", "arguments": {"seed": 5}}


def test_numpy_values_are_recorded_as_plain_json() -> None:
    sampler = CmaEsSampler(x0={"a": np.float64(0.5), "b": np.int64(2)})
    arguments = sampler.to_json()["arguments"]
    assert arguments["x0"] == {"a": 0.5, "b": 2}
    assert [type(v) for v in arguments["x0"].values()] == [float, int]
    tpe = TPESampler(gamma=np.str_("linear:0.2"), consider_endpoints=np.bool_(True))
    assert type(tpe.to_json()["arguments"]["gamma"]) is str
    assert tpe.to_json()["arguments"]["consider_endpoints"] is True


def test_grid_sampler_exposes_its_search_space_as_given() -> None:
    sampler = GridSampler({"b": list(np.linspace(0.0, 1.0, 3)), "a": [1, "x"]})
    assert sampler.search_space == {"b": [0.0, 0.5, 1.0], "a": [1, "x"]}
    assert list(sampler.search_space) == ["b", "a"]


def test_model_based_samplers_draw_outside_their_joint_space_as_random_search() -> None:
    from raysweep.samplers import FloatDistribution, StudyDirection

    context = SamplingContext(
        study_seed=11, trial_number=3, directions=(StudyDirection.MINIMIZE,), history=()
    )
    distribution: Distribution = FloatDistribution(0.0, 1.0)
    expected = RandomSampler().sample_independent(context, "x", distribution)
    for sampler in (GPSampler(), NSGA2Sampler(), CmaEsSampler()):
        assert sampler.sample_independent(context, "x", distribution) == expected


@pytest.mark.parametrize(("make", "expected"), PINNED)
def test_sampler_from_json_rebuilds_every_shipped_sampler(
    make: Callable[[], Sampler], expected: dict[str, Any]
) -> None:
    rebuilt = samplers.sampler_from_json(json.loads(json.dumps(make().to_json())))
    assert type(rebuilt) is type(make())
    assert rebuilt.to_json() == expected


def test_sampler_from_json_names_what_it_can_rebuild() -> None:
    with pytest.raises(ValueError, match=r"'MySampler' is not one raysweep ships.*TPESampler"):
        samplers.sampler_from_json({"class": "MySampler", "arguments": {}})
    with pytest.raises(TypeError, match="'class' and 'arguments'"):
        samplers.sampler_from_json({"class": "TPESampler"})
