"""Every shipped scheduler's JSON form: pinned as raysweep 0.1 wrote it, and round-tripped.

A study's log stores ``to_json()`` in its ``study_created`` event, and ``scheduler_from_json``
must read what older versions wrote, so the keys, their order and the value types are pinned
here (captured before ``to_json`` was derived from the dataclass fields).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import raysweep.scheduling as scheduling
from raysweep.scheduling import (
    ASHA,
    Hyperband,
    MedianStopping,
    NoPruning,
    PercentileStopping,
    Scheduler,
    scheduler_from_json,
)

PINNED: list[tuple[Callable[[], Scheduler], dict[str, Any]]] = [
    (lambda: NoPruning(), {"type": "no_pruning"}),
    (
        lambda: ASHA(max_resource=9),
        {
            "type": "asha",
            "min_resource": 1,
            "max_resource": 9,
            "reduction_factor": 3,
            "mode": "stop",
        },
    ),
    (
        lambda: ASHA(min_resource=2, max_resource=50, reduction_factor=4, mode="promote"),
        {
            "type": "asha",
            "min_resource": 2,
            "max_resource": 50,
            "reduction_factor": 4,
            "mode": "promote",
        },
    ),
    (
        lambda: ASHA(min_resource=np.int64(2), max_resource=50),
        {
            "type": "asha",
            "min_resource": 2,
            "max_resource": 50,
            "reduction_factor": 3,
            "mode": "stop",
        },
    ),
    (
        lambda: Hyperband(max_resource=81),
        {
            "type": "hyperband",
            "min_resource": 1,
            "max_resource": 81,
            "reduction_factor": 3,
            "mode": "stop",
            "brackets": 5,
        },
    ),
    (
        lambda: Hyperband(
            min_resource=3, max_resource=100, reduction_factor=2, mode="promote", brackets=2
        ),
        {
            "type": "hyperband",
            "min_resource": 3,
            "max_resource": 100,
            "reduction_factor": 2,
            "mode": "promote",
            "brackets": 2,
        },
    ),
    (
        lambda: MedianStopping(),
        {
            "type": "median",
            "warmup_steps": 0,
            "min_trials": 5,
            "interval_steps": 1,
            "max_resource": None,
        },
    ),
    (
        lambda: MedianStopping(warmup_steps=3, min_trials=2, interval_steps=4, max_resource=40),
        {
            "type": "median",
            "warmup_steps": 3,
            "min_trials": 2,
            "interval_steps": 4,
            "max_resource": 40,
        },
    ),
    (
        lambda: PercentileStopping(),
        {
            "type": "percentile",
            "percentile": 25.0,
            "warmup_steps": 0,
            "min_trials": 5,
            "interval_steps": 1,
            "max_resource": None,
        },
    ),
    (
        lambda: PercentileStopping(
            percentile=10, warmup_steps=1, min_trials=1, interval_steps=2, max_resource=9
        ),
        {
            "type": "percentile",
            "percentile": 10.0,
            "warmup_steps": 1,
            "min_trials": 1,
            "interval_steps": 2,
            "max_resource": 9,
        },
    ),
    (
        lambda: PercentileStopping(percentile=np.float64(33.3), min_trials=np.int64(3)),
        {
            "type": "percentile",
            "percentile": 33.3,
            "warmup_steps": 0,
            "min_trials": 3,
            "interval_steps": 1,
            "max_resource": None,
        },
    ),
]


@pytest.mark.parametrize(("make", "expected"), PINNED)
def test_json_form_is_unchanged(make: Callable[[], Scheduler], expected: dict[str, Any]) -> None:
    scheduler = make()
    # Text, not dicts: the key order and the types (1 against 1.0) are part of the form.
    assert json.dumps(scheduler.to_json()) == json.dumps(expected)
    assert scheduler_from_json(expected) == scheduler


def test_the_0_1_log_reads_back() -> None:
    # The scheduler of tests/orchestrator/data/study_v1, as its study_created event stores it.
    stored = '{"type":"asha","min_resource":1,"max_resource":9,"reduction_factor":3,"mode":"stop"}'
    scheduler = scheduler_from_json(json.loads(stored))
    assert scheduler == ASHA(max_resource=9)
    assert json.dumps(scheduler.to_json(), separators=(",", ":")) == stored


# Every constructor argument of every shipped scheduler, each away from its default.
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "ASHA": {"min_resource": 2, "max_resource": 50, "reduction_factor": 4, "mode": "promote"},
    "Hyperband": {
        "min_resource": 3,
        "max_resource": 100,
        "reduction_factor": 2,
        "mode": "promote",
        "brackets": 2,
    },
    "MedianStopping": {"warmup_steps": 3, "min_trials": 2, "interval_steps": 4, "max_resource": 40},
    "NoPruning": {},
    "PercentileStopping": {
        "percentile": 10.0,
        "warmup_steps": 1,
        "min_trials": 1,
        "interval_steps": 2,
        "max_resource": 9,
    },
}

SHIPPED = sorted(
    name
    for name in scheduling.__all__
    if isinstance(getattr(scheduling, name), type)
    and issubclass(getattr(scheduling, name), Scheduler)
    and not inspect.isabstract(getattr(scheduling, name))
)


def test_every_shipped_scheduler_is_covered() -> None:
    assert sorted(NON_DEFAULT) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_argument_round_trips_through_json(name: str) -> None:
    cls = getattr(scheduling, name)
    arguments = NON_DEFAULT[name]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    # A new argument must be added above, with a value other than its default.
    assert [f.name for f in fields] == list(arguments)
    for f in fields:
        assert arguments[f.name] != f.default, f"{name}.{f.name} is at its default"
    scheduler = cls(**arguments)
    data = json.loads(json.dumps(scheduler.to_json()))
    assert data == {"type": cls.json_type, **arguments}
    assert scheduler_from_json(data) == scheduler
    assert "to_json" not in vars(cls), f"{name} writes to_json by hand; let Scheduler derive it"


def test_a_scheduler_that_is_not_a_dataclass_must_write_its_own_form() -> None:
    class Plain(Scheduler):
        def decision_steps(self) -> tuple[int, ...]:
            return ()

        def new_state(self, *, maximize: bool) -> Any:
            raise NotImplementedError

    with pytest.raises(TypeError, match="dataclass with a json_type"):
        Plain().to_json()


def test_numpy_ints_are_stored_as_plain_ints() -> None:
    for scheduler in (
        ASHA(min_resource=np.int64(2), max_resource=np.int64(9)),
        Hyperband(max_resource=np.int64(81), brackets=np.int64(2)),
        PercentileStopping(max_resource=np.int64(9)),
    ):
        values = [v for k, v in scheduler.to_json().items() if k != "type" and v is not None]
        assert all(type(v) in (int, float, str) for v in values), scheduler
    assert MedianStopping(min_trials=np.int64(3)).to_json()["min_trials"] == 3
