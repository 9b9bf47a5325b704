"""ASHA configuration: validation, rungs, step checks, JSON."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raysweep.scheduling import ASHA, Scheduler, scheduler_from_json


@pytest.mark.parametrize(
    ("kwargs", "rungs"),
    [
        ({"max_resource": 27}, (1, 3, 9)),
        ({"max_resource": 28}, (1, 3, 9, 27)),
        ({"min_resource": 2, "max_resource": 100, "reduction_factor": 4}, (2, 8, 32)),
        ({"max_resource": 2, "reduction_factor": 2}, (1,)),
        ({"min_resource": 5, "max_resource": 6}, (5,)),
        ({"max_resource": 16, "reduction_factor": 2}, (1, 2, 4, 8)),
    ],
)
def test_decision_steps(kwargs: dict[str, int], rungs: tuple[int, ...]) -> None:
    assert ASHA(**kwargs).decision_steps() == rungs  # type: ignore[arg-type]


def test_defaults_and_value_semantics() -> None:
    asha = ASHA(max_resource=27)
    assert (asha.min_resource, asha.reduction_factor, asha.mode) == (1, 3, "stop")
    assert asha == ASHA(min_resource=1, max_resource=27, reduction_factor=3)
    assert hash(asha) == hash(ASHA(max_resource=27))
    assert asha != ASHA(max_resource=28)
    with pytest.raises(dataclasses.FrozenInstanceError):
        asha.max_resource = 81  # type: ignore[misc]
    with pytest.raises(TypeError):
        ASHA(1, 27)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_resource": 27.0}, TypeError, "max_resource must be an int, got 27.0"),
        ({"max_resource": 27, "min_resource": True}, TypeError, "min_resource must be an int"),
        ({"max_resource": 27, "reduction_factor": "3"}, TypeError, "reduction_factor must be"),
        ({"max_resource": 27, "min_resource": 0}, ValueError, "min_resource must be at least 1"),
        ({"max_resource": 3, "min_resource": 3}, ValueError, "raise max_resource"),
        ({"max_resource": 2, "min_resource": 3}, ValueError, r"max_resource \(2\) must be greater"),
        ({"max_resource": 27, "reduction_factor": 1}, ValueError, "reduction_factor must be at"),
        ({"max_resource": 27, "mode": "pause"}, ValueError, r"mode 'pause' is unknown.*'stop'"),
        ({"max_resource": 27, "mode": "Stop"}, ValueError, r"pass one of 'stop' .*; 'promote'"),
        ({"max_resource": 27, "mode": None}, TypeError, "mode must be a str"),
    ],
)
def test_validation_messages(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ASHA(**kwargs)  # type: ignore[arg-type]


def test_max_resource_is_required() -> None:
    with pytest.raises(TypeError, match="max_resource"):
        ASHA()  # type: ignore[call-arg]


def test_validate_step() -> None:
    asha = ASHA(max_resource=27)
    asha.validate_step(1)
    asha.validate_step(27)
    with pytest.raises(ValueError) as raised:
        asha.validate_step(30)
    assert str(raised.value) == (
        "step 30 is beyond max_resource=27; report at most up to max_resource or raise max_resource"
    )
    with pytest.raises(ValueError, match="step 0 is below 1"):
        asha.validate_step(0)
    with pytest.raises(TypeError, match="step must be an int"):
        asha.validate_step(True)
    with pytest.raises(TypeError, match="step must be an int"):
        asha.validate_step(2.0)  # type: ignore[arg-type]


def test_invalid_report_changes_nothing() -> None:
    state = ASHA(max_resource=27).new_state(maximize=True)
    with pytest.raises(ValueError, match="beyond max_resource"):
        state.on_report(0, 0, 28, 0.9)
    # Had the bad report been recorded, trial 1 would be compared with 0.9 and stopped.
    decision = state.on_report(1, 0, 1, 0.1)
    assert "only one at rung 1" in decision.reason


configs = st.builds(
    ASHA,
    min_resource=st.integers(1, 50),
    max_resource=st.integers(51, 10_000),
    reduction_factor=st.integers(2, 10),
    mode=st.sampled_from(["stop", "promote"]),
)


@given(configs)
def test_json_round_trip(asha: ASHA) -> None:
    d = json.loads(json.dumps(asha.to_json()))
    assert d["type"] == "asha"
    back: Scheduler = scheduler_from_json(d)
    assert back == asha
    assert back.decision_steps() == asha.decision_steps()


@given(configs)
def test_rungs_follow_the_geometric_ladder(asha: ASHA) -> None:
    rungs = asha.decision_steps()
    assert rungs[0] == asha.min_resource
    assert rungs[-1] < asha.max_resource <= rungs[-1] * asha.reduction_factor
    assert all(b == a * asha.reduction_factor for a, b in itertools.pairwise(rungs))


def test_from_json_errors_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown scheduler type 'hyperbnad'"):
        scheduler_from_json({"type": "hyperbnad"})
    with pytest.raises(ValueError, match="unknown scheduler type None"):
        scheduler_from_json({"max_resource": 27})
    with pytest.raises(
        ValueError, match=r"missing keys for scheduler type 'asha': \['max_resource'\]"
    ):
        scheduler_from_json({"type": "asha"})
    with pytest.raises(ValueError, match=r"unknown keys .*\['grace_period'\]"):
        scheduler_from_json({"type": "asha", "max_resource": 27, "grace_period": 1})
    with pytest.raises(ValueError, match="mode 'pause' is unknown"):
        scheduler_from_json({"type": "asha", "max_resource": 27, "mode": "pause"})
