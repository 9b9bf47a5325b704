"""Which finished trials are "below" (good) and which "above", for one or more objectives.

Single objective: COMPLETE trials rank by value; PRUNED trials that reported intermediate values
rank after every COMPLETE one, by the last step they reached (further first) and then their last
intermediate value there (NaN last), as Optuna does. Ties go to the older trial.

Constraints, the c-TPE way (Watanabe & Hutter 2023, arXiv 2211.14411): the "below" set is the
shortest prefix of the ranking holding ``gamma(n)`` *feasible* trials (all of them when fewer are
feasible, which silences the objective's term until feasible points exist). Each constraint adds
its own split, "satisfied" against "violated", and its own density ratio to the acquisition. When
fewer than ``gamma(n)`` trials satisfy a constraint, its threshold rises to the ``gamma(n)``-th
smallest value, so the "satisfied" estimator always has points to model: the paper's quantile
fallback for tiny feasible regions. A constraint no trial violates is dropped (its ratio is flat).
A trial that reported no constraints in a constrained study counts as feasible.

Several objectives (MOTPE, Ozaki et al. 2020/2022): COMPLETE trials rank by non-dominated front,
feasible before infeasible (Deb's constrained domination); fronts join "below" whole while they
fit, and the front that does not is cut by greedy hypervolume subset selection. "Below" trials are
weighted by their hypervolume contribution. PRUNED trials join "above".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from raysweep.samplers._hypervolume import hypervolume, hypervolume_contributions
from raysweep.samplers._pareto import constraint_violations, losses_of, nondominated_ranks
from raysweep.samplers._tpe._options import Gamma
from raysweep.samplers._trial import StudyDirection

# A "below" trial with no exclusive hypervolume (a later front) still counts this much.
_MIN_RELATIVE_CONTRIBUTION = 0.1


@dataclass(frozen=True)
class Outcomes:
    """The ranked trials: COMPLETE ones and PRUNED ones with intermediate values."""

    complete: np.ndarray
    number: np.ndarray
    values: np.ndarray
    step: np.ndarray
    last: np.ndarray
    constraints: np.ndarray
    has_constraints: np.ndarray


@dataclass(frozen=True)
class ConstraintSplit:
    satisfied: np.ndarray
    modelled: np.ndarray
    gamma: float


@dataclass(frozen=True)
class Split:
    """Masks over :class:`Outcomes` rows, and what the acquisition needs besides."""

    below: np.ndarray
    above: np.ndarray
    gamma: float
    below_weights: np.ndarray | None = None
    constraints: list[ConstraintSplit] = field(default_factory=list)


def split(outcomes: Outcomes, directions: Sequence[StudyDirection], gamma: Gamma) -> Split:
    """Split the ranked trials (see the module docstring)."""
    constrained = bool(outcomes.has_constraints.any())
    constraints = np.where(np.isnan(outcomes.constraints), 0.0, outcomes.constraints)
    feasible = np.all(constraints <= 0.0, axis=1)
    if len(directions) == 1:
        result = _single(outcomes, directions[0], gamma, feasible)
    else:
        result = _multi(outcomes, directions, gamma, constraints if constrained else None)
    if not constrained:
        return result
    target = gamma(int(outcomes.complete.sum()))
    extra = [
        _constraint(constraints[:, i], outcomes.complete, target) for i in range(len(constraints.T))
    ]
    return Split(
        result.below,
        result.above,
        result.gamma,
        result.below_weights,
        [c for c in extra if c is not None],
    )


def _single(
    outcomes: Outcomes, direction: StudyDirection, gamma: Gamma, feasible: np.ndarray
) -> Split:
    n = len(outcomes.complete)
    sign = -1.0 if direction is StudyDirection.MAXIMIZE else 1.0
    complete = outcomes.complete
    loss = np.where(complete, sign * outcomes.values[:, 0], 0.0)
    pruned_loss = np.where(np.isnan(outcomes.last), np.inf, sign * outcomes.last)
    order = np.lexsort(
        (
            outcomes.number,
            np.where(complete, 0.0, pruned_loss),
            np.where(complete, loss, -np.nan_to_num(outcomes.step)),
            ~complete,
        )
    )
    target = gamma(n)
    found = np.cumsum(feasible[order])
    n_below = n if n == 0 or found[-1] < target else int(np.searchsorted(found, target)) + 1
    below = np.zeros(n, dtype=bool)
    below[order[:n_below]] = True
    return Split(below, ~below, n_below / n if n else 1.0)


def _multi(
    outcomes: Outcomes,
    directions: Sequence[StudyDirection],
    gamma: Gamma,
    constraints: np.ndarray | None,
) -> Split:
    complete = outcomes.complete
    index = np.flatnonzero(complete)
    below = np.zeros(len(complete), dtype=bool)
    weights = np.ones(len(complete))
    if len(index) == 0:
        return Split(below, ~below, 1.0, weights)
    losses = _finite(losses_of(outcomes.values[index], directions))
    violations = None if constraints is None else constraint_violations(constraints[index])
    ranks = nondominated_ranks(losses, violations)
    target = gamma(len(index))
    chosen: list[int] = []
    for rank in np.unique(ranks):
        front = np.flatnonzero(ranks == rank)
        if len(chosen) + len(front) > target:
            chosen.extend(front[_greedy_hssp(losses[front], target - len(chosen))])
            break
        chosen.extend(front)
    picked = np.array(sorted(chosen), dtype=np.intp)
    below[index[picked]] = True
    weights[index[picked]] = _contribution_weights(losses[picked])
    return Split(below, ~below, len(picked) / len(index), weights)


def _constraint(values: np.ndarray, modelled: np.ndarray, target: int) -> ConstraintSplit | None:
    observed = values[modelled]
    if len(observed) == 0:
        return None
    threshold = max(0.0, float(np.sort(observed)[min(target, len(observed)) - 1]))
    satisfied = modelled & (values <= threshold)
    fraction = satisfied.sum() / len(observed)
    if fraction >= 1.0:
        return None
    return ConstraintSplit(satisfied, modelled, float(fraction))


def _finite(losses: np.ndarray) -> np.ndarray:
    """Infinite losses moved just past the finite ones, so volumes stay finite and ordered."""
    finite = np.where(np.isfinite(losses), losses, np.nan)
    with np.errstate(all="ignore"):
        low = np.nan_to_num(np.nanmin(finite, axis=0), nan=0.0)
        high = np.nan_to_num(np.nanmax(finite, axis=0), nan=0.0)
    margin = high - low + 1.0
    result: np.ndarray = np.clip(losses, low - margin, high + margin)
    return result


def _reference(losses: np.ndarray) -> np.ndarray:
    """A reference point just beyond the worst of ``losses`` on every objective."""
    worst, best = losses.max(axis=0), losses.min(axis=0)
    span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
    result: np.ndarray = worst + 0.1 * span
    return result


def _greedy_hssp(losses: np.ndarray, k: int) -> np.ndarray:
    """``k`` rows chosen greedily by hypervolume gain (lazily: gains only shrink as sets grow)."""
    reference = _reference(losses)
    bound = np.prod(reference - losses, axis=1)
    chosen: list[int] = []
    fresh = np.zeros(len(losses), dtype=bool)
    current = 0.0
    while len(chosen) < k:
        candidate = int(np.argmax(bound))  # lowest index among equals: deterministic
        if not fresh[candidate]:
            gain = hypervolume(losses[[*chosen, candidate]], reference) - current
            bound[candidate], fresh[candidate] = gain, True
            continue
        chosen.append(candidate)
        current += bound[candidate]
        bound[candidate] = -np.inf
        fresh[:] = False
    return np.array(chosen, dtype=np.intp)


def _contribution_weights(losses: np.ndarray) -> np.ndarray:
    """Each "below" point's weight: its exclusive hypervolume over the largest, floored."""
    contributions = hypervolume_contributions(losses, _reference(losses))
    top = contributions.max(initial=0.0)
    if not np.isfinite(top) or top <= 0:
        return np.ones(len(losses))
    weights: np.ndarray = np.clip(contributions / top, _MIN_RELATIVE_CONTRIBUTION, 1.0)
    return weights
