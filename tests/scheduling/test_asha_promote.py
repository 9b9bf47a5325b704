"""ASHA promote mode: pause at every rung, promote the best 1/η (Li et al. 2020, Algorithm 2)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raysweep.scheduling import ASHA, Action, Decision, Promotion, SchedulerState

P, C = Action.PAUSE, Action.CONTINUE


def promote(max_resource: int = 27, **kwargs: int) -> ASHA:
    return ASHA(max_resource=max_resource, mode="promote", **kwargs)


def fill_rung(state: SchedulerState, values: list[float], step: int = 1, first: int = 0) -> None:
    """Trials first, first + 1, ... report values[i] once at `step`; each pauses."""
    for offset, value in enumerate(values):
        assert state.on_report(first + offset, 0, step, value).action is P


def promoted(state: SchedulerState, held: frozenset[int] = frozenset()) -> tuple[int, int] | None:
    promotion = (
        state.promotion(ready=lambda trial: trial not in held) if held else state.promotion()
    )
    return None if promotion is None else (promotion.trial, promotion.rung)


def test_configuration_of_promote_mode() -> None:
    asha = promote(81)
    assert asha.pauses
    assert not ASHA(max_resource=81).pauses
    assert asha.decision_steps() == (1, 3, 9, 27)
    assert asha.fidelities() == (1, 3, 9, 27, 81)
    assert asha.to_json()["mode"] == "promote"


def test_first_trial_pauses_and_is_not_promotable_alone() -> None:
    state = promote().new_state(maximize=True)
    decision = state.on_report(0, 0, 1, 0.5)
    assert (decision.action, decision.rung) == (P, 1)
    assert decision.reason == (
        "value 0.5 ranks 1 of 1 at rung 1; paused there, the top floor(1/3) = 0 may be promoted"
    )
    assert state.promotion() is None
    state.on_report(1, 0, 1, 0.9)
    assert state.promotion() is None  # floor(2/3) == 0


def test_once_no_new_trial_will_come_the_top_ceil_n_over_eta_are_promoted() -> None:
    state = promote(9).new_state(maximize=True)
    fill_rung(state, [0.5, 0.9])
    assert state.promotion() is None
    final = state.promotion(final=True)
    assert final is not None and (final.trial, final.rung) == (1, 1)
    assert "ceil" in final.reason
    state.on_resume(1)
    assert state.promotion(final=True) is None  # trial 0 ranks 2nd; ceil(2/3) = 1
    assert state.on_report(1, 0, 3, 0.95).action is P
    # Alone at rung 3 it goes on to the full budget, where floor(1/3) = 0 would strand it.
    assert state.promotion() is None
    assert promoted_final(state) == (1, 3)


def promoted_final(state: SchedulerState) -> tuple[int, int] | None:
    promotion = state.promotion(final=True)
    return None if promotion is None else (promotion.trial, promotion.rung)


def test_with_three_trials_the_best_becomes_promotable() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.5, 0.9, 0.1])
    assert state.promotion() == Promotion(
        1, 1, "value 0.9 ranks 1 of 3 at rung 1; the top 1 are promoted"
    )
    # The query changes nothing.
    assert promoted(state) == (1, 1)
    state.on_resume(1)
    # Trial 1 still counts at rung 1, so trial 0 ranks 2 of 3: outside the top 1.
    assert state.promotion() is None
    fill_rung(state, [0.2, 0.3, 0.4], first=3)
    # Six values, the top 2 are trials 1 (resumed) and 0.
    assert promoted(state) == (0, 1)


def test_promotion_prefers_higher_rungs() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.1, 0.2, 0.3])
    assert promoted(state) == (2, 1)
    # Trials 3-5 cross rungs 1 and 3 at once, with worse values: at rung 1 the top 2 of six are
    # still trials 2 and 1, and at rung 3 trial 5 is the top 1 of three.
    fill_rung(state, [0.05, 0.06, 0.07], step=3, first=3)
    assert promoted(state) == (5, 3)
    state.on_resume(5)
    assert promoted(state) == (2, 1)
    state.on_resume(2)
    # Trial 1 is second at rung 1, inside the top 2, and paused there.
    assert promoted(state) == (1, 1)


def test_every_promotion_possible_now_is_listed_in_the_order_they_would_be_named() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.1, 0.2, 0.3])
    fill_rung(state, [0.05, 0.06, 0.07], step=3, first=3)
    listed = [(p.trial, p.rung) for p in state.promotions()]
    # The top 1 of three at rung 3, then the top 2 of six at rung 1 (trials 2 and 1).
    assert listed == [(5, 3), (2, 1), (1, 1)]
    assert listed[0] == promoted(state)
    assert [(p.trial, p.rung) for p in state.promotions(limit=2)] == listed[:2]
    assert [p.trial for p in state.promotions(ready=lambda trial: trial != 2)] == [5, 1]
    # A query: nothing changed, and each resumption takes its trial off the list.
    state.on_resume(5)
    assert [(p.trial, p.rung) for p in state.promotions()] == listed[1:]


def test_a_trial_paused_higher_up_is_no_candidate_at_a_lower_rung() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.9, 0.8, 0.7], step=3)  # each crosses rungs 1 and 3
    assert promoted(state) == (0, 3)
    state.on_resume(0)
    # Rung 1's top 1 of three is trial 0, and the others are paused at rung 3, not rung 1.
    assert state.promotion() is None


def test_resuming_a_trial_that_is_not_paused_raises() -> None:
    state = promote().new_state(maximize=True)
    with pytest.raises(ValueError, match="trial 0 cannot be resumed: it is not paused"):
        state.on_resume(0)
    fill_rung(state, [0.5, 0.9, 0.1])
    state.on_resume(1)
    with pytest.raises(ValueError, match="resumed from rung 1 and has not been paused"):
        state.on_resume(1)
    with pytest.raises(TypeError, match="trial must be an int"):
        state.on_resume("1")  # type: ignore[arg-type]
    # The failed calls changed nothing: trial 1 is still running and can pause at rung 3.
    assert state.on_report(1, 0, 3, 0.9).action is P
    state.on_resume(1)


def test_stop_mode_never_promotes_or_resumes() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    for trial, value in enumerate([0.5, 0.9, 0.1]):
        state.on_report(trial, 0, 1, value)
    assert state.promotion() is None
    with pytest.raises(ValueError, match="never pauses"):
        state.on_resume(1)


def test_a_resumed_trial_restarted_from_scratch_crosses_nothing_below_its_rung() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.5, 0.9, 0.1])
    state.on_resume(1)
    for step in (1, 2, 1, 2):
        assert state.on_report(1, 0, step, -100.0) == Decision(
            C, f"no new rung crossed at step {step}"
        )
    # The low re-reports recorded nothing: trial 1 still leads rung 1's four values, so trial 3
    # is not in the top 1. Had -100.0 replaced 0.9, trial 3 would lead and be promotable.
    fill_rung(state, [0.8], first=3)
    assert state.promotion() is None


def test_a_resumed_trial_pauses_at_the_next_rung() -> None:
    state = promote().new_state(maximize=False)
    fill_rung(state, [0.5, 0.1, 0.9])
    assert promoted(state) == (1, 1)
    state.on_resume(1)
    decision = state.on_report(1, 0, 3, 0.05)
    assert (decision.action, decision.rung) == (P, 3)
    assert decision.reason.startswith("value 0.05 ranks 1 of 1 at rung 3")
    state.on_resume(1)  # promoted by hand from rung 3
    assert state.on_report(1, 0, 9, 0.01).rung == 9
    state.on_resume(1)
    # Reaching max_resource crosses nothing: the trial completes.
    assert state.on_report(1, 0, 27, 0.01) == Decision(C, "no new rung crossed at step 27")


def test_crossing_two_rungs_at_once_pauses_at_the_higher_and_records_both() -> None:
    state = promote().new_state(maximize=True)
    decision = state.on_report(0, 0, 5, 1.0)
    assert (decision.action, decision.rung) == (P, 3)
    assert decision.reason.startswith("step 5 crossed rungs 1, 3; value 1 ranks 1 of 1 at rung 3")
    fill_rung(state, [0.1, 0.2], first=1)
    # Rung 1 holds [1.0, 0.1, 0.2]: trial 0 leads it but is paused at rung 3, not rung 1.
    assert state.promotion() is None
    fill_rung(state, [0.3, 0.4, 0.5, 0.6], first=3)
    assert promoted(state) == (6, 1)  # seven values: top 2 are trials 0 and 6


def test_minimising_and_maximising_pick_opposite_ends() -> None:
    values = [3.0, -1.0, 2.0, 7.0, 0.0, 5.0]
    for maximize, best, second in ((True, 3, 5), (False, 1, 4)):
        state = promote().new_state(maximize=maximize)
        fill_rung(state, values)
        assert promoted(state) == (best, 1)
        state.on_resume(best)
        assert promoted(state) == (second, 1)
        state.on_resume(second)
        assert state.promotion() is None


@pytest.mark.parametrize("maximize", [True, False])
def test_nan_is_the_worst_value(maximize: bool) -> None:
    state = promote().new_state(maximize=maximize)
    fill_rung(state, [math.nan, math.nan, math.nan])
    # Three NaNs tie; the tie goes to the lower trial number.
    assert promoted(state) == (0, 1)
    worst_finite = -1e300 if maximize else 1e300
    fill_rung(state, [worst_finite, math.nan, math.inf if not maximize else -math.inf], first=3)
    # Six values, top 2: the finite one leads, then NaN and the worst infinity tie with trial 0.
    assert promoted(state) == (3, 1)
    state.on_resume(3)
    assert promoted(state) == (0, 1)


def test_stale_attempts_are_ignored_and_a_new_attempt_keeps_the_rungs() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.5, 0.9, 0.1])
    state.on_resume(1)
    # Trial 1 crashes and is re-run from scratch as attempt 1: rung 1 is not crossed again.
    assert state.on_report(1, 1, 1, 0.0) == Decision(C, "no new rung crossed at step 1")
    stale = state.on_report(1, 0, 3, 100.0)
    assert stale == Decision(
        C, "stale report from attempt 0 of trial 1 (attempt 1 is the newest); ignored"
    )
    decision = state.on_report(1, 1, 3, 0.4)
    assert (decision.action, decision.rung) == (P, 3)
    assert "ranks 1 of 1 at rung 3" in decision.reason  # the stale 100.0 was not recorded


def test_a_late_report_of_a_paused_trial_moves_it_up() -> None:
    state = promote().new_state(maximize=True)
    fill_rung(state, [0.5, 0.9, 0.1])
    assert promoted(state) == (1, 1)
    # Trial 1 sent step 3 before it saw the pause: it now waits at rung 3.
    assert state.on_report(1, 0, 3, 0.95).rung == 3
    # Rung 1's top 1 is trial 1, which no longer waits there; rung 3 holds one value.
    assert state.promotion() is None
    state.on_resume(1)
    with pytest.raises(ValueError, match="resumed from rung 3"):
        state.on_resume(1)
    assert state.on_report(1, 0, 4, 0.95) == Decision(C, "no new rung crossed at step 4")


# --- A brute-force restatement of the promotion rule, checked on random data. ----------------


class BruteForcePromote:
    """Everything recomputed from scratch at each query; written from the rule's text."""

    def __init__(self, rungs: tuple[int, ...], eta: int, *, maximize: bool) -> None:
        self.rungs, self.eta, self.maximize = rungs, eta, maximize
        self.scores: dict[int, dict[int, float]] = {rung: {} for rung in rungs}
        self.newest: dict[int, int] = {}
        self.paused: dict[int, int] = {}  # trial -> rung

    def key(self, value: float) -> float:
        if math.isnan(value):
            return -math.inf
        return value if self.maximize else -value

    def report(
        self, trial: int, attempt: int, step: int, value: float
    ) -> tuple[Action, int | None]:
        if attempt < self.newest.get(trial, attempt):
            return C, None
        self.newest[trial] = attempt
        new = [r for r in self.rungs if r <= step and trial not in self.scores[r]]
        if not new:
            # A paused trial that reports at or past its rung again was not promoted: it waits.
            paused_at = self.paused.get(trial)
            if paused_at is not None and step >= paused_at:
                return P, paused_at
            return C, None
        for rung in new:
            self.scores[rung][trial] = self.key(value)
        self.paused[trial] = new[-1]
        return P, new[-1]

    def promotion(self, held: frozenset[int] = frozenset()) -> tuple[int, int] | None:
        for rung in reversed(self.rungs):
            at_rung = self.scores[rung]
            ranking = sorted(at_rung, key=lambda trial: (-at_rung[trial], trial))
            top = ranking[: len(ranking) // self.eta]
            candidates = [
                trial for trial in top if self.paused.get(trial) == rung and trial not in held
            ]
            if candidates:
                return candidates[0], rung
        return None

    def resume(self, trial: int) -> bool:
        return self.paused.pop(trial, None) is not None


values = st.one_of(
    st.integers(-2, 2).map(float),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
    st.floats(-1e3, 1e3),
)
report = st.tuples(
    st.just("report"), st.integers(0, 9), st.integers(0, 2), st.integers(1, 40), values
)
resume = st.tuples(st.just("resume"), st.integers(0, 9))
promote_next = st.just(("promote",))
# A trial told to pause whose checkpoint is still being saved: not ready to be promoted.
hold = st.tuples(st.just("hold"), st.integers(0, 9))


@given(
    st.sampled_from([(1, 27, 3), (1, 16, 2), (2, 40, 3), (1, 40, 4)]),
    st.booleans(),
    st.lists(st.one_of(report, report, resume, promote_next, hold), max_size=80),
)
def test_matches_a_brute_force_promotion_rule(
    ladder: tuple[int, int, int], maximize: bool, operations: list[tuple[object, ...]]
) -> None:
    min_resource, max_resource, eta = ladder
    asha = ASHA(
        min_resource=min_resource, max_resource=max_resource, reduction_factor=eta, mode="promote"
    )
    state = asha.new_state(maximize=maximize)
    reference = BruteForcePromote(asha.decision_steps(), eta, maximize=maximize)
    held: frozenset[int] = frozenset()
    for operation in operations:
        if operation[0] == "report":
            _, trial, attempt, step, value = operation
            assert isinstance(trial, int) and isinstance(attempt, int) and isinstance(step, int)
            assert isinstance(value, float)
            step = min(step, max_resource)
            decision = state.on_report(trial, attempt, step, value)
            assert (decision.action, decision.rung) == reference.report(trial, attempt, step, value)
        elif operation[0] == "resume":
            trial = operation[1]
            assert isinstance(trial, int)
            if trial in reference.paused:
                state.on_resume(trial)
                assert reference.resume(trial)
            else:
                with pytest.raises(ValueError, match="not paused"):
                    state.on_resume(trial)
        elif operation[0] == "hold":
            held ^= {operation[1]}  # type: ignore[operator]
        else:
            chosen = promoted(state, held)
            if chosen is not None:
                state.on_resume(chosen[0])
                assert reference.resume(chosen[0])
        assert promoted(state, held) == reference.promotion(held)
        assert promoted(state) == reference.promotion()
