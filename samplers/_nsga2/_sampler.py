"""NSGA-II: the elitist multi-objective genetic algorithm of Deb et al. (2002)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from raysweep.samplers._base import SamplingContext, intersection_space
from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._nsga2._genetic import CROSSOVERS, crossover, mutate
from raysweep.samplers._nsga2._selection import (
    Candidate,
    Population,
    binary_tournament,
    fitness,
    parent_population,
)
from raysweep.samplers._random import UniformIndependentSampler, sample_uniform_each
from raysweep.samplers._trial import StudyDirection, TrialRecord, TrialState


class NSGA2Sampler(UniformIndependentSampler):
    """Multi-objective search by NSGA-II (Deb, Pratap, Agarwal & Meyarivan, IEEE TEC 2002).

    Generations come from trial numbers: trial ``n`` is a child of generation
    ``n // population_size``. The parents of generation ``g`` are NSGA-II's elitist selection,
    applied generation by generation: the best ``population_size`` of the previous parents and
    the COMPLETE trials of generation ``g - 1``, by non-dominated rank and then crowding distance.
    The parents are recomputed from the history on every proposal (and memoized), so a replay
    proposes the same children. With asynchronous workers a generation may start before the one
    before it has finished: its parents are then chosen from the trials COMPLETE so far, and a
    trial that finishes later joins the selection for the proposals made after it finishes.
    RUNNING, PRUNED and FAILED trials are never parents.

    A child takes two parents, each the winner of a binary tournament, and crosses them in the
    parameters' internal coordinates with probability ``crossover_prob`` (otherwise it copies the
    first), then redraws each parameter uniformly with probability ``mutation_prob``. Until a
    generation has two parents, proposals are uniform, as :class:`RandomSampler` draws them.

    With constraints (``TrialRecord.constraints``), domination is Deb's constrained domination:
    feasible trials (every constraint ``<= 0``) come first, infeasible ones follow by their total
    violation. A COMPLETE trial that reported no constraints counts as feasible.

    The jointly proposed parameters are those every COMPLETE trial has, with the distribution
    used now; any other parameter (a new one, one behind an ``if``, one whose range changed) is
    drawn uniformly by :meth:`sample_independent`.

    Args:
        population_size: children per generation and parents kept, an int >= 2.
        mutation_prob: the probability of redrawing each parameter, in [0, 1]; ``None`` means
            1 / (number of jointly proposed parameters).
        crossover: ``"uniform"`` (each parameter from either parent), ``"blxalpha"`` (BLX-0.5
            blend) or ``"sbx"`` (simulated binary crossover, eta 20); categorical parameters are
            swapped whole by all three.
        crossover_prob: the probability that a child is a crossover rather than a copy.
        swapping_prob: the probability that a swapped parameter comes from the second parent.
        seed: the study seed to use (see :class:`Sampler`).
    """

    def __init__(
        self,
        *,
        population_size: int = 50,
        mutation_prob: float | None = None,
        crossover: str = "uniform",
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        if isinstance(population_size, bool) or not isinstance(population_size, int):
            raise ValueError(
                f"NSGA2Sampler: population_size={population_size!r} must be an int >= 2"
            )
        if population_size < 2:
            raise ValueError(
                f"NSGA2Sampler: population_size={population_size} must be >= 2: a child needs "
                "two parents"
            )
        if crossover not in CROSSOVERS:
            raise ValueError(
                f"NSGA2Sampler: crossover={crossover!r} is unknown; pass one of "
                + ", ".join(repr(c) for c in CROSSOVERS)
            )
        self.population_size = population_size
        self.mutation_prob = (
            None if mutation_prob is None else _probability("mutation_prob", mutation_prob)
        )
        self.crossover = crossover
        self.crossover_prob = _probability("crossover_prob", crossover_prob)
        self.swapping_prob = _probability("swapping_prob", swapping_prob)
        # Survivors per generation, reused while a generation's candidates stay the same: every
        # proposal walks all generations, and this keeps that walk to comparisons.
        self._memo: dict[int, tuple[Population, Population]] = {}

    def check_directions(self, directions: tuple[StudyDirection, ...]) -> None:
        if len(directions) < 2:
            raise ValueError(
                "NSGA2Sampler is for multi-objective studies, and this study has one objective; "
                "use TPESampler or CmaEsSampler for a single objective"
            )

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """The names every COMPLETE trial has with the distribution used now (seen last)."""
        space = intersection_space(context)
        return {name: space[name] for name in sorted(space)}

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        self.check_directions(context.directions)
        names = sorted(search_space)
        if not names:
            return {}
        population = self._parents(context, names)
        if len(population) < 2:
            return sample_uniform_each(context, search_space)
        distributions = [search_space[name] for name in names]
        records = {trial.number: trial for trial in context.history}
        bounds = np.array([d.internal_bounds() for d in distributions])
        categorical = np.array([isinstance(d, CategoricalDistribution) for d in distributions])

        def coordinates(candidate: Candidate) -> np.ndarray:
            params = records[candidate[0]].params
            return np.array(
                [d.to_internal(params[n]) for n, d in zip(names, distributions, strict=True)]
            )

        rng = context.rng(None)
        ranks, crowding = fitness(population)
        first = binary_tournament(rng, ranks, crowding)
        second = binary_tournament(rng, ranks, crowding, exclude=first)
        child = coordinates(population[first])
        if rng.random() < self.crossover_prob:
            child = crossover(
                self.crossover,
                rng,
                child,
                coordinates(population[second]),
                bounds,
                categorical,
                self.swapping_prob,
            )
        mutation_prob = 1.0 / len(names) if self.mutation_prob is None else self.mutation_prob
        child = np.clip(mutate(rng, child, bounds, mutation_prob), bounds[:, 0], bounds[:, 1])
        return {
            name: distribution.to_external(float(x))
            for name, distribution, x in zip(names, distributions, child, strict=True)
        }

    def _parents(self, context: SamplingContext, names: list[str]) -> Population:
        """The parent population of the generation ``context.trial_number`` belongs to."""
        size = self.population_size
        generation = context.trial_number // size
        signs = tuple(-1.0 if d is StudyDirection.MAXIMIZE else 1.0 for d in context.directions)
        offspring: list[list[Candidate]] = [[] for _ in range(generation)]
        for trial in context.history:
            if (
                trial.state is TrialState.COMPLETE
                and trial.number < generation * size
                and all(name in trial.params for name in names)
            ):
                offspring[trial.number // size].append(_candidate(trial, signs))
        return parent_population([tuple(sorted(g)) for g in offspring], size, self._memo)


def _candidate(trial: TrialRecord, signs: tuple[float, ...]) -> Candidate:
    assert trial.values is not None  # COMPLETE
    losses = tuple(sign * value for sign, value in zip(signs, trial.values, strict=True))
    violation = 0.0
    if trial.constraints is not None:
        violation = math.fsum(max(c, 0.0) for c in trial.constraints)
    return (trial.number, losses, violation)


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"NSGA2Sampler: {name}={value!r} must be a number in [0, 1]")
    return float(value)
