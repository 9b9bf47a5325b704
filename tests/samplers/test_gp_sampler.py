"""GPSampler's behaviour as a sampler (its model and acquisition: test_gp_model.py)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    GPSampler,
    IntDistribution,
    RandomSampler,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)

MIN = (StudyDirection.MINIMIZE,)
PLANE: dict[str, Distribution] = {
    "x": FloatDistribution(0.0, 1.0),
    "y": FloatDistribution(0.0, 1.0),
}
MIXED: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "layers": IntDistribution(1, 8),
    "units": IntDistribution(16, 1024, log=True),
    "batch": IntDistribution(16, 128, step=16),
    "act": CategoricalDistribution(["relu", "gelu", "tanh"]),
    "w": FloatDistribution(-3.0, 3.0),
}


def _ask(
    sampler: Sampler, context: SamplingContext, space: Mapping[str, Distribution]
) -> dict[str, Any]:
    """What the orchestrator does at trial start, then inside the objective."""
    params = sampler.sample_relative(context, sampler.infer_relative_search_space(context))
    for name, distribution in space.items():
        if name not in params:
            params[name] = sampler.sample_independent(context, name, distribution)
    return params


def _study(
    sampler: Sampler,
    space: Mapping[str, Distribution],
    objective: Callable[[Mapping[str, Any]], float],
    n_trials: int,
    *,
    seed: int = 0,
    directions: tuple[StudyDirection, ...] = MIN,
    constraint: Callable[[Mapping[str, Any]], float] | None = None,
) -> list[TrialRecord]:
    history: list[TrialRecord] = []
    for number in range(n_trials):
        params = _ask(sampler, SamplingContext(seed, number, directions, history), space)
        constraints = None if constraint is None else (constraint(params),)
        history.append(
            TrialRecord(
                number,
                TrialState.COMPLETE,
                params,
                space,
                values=(objective(params),),
                constraints=constraints,
            )
        )
    return history


def _bowl(params: Mapping[str, Any]) -> float:
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2


def _scrambled(params: Mapping[str, Any]) -> float:
    """A value with no structure for a model to find, the same in every process."""
    return float(zlib.crc32(repr(sorted(params.items())).encode()) % 1000)


def _random_history(space: Mapping[str, Distribution], n: int, seed: int = 1) -> list[TrialRecord]:
    return _study(RandomSampler(), space, _scrambled, n, seed=seed)


def _branin(params: Mapping[str, Any]) -> float:
    x1, x2 = params["x1"], params["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


# --- the sampler --------------------------------------------------------------------------------


def test_empty_history_proposes_nothing_jointly_and_draws_uniformly_alone() -> None:
    sampler, context = GPSampler(), SamplingContext(0, 0, MIN, [])
    assert sampler.infer_relative_search_space(context) == {}
    assert sampler.sample_relative(context, {}) == {}
    for name, distribution in MIXED.items():
        value = sampler.sample_independent(context, name, distribution)
        assert value == RandomSampler().sample_independent(context, name, distribution)


def test_start_up_trials_are_uniform_and_proposed_up_front() -> None:
    history = _random_history(MIXED, 5)
    sampler, context = GPSampler(n_startup_trials=6), SamplingContext(0, 5, MIN, history)
    space = sampler.infer_relative_search_space(context)
    assert space == MIXED
    assert sampler.sample_relative(context, space) == RandomSampler().sample_relative(
        context, space
    )


def test_proposals_are_deterministic_and_inside_every_kind_of_distribution() -> None:
    history = _random_history(MIXED, 12)
    history.append(TrialRecord(12, TrialState.RUNNING, {"lr": 0.1}, {"lr": MIXED["lr"]}))  # partial
    for trial in (13, 14, 15):
        context = SamplingContext(7, trial, MIN, history)
        sampler = GPSampler(n_startup_trials=5, n_candidates=256)
        space = sampler.infer_relative_search_space(context)
        assert space == MIXED
        params = sampler.sample_relative(context, space)
        assert params.keys() == MIXED.keys()
        assert all(MIXED[name].contains(value) for name, value in params.items())
        assert (
            GPSampler(n_startup_trials=5, n_candidates=256, seed=3).sample_relative(context, space)
            == params
        )


def test_relative_space_is_the_intersection_of_complete_trials() -> None:
    narrow = FloatDistribution(0.0, 0.5)
    history = _random_history(PLANE, 4)
    history.append(
        TrialRecord(4, TrialState.COMPLETE, {"x": 0.2}, {"x": PLANE["x"]}, values=(1.0,))
    )
    history.append(
        TrialRecord(
            5, TrialState.FAILED, {"x": 0.1, "z": 1}, {"x": PLANE["x"], "z": IntDistribution(0, 3)}
        )
    )
    context = SamplingContext(0, 9, MIN, history)
    assert GPSampler(n_startup_trials=2).infer_relative_search_space(context) == {"x": PLANE["x"]}
    changed = [
        *history,
        TrialRecord(
            6,
            TrialState.COMPLETE,
            {"x": 0.3, "y": 0.1},
            {"x": narrow, "y": PLANE["y"]},
            values=(0.0,),
        ),
    ]
    space = GPSampler(n_startup_trials=2).infer_relative_search_space(
        SamplingContext(0, 9, MIN, changed)
    )
    assert space == {}  # x changed its range and y is not in trial 4


def test_failed_and_pruned_trials_are_ignored() -> None:
    history = _study(RandomSampler(), PLANE, _bowl, 12)
    noise = [
        TrialRecord(12, TrialState.FAILED, {"x": 0.3, "y": 0.7}, PLANE),
        TrialRecord(
            13, TrialState.PRUNED, {"x": 0.31, "y": 0.69}, PLANE, intermediate_values={0: -5.0}
        ),
    ]
    sampler = GPSampler()
    clean = SamplingContext(0, 20, MIN, history)
    noisy = SamplingContext(0, 20, MIN, history + noise)
    assert _ask(sampler, noisy, PLANE) == _ask(sampler, clean, PLANE)


def test_maximizing_a_function_equals_minimizing_its_negative() -> None:
    history = _random_history(PLANE, 10)
    flipped = [
        TrialRecord(t.number, t.state, t.params, t.distributions, values=(-t.values[0],))
        for t in history
        if t.values is not None
    ]
    sampler = GPSampler()
    minimized = _ask(sampler, SamplingContext(0, 10, MIN, history), PLANE)
    maximized = _ask(sampler, SamplingContext(0, 10, (StudyDirection.MAXIMIZE,), flipped), PLANE)
    assert minimized == maximized


def test_beats_random_search_on_branin() -> None:
    space = {"x1": FloatDistribution(-5.0, 10.0), "x2": FloatDistribution(0.0, 15.0)}
    gp = min(t.values[0] for t in _study(GPSampler(), space, _branin, 30) if t.values)
    rand = min(t.values[0] for t in _study(RandomSampler(), space, _branin, 30) if t.values)
    assert gp < rand
    assert gp < 0.6  # the global minimum is 0.397887


def test_running_trials_push_parallel_asks_apart() -> None:
    history = _study(RandomSampler(), PLANE, _bowl, 14)
    sampler, running = GPSampler(n_candidates=512), []
    alone = _ask(sampler, SamplingContext(0, 14, MIN, history), PLANE)
    for number in (14, 15, 16, 17):
        params = _ask(sampler, SamplingContext(0, number, MIN, history + running), PLANE)
        running.append(TrialRecord(number, TrialState.RUNNING, params, PLANE))
    points = np.array([[t.params["x"], t.params["y"]] for t in running])
    distances = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    assert distances[np.triu_indices(4, 1)].min() > 0.05
    # The same ask (same trial, same random stream), with its answer already taken, moves away.
    taken = [TrialRecord(99, TrialState.RUNNING, alone, PLANE)]
    other = _ask(sampler, SamplingContext(0, 14, MIN, history + taken), PLANE)
    assert math.dist(other.values(), alone.values()) > 0.05


def test_constraints_steer_the_search_to_the_feasible_boundary() -> None:
    history = _study(
        GPSampler(n_startup_trials=8, n_candidates=512),
        PLANE,
        lambda p: p["x"] + p["y"],
        15,
        constraint=lambda p: 0.8 - p["x"] - p["y"],
    )
    modelled = [t.values[0] for t in history[8:] if t.values]
    assert all(0.7 < v < 0.9 for v in modelled)  # hugs x + y = 0.8 instead of running to (0, 0)
    feasible = [t.values[0] for t in history if t.values and t.feasible]
    assert min(feasible) < 0.82


def test_without_a_feasible_trial_the_likeliest_feasible_region_is_sought() -> None:
    space = {"x": FloatDistribution(0.0, 1.0)}
    history = [  # feasible only where x >= 0.8; no trial got there yet
        TrialRecord(i, TrialState.COMPLETE, {"x": x}, space, values=(x,), constraints=(0.8 - x,))
        for i, x in enumerate(np.linspace(0.0, 0.6, 7).tolist())
    ]
    proposal = _ask(GPSampler(n_startup_trials=3), SamplingContext(0, 7, MIN, history), space)
    assert proposal["x"] > 0.7


def test_infinite_values_and_all_categorical_spaces_are_handled() -> None:
    space: dict[str, Distribution] = {
        "a": CategoricalDistribution([1, 2, 3, 4]),
        "b": CategoricalDistribution(["u", "v"]),
    }
    values = [math.inf, 3.0, -math.inf, 1.0, 2.0, 5.0]
    drawn = [t.params for t in _random_history(space, 6)]
    history = [
        TrialRecord(i, TrialState.COMPLETE, params, space, values=(value,))
        for i, (params, value) in enumerate(zip(drawn, values, strict=True))
    ]
    params = _ask(GPSampler(n_startup_trials=4), SamplingContext(0, 6, MIN, history), space)
    assert all(space[name].contains(value) for name, value in params.items())


def test_multi_objective_studies_are_refused() -> None:
    GPSampler().check_directions(MIN)
    with pytest.raises(ValueError, match="TPESampler or NSGA2Sampler"):
        GPSampler().check_directions((StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials=-1 must be an int >= 0"),
        ({"n_startup_trials": 2.0}, "n_startup_trials=2.0 must be an int"),
        ({"n_startup_trials": True}, "n_startup_trials=True must be an int"),
        ({"n_candidates": 0}, "n_candidates=0 must be an int >= 1"),
        ({"n_candidates": "many"}, "n_candidates='many' must be an int"),
        ({"deterministic_objective": 1}, "pass True or False"),
        ({"seed": -3}, "seed=-3 must be a non-negative int"),
    ],
)
def test_bad_arguments_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GPSampler(**arguments)


def test_configuration_round_trips_as_json() -> None:
    sampler = GPSampler(n_startup_trials=4, deterministic_objective=True, n_candidates=512, seed=9)
    assert sampler.to_json() == {
        "class": "GPSampler",
        "arguments": {
            "n_startup_trials": 4,
            "deterministic_objective": True,
            "n_candidates": 512,
            "seed": 9,
        },
    }
    assert GPSampler(**sampler.to_json()["arguments"]).to_json() == sampler.to_json()
    with pytest.raises(TypeError):
        GPSampler(10)  # type: ignore[misc]


def test_deterministic_objective_proposes_valid_points() -> None:
    sampler = GPSampler(n_startup_trials=5, deterministic_objective=True, n_candidates=512)
    history = _study(sampler, PLANE, _bowl, 10)
    assert min(t.values[0] for t in history if t.values) < 0.01
