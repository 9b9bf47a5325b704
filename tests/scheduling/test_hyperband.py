"""Asynchronous Hyperband: brackets, the trial-to-bracket rule, routing, JSON, validation."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import raysweep.scheduling._hyperband_brackets as brackets_module
from raysweep.scheduling import ASHA, Action, Hyperband, Scheduler, scheduler_from_json


@pytest.mark.parametrize(
    ("kwargs", "rungs"),
    [
        ({"max_resource": 27}, [(1, 3, 9), (3, 9), (9,), ()]),
        ({"max_resource": 26}, [(1, 3, 9), (3, 9), (9,)]),
        (
            {"min_resource": 2, "max_resource": 50, "reduction_factor": 4},
            [(2, 8, 32), (8, 32), (32,)],
        ),
        ({"min_resource": 2, "max_resource": 32, "reduction_factor": 4}, [(2, 8), (8,), ()]),
        ({"max_resource": 81, "brackets": 2}, [(1, 3, 9, 27), (3, 9, 27)]),
        ({"max_resource": 2, "reduction_factor": 2}, [(1,), ()]),
    ],
)
def test_each_brackets_rungs(kwargs: dict[str, int], rungs: list[tuple[int, ...]]) -> None:
    hyperband = Hyperband(**kwargs)  # type: ignore[arg-type]
    assert hyperband.brackets == len(rungs)
    assert [hyperband.bracket_rungs(s) for s in range(len(rungs))] == rungs
    union = tuple(sorted({step for bracket in rungs for step in bracket}))
    assert hyperband.decision_steps() == union
    assert hyperband.fidelities() == (*union, hyperband.max_resource)


def test_defaults_value_semantics_and_pauses() -> None:
    hyperband = Hyperband(max_resource=27)
    assert (hyperband.min_resource, hyperband.reduction_factor, hyperband.mode) == (1, 3, "stop")
    # None means every bracket, and is stored as the count, so equal configurations compare equal.
    assert hyperband == Hyperband(max_resource=27, brackets=4)
    assert hash(hyperband) == hash(Hyperband(max_resource=27, brackets=4))
    assert hyperband != Hyperband(max_resource=27, brackets=3)
    assert not hyperband.pauses
    assert Hyperband(max_resource=27, mode="promote").pauses
    assert pickle.loads(pickle.dumps(hyperband)) == hyperband


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_resource": 27.0}, TypeError, "Hyperband max_resource must be an int, got 27.0"),
        ({"max_resource": 27, "min_resource": 0}, ValueError, "min_resource must be at least 1"),
        ({"max_resource": 3, "min_resource": 3}, ValueError, "raise max_resource"),
        ({"max_resource": 27, "reduction_factor": 1}, ValueError, "reduction_factor must be at"),
        ({"max_resource": 27, "mode": "pause"}, ValueError, r"mode 'pause' is unknown.*'promote'"),
        ({"max_resource": 27, "brackets": 0}, ValueError, "brackets must be between 1 and 4"),
        ({"max_resource": 27, "brackets": 5}, ValueError, r"between 1 and 4 .*got 5; pass None"),
        ({"max_resource": 26, "brackets": 4}, ValueError, "brackets must be between 1 and 3"),
        ({"max_resource": 27, "brackets": 2.0}, TypeError, "brackets must be an int or None"),
        ({"max_resource": 27, "brackets": True}, TypeError, "brackets must be an int or None"),
    ],
)
def test_validation_messages(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Hyperband(**kwargs)  # type: ignore[arg-type]


def test_bad_trial_and_bracket_numbers() -> None:
    hyperband = Hyperband(max_resource=27)
    with pytest.raises(ValueError, match="trial must be at least 0"):
        hyperband.bracket(-1)
    with pytest.raises(TypeError, match="trial must be an int"):
        hyperband.bracket(True)
    with pytest.raises(ValueError, match="brackets 0 to 3"):
        hyperband.bracket_rungs(4)
    with pytest.raises(ValueError, match="beyond max_resource=27"):
        hyperband.new_state(maximize=True).on_report(0, 0, 28, 1.0)
    with pytest.raises(ValueError, match="trial must be at least 0"):
        hyperband.new_state(maximize=True).on_report(-1, 0, 1, 1.0)


configs = st.builds(
    Hyperband,
    min_resource=st.integers(1, 20),
    max_resource=st.integers(21, 5_000),
    reduction_factor=st.integers(2, 6),
    mode=st.sampled_from(["stop", "promote"]),
)


@given(configs)
def test_json_round_trip(hyperband: Hyperband) -> None:
    d = json.loads(json.dumps(hyperband.to_json()))
    assert d["type"] == "hyperband"
    assert set(d) == {
        "type",
        "min_resource",
        "max_resource",
        "reduction_factor",
        "mode",
        "brackets",
    }
    back: Scheduler = scheduler_from_json(d)
    assert back == hyperband
    fewer = dataclasses.replace(hyperband, brackets=1)
    assert scheduler_from_json(fewer.to_json()) == fewer


# --- The trial-to-bracket rule. ---------------------------------------------------------------


def expected_steps(rungs: tuple[int, ...], max_resource: int, eta: int) -> Fraction:
    """Steps per trial if every rung lets exactly 1/η through: level j is reached by η**-j."""
    levels = (*rungs, max_resource) if rungs else (max_resource,)
    return sum(
        (Fraction(levels[j] - (levels[j - 1] if j else 0), eta**j) for j in range(len(levels))),
        Fraction(0),
    )


@pytest.mark.parametrize(
    "hyperband",
    [
        Hyperband(max_resource=27),
        Hyperband(max_resource=81, mode="promote"),
        Hyperband(min_resource=2, max_resource=50, reduction_factor=4),
        Hyperband(max_resource=100, reduction_factor=2, brackets=5),
        Hyperband(min_resource=10, max_resource=30),
    ],
)
def test_brackets_get_about_equal_budget(hyperband: Hyperband) -> None:
    n = 10_000
    counts = Counter(hyperband.bracket(trial) for trial in range(n))
    assert set(counts) == set(range(hyperband.brackets or 0))
    eta, top = hyperband.reduction_factor, hyperband.max_resource
    budget = {s: counts[s] * expected_steps(hyperband.bracket_rungs(s), top, eta) for s in counts}
    total = sum(budget.values())
    for s, spent in budget.items():
        assert abs(spent / total * len(budget) - 1) < 0.02, (s, counts)


def test_bracket_sequence_is_a_pure_function_of_the_trial_number() -> None:
    hyperband = Hyperband(max_resource=81)
    forward = [hyperband.bracket(trial) for trial in range(2_000)]
    # A fresh computation, asked in another order, from an equal but separate configuration.
    brackets_module.bracket_sequence.cache_clear()
    again = Hyperband(max_resource=81, brackets=5)
    assert again.bracket(1_999) == forward[-1]
    assert [again.bracket(trial) for trial in reversed(range(2_000))] == forward[::-1]
    # Bracket 0 (the cheapest trials) comes first and most often.
    assert forward[0] == 0
    assert Counter(forward).most_common(1)[0][0] == 0


@pytest.mark.parametrize(
    "hyperband",
    [
        Hyperband(max_resource=81),
        Hyperband(min_resource=3, max_resource=100, reduction_factor=2, brackets=4),
        Hyperband(min_resource=2, max_resource=32, reduction_factor=4),
    ],
)
def test_the_rule_is_smooth_weighted_round_robin(hyperband: Hyperband) -> None:
    # The documented rule with exact fractional weights 1 / E_s; scaling every weight by the
    # same factor scales every credit too, so the choices must be the same as with integers.
    eta, top = hyperband.reduction_factor, hyperband.max_resource
    weights = [
        1 / expected_steps(hyperband.bracket_rungs(s), top, eta)
        for s in range(hyperband.brackets or 0)
    ]
    credits = [Fraction(0)] * len(weights)
    for trial in range(1_500):
        credits = [credit + weight for credit, weight in zip(credits, weights, strict=True)]
        chosen = max(range(len(weights)), key=lambda s: (credits[s], -s))
        credits[chosen] -= sum(weights)
        assert hyperband.bracket(trial) == chosen, trial


def test_a_single_bracket_takes_every_trial() -> None:
    hyperband = Hyperband(max_resource=81, brackets=1)
    assert {hyperband.bracket(trial) for trial in range(100)} == {0}


# --- Routing: each bracket is an ASHA of its own. ----------------------------------------------

Report = tuple[int, int, int, float]
reports = st.lists(
    st.tuples(
        st.integers(0, 25),
        st.integers(0, 1),
        st.integers(1, 81),
        st.one_of(st.integers(-3, 3).map(float), st.just(math.nan)),
    ),
    max_size=60,
)


@settings(max_examples=60)
@given(st.sampled_from(["stop", "promote"]), st.booleans(), reports)
def test_each_bracket_behaves_like_its_own_asha(
    mode: str, maximize: bool, study: list[Report]
) -> None:
    hyperband = Hyperband(max_resource=81, mode=mode)
    state = hyperband.new_state(maximize=maximize)
    # Brackets 0-3 are ASHAs starting at rungs 1, 3, 9, 27; bracket 4 has no rung.
    ashas = [
        ASHA(min_resource=3**s, max_resource=81, mode=mode).new_state(maximize=maximize)
        for s in range(4)
    ]
    for trial, attempt, step, value in study:
        s = hyperband.bracket(trial)
        decision = state.on_report(trial, attempt, step, value)
        assert decision.reason.startswith(f"bracket {s}: ")
        if s == 4:
            assert (decision.action, decision.rung) == (Action.CONTINUE, None)
            continue
        alone = ashas[s].on_report(trial, attempt, step, value)
        assert decision.reason == f"bracket {s}: {alone.reason}"
        assert (decision.action, decision.rung) == (alone.action, alone.rung)
        # The highest rung wins among the brackets' candidates, ties to the lower bracket.
        candidates = [(a.promotion(), b) for b, a in enumerate(ashas)]
        best = max(((p.rung, -b, p.trial) for p, b in candidates if p is not None), default=None)
        promotion = state.promotion()
        if best is None:
            assert promotion is None
        else:
            assert promotion is not None
            assert (promotion.rung, promotion.trial) == (best[0], best[2])
            assert promotion.reason.startswith(f"bracket {-best[1]}: ")
            # Resume it in both, as the orchestrator would.
            state.on_resume(promotion.trial)
            ashas[-best[1]].on_resume(promotion.trial)


def test_promote_mode_routes_resumptions_to_the_trials_bracket() -> None:
    hyperband = Hyperband(max_resource=9, mode="promote")  # brackets: (1, 3), (3,), ()
    by_bracket: dict[int, list[int]] = {0: [], 1: [], 2: []}
    trial = 0
    while min(len(trials) for trials in by_bracket.values()) < 3:
        if len(by_bracket[hyperband.bracket(trial)]) < 3:
            by_bracket[hyperband.bracket(trial)].append(trial)
        trial += 1
    state = hyperband.new_state(maximize=True)
    for value, trial in zip([0.1, 0.2, 0.3], by_bracket[0], strict=True):
        decision = state.on_report(trial, 0, 1, value)
        assert (decision.action, decision.rung) == (Action.PAUSE, 1)
    for value, trial in zip([0.5, 0.4, 0.6], by_bracket[1], strict=True):
        assert state.on_report(trial, 0, 1, value).rung is None  # bracket 1 starts at step 3
        decision = state.on_report(trial, 0, 3, value)
        assert (decision.action, decision.rung) == (Action.PAUSE, 3)
    for trial in by_bracket[2]:
        assert state.on_report(trial, 0, 9, 0.0).action is Action.CONTINUE
    promotion = state.promotion()
    assert promotion is not None
    assert (promotion.trial, promotion.rung) == (by_bracket[1][2], 3)
    state.on_resume(promotion.trial)
    promotion = state.promotion()
    assert promotion is not None
    assert (promotion.trial, promotion.rung) == (by_bracket[0][2], 1)
    with pytest.raises(ValueError, match="not paused"):
        state.on_resume(by_bracket[2][0])
    with pytest.raises(ValueError, match="never pauses"):
        Hyperband(max_resource=9).new_state(maximize=True).on_resume(0)


def test_equal_rungs_in_two_brackets_go_to_the_lower_bracket() -> None:
    hyperband = Hyperband(max_resource=9, mode="promote")  # brackets: (1, 3), (3,), ()
    trials = {s: [t for t in range(60) if hyperband.bracket(t) == s][:3] for s in (0, 1)}
    state = hyperband.new_state(maximize=True)
    # Bracket 1's values are better, but both brackets have a candidate at rung 3.
    for s, values in ((1, [5.0, 6.0, 7.0]), (0, [0.1, 0.2, 0.3])):
        for trial, value in zip(trials[s], values, strict=True):
            assert state.on_report(trial, 0, 3, value).rung == 3
    promotion = state.promotion()
    assert promotion is not None
    assert (promotion.trial, promotion.rung) == (trials[0][2], 3)
    assert promotion.reason.startswith("bracket 0: value 0.3 ranks 1 of 3 at rung 3")
    state.on_resume(promotion.trial)
    promotion = state.promotion()
    assert promotion is not None
    assert (promotion.trial, promotion.rung) == (trials[1][2], 3)
