"""TPESampler's cap on the "above" estimator's trials (``max_above``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tpe_test_helpers import box_objective, context, random_history, record, run

from raysweep.samplers import FloatDistribution, IntDistribution, TrialState
from raysweep.samplers._tpe import TPESampler
from raysweep.samplers._tpe._history import HistoryMemo
from raysweep.samplers._tpe._options import parse_gamma, strategy_weights
from raysweep.samplers._tpe._prepare import prepare, thin_above

SPACE = {f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(5)}


def _sphere(params: dict[str, Any]) -> float:
    return float(sum((v - 1.0) ** 2 for v in params.values()))


@pytest.mark.parametrize("bad", [1, 0, -5, 2.5, "100", True])
def test_bad_max_above_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="max_above"):
        TPESampler(max_above=bad)  # type: ignore[arg-type]


def test_max_above_is_in_to_json() -> None:
    assert TPESampler().to_json()["arguments"]["max_above"] == 2000
    assert TPESampler(max_above=None).to_json()["arguments"]["max_above"] is None


def test_the_cap_changes_nothing_until_above_holds_more_trials() -> None:
    history = random_history(SPACE, 60, _sphere, seed=3)
    # 60 trials: 6 "below", 54 "above".
    for number in range(60, 66):
        ctx = context(number, history, seed=number)
        space = dict(ctx.seen_distributions)
        free = TPESampler(max_above=None).sample_relative(ctx, space)
        assert TPESampler(max_above=54).sample_relative(ctx, space) == free
        assert TPESampler(max_above=2000).sample_relative(ctx, space) == free


def test_a_tight_cap_still_proposes_valid_points_deterministically() -> None:
    history = random_history(SPACE, 80, _sphere, seed=4)
    ctx = context(80, history, seed=1)
    space = dict(ctx.seen_distributions)
    first = TPESampler(max_above=10).sample_relative(ctx, space)
    assert first == TPESampler(max_above=10).sample_relative(ctx, space)
    assert first != TPESampler(max_above=None).sample_relative(ctx, space)
    assert all(SPACE[name].contains(value) for name, value in first.items())


def test_thinning_keeps_running_and_newest_trials_and_the_total_weight() -> None:
    space = {"x": FloatDistribution(0.0, 1.0), "k": IntDistribution(0, 9)}
    rng = np.random.default_rng(0)
    history = [
        record(i, {"x": float(rng.random()), "k": int(rng.integers(10))}, space, (float(i),))
        for i in range(300)
    ]
    history += [record(300 + i, {"x": 0.5}, space, state=TrialState.RUNNING) for i in range(5)]
    prepared = prepare(HistoryMemo(), context(400, history), parse_gamma("linear:0.1:25"))
    finished = prepared.ranked[prepared.split.above]
    running = prepared.running
    for strategy in ("uniform", "decay"):
        positions, weights = thin_above(prepared, finished, running, strategy, 105)
        assert weights is not None and len(positions) == len(weights) == 105
        assert len(set(positions.tolist())) == 105
        assert set(running.tolist()) <= set(positions.tolist())
        numbers = prepared.rows.number[finished]
        newest = finished[np.argsort(-numbers)[:50]]
        assert set(newest.tolist()) <= set(positions.tolist())
        everyone = np.concatenate([finished, running])
        full = thin_above(prepared, finished, running, strategy, None)
        assert full[1] is None and np.array_equal(full[0], everyone)
        total = strategy_weights(strategy, prepared.rows.number[everyone]).sum()
        if strategy == "uniform":
            assert weights.sum() == pytest.approx(total)
        else:  # the strided trials stand in for the older ones: total weight of the same order
            assert 0.5 * total < weights.sum() < 2.0 * total


def test_a_capped_search_finds_as_good_points_on_a_sphere() -> None:
    # The cap at a fifth of the history: as good as the uncapped search, far better than chance.
    objective = box_objective(SPACE, lambda p: ((_sphere(p),), None))
    capped, free = [], []
    for seed in range(3):
        for sampler, out in ((TPESampler(max_above=50), capped), (TPESampler(), free)):
            records = run(sampler, objective, 250, seed=seed)
            out.append(min(r.values[0] for r in records if r.values))
    chance = min(_sphere(r.params) for r in random_history(SPACE, 250, _sphere, seed=9))
    assert np.median(capped) < 0.25 * chance
    assert np.median(capped) < 3.0 * np.median(free)
