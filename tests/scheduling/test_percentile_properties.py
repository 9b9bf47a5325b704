"""Properties of the percentile stopping rule over random report sequences (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from percentile_reference import ReferencePercentile

from raysweep.scheduling import (
    Action,
    Decision,
    MedianStopping,
    PercentileStopping,
    SchedulerState,
)

# Hypothesis runs hundreds of studies against the reference rule.
pytestmark = pytest.mark.slow

Report = tuple[int, int, int, float]  # trial, attempt, step, value

# Small integers make ties common; arbitrary floats find the rest.
finite = st.one_of(st.integers(-3, 3).map(float), st.floats(allow_nan=False, allow_infinity=False))
no_nan = st.one_of(finite, st.sampled_from([math.inf, -math.inf]))
anything = st.one_of(no_nan, st.just(math.nan))
# Infinite neighbours around a finite best: the cutoff's ±M arithmetic.
extremes = st.sampled_from([-math.inf, math.inf, math.nan, -1.0, 0.0, 0.5, 1.0])


@st.composite
def rules(draw: st.DrawFn) -> PercentileStopping:
    warmup = draw(st.integers(0, 3))
    median = MedianStopping(
        warmup_steps=warmup,
        min_trials=draw(st.integers(1, 4)),
        interval_steps=draw(st.integers(1, 3)),
        max_resource=draw(st.one_of(st.none(), st.integers(warmup + 1, warmup + 8))),
    )
    if draw(st.booleans()):
        return median
    percentile = draw(
        st.one_of(
            st.sampled_from([0.0, 10.0, 25.0, 33.3, 50.0, 75.0, 90.0, 100.0]),
            st.floats(0.0, 100.0),
        )
    )
    return PercentileStopping(
        percentile=percentile,
        warmup_steps=median.warmup_steps,
        min_trials=median.min_trials,
        interval_steps=median.interval_steps,
        max_resource=median.max_resource,
    )


def top_step(rule: PercentileStopping) -> int:
    return rule.max_resource or rule.warmup_steps + 8


@st.composite
def studies(
    draw: st.DrawFn, values: st.SearchStrategy[float]
) -> tuple[PercentileStopping, list[Report]]:
    """Any order of reports: steps may go back, attempts may be stale."""
    rule = draw(rules())
    # Few distinct steps, so that many trials have values at the same step.
    steps = st.integers(1, draw(st.integers(1, top_step(rule))))
    report = st.tuples(st.integers(0, 6), st.integers(0, 2), steps, values)
    return rule, draw(st.lists(report, max_size=80))


@st.composite
def runs(
    draw: st.DrawFn, values: st.SearchStrategy[float]
) -> tuple[PercentileStopping, list[Report]]:
    """Reports as runners send them: each attempt's steps increase (by jumps of 1 to 3), the
    trials' reports interleaved in a random order, a trial's attempts one after the other."""
    rule = draw(rules())
    top = top_step(rule)
    queues: list[list[Report]] = []
    for trial in range(draw(st.integers(2, 8))):
        queue: list[Report] = []
        for attempt in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
            step, length = 0, draw(st.integers(1, top))
            for _ in range(length):
                step += draw(st.sampled_from([1, 1, 1, 2, 3]))
                if step > top:
                    break
                queue.append((trial, attempt, step, draw(values)))
        if queue:
            queues.append(queue)
    order = draw(st.randoms(use_true_random=False))
    reports: list[Report] = []
    while queues:
        index = order.randrange(len(queues))
        reports.append(queues[index].pop(0))
        if not queues[index]:
            del queues[index]
    return rule, reports


def replay(state: SchedulerState, reports: list[Report]) -> list[Decision]:
    return [state.on_report(*report) for report in reports]


def check_against_reference(
    rule: PercentileStopping, reports: list[Report], maximize: bool
) -> None:
    state = rule.new_state(maximize=maximize)
    reference = ReferencePercentile(rule, maximize)
    for report in reports:
        decision = state.on_report(*report)
        assert (decision.action, decision.rung) == reference.report(*report), report


@given(studies(anything), st.booleans())
def test_matches_the_reference_on_any_order(
    study: tuple[PercentileStopping, list[Report]], maximize: bool
) -> None:
    check_against_reference(*study, maximize)


@settings(max_examples=200)
@given(runs(anything), st.booleans())
def test_matches_the_reference_on_runner_order(
    study: tuple[PercentileStopping, list[Report]], maximize: bool
) -> None:
    check_against_reference(*study, maximize)


@given(runs(extremes), st.booleans())
def test_matches_the_reference_with_infinities(
    study: tuple[PercentileStopping, list[Report]], maximize: bool
) -> None:
    check_against_reference(*study, maximize)


@given(studies(anything), st.integers(0, 80), st.booleans())
def test_a_rebuilt_state_makes_the_same_future_decisions(
    study: tuple[PercentileStopping, list[Report]], cut: int, maximize: bool
) -> None:
    # The orchestrator's restart: a new state fed the logged reports, then the live ones.
    rule, reports = study
    live = rule.new_state(maximize=maximize)
    past, future = reports[:cut], reports[cut:]
    replay(live, past)
    rebuilt = rule.new_state(maximize=maximize)
    replay(rebuilt, past)
    assert replay(rebuilt, future) == replay(live, future)


@given(runs(anything), st.booleans(), st.integers(1, 9), anything)
def test_stale_reports_change_nothing(
    study: tuple[PercentileStopping, list[Report]], maximize: bool, step: int, value: float
) -> None:
    # After each attempt's first report, a late one from the attempt before, as a slow runner's.
    rule, reports = study
    step = min(step, top_step(rule))
    mixed: list[tuple[Report, bool]] = []
    seen: set[tuple[int, int]] = set()
    for report in reports:
        trial, attempt = report[0], report[1]
        mixed.append((report, False))
        if attempt > 0 and (trial, attempt) not in seen:
            mixed.append(((trial, attempt - 1, step, value), True))
        seen.add((trial, attempt))
    state = rule.new_state(maximize=maximize)
    decisions = [(state.on_report(*report), stale) for report, stale in mixed]
    for decision, stale in decisions:
        if stale:
            assert (decision.action, decision.rung) == (Action.CONTINUE, None)
            assert "stale" in decision.reason
    kept = [decision for decision, stale in decisions if not stale]
    assert kept == replay(rule.new_state(maximize=maximize), reports)


@given(studies(no_nan))
def test_minimising_is_maximising_the_negation(
    study: tuple[PercentileStopping, list[Report]],
) -> None:
    rule, reports = study
    minimised = replay(rule.new_state(maximize=False), reports)
    negated = [(trial, attempt, step, -value) for trial, attempt, step, value in reports]
    maximised = replay(rule.new_state(maximize=True), negated)
    assert [(d.action, d.rung) for d in minimised] == [(d.action, d.rung) for d in maximised]


@given(runs(anything), st.booleans())
def test_only_a_report_reaching_a_decision_step_is_judged(
    study: tuple[PercentileStopping, list[Report]], maximize: bool
) -> None:
    # The runner's view: next_decision_step from the highest step its attempt reported.
    rule, reports = study
    state = rule.new_state(maximize=maximize)
    highest: dict[tuple[int, int], int] = {}
    for trial, attempt, step, value in reports:
        due = rule.next_decision_step(highest.get((trial, attempt), 0))
        highest[trial, attempt] = step
        decision = state.on_report(trial, attempt, step, value)
        if due is not None and due <= step:
            assert decision.rung == step
        else:
            assert (decision.action, decision.rung) == (Action.CONTINUE, None)
