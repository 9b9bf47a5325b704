"""TPESampler's contract: determinism, valid values of every kind, odd histories, arguments."""

from __future__ import annotations

import inspect
import json
import math
import pickle
from typing import Any

import pytest
from tpe_test_helpers import MIN, box_objective, context, random_history, record, run

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    StudyDirection,
    TPESampler,
    TrialState,
)

SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "x": FloatDistribution(-3.0, 2.0),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "layers": IntDistribution(1, 8),
    "units": IntDistribution(16, 1024, log=True),
    "batch": IntDistribution(16, 256, step=16),
    "act": CategoricalDistribution(["relu", None, True, 2, 0.5]),
    "fixed": CategoricalDistribution(["only"]),
}


def _score(params: dict[str, Any]) -> float:
    return (
        abs(math.log10(params["lr"]) + 3)
        + (params["x"] - 1) ** 2
        + abs(params["dropout"] - 0.2)
        + abs(params["layers"] - 3)
        + abs(math.log2(params["units"]) - 7)
        + abs(params["batch"] - 64) / 64
        + (params["act"] != 2)
    )


HISTORY = random_history(SPACE, 24, _score)


def test_same_context_gives_the_same_values_on_fresh_and_warm_samplers() -> None:
    warm = TPESampler()
    warm.sample_relative(context(40, HISTORY[:15]), SPACE)  # fills its memo with other records
    expected = TPESampler().sample_relative(context(40, HISTORY), SPACE)
    assert warm.sample_relative(context(40, HISTORY), SPACE) == expected
    assert pickle.loads(pickle.dumps(warm)).sample_relative(context(40, HISTORY), SPACE) == expected
    name, distribution = "x", SPACE["x"]
    assert TPESampler().sample_independent(
        context(40, HISTORY), name, distribution
    ) == warm.sample_independent(context(40, HISTORY), name, distribution)


def test_the_memo_never_changes_a_proposal() -> None:
    """The memo sorts a column in bulk or inserts rows one by one, and meets old versions of
    records: none of it may change a proposal."""
    history = random_history(SPACE, 150, _score, seed=2)
    tie = {"x": history[0].params["x"], "act": "relu"}
    running = [record(150, tie, SPACE, state=TrialState.RUNNING)]
    warm = TPESampler()
    for cut in (40, 100, 130, 149):
        stale = [record(150, {"x": 0.5}, SPACE, state=TrialState.RUNNING)]
        warm.sample_relative(context(200, history[:cut] + stale), SPACE)
    ctx = context(200, history + running)
    assert warm.sample_relative(ctx, SPACE) == TPESampler().sample_relative(ctx, SPACE)


def test_other_trial_numbers_and_seeds_give_other_values() -> None:
    sampler = TPESampler()
    base = sampler.sample_relative(context(40, HISTORY), SPACE)
    for other in (context(41, HISTORY), context(40, HISTORY, seed=1)):
        proposal = sampler.sample_relative(other, SPACE)
        assert proposal["x"] != base["x"] and proposal["lr"] != base["lr"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"multivariate": False},
        {"group": False},
        {"consider_endpoints": True},
        {"weights": "decay"},
    ],
)
def test_every_value_lies_in_its_distribution(options: dict[str, Any]) -> None:
    sampler = TPESampler(n_startup_trials=5, **options)
    records = run(sampler, box_objective(SPACE, lambda p: ((_score(p),), None)), 30)
    assert len(records) == 30  # run() asserts each value is contained in its distribution
    best = min(r.values[0] for r in records[5:] if r.values)
    assert best < max(r.values[0] for r in records[:5] if r.values)


def test_relative_proposal_covers_exactly_the_seen_space() -> None:
    sampler = TPESampler()
    ctx = context(24, HISTORY)
    space = sampler.infer_relative_search_space(ctx)
    assert space == SPACE
    proposal = sampler.sample_relative(ctx, {"x": SPACE["x"], "act": SPACE["act"]})
    assert set(proposal) == {"x", "act"}


def test_empty_history() -> None:
    sampler = TPESampler()
    ctx = context(0)
    assert sampler.infer_relative_search_space(ctx) == {}
    assert sampler.sample_relative(ctx, {}) == {}
    for name, distribution in SPACE.items():
        assert distribution.contains(sampler.sample_independent(ctx, name, distribution))
    no_startup = TPESampler(n_startup_trials=0)
    proposal = no_startup.sample_relative(ctx, SPACE)
    assert all(SPACE[n].contains(v) for n, v in proposal.items())


