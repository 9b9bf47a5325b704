"""TPESampler: the Tree-structured Parzen Estimator (Bergstra et al. 2011; Watanabe 2023).

Each proposal splits the finished trials into a good "below" set and the rest ("above"), fits a
Parzen estimator l(x) to the first and g(x) to the second, draws candidates from l and keeps the
one with the largest l(x) / g(x). See :mod:`raysweep.samplers._tpe_split` for the split (pruned
trials, constraints, several objectives), :mod:`raysweep.samplers._parzen` for the estimator and
:mod:`raysweep.samplers._tpe_groups` for how a conditional space is cut into joint groups.

Defaults, and why (ablations: Watanabe 2023, arXiv 2304.11127; our BBOB runs in
``benchmarks/_tpe_tuning.py``):

* ``multivariate=True, group=True``: one joint estimator per group of parameters that appear
  together. Joint kernels keep the dependencies between parameters that independent (univariate)
  TPE throws away; the paper finds multivariate better on every benchmark family it tried.
* ``gamma=None``: ``linear:0.10:25`` with one objective: the best 10 % form "below", at most 25,
  the more exploitative of the paper's two rules, which suits budgets of a few hundred trials.
  With several objectives, ``linear:0.10`` uncapped, as MOTPE.
* ``weights="uniform"``: older trials are not down-weighted; a smooth objective does not age.
* ``prior_weight=1.0``: one prior kernel as heavy as one observation.
* ``consider_endpoints=False``: the range's ends do not widen edge kernels ("neighbor" rule).
* bandwidth: see ``TPESampler``'s docstring.
* ``n_ei_candidates``: more candidates exploit harder (the paper's finding); see the tuning.
* ``constant_liar=True``: RUNNING (and PAUSED) trials join "above" with the parameters they hold,
  so workers asking at the same moment are pushed apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysweep.samplers._base import Sampler, SamplingContext
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._parzen import KernelSettings, ParzenEstimator
from raysweep.samplers._parzen_space import ParzenSpace
from raysweep.samplers._random import sample_uniform
from raysweep.samplers._tpe_groups import decompose
from raysweep.samplers._tpe_history import COMPLETE, PRUNED, RUNNING, HistoryMemo, Rows
from raysweep.samplers._tpe_options import (
    BANDWIDTHS,
    WEIGHTS,
    as_json,
    check_bool,
    check_choice,
    check_int,
    check_real,
    parse_gamma,
    strategy_weights,
)
from raysweep.samplers._tpe_split import Outcomes, Split, split

_SINGLE_GAMMA = "linear:0.1:25"
_MULTI_GAMMA = "linear:0.1"


@dataclass(frozen=True)
class _Prepared:
    """One context's history as arrays, its split, and the parameter-name sets of its trials."""

    rows: Rows
    ranked: np.ndarray  # history positions of COMPLETE and PRUNED-with-values trials
    unranked: np.ndarray  # PRUNED trials without intermediate values: "above" only
    running: np.ndarray
    split: Split
    name_sets: list[frozenset[str]]


