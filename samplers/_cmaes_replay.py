"""CMA-ES rebuilt from a study's history: generations, their replay, and its memo cache.

The ``cmaes`` package is optional, so it is imported inside the functions that build a ``CMA``;
this module itself imports without it. Only its public API is used: the constructor, ``tell``,
``ask``, ``reseed_rng``, ``should_stop``, ``mean`` and pickling (through ``copy.deepcopy``).
"""

from __future__ import annotations

import copy
import operator
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._int import IntDistribution
from raysweep.samplers._trial import StudyDirection, TrialRecord, TrialState

if TYPE_CHECKING:
    from cmaes import CMA

NumericDistribution: TypeAlias = FloatDistribution | IntDistribution

# One evaluated point as told to CMA-ES: (trial number, value to minimize, unit coordinates).
Solution: TypeAlias = tuple[int, float, tuple[float, ...]]
Generation: TypeAlias = tuple[Solution, ...]

_number = operator.attrgetter("number")


@dataclass(frozen=True)
class CmaSettings:
    """Everything a fresh ``CMA`` is built from; with the generations told, it fixes the state."""

    mean: tuple[float, ...]
    sigma: float
    popsize: int
    seed: int


def to_unit(distribution: NumericDistribution, value: Any) -> float:
    """``value``'s search coordinate scaled so that the internal bounds become [0, 1] (clipped)."""
    low, high = distribution.internal_bounds()
    unit = (distribution.to_internal(value) - low) / (high - low)
    # + 0.0 turns -0.0 into 0.0, so that equal cache keys always mean bit-equal inputs.
    return min(max(unit, 0.0), 1.0) + 0.0


def from_unit(distribution: NumericDistribution, unit: float) -> Any:
    """The external value at unit coordinate ``unit`` (clamped and rounded by the distribution)."""
    low, high = distribution.internal_bounds()
    return distribution.to_external(low + float(unit) * (high - low))


def generations(
    history: Iterable[TrialRecord],
    space: Mapping[str, NumericDistribution],
    direction: StudyDirection,
    popsize: int,
) -> tuple[Generation, ...]:
    """Consecutive blocks of ``popsize`` COMPLETE trials holding all of ``space``, by number.

    A trailing block that is not full yet is left out. Infinite values are clipped to the largest
    finite float: they keep their rank (a diverged run is the worst of its generation), which is
    all CMA-ES reads from a value, and the library's arithmetic stays finite.
    """
    names = sorted(space)
    solutions: list[Solution] = []
    for trial in sorted(history, key=_number):
        if trial.state is not TrialState.COMPLETE or trial.values is None:
            continue
        if any(trial.distributions.get(name) != space[name] for name in names):
            continue
        value = trial.values[0] if direction is StudyDirection.MINIMIZE else -trial.values[0]
        value = min(max(value, -sys.float_info.max), sys.float_info.max) + 0.0
        point = tuple(to_unit(space[name], trial.params[name]) for name in names)
        solutions.append((trial.number, value, point))
    full = len(solutions) - len(solutions) % popsize
    return tuple(tuple(solutions[start : start + popsize]) for start in range(0, full, popsize))


def fresh_cma(settings: CmaSettings) -> CMA:
    """A new ``CMA`` on the unit cube, before any generation."""
    from cmaes import CMA

    dim = len(settings.mean)
    # With popsize < 4 the library divides by a zero learning rate inside a min() whose other
    # terms are finite; the result is well defined, only numpy's warning is not.
    with np.errstate(divide="ignore"):
        return CMA(
            mean=np.array(settings.mean, dtype=float),
            sigma=settings.sigma,
            bounds=np.tile([0.0, 1.0], (dim, 1)),
            seed=settings.seed,
            population_size=settings.popsize,
        )


def advance(state: CMA, generation: Generation, settings: CmaSettings) -> CMA:
    """The state after telling ``generation``; ``state`` itself is never changed.

    Every tell happens on a deep copy, whether the state came from the cache or was just built,
    so the same inputs go through the same operations (a copy rebuilds the covariance from its
    upper triangle) and the cache cannot change a result. A run that has converged or broken
    down (``should_stop``, a non-finite mean) restarts from the initial distribution.
    """
    successor = copy.deepcopy(state)
    successor.tell([(np.array(point), value) for _, value, point in generation])
    if not np.all(np.isfinite(successor.mean)) or successor.should_stop():
        return fresh_cma(settings)
    return successor


def draw(state: CMA, seed: int) -> np.ndarray:
    """One point of ``state``'s distribution inside the unit cube, from the stream ``seed``.

    ``reseed_rng`` on a copy points the library's own generator at our per-trial stream: the
    point is a function of the state and ``seed`` only, and the cached state is left as it was.
    """
    proposal = copy.deepcopy(state)
    proposal.reseed_rng(seed)
    point = np.asarray(proposal.ask(), dtype=float)
    # A numerically broken covariance would give NaN; the centre of the range is a safe answer.
    return np.where(np.isfinite(point), point, 0.5)


_Key: TypeAlias = tuple[int, int]
_Entry: TypeAlias = tuple[CmaSettings, tuple[Generation, ...], Any]


class ReplayCache:
    """States after each replayed generation, found by the exact inputs that produced them.

    A pure memo: a state is a function of (settings, generations told), both checked for
    equality on every hit, so a hit returns what a cold replay would. It keeps the
    ``capacity`` most recently used states; it is not pickled (a copy starts empty).
    """

    def __init__(self, capacity: int = 32) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"capacity": self._capacity}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._capacity = state["capacity"]
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def state(self, settings: CmaSettings, told: tuple[Generation, ...]) -> CMA:
        """The CMA state after telling ``told`` in order to a fresh ``CMA`` of ``settings``."""
        # Chained hashes index every prefix in O(len(told)); equality is checked on a hit.
        keys = [hash(settings)]
        for generation in told:
            keys.append(hash((keys[-1], generation)))
        start, state = 0, None
        with self._lock:
            for done in range(len(told), 0, -1):
                entry = self._entries.get((done, keys[done]))
                if entry is not None and entry[0] == settings and entry[1] == told[:done]:
                    self._entries.move_to_end((done, keys[done]))
                    start, state = done, entry[2]
                    break
        if state is None:
            state = fresh_cma(settings)
        for done in range(start + 1, len(told) + 1):
            state = advance(state, told[done - 1], settings)
            with self._lock:
                self._entries[(done, keys[done])] = (settings, told[:done], state)
                self._entries.move_to_end((done, keys[done]))
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
        return state
