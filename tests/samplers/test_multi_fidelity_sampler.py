"""MultiFidelitySampler: the fidelity it picks, the history it shows its base, and that a model
fitted on rung results finds better configurations than random search under ASHA."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable
from typing import Any

import multi_fidelity_drive as drive
import numpy as np
import pytest

from raysweep.samplers import (
    FloatDistribution,
    MultiFidelitySampler,
    RandomSampler,
    Sampler,
    SamplerConfigurationError,
    SamplingContext,
    StudyDirection,
    TPESampler,
    TrialRecord,
    TrialState,
)
from raysweep.samplers._fidelity_view import values_at_fidelities

MIN, SPACE, STEPS = drive.MIN, drive.SPACE, drive.STEPS


def record(
    number: int,
    state: TrialState,
    reports: dict[int, float] | None = None,
    value: float | None = None,
) -> TrialRecord:
    x = (number * 0.6180339887) % 1.0
    return TrialRecord(
        number=number,
        state=state,
        params={"x": x, "y": 1.0 - x},
        distributions=SPACE,
        values=None if value is None else (value,),
        intermediate_values=reports or {},
    )


def context(
    history: list[TrialRecord], steps: tuple[int, ...] = STEPS, number: int | None = None
) -> SamplingContext:
    number = len(history) + 100 if number is None else number
    return SamplingContext(5, number, MIN, history, fidelity_steps=steps)


def rung_history(n_low: int, n_mid: int, n_high: int) -> list[TrialRecord]:
    """Trials pruned at rung 1, pruned at rung 3, and completed at the full budget."""
    history = []
    for i in range(n_low + n_mid + n_high):
        if i < n_low:
            history.append(record(i, TrialState.PRUNED, {1: 10.0 + i}))
        elif i < n_low + n_mid:
            history.append(record(i, TrialState.PRUNED, {1: 5.0 + i, 3: 4.0 + i}))
        else:
            reports = {1: 3.0 + i, 3: 2.0 + i, 9: 1.0 + i, 27: 0.5 + i}
            history.append(record(i, TrialState.COMPLETE, reports, value=0.1 + i))
    return history


def test_fidelity_steps_are_validated_and_default_to_none() -> None:
    assert SamplingContext(0, 0, MIN, []).fidelity_steps == ()
    assert SamplingContext(0, 0, MIN, [], fidelity_steps=[1, np.int64(3)]).fidelity_steps == (1, 3)
    for bad in [(3, 1), (1, 1), (0, 2), (1.5,), (True,), ("1",), 5]:
        with pytest.raises(ValueError, match="fidelity"):
            SamplingContext(0, 0, MIN, [], fidelity_steps=bad)  # type: ignore[arg-type]


def test_the_value_at_a_fidelity_is_the_report_that_crossed_its_rung() -> None:
    running = record(0, TrialState.RUNNING, {1: 9.0, 2: 8.0, 4: 7.0, 8: 6.0, 10: 5.0, 30: 4.0})
    assert values_at_fidelities(running, STEPS) == (9.0, 7.0, 5.0, 4.0)
    gap = record(1, TrialState.PRUNED, {2: 8.0, 11: 3.0})  # nothing reported in [3, 9)
    assert values_at_fidelities(gap, STEPS) == (8.0, None, 3.0, None)
    done = record(2, TrialState.COMPLETE, {1: 9.0, 27: 2.0}, value=1.5)
    assert values_at_fidelities(done, STEPS) == (9.0, None, None, 1.5)


def test_the_highest_fidelity_with_enough_results_is_modelled() -> None:
    sampler = MultiFidelitySampler()  # TPE's 10 start-up trials outweigh 2 parameters + 3
    assert sampler.min_observations_for(context([])) == 10
    assert sampler.fidelity(context(rung_history(5, 6, 4))) == 3  # 10 at step 3
    assert sampler.fidelity(context(rung_history(5, 5, 4))) == 1  # 9 at step 3
    assert sampler.fidelity(context(rung_history(0, 0, 10))) == 27
    assert sampler.fidelity(context(rung_history(3, 2, 1))) == 1  # none has enough: the lowest
    assert sampler.fidelity(context([])) == 1
    few = MultiFidelitySampler(min_observations=2)
    assert few.fidelity(context(rung_history(5, 5, 2))) == 27
    assert few.fidelity(context(rung_history(5, 5, 1))) == 3
    assert MultiFidelitySampler(RandomSampler()).min_observations_for(context([])) == 3
    assert (
        MultiFidelitySampler(RandomSampler()).min_observations_for(context(rung_history(1, 0, 0)))
        == len(SPACE) + 3
    )


def _by_number(view: SamplingContext) -> dict[int, tuple[TrialState, Any, dict[int, float]]]:
    return {r.number: (r.state, r.values, dict(r.intermediate_values)) for r in view.history}


def test_the_view_shows_results_at_the_fidelity_and_running_points() -> None:
    nan = math.nan
    history = [
        record(0, TrialState.COMPLETE, {1: 5.0, 3: 4.0, 9: 3.0, 27: 2.5}, value=2.0),
        record(1, TrialState.PRUNED, {1: 6.0, 4: 5.5}),
        record(2, TrialState.PRUNED, {1: 7.0, 3: nan}),
        record(3, TrialState.RUNNING, {1: 4.0}),
        record(4, TrialState.WAITING),
        record(5, TrialState.PAUSED, {1: 3.0}),
        record(6, TrialState.PRUNED, {1: 8.0, 2: 7.5}),
        record(7, TrialState.FAILED, {1: 0.5}),
        record(8, TrialState.COMPLETE, {1: 1.0}, value=0.9),  # returned before step 3
        record(9, TrialState.RUNNING, {1: 2.0, 3: 1.5}),
        record(10, TrialState.PAUSED, {1: 2.0, 5: 1.0}),
        record(11, TrialState.PRUNED, {1: 2.0, 12: 1.0}),  # no report in [3, 9), went past
        record(12, TrialState.PRUNED, {1: nan}),
    ]
    sampler = MultiFidelitySampler(min_observations=3)
    ctx = context(history)
    assert sampler.fidelity(ctx) == 3
    assert _by_number(sampler.view(ctx)) == {
        0: (TrialState.COMPLETE, (4.0,), {}),
        1: (TrialState.COMPLETE, (5.5,), {}),
        2: (TrialState.FAILED, None, {}),
        3: (TrialState.RUNNING, None, {}),
        4: (TrialState.RUNNING, None, {}),
        5: (TrialState.PRUNED, None, {1: 3.0}),
        6: (TrialState.PRUNED, None, {1: 8.0}),
        9: (TrialState.COMPLETE, (1.5,), {}),
        10: (TrialState.COMPLETE, (1.0,), {}),
        12: (TrialState.FAILED, None, {}),
    }
    assert all(r.params == history[r.number].params for r in sampler.view(ctx).history)
    # At the full budget a COMPLETE trial's result is its objective value, however far it got.
    top = MultiFidelitySampler(min_observations=2)
    assert top.fidelity(ctx) == 27
    assert _by_number(top.view(ctx)) == {
        0: (TrialState.COMPLETE, (2.0,), {}),
        1: (TrialState.PRUNED, None, {3: 5.5}),
        2: (TrialState.FAILED, None, {}),
        3: (TrialState.RUNNING, None, {}),
        4: (TrialState.RUNNING, None, {}),
        5: (TrialState.PRUNED, None, {1: 3.0}),
        6: (TrialState.PRUNED, None, {1: 8.0}),
        8: (TrialState.COMPLETE, (0.9,), {}),
        9: (TrialState.RUNNING, None, {}),
        10: (TrialState.PRUNED, None, {3: 1.0}),
        11: (TrialState.PRUNED, None, {9: 1.0}),
        12: (TrialState.FAILED, None, {}),
    }
    assert sampler.view(ctx).seen_distributions == ctx.seen_distributions
    assert sampler.view(ctx) is sampler.view(ctx)  # one view per context


def test_the_base_proposes_exactly_what_it_would_on_the_view_built_by_hand() -> None:
    rng = np.random.default_rng(0)
    history, by_hand = [], []
    for i in range(30):
        x, y = rng.random(2)
        loss = (x - 0.2) ** 2 + (y - 0.8) ** 2
        params = {"x": x, "y": y}
        if i == 29:
            history.append(TrialRecord(i, TrialState.RUNNING, params, SPACE))
            by_hand.append(TrialRecord(i, TrialState.RUNNING, params, SPACE))
        elif i % 3:
            # The crossing report (step 5) ranks these trials, not the last one (step 6).
            reports = {1: loss + 1.0, 2: loss + 0.8, 5: loss + 0.5, 6: 2.0 - loss}
            history.append(TrialRecord(i, TrialState.PRUNED, params, SPACE, None, None, reports))
            by_hand.append(TrialRecord(i, TrialState.COMPLETE, params, SPACE, (loss + 0.5,)))
        else:
            reports = {1: loss + 1.0}
            history.append(TrialRecord(i, TrialState.PRUNED, params, SPACE, None, None, reports))
            by_hand.append(TrialRecord(i, TrialState.PRUNED, params, SPACE, None, None, reports))
    ctx = context(history, number=40)
    sampler = MultiFidelitySampler(TPESampler(n_startup_trials=5))
    assert sampler.fidelity(ctx) == 3
    plain = TPESampler(n_startup_trials=5)
    hand_ctx = SamplingContext(5, 40, MIN, by_hand)
    assert sampler.infer_relative_search_space(ctx) == plain.infer_relative_search_space(hand_ctx)
    assert sampler.sample_relative(ctx, SPACE) == plain.sample_relative(hand_ctx, SPACE)
    new = FloatDistribution(-1.0, 1.0)
    assert sampler.sample_independent(ctx, "z", new) == plain.sample_independent(hand_ctx, "z", new)
    assert sampler.sample_independent(ctx, "x", SPACE["x"]) == plain.sample_independent(
        hand_ctx, "x", SPACE["x"]
    )
    # The view changes what TPE proposes: TPE alone ranks these trials by their last report.
    assert sampler.sample_relative(ctx, SPACE) != plain.sample_relative(ctx, SPACE)


def test_without_fidelities_it_is_the_base_sampler() -> None:
    history = rung_history(4, 4, 12)
    ctx = context(history, steps=())
    sampler = MultiFidelitySampler(TPESampler(n_startup_trials=5))
    assert sampler.view(ctx) is ctx and sampler.fidelity(ctx) is None
    plain = TPESampler(n_startup_trials=5)
    assert sampler.sample_relative(ctx, SPACE) == plain.sample_relative(ctx, SPACE)
    assert sampler.sample_independent(ctx, "x", SPACE["x"]) == plain.sample_independent(
        ctx, "x", SPACE["x"]
    )


def _mean_quality(run: Callable[..., list[float]], make: Callable[[], Sampler], **kw: Any) -> float:
    """The mean true quality of the second half of each run's proposals, over four seeds."""
    n = kw.pop("n_trials", 60)
    return float(np.mean([np.mean(run(make(), seed, n, **kw)[n // 2 :]) for seed in range(4)]))


def test_model_based_proposals_beat_random_ones_under_asha_stop_mode() -> None:
    model = _mean_quality(drive.stop_mode, MultiFidelitySampler)
    assert model < 0.4 * _mean_quality(drive.stop_mode, RandomSampler)


def test_under_asha_promote_mode_the_paused_trials_teach_the_model() -> None:
    # Alone, TPE sees paused trials as taken points and never leaves its random start-up.
    model = _mean_quality(drive.promote_mode, MultiFidelitySampler)
    plain = _mean_quality(drive.promote_mode, TPESampler)
    assert model < 0.4 * plain


def test_a_higher_fidelity_beats_the_lowest_when_low_budgets_mislead() -> None:
    chosen = _mean_quality(
        drive.stop_mode, MultiFidelitySampler, n_trials=90, curve=drive.deceptive
    )
    lowest = _mean_quality(
        drive.stop_mode,
        lambda: MultiFidelitySampler(min_observations=10**6),
        n_trials=90,
        curve=drive.deceptive,
    )
    assert chosen < 0.8 * lowest


def test_proposals_are_deterministic_and_survive_pickling() -> None:
    history = rung_history(8, 8, 4)
    first = MultiFidelitySampler().sample_relative(context(history), SPACE)
    copy = pickle.loads(pickle.dumps(MultiFidelitySampler()))
    assert copy.sample_relative(context(history), SPACE) == first
    assert MultiFidelitySampler().sample_relative(context(history, number=500), SPACE) != first


def test_to_json_lists_every_argument_and_round_trips() -> None:
    sampler = MultiFidelitySampler(
        TPESampler(n_startup_trials=4, gamma="sqrt:0.25:25", seed=3), min_observations=6
    )
    data = json.loads(json.dumps(sampler.to_json()))
    assert data == {
        "class": "MultiFidelitySampler",
        "arguments": {
            "base": TPESampler(n_startup_trials=4, gamma="sqrt:0.25:25", seed=3).to_json(),
            "min_observations": 6,
            "seed": 3,
        },
    }
    again = MultiFidelitySampler(**data["arguments"])
    assert again.to_json() == data and isinstance(again.base, TPESampler)
    ctx = context(rung_history(8, 8, 4))
    assert again.sample_relative(ctx, SPACE) == sampler.sample_relative(ctx, SPACE)
    nested = MultiFidelitySampler(MultiFidelitySampler(RandomSampler(seed=1)))
    assert MultiFidelitySampler(**nested.to_json()["arguments"]).to_json() == nested.to_json()
    assert MultiFidelitySampler().to_json()["arguments"]["base"] == TPESampler().to_json()
    assert MultiFidelitySampler(seed=4).seed == 4


class _SingleOnly(RandomSampler):
    def check_directions(self, directions: tuple[StudyDirection, ...]) -> None:
        if directions != MIN:
            raise ValueError("minimize only")


def test_bad_arguments_and_directions_are_refused() -> None:
    with pytest.raises(TypeError, match="must be a Sampler"):
        MultiFidelitySampler(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one raysweep ships"):
        MultiFidelitySampler({"class": "Sampler", "arguments": {}})
    with pytest.raises(ValueError, match="not one raysweep ships"):
        MultiFidelitySampler({"class": "os.system", "arguments": {}})
    for bad in [0, -1, True, 1.5, "3"]:
        with pytest.raises(ValueError, match="min_observations"):
            MultiFidelitySampler(min_observations=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass the seed once"):
        MultiFidelitySampler(RandomSampler(seed=1), seed=2)
    sampler = MultiFidelitySampler(_SingleOnly())
    with pytest.raises(SamplerConfigurationError, match="one objective"):
        sampler.check_directions((StudyDirection.MINIMIZE, StudyDirection.MINIMIZE))
    with pytest.raises(ValueError, match="minimize only"):
        sampler.check_directions((StudyDirection.MAXIMIZE,))
    sampler.check_directions(MIN)
    two = SamplingContext(0, 0, MIN * 2, [], fidelity_steps=STEPS)
    with pytest.raises(SamplerConfigurationError):
        sampler.sample_independent(two, "x", SPACE["x"])


def test_values_are_external_and_in_range_with_mixed_states() -> None:
    history = [*rung_history(6, 6, 6), record(18, TrialState.RUNNING, {1: 0.5})]
    sampler = MultiFidelitySampler(TPESampler(n_startup_trials=3))
    for number in range(100, 110):
        proposal = sampler.sample_relative(context(history, number=number), SPACE)
        assert set(proposal) == set(SPACE)
        assert all(SPACE[n].contains(v) for n, v in proposal.items())


def test_simultaneous_asks_keep_apart_from_running_trials_at_any_fidelity() -> None:
    """Eight trials asked at once: each sees the others' proposals as running records."""
    history = rung_history(6, 6, 6)
    sampler = MultiFidelitySampler(TPESampler(n_startup_trials=3))
    points = set()
    for number in range(100, 108):
        ctx = context(history, number=number)
        assert sampler.fidelity(ctx) == 27  # 6 results there, 2 parameters + 3 needed
        running = [r for r in sampler.view(ctx).history if r.state is TrialState.RUNNING]
        assert [(r.number, r.params) for r in running] == [
            (r.number, r.params) for r in history[18:]
        ]
        proposal = sampler.sample_relative(ctx, SPACE)
        points.add((proposal["x"], proposal["y"]))
        history = [*history, TrialRecord(number, TrialState.RUNNING, proposal, SPACE)]
    assert len(points) == 8
