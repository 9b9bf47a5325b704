"""Properties of ASHA's stop rule over random report sequences (hypothesis)."""

from __future__ import annotations

import copy
import math

from asha_reference import ReferenceASHA, Tracker
from hypothesis import given
from hypothesis import strategies as st

from raysweep.scheduling import ASHA, Action, Decision, SchedulerState

Report = tuple[int, int, int, float]  # trial, attempt, step, value

# Small integers make ties common; arbitrary floats find the rest.
finite = st.one_of(st.integers(-3, 3).map(float), st.floats(allow_nan=False, allow_infinity=False))
no_nan = st.one_of(finite, st.sampled_from([math.inf, -math.inf]))
anything = st.one_of(no_nan, st.just(math.nan))


@st.composite
def configs(draw: st.DrawFn) -> ASHA:
    eta = draw(st.sampled_from([2, 3, 4]))
    min_resource = draw(st.integers(1, 3))
    max_resource = draw(st.integers(min_resource + 1, min_resource * eta**3 + 1))
    return ASHA(min_resource=min_resource, max_resource=max_resource, reduction_factor=eta)


@st.composite
def studies(draw: st.DrawFn, values: st.SearchStrategy[float]) -> tuple[ASHA, list[Report]]:
    asha = draw(configs())
    report = st.tuples(
        st.integers(0, 6), st.integers(0, 2), st.integers(1, asha.max_resource), values
    )
    return asha, draw(st.lists(report, max_size=60))


def replay(state: SchedulerState, reports: list[Report]) -> list[Decision]:
    return [state.on_report(*report) for report in reports]


def better_key(value: float, *, maximize: bool) -> float:
    """Higher is better; NaN is the worst (tied with the worst infinity)."""
    if math.isnan(value):
        return -math.inf
    return value if maximize else -value


@given(studies(finite), st.booleans())
def test_matches_the_reference_rule(study: tuple[ASHA, list[Report]], maximize: bool) -> None:
    asha, reports = study
    state = asha.new_state(maximize=maximize)
    reference = ReferenceASHA(asha.decision_steps(), asha.reduction_factor, maximize=maximize)
    for report in reports:
        decision = state.on_report(*report)
        assert (decision.action, decision.rung) == reference.report(*report), report


@given(studies(anything), st.booleans())
def test_replay_gives_the_same_decisions(study: tuple[ASHA, list[Report]], maximize: bool) -> None:
    asha, reports = study
    first = replay(asha.new_state(maximize=maximize), reports)
    assert replay(asha.new_state(maximize=maximize), reports) == first


@given(studies(no_nan))
def test_minimising_is_maximising_the_negation(study: tuple[ASHA, list[Report]]) -> None:
    asha, reports = study
    minimised = replay(asha.new_state(maximize=False), reports)
    negated = [(trial, attempt, step, -value) for trial, attempt, step, value in reports]
    maximised = replay(asha.new_state(maximize=True), negated)
    assert [(d.action, d.rung) for d in minimised] == [(d.action, d.rung) for d in maximised]


@given(studies(anything), st.booleans())
def test_only_a_crossing_report_gets_a_decision(
    study: tuple[ASHA, list[Report]], maximize: bool
) -> None:
    # The runner's view: it knows decision_steps() and the steps it sent in this attempt.
    asha, reports = study
    state = asha.new_state(maximize=maximize)
    runner = Tracker(asha.decision_steps())
    for report in reports:
        decision = state.on_report(*report)
        crossed = runner.crossed(*report[:3])
        if crossed is None:
            assert decision.action is Action.CONTINUE
            assert decision.rung is None
            assert "stale" in decision.reason
        elif not crossed:
            assert decision.action is Action.CONTINUE
            assert decision.rung is None
        else:
            assert decision.rung in crossed


@given(studies(anything), st.booleans())
def test_rank_bounds_at_every_rung(study: tuple[ASHA, list[Report]], maximize: bool) -> None:
    """Among the n values at a rung, the trial's own included, a trial that stops has at least
    ceil(n/η) strictly better, one that continues at most ceil((n-1)/η); so the best so far (and
    the first at a rung) always continues."""
    asha, reports = study
    eta = asha.reduction_factor
    state = asha.new_state(maximize=maximize)
    tracker = Tracker(asha.decision_steps())
    for trial, attempt, step, value in reports:
        decision = state.on_report(trial, attempt, step, value)
        crossed = tracker.crossed(trial, attempt, step)
        if not crossed or tracker.stopped[trial]:
            continue
        assert decision.rung is not None
        judged = crossed[: crossed.index(decision.rung) + 1]
        for rung in judged:
            at_rung = tracker.record(rung, trial, value)
            n = len(at_rung)
            key = better_key(value, maximize=maximize)
            better = sum(better_key(v, maximize=maximize) > key for v in at_rung)
            passed = decision.action is Action.CONTINUE or rung != decision.rung
            if passed:
                assert better <= math.ceil((n - 1) / eta)
            else:
                assert better >= math.ceil(n / eta)
                assert better >= 1
        tracker.stopped[trial] = decision.action is Action.STOP


@given(studies(no_nan), st.tuples(st.integers(0, 6), st.integers(0, 2)), no_nan, no_nan)
def test_a_better_value_never_turns_continue_into_stop(
    study: tuple[ASHA, list[Report]], ids: tuple[int, int], a: float, b: float
) -> None:
    asha, reports = study
    for maximize in (True, False):
        state = asha.new_state(maximize=maximize)
        replay(state, reports)
        worse, better = sorted((a, b)) if maximize else sorted((a, b), reverse=True)
        step = asha.max_resource
        with_better = copy.deepcopy(state).on_report(*ids, step, better)
        with_worse = copy.deepcopy(state).on_report(*ids, step, worse)
        if with_better.action is Action.STOP:
            assert with_worse.action is Action.STOP
