"""CmaEsSampler: a pure function of the context, valid proposals, and a search that works."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from raysweep.samplers import (
    CategoricalDistribution,
    CmaEsSampler,
    Distribution,
    FloatDistribution,
    IntDistribution,
    RandomSampler,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)
from raysweep.samplers._cmaes_replay import generations

MIN = (StudyDirection.MINIMIZE,)
Objective = Callable[[Mapping[str, Any]], float]


def _context(
    history: list[TrialRecord], number: int, seed: int = 0, directions: Any = MIN
) -> SamplingContext:
    return SamplingContext(seed, number, directions, history)


def _ask(sampler: Sampler, context: SamplingContext, space: Mapping[str, Distribution]) -> dict:
    params = sampler.sample_relative(context, sampler.infer_relative_search_space(context))
    for name, distribution in space.items():
        if name not in params:
            params[name] = sampler.sample_independent(context, name, distribution)
    return params


def _run(
    sampler: Sampler,
    space: Mapping[str, Distribution],
    objective: Objective,
    n_trials: int,
    seed: int = 0,
) -> list[TrialRecord]:
    history: list[TrialRecord] = []
    for number in range(n_trials):
        params = _ask(sampler, _context(history, number, seed), space)
        history.append(
            TrialRecord(number, TrialState.COMPLETE, params, space, values=(objective(params),))
        )
    return history


BOX = {f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(5)}
_ROTATION = np.linalg.qr(np.random.default_rng(7).normal(size=(5, 5)))[0]
_OPTIMUM = np.array([1.5, -2.0, 0.5, 3.0, -1.0])


def _rotated_ellipsoid(params: Mapping[str, Any]) -> float:
    z = _ROTATION @ (np.array([params[f"x{i}"] for i in range(5)]) - _OPTIMUM)
    return float(np.sum(10.0 ** np.linspace(0, 2, 5) * z**2))


def _sphere(params: Mapping[str, Any]) -> float:
    return sum((float(v) - 0.3) ** 2 for k, v in params.items() if k != "act")


MIXED: dict[str, Distribution] = {
    "f": FloatDistribution(-1.0, 1.0),
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "stepped": FloatDistribution(0.0, 0.5, step=0.1),
    "n": IntDistribution(1, 8),
    "units": IntDistribution(16, 1024, log=True),
    "even": IntDistribution(0, 10, step=2),
    "act": CategoricalDistribution(["relu", "gelu", "tanh"]),
}


def test_beats_random_search_on_a_rotated_ellipsoid() -> None:
    best_cma = min(t.values[0] for t in _run(CmaEsSampler(), BOX, _rotated_ellipsoid, 150))
    best_random = min(t.values[0] for t in _run(RandomSampler(), BOX, _rotated_ellipsoid, 150))
    assert best_cma < best_random / 4


def test_same_seed_same_trials_and_other_seeds_other_trials() -> None:
    first = _run(CmaEsSampler(popsize=4), MIXED, _sphere, 30, seed=3)
    again = _run(CmaEsSampler(popsize=4), MIXED, _sphere, 30, seed=3)
    other = _run(CmaEsSampler(popsize=4), MIXED, _sphere, 30, seed=4)
    assert [t.params for t in first] == [t.params for t in again]
    assert [t.params for t in first][5:] != [t.params for t in other][5:]


def test_values_stay_inside_float_log_int_and_step_spaces() -> None:
    history = _run(CmaEsSampler(popsize=4, sigma0=0.6), MIXED, _sphere, 40)
    for trial in history:
        for name, value in trial.params.items():
            assert MIXED[name].contains(value), (name, value)
    space = CmaEsSampler().infer_relative_search_space(_context(history, 40))
    assert list(space) == ["even", "f", "lr", "n", "stepped", "units"]  # sorted, no categorical


def test_categoricals_are_drawn_uniformly_on_their_own_stream() -> None:
    history = _run(CmaEsSampler(popsize=4), MIXED, _sphere, 20)
    reference = RandomSampler()
    for trial in history:
        context = _context([t for t in history if t.number != trial.number], trial.number)
        act = reference.sample_independent(context, "act", MIXED["act"])
        assert trial.params["act"] == act
    context = _context(history, 20)
    relative = CmaEsSampler().sample_relative(context, {"act": MIXED["act"], "f": MIXED["f"]})
    assert relative["act"] == reference.sample_independent(context, "act", MIXED["act"])


def test_a_fresh_sampler_proposes_what_a_warm_one_did() -> None:
    warm = CmaEsSampler(popsize=4)
    history = _run(warm, BOX, _rotated_ellipsoid, 60)
    for trial in history[1:]:
        cold = CmaEsSampler(popsize=4)
        assert _ask(cold, _context(history[: trial.number], trial.number), BOX) == trial.params
    # A trial still running shifts the generations from its place on (a miss at 3, a partial
    # hit at 50): the warm cache must reuse only the generations that did not change.
    for late in (3, 50):
        reshaped = [
            replace_state(t, TrialState.RUNNING) if t.number == late else t for t in history
        ]
        proposal = _ask(warm, _context(list(reversed(reshaped)), 60), BOX)
        assert proposal == _ask(CmaEsSampler(popsize=4), _context(reshaped, 60), BOX)
        assert proposal != _ask(CmaEsSampler(popsize=4), _context(history, 60), BOX)


def replace_state(trial: TrialRecord, state: TrialState) -> TrialRecord:
    return TrialRecord(trial.number, state, trial.params, trial.distributions)


def test_a_flat_objective_restarts_identically_warm_or_cold() -> None:
    # Equal values trip the library's stop test (no progress); the replay then restarts.
    space = {"x": FloatDistribution(0.0, 1.0)}
    history = _run(CmaEsSampler(popsize=4), space, lambda params: 1.0, 100)
    cold = _ask(CmaEsSampler(popsize=4), _context(history, 100), space)
    assert cold == _ask(CmaEsSampler(popsize=4), _context(history, 100), space)
    assert len({t.params["x"] for t in history}) == 100


def test_parallel_trials_get_their_own_draws() -> None:
    history = _run(CmaEsSampler(popsize=4), BOX, _sphere, 12)
    sampler = CmaEsSampler(popsize=4)
    first = _ask(sampler, _context(history, 12), BOX)
    running = TrialRecord(12, TrialState.RUNNING, first, BOX)
    second = _ask(sampler, _context([*history, running], 13), BOX)
    assert first != second


def test_x0_and_sigma0_place_the_first_generation() -> None:
    space = {"a": FloatDistribution(0.0, 100.0), "b": IntDistribution(0, 1000)}
    sampler = CmaEsSampler(x0={"a": 90.0, "b": 10}, sigma0=0.01, popsize=4)
    history = _run(sampler, space, lambda p: 0.0, 4)
    for trial in history[1:]:
        assert abs(trial.params["a"] - 90.0) < 5 and abs(trial.params["b"] - 10) < 50


@pytest.mark.parametrize(
    ("x0", "match"),
    [
        ({"typo": 1.0}, "no trial of this study has used"),
        ({"act": 1.0}, "categorical"),
        ({"f": 2.0}, "outside"),
    ],
)
def test_x0_is_checked_against_the_space(x0: dict[str, float], match: str) -> None:
    history = _run(RandomSampler(), MIXED, _sphere, 2)
    sampler = CmaEsSampler(x0=x0)
    context = _context(history, 2)
    with pytest.raises(ValueError, match=match):
        sampler.sample_relative(context, sampler.infer_relative_search_space(context))


@pytest.mark.parametrize(
    "arguments",
    [
        {"x0": "centre"},
        {"x0": {"a": "1"}},
        {"x0": {1: 1.0}},
        {"x0": {"a": math.nan}},
        {"x0": {"a": True}},
        {"sigma0": 0},
        {"sigma0": -0.1},
        {"sigma0": 1.5},
        {"sigma0": math.inf},
        {"sigma0": "0.2"},
        {"popsize": 1},
        {"popsize": 4.0},
        {"popsize": True},
        {"n_startup_trials": -1},
        {"n_startup_trials": 1.5},
        {"seed": -1},
    ],
)
def test_bad_arguments_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="CmaEsSampler"):
        CmaEsSampler(**arguments)


def test_multi_objective_studies_are_refused() -> None:
    with pytest.raises(ValueError, match="NSGA2Sampler or TPESampler"):
        CmaEsSampler().check_directions((StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE))
    CmaEsSampler().check_directions(MIN)


def test_to_json_lists_every_argument_and_pickles_without_its_cache() -> None:
    sampler = CmaEsSampler(x0={"a": np.float64(0.5)}, sigma0=0.2, popsize=6, seed=7)
    assert json.loads(json.dumps(sampler.to_json())) == {
        "class": "CmaEsSampler",
        "arguments": {
            "x0": {"a": 0.5},
            "sigma0": 0.2,
            "popsize": 6,
            "n_startup_trials": 1,
            "seed": 7,
        },
    }
    assert CmaEsSampler().to_json()["arguments"]["x0"] is None
    warm = CmaEsSampler(popsize=4)
    history = _run(warm, BOX, _sphere, 20)
    copy = pickle.loads(pickle.dumps(warm))
    assert _ask(copy, _context(history, 20), BOX) == _ask(warm, _context(history, 20), BOX)


def test_startup_trials_are_uniform_and_tiny_populations_work() -> None:
    history = _run(CmaEsSampler(n_startup_trials=5, popsize=2), BOX, _sphere, 12)
    reference = _run(RandomSampler(), BOX, _sphere, 5)
    assert [t.params for t in history[:5]] == [t.params for t in reference]
    assert CmaEsSampler().infer_relative_search_space(_context([], 0)) == {}


def test_generations_rank_infinite_values_and_maximize_by_negating() -> None:
    space = {"x": FloatDistribution(0.0, 1.0)}
    values = [math.inf, -1.0, -math.inf, 2.0, 0.5]
    history = [
        TrialRecord(n, TrialState.COMPLETE, {"x": 0.1 * n}, space, values=(v,))
        for n, v in enumerate(values)
    ]
    (block,) = generations(reversed(history), space, StudyDirection.MAXIMIZE, 2 * 2)
    assert [number for number, _, _ in block] == [0, 1, 2, 3]
    assert [value for _, value, _ in block] == [-sys.float_info.max, 1.0, sys.float_info.max, -2.0]


def test_missing_cmaes_is_reported_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)
    with pytest.raises(ImportError, match=r"pip install 'raysweep\[cmaes\]'"):
        CmaEsSampler()


def test_the_samplers_import_without_cmaes() -> None:
    probe = (
        "import sys; sys.modules['cmaes'] = None\n"
        "from raysweep.samplers import CmaEsSampler\n"
        "try:\n    CmaEsSampler()\nexcept ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "CmaEsSampler needs the optional package cmaes: pip install 'raysweep[cmaes]'"
    )
