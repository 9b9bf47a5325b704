"""RandomSampler and the Sampler base contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from samplers_strategies import distributions

from raysweep.samplers import (
    CategoricalDistribution,
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

SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "layers": IntDistribution(1, 8),
    "units": IntDistribution(16, 1024, log=True),
    "act": CategoricalDistribution(["relu", "gelu", "tanh"]),
}


def _context(
    seed: int = 0, trial: int = 10, history: list[TrialRecord] | None = None
) -> SamplingContext:
    return SamplingContext(seed, trial, (StudyDirection.MINIMIZE,), history or [])


def _sample_all(sampler: Sampler, context: SamplingContext) -> dict[str, Any]:
    return {name: sampler.sample_independent(context, name, d) for name, d in SPACE.items()}


def _trial(number: int, state: TrialState, space: Mapping[str, Distribution]) -> TrialRecord:
    sampler = RandomSampler()
    params = sampler.sample_relative(_context(trial=number), dict(space))
    values = (0.0,) if state is TrialState.COMPLETE else None
    return TrialRecord(number, state, params, space, values=values)


def test_same_seed_trial_and_name_give_the_same_values() -> None:
    assert _sample_all(RandomSampler(), _context()) == _sample_all(
        RandomSampler(seed=3), _context()
    )


def test_values_do_not_depend_on_the_order_names_are_met() -> None:
    sampler, context = RandomSampler(), _context()
    forward = _sample_all(sampler, context)
    backward = {
        name: sampler.sample_independent(context, name, SPACE[name]) for name in reversed(SPACE)
    }
    assert forward == backward


@pytest.mark.parametrize("other", [_context(seed=1), _context(trial=11)])
def test_other_seeds_and_trials_give_other_values(other: SamplingContext) -> None:
    name, distribution = "lr", SPACE["lr"]
    sampler = RandomSampler()
    assert sampler.sample_independent(_context(), name, distribution) != sampler.sample_independent(
        other, name, distribution
    )


def test_names_have_independent_streams() -> None:
    sampler, context, distribution = RandomSampler(), _context(), FloatDistribution(0.0, 1.0)
    values = {sampler.sample_independent(context, f"x{i}", distribution) for i in range(20)}
    assert len(values) == 20


@given(distributions, st.integers(0, 2**32), st.integers(0, 10**6), st.text(max_size=10))
def test_values_are_inside_the_distribution(
    distribution: Distribution, seed: int, trial: int, name: str
) -> None:
    value = RandomSampler().sample_independent(_context(seed, trial), name, distribution)
    assert distribution.contains(value)


@given(st.integers(0, 2**32), st.integers(0, 10**6))
def test_joint_proposal_equals_independent_sampling(seed: int, trial: int) -> None:
    sampler, context = RandomSampler(), _context(seed, trial)
    assert sampler.sample_relative(context, SPACE) == _sample_all(sampler, context)


def test_empty_history_has_an_empty_relative_space() -> None:
    sampler, context = RandomSampler(), _context()
    assert sampler.infer_relative_search_space(context) == {}
    assert sampler.sample_relative(context, {}) == {}


def test_relative_space_is_the_latest_distribution_of_every_started_trial() -> None:
    old_lr = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
    new_lr = {"lr": FloatDistribution(1e-5, 1.0, log=True)}
    history = [
        _trial(5, TrialState.COMPLETE, new_lr),  # out of order: the latest is by number
        _trial(2, TrialState.FAILED, {**old_lr, "layers": SPACE["layers"]}),
        _trial(3, TrialState.RUNNING, {"act": SPACE["act"]}),
        _trial(4, TrialState.PAUSED, {"units": SPACE["units"]}),
        _trial(6, TrialState.WAITING, {"dropout": SPACE["dropout"]}),  # enqueued, not sampled
    ]
    space = RandomSampler().infer_relative_search_space(_context(history=history))
    assert space == {
        "lr": new_lr["lr"],
        "layers": SPACE["layers"],
        "act": SPACE["act"],
        "units": SPACE["units"],
    }


def test_seed_and_configuration() -> None:
    assert RandomSampler().seed is None
    assert RandomSampler(seed=42).to_json() == {"class": "RandomSampler", "arguments": {"seed": 42}}
    with pytest.raises(ValueError, match="RandomSampler: seed=-1 must be a non-negative int"):
        RandomSampler(seed=-1)
    with pytest.raises(TypeError):
        RandomSampler(42)  # type: ignore[call-arg]


def test_base_sampler_defaults_to_independent_sampling_only() -> None:
    class Midpoint(Sampler):
        def sample_independent(
            self, context: SamplingContext, name: str, distribution: Distribution
        ) -> Any:
            low, high = distribution.internal_bounds()
            return distribution.to_external((low + high) / 2)

    sampler, context = Midpoint(), _context(history=[_trial(1, TrialState.COMPLETE, SPACE)])
    assert sampler.infer_relative_search_space(context) == {}
    assert sampler.sample_relative(context, SPACE) == {}
    assert sampler.sample_independent(context, "layers", IntDistribution(0, 4)) == 2
    with pytest.raises(TypeError):
        Sampler()  # type: ignore[abstract]


def test_seen_distributions_given_or_computed_agree() -> None:
    from raysweep.samplers import SeenDistributions, TrialRecord, TrialState, seen_distributions

    old = FloatDistribution(low=0.0, high=1.0)
    new = FloatDistribution(low=0.0, high=2.0)
    only_late = IntDistribution(low=1, high=3)
    history = [
        TrialRecord(3, TrialState.COMPLETE, {"x": 1.5, "k": 2}, {"x": new, "k": only_late}, (1.0,)),
        TrialRecord(1, TrialState.PRUNED, {"x": 0.5}, {"x": old}),
        TrialRecord(4, TrialState.WAITING, {"z": 0.5}, {"z": old}),  # fixed by hand: not seen
    ]
    expected = {"x": new, "k": only_late}
    assert seen_distributions(history) == expected
    live = SeenDistributions()
    for record in history:
        live.update(record)
    assert live.distributions == expected
    given = SamplingContext(0, 9, (StudyDirection.MINIMIZE,), history, seen=live.distributions)
    computed = SamplingContext(0, 9, (StudyDirection.MINIMIZE,), history)
    sampler = RandomSampler(seed=0)
    assert sampler.infer_relative_search_space(given) == expected
    assert sampler.sample_relative(given, expected) == sampler.sample_relative(computed, expected)
