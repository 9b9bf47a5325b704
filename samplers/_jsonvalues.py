"""Checks and conversions that keep every stored value plain, strict JSON.

The event log stores records as JSON text that other tools (DuckDB, Polars) parse, so nothing here
emits ``NaN`` or ``Infinity`` literals, which Python's ``json`` writes but strict parsers reject.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import numpy as np

# A value that survives json.dumps/json.loads with its type. None comes first to read as the
# JSON types do (null, bool, number, string).
CategoricalChoice: TypeAlias = None | bool | int | float | str  # noqa: RUF036

# Objective values may legitimately be infinite (a diverged loss); strict JSON has no literal for
# that, so they travel as these strings. NaN is never stored: such a trial is FAILED instead.
_INFINITIES = {"Infinity": math.inf, "-Infinity": -math.inf}


def as_json_scalar(value: object) -> CategoricalChoice:
    """Return ``value`` as a builtin JSON scalar, or raise ``ValueError`` saying why it is not one.

    numpy scalars are converted to their builtin equivalents (users often build choices with
    ``np.linspace``); subclasses such as ``IntEnum`` are rejected, since they would come back from
    JSON as their base type and no longer compare as the same choice.
    """
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        value = value.item()
    if value is None or type(value) is bool or type(value) is int or type(value) is str:
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number, and JSON cannot store it")
        return value
    raise ValueError(
        f"{value!r} of type {type(value).__name__} is not a JSON scalar "
        "(None, bool, int, float or str); pass a plain value, e.g. an enum's .value"
    )


def scalar_key(value: CategoricalChoice) -> tuple[str, CategoricalChoice]:
    """A key under which two scalars collide exactly when they are the same choice.

    ``True == 1`` in Python but JSON keeps them apart, so bools get their own kind; ``1`` and
    ``1.0`` are one number to JSON consumers, so they share the kind "number" and collide.
    """
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return ("str", value)


def typed_key(value: CategoricalChoice) -> tuple[str, CategoricalChoice]:
    """Like :func:`scalar_key`, but ``1`` and ``1.0`` differ: equality that survives JSON."""
    return (type(value).__name__, value)


def distinct_json_scalars(
    values: Iterable[object],
    *,
    not_scalar: Callable[[int, ValueError], ValueError],
    repeated: Callable[[int, object, int, object], ValueError],
) -> tuple[CategoricalChoice, ...]:
    """``values`` as JSON scalars, each a different JSON value (see :func:`scalar_key`).

    The caller words the error: ``not_scalar(index, why)`` for a value that is no JSON scalar,
    ``repeated(earlier, earlier_value, index, value)`` for one equal to an earlier one (the
    values as given).
    """
    given: list[object] = []
    checked: list[CategoricalChoice] = []
    first: dict[tuple[str, CategoricalChoice], int] = {}
    for index, value in enumerate(values):
        given.append(value)
        try:
            scalar = as_json_scalar(value)
        except ValueError as exc:
            raise not_scalar(index, exc) from None
        earlier = first.setdefault(scalar_key(scalar), index)
        if earlier != index:
            raise repeated(earlier, given[earlier], index, value)
        checked.append(scalar)
    return tuple(checked)


def encode_objective(value: float) -> float | str:
    """Encode a float for strict JSON, infinities (and NaN) as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_objective(value: object) -> float:
    """Invert :func:`encode_objective`, accepting ints written by other tools."""
    if value == "NaN":
        return math.nan
    if isinstance(value, str) and value in _INFINITIES:
        return _INFINITIES[value]
    return as_objective(value)


def as_objective(value: object) -> float:
    """Return ``value`` as a float objective value, or raise ``ValueError``.

    Infinite values are kept (a diverged loss is a result); NaN is refused because it cannot be
    ranked and the orchestrator records such a trial as FAILED rather than storing it.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"objective value {value!r} is not a number")
    result = float(value)
    if math.isnan(result):
        raise ValueError("objective value is NaN; record the trial as FAILED instead")
    return result


def as_json_value(value: object, where: str) -> Any:
    """Deep-copy ``value`` into plain JSON types (dict with str keys, list, finite scalars).

    Tuples become lists so that the copy equals its own JSON round trip; ``where`` names the
    offending spot in the error message.
    """
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has key {key!r}; JSON object keys must be str")
            result[key] = as_json_value(item, f"{where}[{key!r}]")
        return result
    if isinstance(value, (list, tuple)):
        return [as_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    try:
        return as_json_scalar(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
