"""Gaussian-process Bayesian optimization for small budgets (tens to a few hundred trials)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from raysweep.samplers._base import SamplingContext, intersection_space
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._gp._acquisition import Acquisition, maximize_acquisition
from raysweep.samplers._gp._kernel import FloatArray, Posterior, fit_kernel
from raysweep.samplers._gp._space import Design
from raysweep.samplers._random import UniformIndependentSampler, sample_uniform_each
from raysweep.samplers._trial import StudyDirection, TrialRecord, TrialState

# The noise variance of a deterministic objective's model, on standardized values: not zero, so
# that the kernel matrix stays well conditioned, and fixed, since fitting it lets a few points
# be explained away as noise.
_DETERMINISTIC_NOISE = 1e-6


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"GPSampler: {name}={value!r} must be an int >= {minimum}")
    return value


class GPSampler(UniformIndependentSampler):
    """Bayesian optimization with a Gaussian process and log expected improvement.

    After ``n_startup_trials`` COMPLETE trials drawn uniformly, every trial fits a GP (Matérn-5/2
    with one lengthscale per parameter, an amplitude and a noise variance, by maximum a
    posteriori on standardized values) to the COMPLETE trials over the intersection space, and
    proposes the point of highest log EI (Ament et al., 2023). Floats, log scales, ints and steps
    are modelled on their internal coordinate scaled to [0, 1] (ints and steps relaxed, then
    rounded); categoricals through a Hamming-distance kernel term. FAILED and PRUNED trials are
    ignored: a pruned trial's last intermediate value is not a result of the objective.

    RUNNING trials that hold every parameter of the space are points already taken: they join the
    models (with the kernel fitted to the COMPLETE trials) as if they had given the worst value
    seen so far, and the largest value seen of each constraint: the "constant liar" of
    Ginsbourger et al. (2010), "Kriging is well-suited to parallelize optimization", with the
    pessimistic lie, which pushes parallel asks apart. A lie at the posterior mean (their
    "kriging believer") leaves a noisy model's mean and incumbent as they were, and concurrent
    asks then land within a hair of each other.

    Constraints (``TrialRecord.constraints``, feasible when all <= 0) get one GP each; the
    acquisition adds log P(c_i <= 0) for each, the incumbent is the best feasible trial, and
    before any feasible trial only the feasibility terms count. Constraint models use the COMPLETE
    trials that report as many constraints as the latest COMPLETE trial that reports any.

    Args:
        n_startup_trials: COMPLETE trials to draw uniformly before the model is used.
        deterministic_objective: whether a point always gives the same value. The noise variance
            (of standardized values) is then fixed at 1e-6 instead of fitted, at 1e-4 or more
            under a log-normal prior.
        n_candidates: quasi-random points scored per proposal before local refinement.
        seed: the study seed to use (see :class:`Sampler`).
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        deterministic_objective: bool = False,
        n_candidates: int = 2048,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.n_startup_trials = _count("n_startup_trials", n_startup_trials, 0)
        if not isinstance(deterministic_objective, bool):
            raise ValueError(
                f"GPSampler: deterministic_objective={deterministic_objective!r} is not a bool; "
                "pass True or False"
            )
        self.deterministic_objective = deterministic_objective
        self.n_candidates = _count("n_candidates", n_candidates, 1)

    def check_directions(self, directions: tuple[StudyDirection, ...]) -> None:
        if len(directions) != 1:
            raise ValueError(
                f"GPSampler models a single objective, not {len(directions)}; "
                "use TPESampler or NSGA2Sampler for a multi-objective study"
            )

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """The intersection space of the COMPLETE trials once the model is in use.

        A name is in it when every COMPLETE trial has it with the distribution it has now. During
        start-up every seen name is proposed up front instead, drawn exactly as
        :meth:`sample_independent` would, which saves the objective a round trip per parameter.
        """
        complete = [t for t in context.history if t.state is TrialState.COMPLETE]
        if len(complete) < max(self.n_startup_trials, 1):
            return dict(context.seen_distributions)
        return intersection_space(context)

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        design = Design(search_space)
        complete, x = _rows(design, (t for t in context.history if t.state is TrialState.COMPLETE))
        if len(complete) < max(self.n_startup_trials, 1):
            return sample_uniform_each(context, search_space)
        running = _rows(design, context.running)[1]
        sign = -1.0 if context.directions[0] is StudyDirection.MAXIMIZE else 1.0
        y = _standardize(np.array([sign * _objective(t) for t in complete]))[0]
        objective = self._posterior(x, y, design).with_fantasies(running, float(y.max()))
        constraints = self._constraint_models(complete, x, design, running)
        feasible = np.array([t.feasible for t in complete])
        best = float(y[feasible].min()) if feasible.any() else None
        # Anchors for the local candidates: the best feasible trials, then the least infeasible.
        order = np.lexsort((y, ~feasible))
        acquisition = Acquisition(objective, best, constraints)
        row = maximize_acquisition(
            acquisition, design, context.rng(None), self.n_candidates, x[order]
        )
        return design.decode(row)

    def _posterior(self, x: FloatArray, y: FloatArray, design: Design) -> Posterior:
        fixed_noise = _DETERMINISTIC_NOISE if self.deterministic_objective else None
        params = fit_kernel(x, y, design.is_categorical, fixed_noise=fixed_noise)
        return Posterior(x, y, params, design.is_categorical)

    def _constraint_models(
        self, complete: Sequence[TrialRecord], x: FloatArray, design: Design, running: FloatArray
    ) -> list[tuple[Posterior, float]]:
        """One fitted (posterior, standardized threshold) per constraint, lies included."""
        reporting = [t for t in complete if t.constraints is not None]
        if not reporting:
            return []
        count = len(max(reporting, key=lambda t: t.number).constraints or ())
        used = np.array(
            [t.constraints is not None and len(t.constraints) == count for t in complete],
            dtype=bool,
        )
        values = np.array([t.constraints for t, use in zip(complete, used, strict=True) if use])
        models = []
        for i in range(count):
            standardized, center, scale = _standardize(values[:, i])
            threshold = -center / scale
            model = self._posterior(x[used], standardized, design)
            models.append((model.with_fantasies(running, float(standardized.max())), threshold))
        return models


def _objective(trial: TrialRecord) -> float:
    assert trial.values is not None  # a COMPLETE trial has values
    return trial.values[0]


def _rows(design: Design, trials: Iterable[TrialRecord]) -> tuple[list[TrialRecord], FloatArray]:
    """The trials holding every name of the design, and their rows.

    A value that the current distribution cannot map (one with no logarithm after a range
    became log-scaled) leaves its trial out.
    """
    kept: list[TrialRecord] = []
    rows: list[FloatArray] = []
    for trial in trials:
        if all(name in trial.params for name in design.names):
            try:
                rows.append(design.encode(trial.params))
            except ValueError:
                continue
            kept.append(trial)
    return kept, np.array(rows).reshape(len(rows), design.dim)


def _standardize(values: FloatArray) -> tuple[FloatArray, float, float]:
    """Values at zero mean and unit variance, with the centre and scale used.

    Infinite values are replaced by the most extreme finite ones, so that one diverged trial
    does not make every other value look equal.
    """
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.zeros_like(values), 0.0, 1.0
    values = np.clip(values, finite.min(), finite.max())
    center, spread = float(values.mean()), float(values.std())
    scale = spread if spread > 1e-12 else 1.0
    return (values - center) / scale, center, scale