class TPESampler(Sampler):
    """Tree-structured Parzen Estimator; see the module docstring for the defaults' reasons.

    ``n_startup_trials``: uniform random proposals until this many COMPLETE (or PRUNED with
    intermediate values) trials hold the parameters. ``n_ei_candidates``: draws from l(x) per
    proposal. ``gamma``: ``"linear:BETA[:CAP]"`` or ``"sqrt:BETA[:CAP]"`` (None: the default for
    the number of objectives). ``weights``: ``"uniform"`` or ``"decay"``. ``bandwidth``:
    ``"scott"`` or ``"neighbor"``, never below ``min_bandwidth`` of the range.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: str | None = None,
        weights: str = "uniform",
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        bandwidth: str = "neighbor",
        min_bandwidth: float = 0.01,
        multivariate: bool = True,
        group: bool = True,
        constant_liar: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.n_startup_trials = check_int("n_startup_trials", n_startup_trials, 0)
        self.n_ei_candidates = check_int("n_ei_candidates", n_ei_candidates, 1)
        self._gammas = (
            parse_gamma(_SINGLE_GAMMA if gamma is None else gamma),
            parse_gamma(_MULTI_GAMMA if gamma is None else gamma),
        )
        self.gamma = gamma
        self.weights = check_choice("weights", weights, WEIGHTS)
        self.prior_weight = check_real("prior_weight", prior_weight, 0.0, inclusive=False)
        self.consider_endpoints = check_bool("consider_endpoints", consider_endpoints)
        self.bandwidth = check_choice("bandwidth", bandwidth, BANDWIDTHS)
        self.min_bandwidth = check_real("min_bandwidth", min_bandwidth, 0.0, inclusive=False)
        if self.min_bandwidth > 1.0:
            raise ValueError(
                f"TPESampler: min_bandwidth={min_bandwidth!r} is a fraction of each range; "
                "pass a number in (0, 1]"
            )
        self.multivariate = check_bool("multivariate", multivariate)
        self.group = check_bool("group", group)
        self.constant_liar = check_bool("constant_liar", constant_liar)
        self._settings = KernelSettings(
            self.prior_weight, self.consider_endpoints, self.min_bandwidth, self.bandwidth
        )
        self._memo = HistoryMemo()
        self._last: tuple[SamplingContext, _Prepared] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The memo (and its lock) is a cache: a copy in another process starts without it.
        state = dict(self.__dict__)
        state["_memo"], state["_last"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._memo = HistoryMemo()

    def to_json(self) -> dict[str, Any]:
        arguments = {
            "n_startup_trials": self.n_startup_trials,
            "n_ei_candidates": self.n_ei_candidates,
            "gamma": self.gamma,
            "weights": self.weights,
            "prior_weight": self.prior_weight,
            "consider_endpoints": self.consider_endpoints,
            "bandwidth": self.bandwidth,
            "min_bandwidth": self.min_bandwidth,
            "multivariate": self.multivariate,
            "group": self.group,
            "constant_liar": self.constant_liar,
            "seed": self.seed,
        }
        return {"class": type(self).__name__, "arguments": as_json(arguments)}

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """Every name seen so far: proposed at trial start, jointly per group when multivariate."""
        return dict(context.seen_distributions)

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        prepared = self._prepare(context)
        result: dict[str, Any] = {}
        for names in self._groups(prepared, search_space):
            result.update(self._sample(context, prepared, names, [search_space[n] for n in names]))
        return result

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        return self._sample(context, self._prepare(context), (name,), [distribution])[name]

    def _groups(
        self, prepared: _Prepared, search_space: dict[str, Distribution]
    ) -> list[tuple[str, ...]]:
        """Names sampled together; the rest (never in a finished trial) one by one."""
        wanted = set(search_space)
        if not self.multivariate:
            groups: list[tuple[str, ...]] = []
        elif self.group:
            groups = decompose(prepared.name_sets)
        else:
            common = frozenset.intersection(*prepared.name_sets) if prepared.name_sets else ()
            groups = [tuple(sorted(common))]
        joint = [tuple(n for n in g if n in wanted) for g in groups]
        joint = [g for g in joint if g]
        covered = {n for g in joint for n in g}
        return joint + [(n,) for n in sorted(wanted - covered)]

    def _prepare(self, context: SamplingContext) -> _Prepared:
        last = self._last
        if last is not None and last[0] is context:
            return last[1]
        with self._memo.lock:
            rows = self._memo.rows(context.history)
            finished = (rows.state == COMPLETE) | (rows.state == PRUNED)
            spaces = np.unique(rows.space[finished])
            name_sets = [self._memo.names(int(s)) for s in spaces]
        has_steps = ~np.isnan(rows.step)
        ranked = np.flatnonzero((rows.state == COMPLETE) | ((rows.state == PRUNED) & has_steps))
        unranked = np.flatnonzero((rows.state == PRUNED) & ~has_steps)
        running = np.flatnonzero(rows.state == RUNNING)
        outcomes = Outcomes(
            complete=rows.state[ranked] == COMPLETE,
            number=rows.number[ranked],
            values=rows.values[ranked],
            step=rows.step[ranked],
            last=rows.last[ranked],
            constraints=rows.constraints[ranked],
            has_constraints=rows.has_constraints[ranked],
        )
        gamma = self._gammas[0 if len(context.directions) == 1 else 1]
        prepared = _Prepared(
            rows, ranked, unranked, running, split(outcomes, context.directions, gamma), name_sets
        )
        self._last = (context, prepared)
        return prepared

    def _sample(
        self,
        context: SamplingContext,
        prepared: _Prepared,
        names: tuple[str, ...],
        distributions: Sequence[Distribution],
    ) -> dict[str, Any]:
        with self._memo.lock:
            table = np.column_stack(
                [
                    self._memo.column(name, d, prepared.rows.rows)
                    for name, d in zip(names, distributions, strict=True)
                ]
            )
        ranked = table[prepared.ranked]
        held = ~np.isnan(ranked).any(axis=1)
        if held.sum() < self.n_startup_trials:
            return {
                n: sample_uniform(context.rng(n), d)
                for n, d in zip(names, distributions, strict=True)
            }
        space = ParzenSpace(distributions)
        the_split = prepared.split
        above = [prepared.ranked[the_split.above & held], prepared.unranked]
        if self.constant_liar:
            above.append(prepared.running)
        above_rows = np.concatenate(above)
        above_rows = above_rows[~np.isnan(table[above_rows]).all(axis=1)]
        below_mask = the_split.below & held
        below_weights = (
            self._weights(prepared, prepared.ranked[below_mask])
            if the_split.below_weights is None
            else the_split.below_weights[below_mask]
        )
        terms = [
            (
                self._estimator(space, table, prepared.ranked[below_mask], prepared, below_weights),
                self._estimator(space, table, above_rows, prepared),
                the_split.gamma,
            )
        ]
        for constraint in the_split.constraints:
            satisfied = prepared.ranked[constraint.satisfied & held]
            violated = prepared.ranked[constraint.modelled & ~constraint.satisfied & held]
            terms.append(
                (
                    self._estimator(space, table, satisfied, prepared),
                    self._estimator(space, table, violated, prepared),
                    constraint.gamma,
                )
            )
        rng = context.rng(names[0])
        candidates = np.vstack([below.sample(rng, self.n_ei_candidates) for below, _, _ in terms])
        best = int(np.argmax(_acquisition(terms, candidates)))
        return dict(zip(names, space.decode(candidates[best]), strict=True))

    def _weights(self, prepared: _Prepared, rows: np.ndarray) -> np.ndarray:
        return strategy_weights(self.weights, prepared.rows.number[rows])

    def _estimator(
        self,
        space: ParzenSpace,
        table: np.ndarray,
        rows: np.ndarray,
        prepared: _Prepared,
        weights: np.ndarray | None = None,
    ) -> ParzenEstimator:
        points = space.encode(table[rows])
        if weights is None:
            weights = self._weights(prepared, rows)
        return ParzenEstimator(space, points, weights, self._settings)


def _acquisition(
    terms: list[tuple[ParzenEstimator, ParzenEstimator, float]], candidates: np.ndarray
) -> np.ndarray:
    """log l - log g for one term; with constraints, c-TPE's sum of log relative ratios."""
    if len(terms) == 1:
        below, above, _ = terms[0]
        result: np.ndarray = below.log_pdf(candidates) - above.log_pdf(candidates)
        return result
    total = np.zeros(len(candidates))
    for below, above, gamma in terms:
        log_ratio = above.log_pdf(candidates) - below.log_pdf(candidates)
        with np.errstate(divide="ignore"):
            log_rest = math.log1p(-gamma) if gamma < 1.0 else -np.inf
        total -= np.logaddexp(math.log(max(gamma, 1e-12)), log_rest + log_ratio)
    return total
