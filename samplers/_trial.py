"""Trial records: the immutable, JSON-typed facts about one trial that samplers read."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution, distribution_from_json
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._int import IntDistribution
from raysweep.samplers._jsonvalues import (
    as_json_scalar,
    as_json_value,
    as_objective,
    decode_objective,
    encode_objective,
)


class TrialState(enum.Enum):
    """Where a trial is in its life; PRUNED, COMPLETE and FAILED are final."""

    WAITING = "waiting"
    RUNNING = "running"
    PAUSED = "paused"
    PRUNED = "pruned"
    COMPLETE = "complete"
    FAILED = "failed"

    def is_finished(self) -> bool:
        return self in (TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAILED)


class StudyDirection(enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


_DISTRIBUTION_TYPES = (FloatDistribution, IntDistribution, CategoricalDistribution)
_REQUIRED_KEYS = frozenset({"number", "state", "params", "distributions"})


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the event log knows it; every field is a plain JSON-compatible value.

    ``params`` holds external values (what the objective saw) and has exactly the names of
    ``distributions``, the distribution each value was drawn from. Objective values and
    intermediate values may be infinite; objective values are never NaN (such a trial is recorded
    FAILED) while an intermediate value may be (a diverged run; schedulers rank it worst); and a
    COMPLETE trial has ``values``. ``constraints`` are the values a constrained study reported for
    the trial (feasible when every one is <= 0), never NaN; ``None`` when none were reported.
    The mappings are copied on construction, so a record does not change when the dicts it was
    built from do.
    """

    number: int
    state: TrialState
    params: Mapping[str, Any]
    distributions: Mapping[str, Distribution]
    values: tuple[float, ...] | None = None
    constraints: tuple[float, ...] | None = None
    intermediate_values: Mapping[int, float] = field(default_factory=dict)
    attempt: int = 0
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    datetime_start: float | None = None
    datetime_complete: float | None = None

    def __post_init__(self) -> None:
        where = f"trial {self.number!r}"
        _check_count(where, "number", self.number)
        _check_count(where, "attempt", self.attempt)
        if not isinstance(self.state, TrialState):
            raise ValueError(f"{where}: state {self.state!r} is not a TrialState")
        distributions = dict(self.distributions)
        for name, distribution in distributions.items():
            if not isinstance(name, str) or not isinstance(distribution, _DISTRIBUTION_TYPES):
                raise ValueError(f"{where}: distributions[{name!r}] is not a str -> Distribution")
        params = {
            name: _param(where, name, value, distributions) for name, value in self.params.items()
        }
        if params.keys() != distributions.keys():
            raise ValueError(
                f"{where}: params {sorted(params)} and distributions {sorted(distributions)} "
                "must name the same parameters"
            )
        values = None
        if self.values is not None:
            values = tuple(_objective(where, "values", v) for v in self.values)
            if not values:
                raise ValueError(f"{where}: values is empty; pass None when there is no result")
        elif self.state is TrialState.COMPLETE:
            raise ValueError(f"{where}: a COMPLETE trial needs values")
        constraints = None
        if self.constraints is not None:
            constraints = tuple(_constraint(where, i, c) for i, c in enumerate(self.constraints))
            if not constraints:
                raise ValueError(f"{where}: constraints is empty; pass None when there are none")
        intermediate: dict[int, float] = {}
        for step, value in self.intermediate_values.items():
            _check_count(where, "an intermediate step", step)
            intermediate[step] = _intermediate(where, step, value)
        if self.error is not None and not isinstance(self.error, str):
            raise ValueError(f"{where}: error {self.error!r} is not a str")
        set_field = object.__setattr__
        set_field(self, "params", params)
        set_field(self, "distributions", distributions)
        set_field(self, "values", values)
        set_field(self, "constraints", constraints)
        set_field(self, "intermediate_values", intermediate)
        set_field(self, "user_attrs", as_json_value(self.user_attrs, f"{where}: user_attrs"))
        for name in ("datetime_start", "datetime_complete"):
            set_field(self, name, _timestamp(where, name, getattr(self, name)))

    @classmethod
    def unchecked(
        cls,
        number: int,
        state: TrialState,
        params: dict[str, Any],
        distributions: dict[str, Distribution],
        values: tuple[float, ...] | None,
        constraints: tuple[float, ...] | None,
        intermediate_values: dict[int, float],
        attempt: int,
        user_attrs: dict[str, Any],
        error: str | None,
        datetime_start: float | None,
        datetime_complete: float | None,
    ) -> TrialRecord:
        """A record of values that already hold to the rules above, as the keeper of a study's
        state has them (it checked each on its way in), built without checking them again:
        checking costs more than building, and a study hands out every record to its sampler.
        The dicts become the record's own: pass copies."""
        record = object.__new__(cls)
        vars(record).update(
            number=number,
            state=state,
            params=params,
            distributions=distributions,
            values=values,
            constraints=constraints,
            intermediate_values=intermediate_values,
            attempt=attempt,
            user_attrs=user_attrs,
            error=error,
            datetime_start=datetime_start,
            datetime_complete=datetime_complete,
        )
        return record

    @property
    def value(self) -> float | None:
        """The objective value of a single-objective trial, or None when it has no result."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise RuntimeError(
                f"trial {self.number} has {len(self.values)} objective values; "
                "read .values in a multi-objective study"
            )
        return self.values[0]

    @property
    def feasible(self) -> bool:
        """False when a reported constraint is positive; a trial without constraints is feasible."""
        return self.constraints is None or all(c <= 0.0 for c in self.constraints)

    def to_json(self) -> dict[str, Any]:
        """Strict JSON (no NaN/Infinity literals) that :func:`trial_record_from_json` reads."""
        return {
            "number": self.number,
            "state": self.state.value,
            "params": dict(self.params),
            "distributions": {name: d.to_json() for name, d in self.distributions.items()},
            "values": None if self.values is None else [encode_objective(v) for v in self.values],
            "constraints": None
            if self.constraints is None
            else [encode_objective(c) for c in self.constraints],
            "intermediate_values": {
                str(step): encode_objective(v) for step, v in self.intermediate_values.items()
            },
            "attempt": self.attempt,
            "user_attrs": as_json_value(self.user_attrs, "user_attrs"),
            "error": self.error,
            "datetime_start": self.datetime_start,
            "datetime_complete": self.datetime_complete,
        }


def trial_record_from_json(data: Mapping[str, Any]) -> TrialRecord:
    """Rebuild a record from :meth:`TrialRecord.to_json`; optional keys may be absent."""
    if not isinstance(data, Mapping):
        raise ValueError(f"not a trial record: {data!r} is not a JSON object")
    for key in ("params", "distributions", "intermediate_values", "user_attrs"):
        if not isinstance(data.get(key, {}), Mapping):
            raise ValueError(f"not a trial record: {key!r} is not a JSON object")
    for key in ("values", "constraints"):
        if not isinstance(data.get(key, []), (list, type(None))):
            raise ValueError(f"not a trial record: {key!r} is neither an array nor null")
    unknown = set(data) - set(TrialRecord.__dataclass_fields__)
    missing = _REQUIRED_KEYS - set(data)
    if unknown or missing:
        raise ValueError(
            f"not a trial record: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}"
        )
    values = data.get("values")
    constraints = data.get("constraints")
    return TrialRecord(
        number=data["number"],
        state=TrialState(data["state"]),
        params=data["params"],
        distributions={k: distribution_from_json(d) for k, d in data["distributions"].items()},
        values=None if values is None else tuple(decode_objective(v) for v in values),
        constraints=None
        if constraints is None
        else tuple(decode_objective(c) for c in constraints),
        intermediate_values={
            _step_from_json(step): decode_objective(v)
            for step, v in data.get("intermediate_values", {}).items()
        },
        attempt=data.get("attempt", 0),
        user_attrs=data.get("user_attrs", {}),
        error=data.get("error"),
        datetime_start=data.get("datetime_start"),
        datetime_complete=data.get("datetime_complete"),
    )


def _check_count(where: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {name} {value!r} is not a non-negative int")


def _param(where: str, name: str, value: object, distributions: Mapping[str, Distribution]) -> Any:
    try:
        result = as_json_scalar(value)
        if name in distributions:
            distributions[name].to_internal(result)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"{where}: params[{name!r}]: {exc}") from None
    return result


def _objective(where: str, name: str, value: object) -> float:
    try:
        return as_objective(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {name}: {exc}") from None


def _constraint(where: str, index: int, value: object) -> float:
    numeric = (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, numeric) or math.isnan(float(value)):
        raise ValueError(
            f"{where}: constraints[{index}] is {value!r}; each constraint value must be a number, "
            "not NaN (<= 0 when the constraint is satisfied, > 0 by how much it is violated)"
        )
    return float(value)


def _intermediate(where: str, step: int, value: object) -> float:
    # A diverged run may report NaN; schedulers rank it worst, so it is kept, unlike a NaN result.
    if isinstance(value, float) and math.isnan(value):
        return value
    return _objective(where, f"intermediate_values[{step}]", value)


def _timestamp(where: str, name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {name} {value!r} is not unix seconds (a finite number)")
    return float(value)


def _step_from_json(step: object) -> int:
    if not isinstance(step, str) or not (step.isascii() and step.isdigit()):
        raise ValueError(f"intermediate step {step!r} is not a non-negative int as a JSON key")
    return int(step)
