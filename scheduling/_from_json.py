"""Read a scheduler configuration back from its JSON form."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from raysweep.scheduling._asha import ASHA
from raysweep.scheduling._base import Scheduler
from raysweep.scheduling._hyperband import Hyperband
from raysweep.scheduling._no_pruning import NoPruning
from raysweep.scheduling._percentile import MedianStopping, PercentileStopping

_TYPES: dict[str, type[Scheduler]] = {
    cls.json_type: cls for cls in (ASHA, Hyperband, NoPruning, MedianStopping, PercentileStopping)
}


def scheduler_from_json(d: Mapping[str, Any]) -> Scheduler:
    """The scheduler whose ``to_json()`` gave ``d``; errors name the offending key."""
    if not isinstance(d, Mapping):
        raise TypeError(f"a scheduler's JSON form is a dict, got {type(d).__name__}")
    kind = d.get("type")
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(repr(name) for name in _TYPES)
        raise ValueError(f"unknown scheduler type {kind!r}; expected one of {known}")
    arguments = {key: value for key, value in d.items() if key != "type"}
    parameters = inspect.signature(cls).parameters
    unknown = sorted(set(arguments) - set(parameters))
    if unknown:
        raise ValueError(f"unknown keys for scheduler type {kind!r}: {unknown}")
    missing = sorted(
        name
        for name, parameter in parameters.items()
        if name not in arguments and parameter.default is inspect.Parameter.empty
    )
    if missing:
        raise ValueError(f"missing keys for scheduler type {kind!r}: {missing}")
    return cls(**arguments)