def test_failed_waiting_and_unreported_pruned_trials_leave_it_random() -> None:
    params = {"x": 1.0}
    history = [
        record(0, params, SPACE, state=TrialState.FAILED),
        record(1, params, SPACE, state=TrialState.PRUNED),
        record(2, params, SPACE, state=TrialState.WAITING),
        *[record(i, params, SPACE, state=TrialState.FAILED) for i in range(3, 20)],
    ]
    sampler = TPESampler(n_startup_trials=1)
    uniform = TPESampler(n_startup_trials=10**6)
    ctx = context(20, history)
    assert sampler.sample_relative(ctx, {"x": SPACE["x"]}) == uniform.sample_relative(
        ctx, {"x": SPACE["x"]}
    )


def test_pruned_trials_with_intermediate_values_are_modelled() -> None:
    distribution = FloatDistribution(0.0, 1.0)
    history = [
        record(
            i,
            {"x": i / 20},
            {"x": distribution},
            state=TrialState.PRUNED,
            intermediate_values={0: 1.0, 1: abs(i / 20 - 0.8)},
        )
        for i in range(20)
    ]
    sampler = TPESampler(n_startup_trials=10)
    proposals = [
        sampler.sample_independent(context(n, history), "x", distribution) for n in range(20, 40)
    ]
    assert sum(abs(p - 0.8) < 0.2 for p in proposals) >= 14


def test_maximize_is_minimize_of_the_negation() -> None:
    negated = [
        record(r.number, r.params, SPACE, values=(-r.values[0],)) for r in HISTORY if r.values
    ]
    maximize = (StudyDirection.MAXIMIZE,)
    assert TPESampler().sample_relative(context(30, negated, maximize), SPACE) == (
        TPESampler().sample_relative(context(30, HISTORY, MIN), SPACE)
    )


def test_to_json_lists_every_argument_and_round_trips() -> None:
    sampler = TPESampler(gamma="sqrt:0.25:25", n_ei_candidates=7, seed=3, weights="decay")
    data = json.loads(json.dumps(sampler.to_json()))
    assert data["class"] == "TPESampler"
    parameters = set(inspect.signature(TPESampler).parameters)
    assert set(data["arguments"]) == parameters
    again = TPESampler(**data["arguments"])
    assert again.to_json() == data
    ctx = context(30, HISTORY)
    assert again.sample_relative(ctx, SPACE) == sampler.sample_relative(ctx, SPACE)


@pytest.mark.parametrize(
    "arguments",
    [
        {"n_startup_trials": -1},
        {"n_startup_trials": 2.0},
        {"n_startup_trials": True},
        {"n_ei_candidates": 0},
        {"gamma": "linear"},
        {"gamma": "linear:2"},
        {"gamma": "cubic:0.1"},
        {"gamma": "sqrt:0.1:0"},
        {"gamma": "linear:nan"},
        {"gamma": lambda n: n},
        {"weights": "old"},
        {"prior_weight": 0.0},
        {"prior_weight": math.inf},
        {"prior_weight": "1"},
        {"consider_endpoints": 1},
        {"min_bandwidth": 0.0},
        {"min_bandwidth": 1e-9},
        {"min_bandwidth": 1.5},
        {"multivariate": None},
        {"group": "yes"},
        {"constant_liar": 0},
        {"seed": -1},
    ],
)
def test_bad_arguments_say_what_to_pass(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"pass|must be"):
        TPESampler(**arguments)


def test_accepts_any_number_of_objectives() -> None:
    sampler = TPESampler()
    for count in (1, 2, 5):
        sampler.check_directions((StudyDirection.MINIMIZE,) * count)


def test_a_changed_range_or_scale_reads_old_values_in_the_new_coordinates() -> None:
    old = FloatDistribution(0.0, 1.0)
    history = [record(i, {"x": i / 20}, {"x": old}, values=(abs(i / 20 - 0.3),)) for i in range(21)]
    sampler = TPESampler()
    for new in (FloatDistribution(0.0, 10.0), FloatDistribution(1e-3, 1.0, log=True)):
        values = [sampler.sample_independent(context(n, history), "x", new) for n in range(30, 40)]
        assert all(new.contains(v) for v in values)
    # On the log scale the value 0.0 has no coordinate: that trial is left out, not an error.
    log_scale = FloatDistribution(1e-3, 1.0, log=True)
    proposal = sampler.sample_relative(context(40, history), {"x": log_scale})
    assert log_scale.contains(proposal["x"])


def test_a_cleared_memo_gives_the_same_proposals() -> None:
    """Records of other histories pile up in the memo until it is cleared and rebuilt."""
    space: dict[str, Distribution] = {"x": FloatDistribution(0.0, 1.0)}
    big = [record(i, {"x": (i * 0.618) % 1.0}, space, values=(float(i % 7),)) for i in range(1100)]
    sampler = TPESampler()
    first = sampler.sample_relative(context(2000, big), space)
    sampler.sample_relative(context(2000, big[:5]), space)  # 1100 > 3 * 5 + 1024: cleared
    assert sampler.sample_relative(context(2000, big), space) == first
    assert TPESampler().sample_relative(context(2000, big), space) == first
