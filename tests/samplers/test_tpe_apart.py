"""TPE keeps a proposal away from the points of running trials."""

from __future__ import annotations

import numpy as np
import pytest

from raysweep.samplers import (
    FloatDistribution,
    SamplingContext,
    StudyDirection,
    TPESampler,
    TrialRecord,
    TrialState,
)
from raysweep.samplers._tpe import _acquisition as apart
from raysweep.samplers._tpe._acquisition import keep_apart, nearest_running

NO_CATEGORICAL = np.array([], dtype=np.intp)


def test_nearest_running_is_the_chebyshev_distance_with_categoricals_equal_or_apart() -> None:
    candidates = np.array([[0.50, 0.50, 1.0], [0.10, 0.52, 2.0]])
    taken = np.array([[0.51, 0.49, 1.0], [0.10, 0.50, np.nan]])
    nearest = nearest_running(candidates, taken, np.array([2]))
    # first: 0.01 from the first running point (same choice); second: the missing choice counts
    # as apart (1.0) from the second point, and the other choice differs from the first.
    assert np.allclose(nearest, [0.01, 1.0])


def test_keep_apart_rules_out_close_candidates_and_falls_back_to_the_farthest() -> None:
    scores = np.array([5.0, 1.0, 3.0])
    candidates = np.array([[0.500], [0.900], [0.530]])
    taken = np.array([[0.505]])
    kept = keep_apart(scores, candidates, taken, NO_CATEGORICAL)
    assert kept[0] == -np.inf and kept[1] == 1.0 and kept[2] == 3.0  # 0.005 apart: too close
    all_close = keep_apart(scores, np.array([[0.500], [0.510]]), taken, NO_CATEGORICAL)
    assert int(np.argmax(all_close)) == 0 or np.isclose(all_close[0], all_close[1])
    assert keep_apart(scores, candidates, taken[:0], NO_CATEGORICAL) is scores


def _asks(separation: float, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Eight asks at once after a history whose good trials all sit on one point."""
    monkeypatch.setattr(apart, "MIN_SEPARATION", separation)
    space = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(3)}
    rng = np.random.default_rng(0)
    history: list[TrialRecord] = []
    for number in range(60):
        point = np.full(3, 0.3) if number % 10 == 0 else rng.uniform(0.0, 1.0, 3)
        history.append(
            TrialRecord(
                number=number,
                state=TrialState.COMPLETE,
                params={k: float(v) for k, v in zip(space, point, strict=True)},
                distributions=space,
                values=(float(np.sum((point - 0.3) ** 2)),),
            )
        )
    sampler = TPESampler(seed=1)
    points = []
    for number in range(60, 68):
        context = SamplingContext(1, number, (StudyDirection.MINIMIZE,), history)
        proposal = sampler.sample_relative(context, sampler.infer_relative_search_space(context))
        points.append(np.array([proposal[k] for k in space]))
        history.append(
            TrialRecord(
                number=number, state=TrialState.RUNNING, params=proposal, distributions=space
            )
        )
    return points


def _closest_pair(points: list[np.ndarray]) -> float:
    return min(float(np.max(np.abs(a - b))) for i, a in enumerate(points) for b in points[:i])


def test_eight_simultaneous_asks_on_a_sharp_optimum_are_never_near_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without the rule the liar alone lets two asks land within 1 % of each other ...
    assert _closest_pair(_asks(0.0, monkeypatch)) < 0.01
    # ... with it, every pair is at least MIN_SEPARATION apart in some parameter,
    points = _asks(apart.MIN_SEPARATION, monkeypatch)
    assert _closest_pair(points) >= apart.MIN_SEPARATION * 0.999
    # and the asks still go where the good trials are.
    assert np.median([np.max(np.abs(p - 0.3)) for p in points]) < 0.1
