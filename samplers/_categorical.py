"""The categorical distribution: an ordered tuple of JSON scalars."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from raysweep.samplers._errors import InvalidDistributionError
from raysweep.samplers._jsonvalues import (
    CategoricalChoice,
    as_json_scalar,
    distinct_json_scalars,
    scalar_key,
    typed_key,
)
from raysweep.samplers._numeric import as_number


@dataclass(frozen=True, eq=False)
class CategoricalDistribution:
    """One of ``choices``; the search coordinate is the choice's index.

    Choices are JSON scalars (None, bool, int, float, str) so that a record of the study replays
    with the same types. Duplicates are refused, where "duplicate" follows JSON rather than
    Python: ``True`` and ``1`` are different choices, while ``1`` and ``1.0`` are the same number
    and may not both appear. Equality is type-aware for the same reason, so the distributions
    over ``(1,)``, ``(1.0,)`` and ``(True,)`` all differ, as they do after a JSON round trip.
    """

    choices: tuple[CategoricalChoice, ...]

    def __init__(self, choices: Iterable[CategoricalChoice]) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable):
            raise InvalidDistributionError(
                f"CategoricalDistribution(choices={choices!r}): choices is not a sequence; "
                "pass a list or tuple of choices"
            )
        given = tuple(choices)
        described = f"CategoricalDistribution(choices={given!r})"
        if not given:
            raise InvalidDistributionError(f"{described}: no choices; pass at least one")
        normalized = distinct_json_scalars(
            given,
            not_scalar=lambda index, why: InvalidDistributionError(
                f"{described}: choice {index}: {why}"
            ),
            repeated=lambda earlier, first, index, choice: InvalidDistributionError(
                f"{described}: choices {earlier} ({first!r}) and {index} ({choice!r}) are the "
                "same JSON value; remove one of them"
            ),
        )
        object.__setattr__(self, "choices", normalized)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalDistribution):
            return NotImplemented
        return self._typed_choices() == other._typed_choices()

    def __hash__(self) -> int:
        return hash(self._typed_choices())

    def _typed_choices(self) -> tuple[tuple[str, CategoricalChoice], ...]:
        return tuple(typed_key(choice) for choice in self.choices)

    def index(self, value: object) -> int:
        """The index of the choice equal to ``value`` as JSON sees it; ``ValueError`` if none.

        ``1.0`` finds the choice ``1`` (one JSON number) but ``True`` does not.
        """
        try:
            key = scalar_key(as_json_scalar(value))
        except ValueError:
            key = None
        for index, choice in enumerate(self.choices):
            if scalar_key(choice) == key:
                return index
        raise ValueError(f"{value!r} is not one of the choices {self.choices!r}")

    def internal_bounds(self) -> tuple[float, float]:
        """Half an index beyond each end, so rounding a uniform coordinate is fair to all."""
        return (-0.5, len(self.choices) - 0.5)

    def to_internal(self, value: CategoricalChoice) -> float:
        """The index of ``value`` as a float (see :meth:`index`)."""
        return float(self.index(value))

    def to_external(self, x: float) -> CategoricalChoice:
        """The choice at the index nearest to ``x``, clamped to the first and last choice."""
        index = math.floor(as_number(x) + 0.5)
        return self.choices[min(max(index, 0), len(self.choices) - 1)]

    def contains(self, value: object) -> bool:
        """Whether ``value`` is one of the choices, with the same type (``1.0`` is not ``1``)."""
        try:
            return typed_key(as_json_scalar(value)) in self._typed_choices()
        except ValueError:
            return False

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}
