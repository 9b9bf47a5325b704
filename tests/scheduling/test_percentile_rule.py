"""The percentile and median stopping rules on hand-worked examples.

Expected outcomes below were worked out by hand from the rule: maximising, a trial continues if
its best value so far is at least the (100 - percentile)-th percentile of the other trials'
values at the step (minimising: at most the percentile-th), linear interpolation.
"""

from __future__ import annotations

import math

import pytest

from raysweep.scheduling import (
    Action,
    Decision,
    MedianStopping,
    PercentileStopping,
    SchedulerState,
)

C, S = Action.CONTINUE, Action.STOP


def others_at(state: SchedulerState, step: int, values: list[float], first: int = 100) -> None:
    """Trials first, first+1, ... report values[i] at `step` (and nothing else)."""
    for trial, value in enumerate(values, start=first):
        state.on_report(trial, 0, step, value)


# --- the rule on hand-worked examples ---------------------------------------------------------


@pytest.mark.parametrize(
    ("percentile", "maximize", "best", "expected"),
    [
        # Others 1..5 at the step. Maximising, p=25: 75th percentile = 4.
        (25.0, True, 4.0, C),
        (25.0, True, 3.9, S),
        # Minimising, p=25: 25th percentile = 2.
        (25.0, False, 2.0, C),
        (25.0, False, 2.1, S),
        # p=10, maximising: 90th percentile at position 3.6 -> 4.6 (the float nearest to it).
        (10.0, True, 4.6, C),
        (10.0, True, 4.599999999999999, S),
        # p=12.5, minimising: 12.5th percentile at position 0.5 -> 1.5.
        (12.5, False, 1.5, C),
        (12.5, False, 1.5000000000000002, S),
        # p=0 keeps only a tie with the best; p=100 stops only below the worst.
        (0.0, True, 5.0, C),
        (0.0, True, 4.999, S),
        (100.0, True, 1.0, C),
        (100.0, True, 0.999, S),
        (100.0, False, 5.0, C),
        (100.0, False, 5.001, S),
    ],
)
def test_percentile_cutoffs(
    percentile: float, maximize: bool, best: float, expected: Action
) -> None:
    rule = PercentileStopping(percentile=percentile, warmup_steps=5, min_trials=5)
    state = rule.new_state(maximize=maximize)
    others_at(state, 6, [3.0, 1.0, 5.0, 2.0, 4.0])
    decision = state.on_report(0, 0, 6, best)
    assert (decision.action, decision.rung) == (expected, 6)


def test_median_and_its_reason() -> None:
    state = MedianStopping(min_trials=4).new_state(maximize=False)
    others_at(state, 1, [3.0, 1.0, 4.0, 1.0])  # median 2
    assert state.on_report(0, 0, 1, 2.0) == Decision(
        C, "best value so far 2 is at or below 2, the median of 4 other trials at step 1", 1
    )
    assert state.on_report(1, 0, 1, 2.5) == Decision(
        S, "best value so far 2.5 is above 2, the median of 5 other trials at step 1", 1
    )


def test_percentile_reason_names_best_cutoff_and_count() -> None:
    state = PercentileStopping(min_trials=2).new_state(maximize=True)
    others_at(state, 3, [1.0, 2.0, 3.0])  # 75th percentile: 2.5
    state.on_report(0, 0, 1, 9.0)
    decision = state.on_report(0, 0, 3, 0.0)
    assert decision == Decision(
        C,
        "step 3 is past decision step 2; best value so far 9 is at or above 2.5, the cutoff "
        "for the top 25% of 3 other trials at step 3",
        3,
    )


def test_the_best_so_far_is_judged_not_the_latest_value() -> None:
    for maximize, good, bad in ((True, 10.0, -10.0), (False, -10.0, 10.0)):
        state = MedianStopping(min_trials=3).new_state(maximize=maximize)
        others_at(state, 2, [0.0, 1.0, 2.0])
        state.on_report(0, 0, 1, good)
        assert state.on_report(0, 0, 2, bad).action is C
        state.on_report(1, 0, 1, bad)
        assert state.on_report(1, 0, 2, bad).action is S


