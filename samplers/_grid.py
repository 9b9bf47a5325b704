"""Exhaustive search over a grid, one point per trial, with no point handed out twice."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from raysweep.samplers._base import Sampler, SamplingContext
from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._errors import SamplerConfigurationError, SearchSpaceExhaustedError
from raysweep.samplers._grid_space import GridSpace, fit_value
from raysweep.samplers._jsonvalues import CategoricalChoice

# Tells the grid's shuffle apart from the streams other samplers derive from the study seed.
_ORDER_TAG = 0x47524944  # "GRID"


@functools.lru_cache(maxsize=16)
def grid_order(study_seed: int, size: int) -> npt.NDArray[np.int64]:
    """The order in which grid points are visited: a permutation fixed by the study seed alone.

    Every trial of a study computes the same order, whatever else it knows. Memoized: a grid
    point is chosen on every proposal, and shuffling is the costliest step for a large grid.
    """
    order = np.random.default_rng([study_seed, _ORDER_TAG]).permutation(size)
    order.setflags(write=False)
    return order


class GridSampler(Sampler):
    """Visits every point of the Cartesian product of ``search_space`` once, in a seeded order.

    ``search_space`` maps each parameter name to the list of its values (JSON scalars: None,
    bool, int, float or str). A float parameter may be given ints and an int parameter integral
    floats (JSON does not tell them apart); every value must lie in the distribution the
    objective asks for, or sampling raises ``ValueError``.

    **Order.** Points are visited in a permutation of the grid drawn from the study seed, not in
    the product's lexicographic order: a study stopped early has then covered every parameter's
    range, instead of varying only the last name (the same reason Optuna's GridSampler picks
    unvisited points at random). Names are sorted to number the grid, so the mapping's order
    does not matter.

    **Which point.** Trial ``n`` gets a point that no trial in the history holds, whatever that
    trial's state: a FAILED trial's point is not retried (enqueue it again to retry it), and a
    trial that holds only some grid parameters keeps one point that agrees with them. Among the
    free points, trial ``n`` takes the one at position ``n mod size`` of the order, or the next
    free position after it (cyclically). Trials that may start at the same moment do not see each
    other's parameters, so before choosing, trial ``n`` lets every unfinished lower-numbered
    trial that holds no grid value yet, and every lower number missing from the history (a
    proposal fetched in the same batch), pick first by the same rule: all of them compute the
    same assignment, and concurrent trials get distinct points even when some positions are
    taken out of turn. When no point is left, :class:`SearchSpaceExhaustedError` is raised.

    A trial's point depends only on the history, so its joint proposal (``sample_relative``) and
    any parameter it asks later (``sample_independent``) come from the same grid point.
    """

    def __init__(
        self,
        search_space: Mapping[str, Sequence[CategoricalChoice]],
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self._grid = GridSpace(search_space)

    @property
    def search_space(self) -> dict[str, list[CategoricalChoice]]:
        """The grid as given: names in the caller's order, each with its validated values."""
        return self._grid.to_json()

    @property
    def grid_size(self) -> int:
        """How many points the grid has: the product of the value counts."""
        return self._grid.size

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """Every name of the grid: with its seen distribution when that holds all of the name's
        grid values, else as a categorical over the grid values.

        Proposing the whole point at trial start takes it at once (the orchestrator shows a
        proposal handed out as a running trial), and a finished grid is known before a trial
        is created. A proposal whose distribution is not the one the objective asks for (the
        categorical stand-in, or a name whose range changed) is redone by
        :meth:`sample_independent`, which picks the same point and checks the value against
        the distribution actually asked for.
        """
        space: dict[str, Distribution] = {}
        seen = context.seen_distributions
        for name, values in self._grid.given.items():
            distribution = seen.get(name)
            if distribution is not None and all(_fits(name, v, distribution) for v in values):
                space[name] = distribution
            else:
                space[name] = CategoricalDistribution(choices=values)
        return space

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        for name in search_space:
            self._position(name)
        values = self._point_values(context)
        return {
            name: fit_value(name, values[name], distribution)
            for name, distribution in search_space.items()
        }

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        self._position(name)
        return fit_value(name, self._point_values(context)[name], distribution)

    def _position(self, name: str) -> int:
        try:
            return self._grid.names.index(name)
        except ValueError:
            raise SamplerConfigurationError(
                f"parameter {name!r} is not in the grid {self._grid.describe_names()}; "
                "add it to GridSampler's search_space"
            ) from None

    def _point_values(self, context: SamplingContext) -> dict[str, CategoricalChoice]:
        grid = self._grid
        point = choose_point(grid, context)
        digits = grid.digits(point)
        return {
            name: values[digit]
            for name, values, digit in zip(grid.names, grid.values, digits, strict=True)
        }


def choose_point(grid: GridSpace, context: SamplingContext) -> int:
    """The grid point of trial ``context.trial_number`` (see :class:`GridSampler`)."""
    number = context.trial_number
    taken: set[int] = set()
    partial: list[tuple[int, dict[int, int]]] = []
    waiting: list[int] = []
    present: set[int] = set()
    for trial in context.history:
        present.add(trial.number)
        held = grid.held(trial.params)
        if held is None:
            continue  # a value off the grid (fixed by hand, or an older grid): holds no point
        if len(held) == len(grid.names):
            taken.add(grid.point(held[i] for i in range(len(grid.names))))
        elif held:
            partial.append((trial.number, held))
        elif trial.number < number and not trial.state.is_finished():
            waiting.append(trial.number)
    chooser = _Chooser(grid, grid_order(context.study_seed, grid.size), taken)
    # Trials holding part of a point committed to it first, so they pick before the others.
    for trial_number, held in sorted(partial, key=lambda item: item[0]):
        chooser.claim(trial_number, held)
    # A lower number missing from the history is a proposal fetched in the same batch as this one.
    waiting.extend(m for m in range(number) if m not in present)
    for trial_number in sorted(waiting):
        if chooser.claim(trial_number, {}) is None:
            break
    point = chooser.claim(number, {})
    if point is None:
        raise SearchSpaceExhaustedError(
            f"GridSampler: all {grid.size} points of the grid are held by earlier or running "
            f"trials, so trial {number} has no point left; the grid search is complete"
        )
    return point


class _Chooser:
    """Hands out free points: the first free one at or after a trial's preferred position."""

    def __init__(self, grid: GridSpace, order: npt.NDArray[np.int64], taken: set[int]) -> None:
        self._grid = grid
        self._order = order
        self._taken = taken

    def claim(self, trial_number: int, held: dict[int, int]) -> int | None:
        """Take and return the point for ``trial_number`` that agrees with ``held``, if any."""
        size = self._grid.size
        if len(self._taken) >= size:
            return None
        start = trial_number % size
        for step in range(size):
            point = int(self._order[(start + step) % size])
            if point in self._taken:
                continue
            if held:
                digits = self._grid.digits(point)
                if any(digits[i] != value for i, value in held.items()):
                    continue
            self._taken.add(point)
            return point
        return None


def _fits(name: str, value: CategoricalChoice, distribution: Distribution) -> bool:
    try:
        fit_value(name, value, distribution)
    except ValueError:
        return False
    return True
