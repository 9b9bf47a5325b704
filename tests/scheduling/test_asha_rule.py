"""The ASHA stop rule on hand-computed examples.

Each expected outcome below was worked out by hand from the rule: a trial continues if its value
is at least the (1 - 1/η) quantile (at most the 1/η quantile when minimising) of the values at
the rung, its own included, linear interpolation between order statistics.
"""

from __future__ import annotations

import math

import pytest

from raysweep.scheduling import ASHA, Action, Decision, SchedulerState

C, S = Action.CONTINUE, Action.STOP


def one_rung_each(state: SchedulerState, values: list[float], step: int = 1) -> list[Action]:
    """Trial i reports values[i] once, at `step`; return the actions."""
    return [state.on_report(trial, 0, step, v).action for trial, v in enumerate(values)]


SEVEN = [0.5, 0.9, 0.1, 0.8, 0.85, 0.2, 0.7]


@pytest.mark.parametrize(
    ("eta", "maximize", "values", "expected"),
    [
        # cutoffs: -, 0.7667, 0.6333, 0.8, 0.8333, 0.85 (0.2 vs 0.8167 shown), 0.8
        (3, True, SEVEN, [C, C, S, C, C, S, S]),
        # cutoffs: -, 0.6333, 0.3667, 0.5, 0.6, 0.4, 0.5
        (3, False, SEVEN, [C, S, C, S, S, C, S]),
        # medians: -, 2, 3, 2, 3, 3.5, 3, 3.5
        (2, True, [3, 1, 4, 1, 5, 9, 2, 6], [C, S, C, S, C, C, S, C]),
        # 1/2 quantile, minimising: -, 2, 3, 2, 3, 3.5, 3, 3.5
        (2, False, [3, 1, 4, 1, 5, 9, 2, 6], [C, C, S, C, S, S, C, S]),
        # 1/4 quantile: -, 12.5, 7.5, 8.75, 7 (tie), 6.25, 6.5, 5.75
        (4, False, [10, 20, 5, 30, 7, 6, 8, 1], [C, S, C, S, C, C, S, C]),
        # 3/4 quantile: -, 17.5, 15, 22.5, 20, 17.5, 15, 12.5
        (4, True, [10, 20, 5, 30, 7, 6, 8, 1], [C, C, S, C, S, S, S, S]),
    ],
)
def test_hand_computed_cutoffs(
    eta: int, maximize: bool, values: list[float], expected: list[Action]
) -> None:
    state = ASHA(max_resource=100, reduction_factor=eta).new_state(maximize=maximize)
    assert one_rung_each(state, values) == expected


def test_reason_names_value_cutoff_and_count() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    for trial, v in enumerate(SEVEN[:-1]):
        state.on_report(trial, 0, 3, v)
    decision = state.on_report(6, 0, 3, 0.7)
    assert decision == Decision(
        S,
        "step 3 crossed rungs 1, 3; value 0.7 is below the rung-1 cutoff 0.8 "
        "(best 1/3 of 7 trials)",
        rung=1,
    )


def test_reason_when_minimising() -> None:
    state = ASHA(max_resource=27).new_state(maximize=False)
    state.on_report(0, 0, 1, 0.5)
    decision = state.on_report(1, 0, 1, 0.9)
    assert decision.reason == "value 0.9 is above the rung-1 cutoff 0.633333 (best 1/3 of 2 trials)"
    decision = state.on_report(2, 0, 1, 0.1)
    assert decision.reason == (
        "value 0.1 is at or below the rung-1 cutoff 0.366667 (best 1/3 of 3 trials)"
    )


def test_first_trial_at_a_rung_continues_however_bad() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    decision = state.on_report(0, 0, 1, -1e300)
    assert decision.action is C
    assert decision.rung == 1
    assert "only one at rung 1" in decision.reason


def test_descending_arrivals_stop_all_but_the_first() -> None:
    # The rule is asynchronous: each trial is judged against those that arrived before it, so
    # fewer than 1/η of a rung's trials can pass when the best come first.
    state = ASHA(max_resource=27).new_state(maximize=True)
    assert one_rung_each(state, [9, 8, 7, 6, 5, 4, 3, 2, 1]) == [C] + [S] * 8


def test_reports_between_rungs_continue_without_a_rung() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    state.on_report(0, 0, 1, 1.0)
    for step in (2, 2, 1):
        assert state.on_report(0, 0, step, -5.0) == Decision(C, f"no rung crossed at step {step}")
    assert state.on_report(0, 0, 3, 1.0).rung == 3
    assert state.on_report(0, 0, 27, 1.0).rung == 9  # max_resource itself is no rung
    assert state.on_report(0, 0, 27, 1.0).rung is None