def test_nan_counts_as_the_worst_value() -> None:
    for maximize in (True, False):
        state = MedianStopping(min_trials=3).new_state(maximize=maximize)
        others_at(state, 1, [math.nan, math.nan, 0.0])  # the median is a NaN: the worst
        assert state.on_report(0, 0, 1, math.nan).action is C  # tied with the worst
        state.on_report(0, 0, 2, 5.0)
        others_at(state, 2, [1.0, 2.0, 3.0])
        assert state.on_report(1, 0, 2, math.nan).action is S  # NaN-only: the worst
        # A NaN after a finite value leaves the best so far to be judged.
        state.on_report(2, 0, 1, 2.0 if maximize else -2.0)
        assert state.on_report(2, 0, 2, math.nan).action is C
        # Now at step 2: 5, 1, 2, 3, NaN, NaN. Median 1.5 maximising, 4 minimising.
        state.on_report(3, 0, 1, 1.0 if maximize else 4.5)
        assert state.on_report(3, 0, 2, math.nan).action is S


def test_infinite_neighbours() -> None:
    # Others -inf and +inf: the cutoff -M + 2Mf; f = 0.75 (p=25, maximising) is above any
    # finite value, f = 0.5 (median) is 0.
    state = PercentileStopping(min_trials=2).new_state(maximize=True)
    others_at(state, 1, [-math.inf, math.inf])
    assert state.on_report(0, 0, 1, 1e308).action is S
    assert state.on_report(1, 0, 1, math.inf).action is C
    state = MedianStopping(min_trials=2).new_state(maximize=True)
    others_at(state, 1, [-math.inf, math.inf])
    assert [state.on_report(t, 0, 1, v).action for t, v in enumerate([0.0, -1e-300])] == [C, S]
    # One infinite neighbour: the cutoff is beyond every finite value on that side.
    state = MedianStopping(min_trials=2).new_state(maximize=True)
    others_at(state, 1, [5.0, math.inf])
    assert state.on_report(0, 0, 1, 1e308).action is S
    state = MedianStopping(min_trials=2).new_state(maximize=True)
    others_at(state, 1, [math.nan, 5.0])
    assert state.on_report(0, 0, 1, -1e308).action is C
    assert state.on_report(1, 0, 1, -math.inf).action is S


def test_min_trials_counts_the_other_trials_at_the_step() -> None:
    state = MedianStopping(min_trials=3).new_state(maximize=True)
    others_at(state, 1, [5.0, 6.0])
    others_at(state, 2, [5.0, 6.0, 7.0], first=200)  # another step does not count
    decision = state.on_report(0, 0, 1, -1.0)
    assert decision == Decision(
        C, "only 2 other trials reported at step 1, fewer than min_trials=3; it continues", 1
    )
    assert state.on_report(1, 0, 1, -1.0).action is S  # trial 0's value made it 3


# --- decision steps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "steps", "following"),
    [
        ({}, (), {0: 1, 1: 2, 7: 8}),
        ({"warmup_steps": 3}, (), {0: 4, 3: 4, 4: 5}),
        ({"interval_steps": 5}, (), {0: 1, 1: 6, 5: 6, 6: 11}),
        ({"warmup_steps": 2, "interval_steps": 3}, (), {0: 3, 3: 6, 5: 6, 6: 9}),
        ({"max_resource": 4}, (1, 2, 3, 4), {0: 1, 3: 4, 4: None}),
        (
            {"warmup_steps": 2, "interval_steps": 3, "max_resource": 10},
            (3, 6, 9),
            {0: 3, 8: 9, 9: None},
        ),
        ({"warmup_steps": 9, "interval_steps": 5, "max_resource": 10}, (10,), {0: 10, 10: None}),
    ],
)
def test_decision_steps(
    kwargs: dict[str, int], steps: tuple[int, ...], following: dict[int, int | None]
) -> None:
    rule = MedianStopping(**kwargs)
    assert rule.decision_steps() == steps
    for step, expected in following.items():
        assert rule.next_decision_step(step) == expected
    assert rule.fidelities() == ()
    assert rule.bracket(3) is None


