"""What the study's state keeps as trials change (counts by state, the best trial, each trial's
record) equals a recomputation over every trial, whatever the events."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._storage._event import Event
from raysweep.samplers import RandomSampler, StudyDirection, TrialState
from raysweep.scheduling import ASHA

_VALUES = st.sampled_from([0.0, 1.0, 1.0, -2.0, 3.5, math.inf, -math.inf, math.nan])
_STATES = st.sampled_from(["complete", "complete", "pruned", "failed"])
_CONSTRAINTS = st.one_of(st.none(), st.lists(st.sampled_from([-1.0, 0.0, 0.5]), min_size=1))


def _json_float(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


@st.composite
def _event(draw: st.DrawFn, objectives: int) -> tuple[str, int, dict[str, Any]]:
    """One trial event, often one that cannot apply now (it is refused, the state unchanged)."""
    trial = draw(st.integers(0, 4))
    kind = draw(
        st.sampled_from(
            [
                "trial_created",
                "trial_started",
                "trial_finished",
                "trial_finished",
                "trial_interrupted",
                "trial_paused",
                "trial_resumed",
            ]
        )
    )
    payload: dict[str, Any] = {}
    if kind == "trial_created":
        payload = {"origin": draw(st.sampled_from(["optimize", "ask"]))}
    elif kind == "trial_started":
        payload = {"attempt": draw(st.integers(0, 2)), "runner": "r"}
    elif kind == "trial_finished":
        state = draw(_STATES)
        values = [_json_float(draw(_VALUES)) for _ in range(objectives)]
        payload = {"attempt": 0, "state": state, "values": values, "error": None}
        constraints = draw(_CONSTRAINTS)
        if constraints is not None:
            payload["constraints"] = constraints
        if state != "complete" and draw(st.booleans()):
            payload["values"] = None
    elif kind == "trial_interrupted":
        payload = {"attempt": 0, "reason": "lost", "crash": draw(st.booleans())}
    elif kind == "trial_paused":
        payload = {"attempt": 0, "step": 1, "checkpoint": None}
    else:
        payload = {"trial": trial, "rung": 0, "reason": "promoted", "runner": "r"}
    return kind, trial, payload


def _study(directions: list[str]) -> Event:
    payload = {
        "name": "s",
        "directions": directions,
        "seed": 1,
        "seed_source": "given",
        "sampler": RandomSampler(seed=1).to_json(),
        "scheduler": ASHA(max_resource=9).to_json(),
    }
    return Event(0, 0.0, "study_created", None, payload)


def _brute_force_best(state: StudyState) -> int | None:
    assert state.info is not None
    sign = -1.0 if state.info.directions[0] is StudyDirection.MAXIMIZE else 1.0
    ranked = [
        (sign * t.values[0], t.number)
        for t in state.trials.values()
        if t.state is TrialState.COMPLETE
        and t.values is not None
        and len(t.values) == 1
        and not math.isnan(t.values[0])
        and (t.constraints is None or all(c <= 0 for c in t.constraints))
    ]
    return min(ranked)[1] if ranked else None


@settings(max_examples=200, deadline=None)
@given(
    directions=st.sampled_from([["minimize"], ["maximize"], ["minimize", "maximize"]]),
    data=st.data(),
)
def test_counts_best_and_records_equal_a_recomputation(
    directions: list[str], data: st.DataObject
) -> None:
    state = StudyState()
    state.apply(_study(directions))
    events = data.draw(st.lists(_event(len(directions)), max_size=40))
    for seq, (kind, trial, payload) in enumerate(events, start=1):
        try:
            state.apply(Event(seq, float(seq), kind, trial, payload))
        except Exception:
            continue  # refused: the state is as it was, which the checks below also cover
        assert state.counts() == dict(Counter(t.state.value for t in state.trials.values()))
        assert state.best_number() == _brute_force_best(state)
        # Cached records are dropped when their trial changes.
        for number, held in state.trials.items():
            try:
                fresh = held.record()
            except ValueError:
                continue  # a state no record can hold (a NaN objective, say): never written
            assert state.record(number) == fresh


def test_a_tie_goes_to_the_lower_number_whatever_the_order_trials_finish_in() -> None:
    state = StudyState()
    state.apply(_study(["maximize"]))
    events = [
        ("trial_created", 3, {"origin": "ask"}),
        ("trial_finished", 3, {"attempt": 0, "state": "complete", "values": [1.0], "error": None}),
        ("trial_created", 1, {"origin": "ask"}),
        ("trial_finished", 1, {"attempt": 0, "state": "complete", "values": [1.0], "error": None}),
        ("trial_created", 2, {"origin": "ask"}),
        ("trial_finished", 2, {"attempt": 0, "state": "complete", "values": [0.5], "error": None}),
    ]
    for seq, (kind, trial, payload) in enumerate(events, start=1):
        state.apply(Event(seq, float(seq), kind, trial, payload))
    assert state.best_number() == 1
