"""GridSampler: every point once, never one point to two workers, and clear errors."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from raysweep.samplers import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    GridSampler,
    IntDistribution,
    SamplingContext,
    SearchSpaceExhaustedError,
    StudyDirection,
    TrialRecord,
    TrialState,
)

GRID: dict[str, list[CategoricalChoice]] = {
    "lr": [0.1, 0.01, 0.001],
    "layers": [2, 4],
    "act": ["relu", None, True],
}
SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "layers": IntDistribution(1, 8),
    "act": CategoricalDistribution(["relu", "gelu", None, True]),
}
SIZE = 3 * 2 * 3
ALL_POINTS = set(itertools.product(*GRID.values()))


def _context(number: int, history: Sequence[TrialRecord] = (), seed: int = 0) -> SamplingContext:
    return SamplingContext(seed, number, (StudyDirection.MINIMIZE,), history)


def _record(number: int, params: Mapping[str, Any], state: TrialState) -> TrialRecord:
    values = (0.0,) if state is TrialState.COMPLETE else None
    return TrialRecord(number, state, params, {k: SPACE[k] for k in params}, values=values)


def _ask(sampler: GridSampler, context: SamplingContext) -> dict[str, Any]:
    """Like the orchestrator: a joint proposal, then the names it did not cover one by one."""
    space = sampler.infer_relative_search_space(context)
    params = sampler.sample_relative(context, space)
    for name, distribution in SPACE.items():
        if name not in params:
            params[name] = sampler.sample_independent(context, name, distribution)
    return params


def _point(params: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(params[name] for name in GRID)


def _run_sequentially(sampler: GridSampler, count: int, seed: int = 0) -> list[TrialRecord]:
    history: list[TrialRecord] = []
    for number in range(count):
        params = _ask(sampler, _context(number, history, seed))
        history.append(_record(number, params, TrialState.COMPLETE))
    return history


def test_sequential_trials_visit_every_point_once_then_the_grid_is_exhausted() -> None:
    sampler = GridSampler(GRID)
    history = _run_sequentially(sampler, SIZE)
    points = [_point(trial.params) for trial in history]
    assert set(points) == ALL_POINTS and len(points) == SIZE
    assert sampler.grid_size == SIZE
    with pytest.raises(SearchSpaceExhaustedError, match=f"all {SIZE} points"):
        _ask(sampler, _context(SIZE, history))


def test_values_take_the_distributions_types() -> None:
    sampler = GridSampler({"x": [0, 1], "k": [2.0, 3.0]})
    context = _context(0)
    x = sampler.sample_independent(context, "x", FloatDistribution(0.0, 1.0))
    k = sampler.sample_independent(context, "k", IntDistribution(0, 5))
    assert type(x) is float and type(k) is int


def test_the_order_is_seeded_and_independent_of_the_mappings_order() -> None:
    reordered = GridSampler({name: GRID[name] for name in reversed(GRID)})
    first = [_point(t.params) for t in _run_sequentially(GridSampler(GRID), 6)]
    assert first == [_point(t.params) for t in _run_sequentially(reordered, 6)]
    other_seed = [_point(t.params) for t in _run_sequentially(GridSampler(GRID), 6, seed=1)]
    assert first != other_seed


def test_relative_and_independent_proposals_agree() -> None:
    sampler = GridSampler(GRID)
    history = _run_sequentially(sampler, 5)
    context = _context(5, history)
    space = sampler.infer_relative_search_space(context)
    assert space == SPACE
    independent = {name: sampler.sample_independent(context, name, d) for name, d in SPACE.items()}
    assert sampler.sample_relative(context, space) == independent


def test_failed_trials_keep_their_point_and_trials_without_params_free_it() -> None:
    sampler = GridSampler(GRID)
    history = _run_sequentially(sampler, SIZE - 1)
    missing = (ALL_POINTS - {_point(t.params) for t in history}).pop()
    failed = [_record(t.number, t.params, TrialState.FAILED) for t in history[:3]]
    history = failed + history[3:]
    # A trial that failed before asking anything holds no point: the last one is still free.
    history.append(_record(SIZE - 1, {}, TrialState.FAILED))
    assert _point(_ask(sampler, _context(SIZE, history))) == missing


def test_points_held_by_running_trials_are_skipped() -> None:
    sampler = GridSampler(GRID)
    done = _run_sequentially(sampler, 4)
    # Trials 5 and 6 took the points trial 4 would prefer, and 7 is already proposed.
    preferred = _point(_ask(sampler, _context(4, done)))
    ahead = [_point(_ask(sampler, _context(n, done))) for n in (5, 6, 7)]
    running = [
        _record(5, dict(zip(GRID, preferred, strict=True)), TrialState.RUNNING),
        _record(6, dict(zip(GRID, ahead[0], strict=True)), TrialState.RUNNING),
        _record(7, dict(zip(GRID, ahead[2], strict=True)), TrialState.WAITING),
    ]
    point = _point(_ask(sampler, _context(4, done + running)))
    assert point not in {preferred, ahead[0], ahead[2]} | {_point(t.params) for t in done}


def _concurrent_points(sampler: GridSampler, done: list[TrialRecord], numbers: range) -> list[Any]:
    """Each trial of ``numbers`` sees the others as RUNNING records with no params yet."""
    points = []
    for number in numbers:
        others = [_record(m, {}, TrialState.RUNNING) for m in numbers if m != number]
        points.append(_point(_ask(sampler, _context(number, done + others))))
    return points


def test_concurrent_trials_without_params_get_distinct_points() -> None:
    sampler = GridSampler(GRID)
    done = _run_sequentially(sampler, 3)
    points = _concurrent_points(sampler, done, range(3, 9))
    assert len(set(points)) == 6 and not set(points) & {_point(t.params) for t in done}


def test_concurrent_trials_stay_distinct_when_points_were_taken_out_of_turn() -> None:
    sampler = GridSampler(GRID)
    # Enqueued trials (fixed by hand) hold the points trials 3 and 4 would prefer.
    fixed = [_point(_ask(sampler, _context(n))) for n in (3, 4)]
    done = [
        _record(n, dict(zip(GRID, point, strict=True)), TrialState.COMPLETE)
        for n, point in zip((0, 1), fixed, strict=True)
    ]
    points = _concurrent_points(sampler, done, range(2, 8))
    assert len(set(points)) == 6 and not set(points) & set(fixed)


def test_proposals_fetched_in_one_batch_get_distinct_points() -> None:
    # A batch for trials 2..5 is computed from one history, where none of them appears yet.
    sampler = GridSampler(GRID)
    fixed = _point(_ask(sampler, _context(2)))
    done = [_record(0, dict(zip(GRID, fixed, strict=True)), TrialState.COMPLETE)]
    done.append(_record(1, {}, TrialState.PRUNED))
    points = [_point(_ask(sampler, _context(n, done))) for n in range(2, 6)]
    assert len(set(points)) == 4 and fixed not in points


def test_the_last_free_point_goes_to_the_lowest_concurrent_trial_only() -> None:
    sampler = GridSampler(GRID)
    done = _run_sequentially(sampler, SIZE - 1)
    others = [_record(SIZE, {}, TrialState.RUNNING)]
    assert _point(_ask(sampler, _context(SIZE - 1, done + others))) not in {
        _point(t.params) for t in done
    }
    with pytest.raises(SearchSpaceExhaustedError):
        _ask(sampler, _context(SIZE, [*done, _record(SIZE - 1, {}, TrialState.RUNNING)]))


def test_a_trial_holding_part_of_a_point_keeps_a_matching_point() -> None:
    sampler = GridSampler({"x": [0, 1], "y": ["a", "b"]})
    space = {"x": IntDistribution(0, 1), "y": CategoricalDistribution(["a", "b"])}
    first = {name: sampler.sample_independent(_context(0), name, d) for name, d in space.items()}
    partial = TrialRecord(0, TrialState.RUNNING, {"x": first["x"]}, {"x": space["x"]})
    history = [partial]
    points = []
    for number in (1, 2, 3):
        params = {
            n: sampler.sample_independent(_context(number, history), n, d) for n, d in space.items()
        }
        history.append(TrialRecord(number, TrialState.RUNNING, params, space))
        points.append(params)
    assert first not in points and len({tuple(p.values()) for p in points}) == 3
    with pytest.raises(SearchSpaceExhaustedError, match="all 4 points"):
        sampler.sample_independent(_context(4, history), "x", space["x"])
    # Trial 0 asking its second parameter still finds its own point.
    assert sampler.sample_independent(_context(0, history[1:]), "y", space["y"]) == first["y"]


def test_trials_with_values_off_the_grid_hold_no_point() -> None:
    sampler = GridSampler({"x": [1, 2]})
    history = [TrialRecord(0, TrialState.COMPLETE, {"x": 5}, {"x": IntDistribution(0, 9)}, (1.0,))]
    values = {
        sampler.sample_independent(_context(n, history), "x", IntDistribution(0, 9)) for n in (1, 2)
    }
    assert values == {1, 2}


def test_relative_space_is_every_grid_name_with_a_stand_in_where_seen_ones_do_not_fit() -> None:
    sampler = GridSampler({"x": [1, 2], "y": [0.5]})
    seen = {
        "x": IntDistribution(0, 1),
        "y": FloatDistribution(0.0, 1.0),
        "z": IntDistribution(0, 1),
    }
    context = SamplingContext(0, 3, (StudyDirection.MINIMIZE,), [], seen=seen)
    assert sampler.infer_relative_search_space(context) == {
        "x": CategoricalDistribution(choices=(1, 2)),  # seen as 0..1: the grid's 2 does not fit
        "y": seen["y"],
    }
    empty = SamplingContext(0, 3, (StudyDirection.MINIMIZE,), [])
    assert sampler.infer_relative_search_space(empty) == {
        "x": CategoricalDistribution(choices=(1, 2)),
        "y": CategoricalDistribution(choices=(0.5,)),
    }


def test_a_name_outside_the_grid_is_an_error() -> None:
    sampler = GridSampler(GRID)
    with pytest.raises(
        ValueError, match=r"parameter 'z' is not in the grid \{'act', 'layers', 'lr'\}; add it"
    ):
        sampler.sample_independent(_context(0), "z", IntDistribution(0, 1))
    with pytest.raises(ValueError, match="'z' is not in the grid"):
        sampler.sample_relative(_context(0), {"z": IntDistribution(0, 1)})


@pytest.mark.parametrize(
    ("values", "distribution"),
    [
        ([0.5, 7.0], FloatDistribution(0.0, 1.0)),
        ([1.5, 3.5], IntDistribution(0, 9)),
        ([True, False], IntDistribution(0, 1)),
        (["x", "y"], CategoricalDistribution(["a", "b"])),
        ([0.25, 0.3], FloatDistribution(0.0, 1.0, step=0.5)),
    ],
)
def test_grid_values_outside_the_distribution_are_errors(
    values: list[CategoricalChoice], distribution: Distribution
) -> None:
    sampler = GridSampler({"p": values})
    for number in range(2):
        try:
            sampler.sample_independent(_context(number), "p", distribution)
        except ValueError as error:
            message = str(error)
            assert "'p'" in message and repr(distribution) in message
            assert any(repr(v) in message for v in values)
            return
    pytest.fail("no grid value was refused")


@pytest.mark.parametrize(
    ("search_space", "error", "match"),
    [
        ([("x", [1])], TypeError, "pass a mapping"),
        ({}, ValueError, "empty"),
        ({1: [1]}, TypeError, "names must be str"),
        ({"x": []}, ValueError, "no values"),
        ({"x": "abc"}, TypeError, "pass a list of values"),
        ({"x": 3}, TypeError, "pass a list of values"),
        ({"x": [1, object()]}, ValueError, r"\['x'\]\[1\].*not a JSON scalar"),
        ({"x": [[1, 2]]}, ValueError, "not a JSON scalar"),
        ({"x": [float("nan")]}, ValueError, "not a finite number"),
        ({"x": [1, 2, 1.0]}, ValueError, r"values 0 \(1\) and 2 \(1.0\) are the same"),
    ],
)
def test_bad_search_spaces_are_refused(
    search_space: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        GridSampler(search_space)


def test_configuration_round_trips_through_json() -> None:
    grid = {"b": list(np.linspace(0.0, 1.0, 3)), "a": [True, 1, None, "s"]}
    sampler = GridSampler(grid, seed=7)
    data = sampler.to_json()
    assert data == {
        "class": "GridSampler",
        "arguments": {"search_space": {"b": [0.0, 0.5, 1.0], "a": [True, 1, None, "s"]}, "seed": 7},
    }
    assert type(data["arguments"]["search_space"]["b"][0]) is float
    assert GridSampler(**data["arguments"]).to_json() == data
    with pytest.raises(ValueError, match="seed=-1"):
        GridSampler(grid, seed=-1)
