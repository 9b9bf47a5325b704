"""NoPruning: the default scheduler never stops anything."""

from __future__ import annotations

import math

import pytest

from raysweep.scheduling import Action, NoPruning, scheduler_from_json


def test_continues_everything_and_has_no_decision_steps() -> None:
    scheduler = NoPruning()
    assert scheduler.decision_steps() == ()
    state = scheduler.new_state(maximize=False)
    for trial, value in enumerate([1.0, -5.0, math.nan, math.inf, 1e300]):
        decision = state.on_report(trial, 0, 1 + trial, value)
        assert decision.action is Action.CONTINUE
        assert decision.rung is None


def test_json_round_trip_and_equality() -> None:
    assert NoPruning().to_json() == {"type": "no_pruning"}
    assert scheduler_from_json(NoPruning().to_json()) == NoPruning()


def test_validates_reports_like_every_scheduler() -> None:
    state = NoPruning().new_state(maximize=True)
    with pytest.raises(ValueError, match="step 0 is below 1"):
        state.on_report(0, 0, 0, 1.0)
    with pytest.raises(ValueError, match="trial must be at least 0"):
        state.on_report(-1, 0, 1, 1.0)
    with pytest.raises(TypeError, match="value must be a real number"):
        state.on_report(0, 0, 1, "1.0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="maximize must be a bool"):
        NoPruning().new_state(maximize=1)  # type: ignore[arg-type]
