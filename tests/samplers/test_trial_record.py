"""TrialRecord: validation, the ``value`` property, and strict-JSON round trips."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    TrialRecord,
    TrialState,
    trial_record_from_json,
)

ACTIVATION = CategoricalDistribution(["relu", "gelu", None, True, 3, 2.5])
SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "layers": IntDistribution(1, 8),
    "act": ACTIVATION,
}


def _record(**changes: Any) -> TrialRecord:
    fields: dict[str, Any] = {
        "number": 3,
        "state": TrialState.COMPLETE,
        "params": {"lr": 0.01, "layers": 4, "act": "gelu"},
        "distributions": SPACE,
        "values": (0.25,),
    }
    fields.update(changes)
    return TrialRecord(**fields)


def _through_json(record: TrialRecord) -> TrialRecord:
    return trial_record_from_json(json.loads(json.dumps(record.to_json(), allow_nan=False)))


objectives = st.floats(allow_nan=False)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    state=st.sampled_from(TrialState),
    act=st.sampled_from(ACTIVATION.choices),
    values=st.none() | st.lists(objectives, min_size=1, max_size=3).map(tuple),
    intermediate=st.dictionaries(st.integers(0, 10**6), objectives, max_size=4),
    attempt=st.integers(0, 5),
    user_attrs=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    error=st.none() | st.text(),
    start=st.none() | st.floats(0, 2e9),
)
def test_json_round_trip_gives_an_equal_record(
    state: TrialState,
    act: Any,
    values: tuple[float, ...] | None,
    intermediate: dict[int, float],
    attempt: int,
    user_attrs: dict[str, Any],
    error: str | None,
    start: float | None,
) -> None:
    if state is TrialState.COMPLETE and values is None:
        values = (1.0,)
    record = _record(
        state=state,
        params={"lr": 0.01, "layers": 4, "act": act},
        values=values,
        intermediate_values=intermediate,
        attempt=attempt,
        user_attrs=user_attrs,
        error=error,
        datetime_start=start,
        datetime_complete=None if start is None else start + 1.5,
    )
    again = _through_json(record)
    assert again == record
    assert type(again.params["act"]) is type(act)
    assert again.to_json() == record.to_json()


def test_infinite_objectives_travel_as_strict_json() -> None:
    record = _record(values=(math.inf, -math.inf), intermediate_values={0: math.inf})
    text = json.dumps(record.to_json(), allow_nan=False)
    assert '"Infinity"' in text and '"-Infinity"' in text
    assert _through_json(record).values == (math.inf, -math.inf)


def test_defaults_and_optional_keys() -> None:
    record = TrialRecord(number=0, state=TrialState.WAITING, params={}, distributions={})
    assert (record.values, record.attempt, record.error) == (None, 0, None)
    assert record.intermediate_values == {} and record.user_attrs == {}
    minimal = {"number": 0, "state": "waiting", "params": {}, "distributions": {}}
    assert trial_record_from_json(minimal) == record


def test_value_of_single_objective_and_missing_result() -> None:
    assert _record(values=(0.5,)).value == 0.5
    assert _record(state=TrialState.RUNNING, values=None).value is None


def test_value_refuses_multi_objective_records() -> None:
    with pytest.raises(RuntimeError, match=r"trial 3 has 2 objective values; read \.values"):
        _ = _record(values=(0.5, 1.0)).value


def test_record_copies_its_mappings() -> None:
    params = {"lr": 0.01, "layers": 4, "act": "gelu"}
    attrs: dict[str, Any] = {"tags": ("a", "b")}
    record = _record(params=params, user_attrs=attrs)
    params["layers"] = 5
    attrs["tags"] = None
    assert record.params["layers"] == 4
    assert record.user_attrs == {"tags": ["a", "b"]}  # tuples become lists, as JSON has them


def test_numbers_are_normalized() -> None:
    record = _record(values=[1], intermediate_values={2: 3}, datetime_start=10)
    assert record.values == (1.0,) and type(record.values[0]) is float
    assert type(record.intermediate_values[2]) is float
    assert record.datetime_start == 10.0


def test_nan_intermediate_value_is_kept_and_round_trips() -> None:
    # A diverged run reports NaN; the scheduler ranks it worst, so the record keeps it.
    record = _record(intermediate_values={1: 0.5, 2: math.nan})
    again = trial_record_from_json(json.loads(json.dumps(record.to_json(), allow_nan=False)))
    assert again.intermediate_values[1] == 0.5
    assert math.isnan(again.intermediate_values[2])


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"number": -1}, "number -1 is not a non-negative int"),
        ({"number": True}, "number True"),
        ({"attempt": 1.5}, "attempt 1.5"),
        ({"state": "complete"}, "is not a TrialState"),
        ({"values": None}, "a COMPLETE trial needs values"),
        ({"values": ()}, "values is empty"),
        ({"values": (math.nan,)}, "NaN; record the trial as FAILED"),
        ({"values": ("1",)}, "is not a number"),
        ({"intermediate_values": {1: "0.5"}}, "intermediate_values[1]"),
        ({"intermediate_values": {-1: 0.5}}, "intermediate step -1"),
        ({"params": {"lr": 0.01, "layers": 4}}, "must name the same parameters"),
        ({"params": {"lr": 0.01, "layers": 4, "act": "tanh"}}, "params['act']"),
        ({"params": {"lr": "x", "layers": 4, "act": "gelu"}}, "params['lr']"),
        ({"params": {"lr": [0.1], "layers": 4, "act": "gelu"}}, "not a JSON scalar"),
        ({"distributions": {**SPACE, "lr": (0, 1)}}, "distributions['lr']"),
        ({"user_attrs": {"x": object()}}, "user_attrs['x']"),
        ({"user_attrs": {"x": math.inf}}, "not a finite number"),
        ({"user_attrs": {1: "a"}}, "keys must be str"),
        ({"error": 42}, "error 42 is not a str"),
        ({"datetime_start": math.nan}, "datetime_start nan is not unix seconds"),
    ],
)
def test_invalid_record_is_refused(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        _record(**changes)
    assert fragment in str(info.value)
    assert "trial" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"extra": 1}, "unknown keys ['extra']"),
        ({"state": "done"}, "'done' is not a valid TrialState"),
        ({"intermediate_values": {"x": 1.0}}, "intermediate step 'x'"),
        ({"values": ["NaN"]}, "NaN"),
        ({"values": 0.5}, "'values' is neither an array nor null"),
        ({"distributions": [1]}, "'distributions' is not a JSON object"),
    ],
)
def test_from_json_refuses_malformed_records(changes: dict[str, Any], fragment: str) -> None:
    data = {**_record().to_json(), **changes}
    with pytest.raises(ValueError) as info:
        trial_record_from_json(data)
    assert fragment in str(info.value)


def test_from_json_names_missing_keys() -> None:
    with pytest.raises(ValueError, match=r"missing keys \['distributions', 'params'\]"):
        trial_record_from_json({"number": 0, "state": "waiting"})


def test_states() -> None:
    assert [s.value for s in TrialState] == [
        "waiting",
        "running",
        "paused",
        "pruned",
        "complete",
        "failed",
    ]
    finished = {s for s in TrialState if s.is_finished()}
    assert finished == {TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAILED}
