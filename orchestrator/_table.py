"""The trials of a study as a plain Arrow table (pandas, Polars and DuckDB read it directly)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from raysweep.orchestrator._core._hardware_use import TALLY_KEYS
from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    TrialRecord,
)


def _param_type(distributions: list[Distribution]) -> pa.DataType:
    if all(isinstance(d, FloatDistribution) for d in distributions):
        return pa.float64()
    if all(not isinstance(d, (FloatDistribution, CategoricalDistribution)) for d in distributions):
        return pa.int64()
    choices = [
        c for d in distributions if isinstance(d, CategoricalDistribution) for c in d.choices
    ]
    kinds = {type(c) for c in choices if c is not None}
    if kinds and kinds <= {str}:
        return pa.string()
    if kinds == {bool}:
        return pa.bool_()
    # Mixed choices (None, 1, "a") have no single Arrow type: keep them as JSON text.
    return pa.string()


def _param_value(value: Any, arrow_type: pa.DataType) -> Any:
    if value is None or arrow_type != pa.string() or isinstance(value, str):
        return value
    return json.dumps(value)


def _timestamp(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1_000_000)


def trials_table(
    records: Sequence[TrialRecord],
    n_objectives: int,
    placements: Mapping[int, Mapping[str, Any]] | None = None,
    hardware: Mapping[int, Mapping[str, Any]] | None = None,
) -> pa.Table:
    """`placements`: where each trial's latest attempt ran (`Placement.to_json`), by number;
    `hardware`: what its ended attempts held and used (`_hardware_use` tallies), by number."""
    where = placements or {}
    used = hardware or {}
    columns: dict[str, pa.Array] = {
        "number": pa.array([r.number for r in records], pa.int64()),
        "state": pa.array([r.state.value for r in records], pa.string()),
        "attempt": pa.array([r.attempt for r in records], pa.int64()),
    }
    value_names = ["value"] if n_objectives == 1 else [f"values_{i}" for i in range(n_objectives)]
    for i, name in enumerate(value_names):
        columns[name] = pa.array(
            [r.values[i] if r.values is not None else None for r in records], pa.float64()
        )
    for column in ("datetime_start", "datetime_complete"):
        columns[column] = pa.array(
            [_timestamp(getattr(r, column)) for r in records], pa.timestamp("us", tz="UTC")
        )
    columns["duration_s"] = pa.array(
        [
            r.datetime_complete - r.datetime_start
            if r.datetime_complete is not None and r.datetime_start is not None
            else None
            for r in records
        ],
        pa.float64(),
    )
    names = sorted({name for r in records for name in r.params})
    for name in names:
        dists = [r.distributions[name] for r in records if name in r.distributions]
        arrow_type = _param_type(dists)
        columns[f"params_{name}"] = pa.array(
            [_param_value(r.params.get(name), arrow_type) for r in records], arrow_type
        )
    columns["last_step"] = pa.array(
        [max(r.intermediate_values) if r.intermediate_values else None for r in records],
        pa.int64(),
    )
    columns["intermediate_values"] = pa.array(
        [
            [{"step": s, "value": v} for s, v in sorted(r.intermediate_values.items())]
            for r in records
        ],
        pa.list_(pa.struct([("step", pa.int64()), ("value", pa.float64())])),
    )
    attr_keys = sorted({k for r in records for k in r.user_attrs})
    for key in attr_keys:
        columns[f"user_attrs_{key}"] = pa.array(
            [json.dumps(r.user_attrs[key]) if key in r.user_attrs else None for r in records],
            pa.string(),
        )
    columns["placement_resources"] = pa.array(
        [
            json.dumps(where[r.number]["resources"], sort_keys=True) if r.number in where else None
            for r in records
        ],
        pa.string(),
    )
    columns["placement_nodes"] = pa.array(
        [list(where[r.number]["nodes"]) if r.number in where else None for r in records],
        pa.list_(pa.string()),
    )
    columns["placement_slice"] = pa.array(
        [where[r.number].get("slice_name") if r.number in where else None for r in records],
        pa.string(),
    )
    for key in TALLY_KEYS:
        columns[key] = pa.array(
            [used[r.number].get(key) if r.number in used else None for r in records],
            pa.float64(),
        )
    columns["error"] = pa.array([r.error for r in records], pa.string())
    return pa.table(columns)
