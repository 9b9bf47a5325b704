"""PercentileStopping and MedianStopping configuration: validation, value semantics, JSON."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from raysweep.scheduling import MedianStopping, PercentileStopping, scheduler_from_json


def test_defaults_and_value_semantics() -> None:
    rule = PercentileStopping()
    assert (rule.percentile, rule.warmup_steps, rule.min_trials, rule.interval_steps) == (
        25.0,
        0,
        5,
        1,
    )
    assert rule.max_resource is None
    assert PercentileStopping(percentile=25) == rule
    assert isinstance(PercentileStopping(percentile=25).percentile, float)
    assert hash(MedianStopping()) == hash(MedianStopping())
    assert MedianStopping().percentile == 50.0
    assert MedianStopping() != PercentileStopping(percentile=50.0)
    assert "percentile" not in repr(MedianStopping())
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.percentile = 10.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        MedianStopping(percentile=40.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        PercentileStopping(10.0)  # type: ignore[call-arg]
    numpy_int = PercentileStopping(warmup_steps=np.int64(3))  # type: ignore[arg-type]
    assert type(numpy_int.warmup_steps) is int


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"percentile": -1.0}, ValueError, "percentile must be between 0 and 100, got -1.0"),
        ({"percentile": 100.5}, ValueError, "percentile must be between 0 and 100"),
        ({"percentile": math.nan}, ValueError, "percentile must be between 0 and 100, got nan"),
        ({"percentile": "25"}, TypeError, "percentile must be a number, got '25'"),
        ({"percentile": True}, TypeError, "percentile must be a number"),
        ({"warmup_steps": -1}, ValueError, "warmup_steps must be at least 0, got -1"),
        ({"warmup_steps": 1.0}, TypeError, "warmup_steps must be an int, got 1.0"),
        ({"min_trials": 0}, ValueError, "min_trials must be at least 1, got 0"),
        ({"min_trials": False}, TypeError, "min_trials must be an int, got False"),
        ({"interval_steps": 0}, ValueError, "interval_steps must be at least 1"),
        ({"interval_steps": None}, TypeError, "interval_steps must be an int, got None"),
        ({"max_resource": 10.0}, TypeError, "max_resource must be an int or None, got 10.0"),
        ({"max_resource": True}, TypeError, "max_resource must be an int or None"),
        ({"max_resource": 3, "warmup_steps": 3}, ValueError, r"max_resource \(3\) must be great"),
        ({"max_resource": 0}, ValueError, r"lower warmup_steps, or pass the step at which"),
    ],
)
def test_validation_messages(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        PercentileStopping(**kwargs)  # type: ignore[arg-type]
    assert str(raised.value).startswith("PercentileStopping ")
    if "percentile" not in kwargs:
        with pytest.raises(error, match=message) as raised:
            MedianStopping(**kwargs)  # type: ignore[arg-type]
        assert str(raised.value).startswith("MedianStopping ")


def test_steps_and_reports_are_validated() -> None:
    state = MedianStopping(max_resource=5).new_state(maximize=True)
    state.on_report(0, 0, 5, 1.0)
    with pytest.raises(ValueError, match="step 6 is beyond max_resource=5"):
        state.on_report(0, 0, 6, 1.0)
    with pytest.raises(ValueError, match="step 0 is below 1"):
        MedianStopping().new_state(maximize=True).on_report(0, 0, 0, 1.0)
    with pytest.raises(TypeError, match="value must be a real number"):
        state.on_report(0, 0, 1, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="maximize must be a bool"):
        MedianStopping().new_state(maximize=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rule",
    [
        PercentileStopping(),
        PercentileStopping(percentile=12.5, warmup_steps=3, min_trials=1, interval_steps=4),
        PercentileStopping(percentile=0.1, max_resource=100),
        MedianStopping(),
        MedianStopping(warmup_steps=10, min_trials=2, interval_steps=5, max_resource=50),
    ],
)
def test_json_round_trip(rule: PercentileStopping) -> None:
    text = json.dumps(rule.to_json())
    back = scheduler_from_json(json.loads(text))
    assert back == rule
    assert type(back) is type(rule)


def test_json_forms() -> None:
    assert MedianStopping().to_json() == {
        "type": "median",
        "warmup_steps": 0,
        "min_trials": 5,
        "interval_steps": 1,
        "max_resource": None,
    }
    assert PercentileStopping(percentile=10).to_json() == {
        "type": "percentile",
        "percentile": 10.0,
        "warmup_steps": 0,
        "min_trials": 5,
        "interval_steps": 1,
        "max_resource": None,
    }
    with pytest.raises(ValueError, match=r"unknown keys for scheduler type 'median': \['perc"):
        scheduler_from_json({"type": "median", "percentile": 50.0})
    with pytest.raises(ValueError, match="percentile must be between 0 and 100"):
        scheduler_from_json({"type": "percentile", "percentile": 150})
