"""The grid of a GridSampler: validated values per name, and grid points numbered in mixed radix."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._errors import SamplerConfigurationError
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._int import IntDistribution
from raysweep.samplers._jsonvalues import CategoricalChoice, distinct_json_scalars, scalar_key

_Key = tuple[str, CategoricalChoice]


class GridSpace:
    """The Cartesian product of each parameter's values.

    Names are kept in sorted order, so a grid does not depend on the order of the mapping it was
    built from; values keep the order given. A grid point is an index in ``[0, size)`` whose
    digits in the mixed radix of the value counts (the first name most significant) are the value
    indices of each name.
    """

    def __init__(self, search_space: object) -> None:
        where = "GridSampler: search_space"
        if not isinstance(search_space, Mapping):
            raise TypeError(
                f"{where} is a {type(search_space).__name__}; pass a mapping from parameter "
                "name to a list of values, e.g. {'lr': [0.1, 0.01], 'layers': [2, 4]}"
            )
        if not search_space:
            raise ValueError(f"{where} is empty; give at least one parameter and its values")
        given: dict[str, tuple[CategoricalChoice, ...]] = {}
        for name, values in search_space.items():
            if not isinstance(name, str):
                raise TypeError(f"{where} has the name {name!r}; parameter names must be str")
            given[name] = _values(f"{where}[{name!r}]", values)
        self.given = given
        self.names: tuple[str, ...] = tuple(sorted(given))
        self.values: tuple[tuple[CategoricalChoice, ...], ...] = tuple(
            given[name] for name in self.names
        )
        # Matching a trial's params to value indices goes through JSON identity (1 == 1.0, but
        # True is not 1), the same rule that made duplicates an error above.
        self._indices: tuple[dict[_Key, int], ...] = tuple(
            {scalar_key(value): i for i, value in enumerate(values)} for values in self.values
        )
        self.size = 1
        for values in self.values:
            self.size *= len(values)

    def digits(self, point: int) -> tuple[int, ...]:
        """The value index of each name (in :attr:`names` order) at grid point ``point``."""
        digits = []
        for values in reversed(self.values):
            point, digit = divmod(point, len(values))
            digits.append(digit)
        return tuple(reversed(digits))

    def point(self, digits: Iterable[int]) -> int:
        """The grid point with these value indices (inverse of :meth:`digits`)."""
        point = 0
        for values, digit in zip(self.values, digits, strict=True):
            point = point * len(values) + digit
        return point

    def held(self, params: Mapping[str, Any]) -> dict[int, int] | None:
        """``{name position: value index}`` for the grid names in ``params``.

        ``None`` when one of them has a value outside the grid: such a trial holds no grid point.
        """
        held: dict[int, int] = {}
        for position, name in enumerate(self.names):
            if name in params:
                index = self._indices[position].get(scalar_key(params[name]))
                if index is None:
                    return None
                held[position] = index
        return held

    def describe_names(self) -> str:
        return "{" + ", ".join(repr(name) for name in self.names) + "}"

    def to_json(self) -> dict[str, list[CategoricalChoice]]:
        """The grid as given: names in the caller's order, each with its list of values."""
        return {name: list(values) for name, values in self.given.items()}


def fit_value(name: str, value: CategoricalChoice, distribution: Distribution) -> Any:
    """``value`` as ``distribution`` spells it, or ``ValueError`` when it is not in it.

    JSON does not tell ``1`` from ``1.0``, so a grid number may be written either way: an int
    grid value serves a float parameter and an integral float an int one, and a categorical
    choice is matched as :meth:`CategoricalDistribution.index` matches it (``True`` is never 1).
    """
    fitted: object = value
    if isinstance(distribution, CategoricalDistribution):
        with contextlib.suppress(ValueError):  # not a choice: refused below
            fitted = distribution.choices[distribution.index(value)]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        fitted = _as_number_of(value, distribution)
    if distribution.contains(fitted):
        return fitted
    raise SamplerConfigurationError(
        f"GridSampler: the grid value {value!r} of parameter {name!r} is not in {distribution!r}; "
        f"make GridSampler's values for {name!r} fit the distribution the objective asks for, "
        "or widen that distribution"
    )


def _as_number_of(value: int | float, distribution: Distribution) -> object:
    if isinstance(distribution, FloatDistribution) and isinstance(value, int):
        try:
            as_float = float(value)
        except OverflowError:
            return value
        return as_float if as_float == value else value
    if isinstance(distribution, IntDistribution) and isinstance(value, float):
        return int(value) if value.is_integer() else value
    return value


def _values(where: str, values: object) -> tuple[CategoricalChoice, ...]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{where} is {values!r}; pass a list of values (JSON scalars), e.g. [1, 2, 3]"
        )
    checked = distinct_json_scalars(
        values,
        not_scalar=lambda index, why: ValueError(f"{where}[{index}]: {why}"),
        repeated=lambda earlier, first, index, value: ValueError(
            f"{where}: values {earlier} ({first!r}) and {index} ({value!r}) are the same JSON "
            "value; list each value once"
        ),
    )
    if not checked:
        raise ValueError(f"{where} has no values; give at least one value or drop the name")
    return checked
