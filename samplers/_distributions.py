"""The search-space union type, its JSON decoding, and the cross-trial compatibility rule.

The distribution classes live in their own modules and are re-exported here, so this module is
the one place that names the whole search-space vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._errors import IncompatibleDistributionError, InvalidDistributionError
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._int import IntDistribution
from raysweep.samplers._jsonvalues import CategoricalChoice

Distribution: TypeAlias = FloatDistribution | IntDistribution | CategoricalDistribution

__all__ = [
    "CategoricalChoice",
    "CategoricalDistribution",
    "Distribution",
    "FloatDistribution",
    "IncompatibleDistributionError",
    "IntDistribution",
    "InvalidDistributionError",
    "check_compatible",
    "distribution_from_json",
]

_NUMERIC_KEYS = frozenset({"type", "low", "high", "log", "step"})
_CATEGORICAL_KEYS = frozenset({"type", "choices"})


def distribution_from_json(data: Mapping[str, Any]) -> Distribution:
    """Rebuild a distribution from the output of its ``to_json``, validating as construction does.

    Unknown keys are refused rather than ignored: a field this version does not understand could
    change what the distribution means.
    """
    if not isinstance(data, Mapping):
        raise InvalidDistributionError(f"{data!r} is not a JSON object describing a distribution")
    kind = data.get("type")
    expected = _CATEGORICAL_KEYS if kind == "categorical" else _NUMERIC_KEYS
    if kind not in ("float", "int", "categorical"):
        raise InvalidDistributionError(
            f"{dict(data)!r}: 'type' is {kind!r}; expected 'float', 'int' or 'categorical'"
        )
    if set(data) != expected:
        raise InvalidDistributionError(
            f"{dict(data)!r}: a {kind} distribution has exactly the keys {sorted(expected)}; "
            f"missing {sorted(expected - set(data))}, unknown {sorted(set(data) - expected)}"
        )
    if kind == "categorical":
        choices = data["choices"]
        if not isinstance(choices, list):
            raise InvalidDistributionError(f"{dict(data)!r}: 'choices' must be a JSON array")
        return CategoricalDistribution(choices)
    if kind == "float":
        return FloatDistribution(data["low"], data["high"], data["log"], data["step"])
    return IntDistribution(data["low"], data["high"], data["log"], data["step"])


def check_compatible(old: Distribution, new: Distribution) -> None:
    """Raise :class:`IncompatibleDistributionError` if ``new`` cannot follow ``old`` for a name.

    A parameter keeps its kind (float, int or categorical) for the whole study, and a categorical
    keeps its exact choices, because earlier trials' values would otherwise be read as something
    they were not (an index into other choices, an int as a float). Range, ``log`` and ``step``
    may change between trials, as in Optuna: users narrow a range mid-study, and ``to_internal``
    maps an old value outside the new range instead of refusing it.
    """
    if type(old) is not type(new):
        raise IncompatibleDistributionError(
            f"the parameter was {old!r} in an earlier trial and is now {new!r}; a parameter keeps "
            "its kind (float, int or categorical) for the whole study: use a new name"
        )
    if isinstance(old, CategoricalDistribution) and old != new:
        raise IncompatibleDistributionError(
            f"the parameter was {old!r} in an earlier trial and is now {new!r}; categorical "
            "choices cannot change within a study: use a new name"
        )