def test_a_report_crossing_several_rungs_decides_at_each() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    state.on_report(0, 0, 1, 0.9)
    state.on_report(0, 0, 3, 0.9)
    crossing = state.on_report(1, 0, 9, 0.95)
    assert (crossing.action, crossing.rung) == (C, 9)
    assert crossing.reason.startswith("step 9 crossed rungs 1, 3, 9; ")
    # Stopped at rung 1 ([0.1, 0.9, 0.95]), so rungs 3 and 9 get no value from trial 2.
    stopped = state.on_report(2, 0, 9, 0.1)
    assert (stopped.action, stopped.rung) == (S, 1)
    # Rung 3 holds [0.9, 0.95, 0.92]: 0.92 falls below its cutoff. With trial 2's 0.1 there too
    # it would hold four values and 0.92 would pass.
    third = state.on_report(3, 0, 3, 0.92)
    assert (third.action, third.rung) == (S, 3)
    assert third.reason.endswith("(best 1/3 of 3 trials)")


def test_a_stopped_attempt_records_nothing_more() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    state.on_report(0, 0, 1, 1.0)
    assert state.on_report(1, 0, 1, 0.0).action is S
    assert state.on_report(1, 0, 2, 5.0) == Decision(C, "no rung crossed at step 2")
    again = state.on_report(1, 0, 3, 5.0)
    assert (again.action, again.rung) == (S, 3)
    assert "already stopped at rung 1" in again.reason
    # Trial 1's 5.0 was not recorded at rung 3, so trial 0 is alone there.
    assert "only one at rung 3" in state.on_report(0, 0, 3, 0.0).reason


def test_a_new_attempt_replaces_the_old_value() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    assert state.on_report(0, 0, 1, 0.9).action is C
    # Were attempt 0's 0.9 still counted, 0.3 would be compared with it and stopped.
    rerun = state.on_report(0, 1, 1, 0.3)
    assert (rerun.action, rerun.rung) == (C, 1)
    assert "only one at rung 1" in rerun.reason


def test_a_new_attempt_crosses_its_rungs_again_and_keeps_values_it_has_not_reached() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    state.on_report(0, 0, 1, 0.9)
    state.on_report(0, 0, 3, 0.9)
    assert state.on_report(0, 1, 2, 0.4).rung == 1  # steps start over: rung 1 is crossed again
    # Rung 3 still holds attempt 0's 0.9, so 0.5 there is one of two and stops.
    decision = state.on_report(1, 0, 3, 0.5)
    assert (decision.action, decision.rung) == (S, 3)
    # Attempt 1 reaches rung 3 with 1.0: its value replaces 0.9 and it leads.
    decision = state.on_report(0, 1, 3, 1.0)
    assert (decision.action, decision.rung) == (C, 3)
    assert decision.reason.endswith("(best 1/3 of 2 trials)")


def test_stale_attempts_are_ignored() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    state.on_report(0, 1, 1, 0.5)
    stale = state.on_report(0, 0, 3, 100.0)
    assert stale == Decision(
        C, "stale report from attempt 0 of trial 0 (attempt 1 is the newest); ignored"
    )
    # The stale 100.0 was not recorded at rung 3 (trial 1 passes rung 1 over 0.5 first).
    assert "only one at rung 3" in state.on_report(1, 0, 3, 1.0).reason


@pytest.mark.parametrize("maximize", [True, False])
def test_nan_is_the_worst_value(maximize: bool) -> None:
    state = ASHA(max_resource=27).new_state(maximize=maximize)
    alone = state.on_report(0, 0, 1, math.nan)
    assert alone.action is C  # first at the rung
    assert "nan (counted as the worst value)" in alone.reason
    worst_finite = -1e300 if maximize else 1e300
    assert state.on_report(1, 0, 1, worst_finite).action is C  # beats the NaN
    assert state.on_report(2, 0, 1, math.nan).action is S


def test_nan_ties_with_nan_and_with_the_worst_infinity() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    assert state.on_report(0, 0, 1, math.nan).action is C
    # [worst, worst]: the cutoff is the worst value itself, and a tie is at least as good.
    assert state.on_report(1, 0, 1, math.nan).action is C
    assert state.on_report(2, 0, 1, -math.inf).action is C
    assert state.on_report(3, 0, 1, 0.0).action is C  # [w, w, w, 0]: the cutoff is w
    assert state.on_report(4, 0, 1, 1.0).action is C  # [w, w, w, 0, 1]: the cutoff is 0
    assert state.on_report(5, 0, 1, math.nan).action is S  # [w, w, w, w, 0, 1]: cutoff is 0


def test_infinities_act_as_values_beyond_all_others() -> None:
    state = ASHA(max_resource=27).new_state(maximize=False)
    assert state.on_report(0, 0, 1, math.inf).action is C
    assert state.on_report(1, 0, 1, -math.inf).action is C
    # [-inf, 0, inf]: the 1/3 quantile lies between -inf and 0 (as it would between -1e300
    # and 0), so 0 is above it.
    zero = state.on_report(2, 0, 1, 0.0)
    assert zero.action is S
    assert zero.reason == "value 0 is above the rung-1 cutoff -inf (best 1/3 of 3 trials)"
    # [-inf, -inf, 0, inf]: the 1/3 quantile is -inf exactly.
    assert state.on_report(3, 0, 1, -math.inf).action is C