def test_only_decision_steps_are_judged_and_a_jump_is_judged_at_its_own_step() -> None:
    rule = PercentileStopping(percentile=50.0, warmup_steps=2, interval_steps=3, min_trials=1)
    state = rule.new_state(maximize=True)
    for step in range(1, 12):
        state.on_report(100, 0, step, 10.0)  # the one other trial, always better
    decisions = [state.on_report(0, 0, step, 0.0) for step in (1, 2)]
    assert [(d.action, d.rung) for d in decisions] == [(C, None), (C, None)]
    assert "no decision step reached at step 2" in decisions[1].reason
    # Step 3 is skipped: the jump to 4 crosses it and is judged against the values at 4.
    jumped = state.on_report(1, 0, 4, 0.0)
    assert (jumped.action, jumped.rung) == (S, 4)
    assert state.on_report(2, 0, 5, 20.0) == Decision(
        C,
        "step 5 is past decision step 3; best value so far 20 is at or above 10, the cutoff for "
        "the top 50% of 1 other trial at step 5",
        5,
    )
    assert state.on_report(2, 0, 6, 0.0).rung == 6
    assert state.on_report(2, 0, 7, 0.0).rung is None


# --- attempts and stops -----------------------------------------------------------------------


def test_a_new_attempt_forgets_the_old_one_and_stale_reports_are_ignored() -> None:
    state = MedianStopping(min_trials=1).new_state(maximize=True)
    state.on_report(0, 0, 1, 100.0)
    state.on_report(0, 0, 2, 100.0)
    # Attempt 1 of trial 0 starts over: its old best (100) no longer helps it.
    state.on_report(1, 0, 2, 50.0)
    assert state.on_report(0, 1, 1, 0.0).action is C  # nobody else at step 1
    assert state.on_report(0, 1, 2, 0.0).action is S
    # And the old attempt's value at step 2 (100) is gone: trial 2 is compared with 0 and 50.
    state.on_report(2, 0, 2, 25.0)
    assert state.on_report(2, 0, 2, 25.0).rung is None
    stale = state.on_report(0, 0, 3, 1e9)
    assert stale == Decision(
        C, "stale report from attempt 0 of trial 0 (attempt 1 is the newest); ignored"
    )


def test_after_a_stop_nothing_is_recorded_and_crossing_reports_stop_again() -> None:
    state = MedianStopping(min_trials=1, interval_steps=2).new_state(maximize=True)
    for step in range(1, 6):
        state.on_report(100, 0, step, 10.0)
    assert state.on_report(0, 0, 1, 0.0).action is S
    assert state.on_report(0, 0, 2, 99.0) == Decision(
        C, "trial 0 was already stopped at step 1 in attempt 0; value not recorded"
    )
    again = state.on_report(0, 0, 3, 99.0)
    assert (again.action, again.rung) == (S, 3)
    # The stopping value (0 at step 1) counts for others; the later 99s were not recorded.
    state.on_report(101, 0, 1, 5.0)
    assert state.on_report(102, 0, 3, 10.0).reason.endswith("of 1 other trial at step 3")
    # A new attempt runs again.
    assert state.on_report(0, 1, 1, 50.0).action is C


def test_never_pauses() -> None:
    rule = MedianStopping()
    state = rule.new_state(maximize=True)
    assert rule.pauses is False
    assert state.promotion() is None
    with pytest.raises(ValueError, match="never pauses"):
        state.on_resume(0)
