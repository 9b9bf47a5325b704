"""NSGA2Sampler: determinism, validity, which trials breed, constraints, and search quality."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sampler_drive import drive

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    NSGA2Sampler,
    RandomSampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
    hypervolume,
)

TWO = ("minimize", "minimize")
MIXED_SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "x": FloatDistribution(-2.0, 3.0),
    "layers": IntDistribution(1, 8),
    "units": IntDistribution(16, 1024, log=True),
    "batch": IntDistribution(8, 64, step=8),
    "act": CategoricalDistribution(["relu", "gelu", None, 3]),
}
ZDT_SPACE: dict[str, Distribution] = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(5)}
ZDT_REFERENCE = np.array([1.1, 11.0])


def _mixed(params: dict[str, Any]) -> tuple[tuple[float, ...], None]:
    """Two conflicting objectives that read every parameter."""
    spread = abs(params["x"]) + params["dropout"] + params["layers"] / 8
    cost = -np.log10(params["lr"]) / 5 + params["units"] / 1024 + params["batch"] / 64
    bonus = 0.5 if params["act"] == "gelu" else 0.0
    return (spread + bonus, cost - spread), None


def _zdt1(params: dict[str, Any]) -> tuple[tuple[float, ...], None]:
    x = np.array([params[f"x{i}"] for i in range(5)])
    g = 1.0 + 9.0 * x[1:].sum() / 4.0
    return (float(x[0]), float(g * (1.0 - np.sqrt(x[0] / g)))), None


def _hypervolume(records: list[TrialRecord]) -> float:
    assert all(r.values is not None for r in records)
    return hypervolume(np.array([r.values for r in records]), ZDT_REFERENCE)


def _params(records: list[TrialRecord]) -> list[dict[str, Any]]:
    return [dict(r.params) for r in records]


def _record(number: int, state: TrialState, params: dict[str, Any], **fields: Any) -> TrialRecord:
    space = {name: MIXED_SPACE[name] for name in params}
    return TrialRecord(number, state, params, space, **fields)


def _propose(sampler: NSGA2Sampler, history: list[TrialRecord], number: int) -> dict[str, Any]:
    context = SamplingContext(0, number, (StudyDirection.MINIMIZE,) * 2, history)
    space = sampler.infer_relative_search_space(context)
    return sampler.sample_relative(context, space)


@pytest.fixture(scope="module")
def mixed_run() -> list[TrialRecord]:
    return drive(NSGA2Sampler(population_size=8), MIXED_SPACE, _mixed, 60, directions=TWO)


def test_same_seed_same_proposals(mixed_run: list[TrialRecord]) -> None:
    again = drive(NSGA2Sampler(population_size=8), MIXED_SPACE, _mixed, 60, directions=TWO)
    assert _params(again) == _params(mixed_run)
    other = drive(NSGA2Sampler(population_size=8), MIXED_SPACE, _mixed, 60, directions=TWO, seed=1)
    assert _params(other)[20:] != _params(mixed_run)[20:]


@pytest.mark.parametrize("crossover", ["uniform", "blxalpha", "sbx"])
def test_every_value_is_in_its_distribution(crossover: str) -> None:
    # drive checks `contains` for every value; full mutation also exercises the redraw.
    for mutation_prob in (None, 1.0):
        sampler = NSGA2Sampler(population_size=6, crossover=crossover, mutation_prob=mutation_prob)
        records = drive(sampler, MIXED_SPACE, _mixed, 40, directions=TWO)
        assert len({r.params["x"] for r in records}) > 10
        assert {r.params["act"] for r in records} == {"relu", "gelu", None, 3}


def test_the_first_generation_is_uniform_as_random_search(mixed_run: list[TrialRecord]) -> None:
    random = drive(RandomSampler(), MIXED_SPACE, _mixed, 8, directions=TWO)
    assert _params(mixed_run)[:8] == _params(random)


def test_empty_history_proposes_nothing_jointly_and_uniform_alone() -> None:
    sampler = NSGA2Sampler()
    context = SamplingContext(0, 0, (StudyDirection.MINIMIZE,) * 2, [])
    assert sampler.infer_relative_search_space(context) == {}
    assert sampler.sample_relative(context, {}) == {}
    for name, distribution in MIXED_SPACE.items():
        value = sampler.sample_independent(context, name, distribution)
        assert value == RandomSampler().sample_independent(context, name, distribution)


def test_children_come_from_complete_trials_of_earlier_generations() -> None:
    sampler = NSGA2Sampler(population_size=4, mutation_prob=0.0, crossover_prob=1.0)
    history = drive(RandomSampler(), MIXED_SPACE, _mixed, 4, directions=TWO)
    child = _propose(sampler, history, 4)
    for name, value in child.items():
        assert value in {r.params[name] for r in history}
    assert child not in _params(history)  # a cross, not a copy (for this seed)


def test_failed_pruned_running_and_current_generation_trials_do_not_breed() -> None:
    sampler = NSGA2Sampler(population_size=4)
    history = drive(RandomSampler(), MIXED_SPACE, _mixed, 6, directions=TWO)
    full = dict(history[0].params)
    noise = [
        _record(6, TrialState.FAILED, full),
        _record(7, TrialState.PRUNED, full, values=(-100.0, -100.0)),
        _record(8, TrialState.RUNNING, {"x": 0.0}),
        # Complete, but in the generation being sampled (numbers 4..7), so not a parent yet.
        _record(5, TrialState.COMPLETE, full, values=(-100.0, -100.0)),
    ]
    base = history[:4]
    assert _propose(sampler, [*base, *noise[:3]], 4) == _propose(sampler, base, 4)
    assert _propose(sampler, [*base, noise[3]], 6) == _propose(sampler, base, 6)


def test_a_generation_starts_from_whatever_has_finished() -> None:
    sampler = NSGA2Sampler(population_size=4)
    history = drive(RandomSampler(), MIXED_SPACE, _mixed, 4, directions=TWO)
    # One parent is not enough for a cross: uniform, as random search draws it.
    lone = _propose(sampler, history[:1], 5)
    context = SamplingContext(0, 5, (StudyDirection.MINIMIZE,) * 2, history[:1])
    assert lone == RandomSampler().sample_relative(context, dict(MIXED_SPACE))
    # With two, the child is bred from them.
    bred = _propose(NSGA2Sampler(population_size=4, mutation_prob=0.0), history[:2], 5)
    for name, value in bred.items():
        assert value in {r.params[name] for r in history[:2]}


def test_concurrent_trials_of_a_generation_get_different_children() -> None:
    sampler = NSGA2Sampler(population_size=10)
    history = drive(RandomSampler(), MIXED_SPACE, _mixed, 10, directions=TWO)
    children = [_propose(sampler, history, number) for number in range(10, 20)]
    assert len({tuple(sorted(c.items(), key=str)) for c in children}) == 10


def test_relative_space_is_what_every_complete_trial_has_with_the_current_distribution() -> None:
    sampler = NSGA2Sampler()
    records = [
        _record(0, TrialState.COMPLETE, {"x": 0.0, "layers": 2, "act": "relu"}, values=(1.0, 2.0)),
        _record(1, TrialState.COMPLETE, {"x": 1.0, "act": "gelu"}, values=(1.0, 2.0)),
        _record(2, TrialState.RUNNING, {"dropout": 0.1}),
        _record(3, TrialState.FAILED, {"units": 32}),
    ]
    context = SamplingContext(0, 4, (StudyDirection.MINIMIZE,) * 2, records)
    assert sampler.infer_relative_search_space(context) == {
        "act": MIXED_SPACE["act"],
        "x": MIXED_SPACE["x"],
    }
    narrowed = TrialRecord(5, TrialState.RUNNING, {"x": 0.5}, {"x": FloatDistribution(0.0, 1.0)})
    context = SamplingContext(0, 6, (StudyDirection.MINIMIZE,) * 2, [*records, narrowed])
    assert sampler.infer_relative_search_space(context) == {"act": MIXED_SPACE["act"]}


def test_maximizing_the_negated_objectives_gives_the_same_search() -> None:
    def negated(params: dict[str, Any]) -> tuple[tuple[float, ...], None]:
        values, _ = _mixed(params)
        return tuple(-v for v in values), None

    sampler = NSGA2Sampler(population_size=6)
    minimized = drive(sampler, MIXED_SPACE, _mixed, 30, directions=TWO)
    maximized = drive(sampler, MIXED_SPACE, negated, 30, directions=("maximize", "maximize"))
    assert _params(minimized) == _params(maximized)


@pytest.fixture(scope="module")
def random_zdt1() -> float:
    return _hypervolume(drive(RandomSampler(), ZDT_SPACE, _zdt1, 300, directions=TWO))


@pytest.mark.parametrize("crossover", ["uniform", "blxalpha", "sbx"])
def test_beats_random_search_on_zdt1(crossover: str, random_zdt1: float) -> None:
    sampler = NSGA2Sampler(population_size=20, crossover=crossover)
    found = _hypervolume(drive(sampler, ZDT_SPACE, _zdt1, 300, directions=TWO))
    # Random search reaches about 10.35 of the 11.77 possible; NSGA-II about 11.1 to 11.5.
    assert found > random_zdt1 + 0.5


def _constrained(params: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x, y, z = params["x0"], params["x1"], params["x2"]
    values = (x * x + y * y + z, (x - 1) ** 2 + (y - 1) ** 2 + z)
    return values, (1.2 - x - y,)  # feasible when x + y >= 1.2: a third of the square


def test_late_proposals_of_a_constrained_problem_are_mostly_feasible() -> None:
    space = {name: ZDT_SPACE[name] for name in ("x0", "x1", "x2")}
    sampler = NSGA2Sampler(population_size=20)
    records = drive(sampler, space, _constrained, 200, directions=TWO)
    late = records[-60:]
    assert np.mean([r.feasible for r in late]) > 0.6
    random = drive(RandomSampler(), space, _constrained, 200, directions=TWO)
    assert np.mean([r.feasible for r in random[-60:]]) < 0.45


def test_feasible_parents_win_and_unreported_constraints_count_as_feasible() -> None:
    sampler = NSGA2Sampler(population_size=3, mutation_prob=0.0, crossover_prob=0.0)
    good = {"x": 0.0, "act": "relu"}
    history = [
        # Best objectives, but infeasible: never chosen while two feasible trials compete.
        _record(
            0, TrialState.COMPLETE, {"x": 1.0, "act": "gelu"}, values=(0.0, 0.0), constraints=(1.0,)
        ),
        _record(1, TrialState.COMPLETE, good, values=(5.0, 5.0), constraints=(-1.0, 0.0)),
        _record(2, TrialState.COMPLETE, good, values=(6.0, 6.0)),  # no constraints: feasible
    ]
    # A child copying its first parent (no crossover, no mutation): a tournament winner, which
    # the infeasible trial can never be.
    for number in range(3, 30):
        assert _propose(sampler, history, number) == good


def test_single_objective_studies_are_refused_with_the_alternatives() -> None:
    sampler = NSGA2Sampler()
    with pytest.raises(ValueError, match="TPESampler or CmaEsSampler"):
        sampler.check_directions((StudyDirection.MINIMIZE,))
    with pytest.raises(ValueError, match="multi-objective"):
        drive(sampler, MIXED_SPACE, lambda p: ((1.0,), None), 1)
    sampler.check_directions((StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"population_size": 1}, "population_size=1 must be >= 2"),
        ({"population_size": 2.0}, "must be an int"),
        ({"population_size": True}, "must be an int"),
        ({"mutation_prob": 1.5}, r"mutation_prob=1.5 must be a number in \[0, 1\]"),
        ({"mutation_prob": "0.1"}, "mutation_prob"),
        ({"crossover_prob": -0.1}, "crossover_prob"),
        ({"crossover_prob": float("nan")}, "crossover_prob"),
        ({"swapping_prob": 2}, "swapping_prob"),
        ({"crossover": "spx"}, "'uniform', 'blxalpha', 'sbx'"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_say_what_to_pass(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NSGA2Sampler(**arguments)


def test_to_json_lists_every_argument_and_round_trips() -> None:
    sampler = NSGA2Sampler(
        population_size=10, mutation_prob=0.25, crossover="sbx", crossover_prob=1, seed=3
    )
    data = sampler.to_json()
    assert data == {
        "class": "NSGA2Sampler",
        "arguments": {
            "population_size": 10,
            "mutation_prob": 0.25,
            "crossover": "sbx",
            "crossover_prob": 1.0,
            "swapping_prob": 0.5,
            "seed": 3,
        },
    }
    assert NSGA2Sampler(**data["arguments"]).to_json() == data
