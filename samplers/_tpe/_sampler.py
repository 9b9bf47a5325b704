"""TPESampler: the Tree-structured Parzen Estimator (Bergstra et al. 2011; Watanabe 2023).

Each proposal splits the finished trials into a good "below" set and the rest ("above"), fits a
Parzen estimator l(x) to the first and g(x) to the second, draws candidates from l and keeps the
one with the largest l(x) / g(x). :mod:`raysweep.samplers._tpe._split` makes the split (pruned
trials, constraints, several objectives), :mod:`raysweep.samplers._tpe._parzen` is the estimator,
:mod:`raysweep.samplers._tpe._acquisition` scores the candidates and
:func:`decompose` cuts a conditional space into groups modelled jointly.

Defaults and why. The reference is Watanabe's ablation study (arXiv 2304.11127); the numbers are
ours, from ``benchmarks/sampler_quality/tpe_tuning.py`` on BBOB (24 functions x 2, 5, 10 dims,
200 evaluations, 10 instances/seeds) against Optuna 5's ``TPESampler(multivariate=True)``:

* ``multivariate=True, group=True``: one joint estimator per group of parameters that appear
  together. Joint kernels keep the dependencies that independent (univariate) TPE throws away;
  the study finds multivariate TPE better across its benchmarks.
* ``gamma=None`` means ``"linear:0.1:25"`` with one objective (the best 10 %, at most 25, as
  Optuna; the study favours this exploitative linear rule at small budgets) and ``"linear:0.1"``
  with several (uncapped, as Optuna's MOTPE, so the Pareto set is not truncated).
* Bandwidths: Hyperopt's neighbour-gap rule (each kernel as wide as its larger gap to the
  neighbouring observations) clipped below at ``max(min_bandwidth, (n + 2) ** -2)`` of the range.
  Optuna's "magic clip" is ``(n + 2) ** -1`` with floor 0.01: at 25 "below" points it keeps
  kernels 4 % of the range wide, which stalls convergence; the study's larger exponent with a
  floor near its recommended 0.01-0.03 converges further. On BBOB exponent 2 beat 1 (mean log10
  regret 0.53 vs 0.69 at 5 seeds), a floor of 0.02 beat 0.01 and 0.03, and a Scott-rule
  bandwidth (one width per column) lost badly (1.27).
* ``n_ei_candidates=48``: more candidates exploit harder (the study's finding); 48 beat 24 and 96.
* ``weights="uniform"``: down-weighting older trials ("decay", Optuna's) made no measurable
  difference on BBOB; a smooth objective does not age. ``prior_weight=1.0``: one wide prior
  kernel as heavy as one observation (0.5 was no better). ``consider_endpoints=False``: the
  range's ends do not widen the outermost kernels (True was worse).
* ``constant_liar=True``: RUNNING (and PAUSED) trials join "above" with the parameters they
  hold, so workers asking at the same moment are pushed apart.
* ``n_startup_trials=10``: uniform proposals until a group of parameters has 10 finished trials.
* ``max_above=2000``: g(x) is fitted on at most 2000 "above" trials (see
  :func:`raysweep.samplers._tpe._prepare.thin_above`). A proposal's cost is linear in g's
  kernels; a cap of 2000 leaves studies of up to about 2000 trials untouched (the BBOB tuning
  above has 200) and on a 5-D sphere over 3000 trials found points as good as no cap.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from raysweep.samplers._base import Sampler, SamplingContext
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._random import sample_uniform_each
from raysweep.samplers._tpe._acquisition import acquisition, keep_apart
from raysweep.samplers._tpe._history import HistoryMemo
from raysweep.samplers._tpe._options import (
    WEIGHTS,
    check_bool,
    check_choice,
    check_int,
    check_real,
    parse_gamma,
    strategy_weights,
)
from raysweep.samplers._tpe._parzen import KernelSettings, ParzenEstimator
from raysweep.samplers._tpe._parzen_space import ParzenSpace
from raysweep.samplers._tpe._prepare import Prepared, prepare, thin_above

_SINGLE_GAMMA = "linear:0.1:25"
_MULTI_GAMMA = "linear:0.1"


class TPESampler(Sampler):
    """Tree-structured Parzen Estimator; the module docstring gives the defaults' reasons.

    * ``n_startup_trials``: uniform random proposals (``sample_uniform`` on ``context.rng(name)``)
      until this many COMPLETE, or PRUNED with intermediate values, trials hold the parameters.
    * ``n_ei_candidates``: draws from l(x) per proposal (and per constraint, see below).
    * ``gamma``: ``"linear:BETA[:CAP]"`` (``ceil(BETA n)``) or ``"sqrt:BETA[:CAP]"``
      (``ceil(BETA sqrt(n))``) "below" trials of ``n``, at most ``CAP``; ``None`` for the default
      of the study's number of objectives. Strings, not functions, keep ``to_json`` plain JSON.
    * ``weights``: ``"uniform"`` or ``"decay"`` (all but the newest 25 trials of a set weighted
      down linearly with age, as Optuna).
    * ``prior_weight`` (> 0), ``consider_endpoints``, ``min_bandwidth`` (a fraction of each
      range, in [1e-6, 1]): the kernels, see :class:`raysweep.samplers._tpe._parzen.KernelSettings`.
    * ``multivariate``: joint estimators; ``group``: one per group of parameters that appear
      together (else one over the parameters every trial has, the rest univariate).
    * ``constant_liar``: running trials count as bad where they are.

    Constraints (``TrialRecord.constraints``) are handled as c-TPE, several objectives as MOTPE:
    see :mod:`raysweep.samplers._tpe._split`. Pruned trials rank after complete ones by the last
    step they reached, then their value there; FAILED and WAITING trials are ignored.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 48,
        gamma: str | None = None,
        weights: str = "uniform",
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        min_bandwidth: float = 0.02,
        multivariate: bool = True,
        group: bool = True,
        constant_liar: bool = True,
        max_above: int | None = 2000,
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
        self.min_bandwidth = check_real("min_bandwidth", min_bandwidth, 1e-6, inclusive=True)
        if self.min_bandwidth > 1.0:
            raise ValueError(
                f"TPESampler: min_bandwidth={min_bandwidth!r} is a fraction of each range; "
                "pass a number in [1e-6, 1]"
            )
        self.multivariate = check_bool("multivariate", multivariate)
        self.group = check_bool("group", group)
        self.constant_liar = check_bool("constant_liar", constant_liar)
        self.max_above = None if max_above is None else check_int("max_above", max_above, 2)
        self._settings = KernelSettings(
            self.prior_weight, self.consider_endpoints, self.min_bandwidth
        )
        self._memo = HistoryMemo()
        self._last: tuple[SamplingContext, Prepared] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The memo (and its lock) is a cache: a copy in another process starts without it.
        state = dict(self.__dict__)
        state["_memo"], state["_last"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._memo = HistoryMemo()

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """Every name seen so far: proposed at trial start, jointly per group when multivariate."""
        return dict(context.seen_distributions)

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        result: dict[str, Any] = {}
        # One call at a time: the memo's row numbers stay valid for the whole proposal.
        with self._memo.lock:
            prepared = self._prepare(context)
            groups = self._groups(prepared, search_space)
            for names in groups:
                space = [search_space[n] for n in names]
                # Two points are near-copies only if close in every parameter: keep a joint
                # group apart from running points, not each name of a univariate proposal.
                apart = len(names) > 1 or len(groups) == 1
                result.update(self._sample(context, prepared, names, space, apart=apart))
        return result

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        with self._memo.lock:
            return self._sample(context, self._prepare(context), (name,), [distribution])[name]

    def _groups(
        self, prepared: Prepared, search_space: dict[str, Distribution]
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

    def _prepare(self, context: SamplingContext) -> Prepared:
        last = self._last
        if last is not None and last[0] is context and last[1].generation == self._memo.generation:
            return last[1]
        gamma = self._gammas[0 if len(context.directions) == 1 else 1]
        prepared = prepare(self._memo, context, gamma)
        self._last = (context, prepared)
        return prepared

    def _sample(
        self,
        context: SamplingContext,
        prepared: Prepared,
        names: tuple[str, ...],
        distributions: Sequence[Distribution],
        *,
        apart: bool = False,
    ) -> dict[str, Any]:
        with self._memo.lock:
            columns = [
                self._memo.values(name, d) for name, d in zip(names, distributions, strict=True)
            ]
        # Internal coordinates of this group over the whole history, one column per name.
        memo_rows = prepared.rows.rows
        raw = np.empty((len(memo_rows), len(columns)), order="F")
        for i, column in enumerate(columns):
            np.take(column, memo_rows, out=raw[:, i])
        complete = np.logical_not(np.isnan(raw).any(axis=1))  # holds the whole group
        held = complete[prepared.ranked]
        if held.sum() < self.n_startup_trials:
            return sample_uniform_each(context, dict(zip(names, distributions, strict=True)))
        space = ParzenSpace(distributions, names)
        the_split = prepared.split
        finished = np.concatenate([prepared.ranked[the_split.above & held], prepared.unranked])
        running = prepared.running[:0]
        if self.constant_liar:
            # A running trial joins with the parameters it holds; the rest take the prior.
            running = prepared.running[~np.isnan(raw[prepared.running]).all(axis=1)]
        above = thin_above(prepared, finished, running, self.weights, self.max_above)
        below_mask = the_split.below & held
        below_weights = (
            self._weights(prepared, prepared.ranked[below_mask])
            if the_split.below_weights is None
            else the_split.below_weights[below_mask]
        )
        estimator = functools.partial(self._estimator, space, raw, prepared)
        terms = [
            (
                estimator(prepared.ranked[below_mask], below_weights),
                estimator(*above),
                the_split.gamma,
            )
        ]
        for constraint in the_split.constraints:
            satisfied = prepared.ranked[constraint.satisfied & held]
            violated = prepared.ranked[constraint.modelled & ~constraint.satisfied & held]
            terms.append((estimator(satisfied), estimator(violated), constraint.gamma))
        rng = context.rng(names[0])
        candidates = np.vstack([below.sample(rng, self.n_ei_candidates) for below, _, _ in terms])
        scores = acquisition(terms, candidates)
        if apart and len(running):
            taken = space.encode_points(raw[running])
            scores = keep_apart(scores, candidates, taken, space.categorical)
        best = int(np.argmax(scores))
        return dict(zip(names, space.decode(candidates[best]), strict=True))

    def _weights(self, prepared: Prepared, rows: np.ndarray) -> np.ndarray:
        return strategy_weights(self.weights, prepared.rows.number[rows])

    def _estimator(
        self,
        space: ParzenSpace,
        raw: np.ndarray,
        prepared: Prepared,
        positions: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> ParzenEstimator:
        """The estimator over the trials at these history positions (rows of ``raw``)."""
        internal = raw[positions]
        keys = [(space.names[i], space.distributions[i]) for i in space.numeric]
        orders = self._memo.orders(keys, prepared.rows.rows[positions], internal[:, space.numeric])
        if weights is None:
            weights = self._weights(prepared, positions)
        points = space.encode_points(internal, copy=False)  # internal is a fresh copy
        return ParzenEstimator(space, points, weights, self._settings, orders)


def decompose(name_sets: Iterable[frozenset[str]]) -> list[tuple[str, ...]]:
    """The groups of names modelled jointly, each sorted, in the order of their first name.

    Two parameters belong to one group exactly when they appear in the same trials: the groups
    are the classes of names with equal sets of trials (Optuna's group-decomposed search space
    gives the same partition, built incrementally). Every trial then holds each group entirely
    or not at all, so a group's joint estimator is fitted on the trials that hold it without any
    gaps. In the usual conditional network space (``n_layers``, per-layer ``n_units_l{i}`` and
    ``dropout_l{i}``, an optimizer and a learning rate) the groups are the always-present
    parameters plus one group per layer index beyond the first.
    """
    distinct = sorted({names for names in name_sets if names}, key=sorted)
    membership: dict[str, list[int]] = {}
    for index, names in enumerate(distinct):
        for name in names:
            membership.setdefault(name, []).append(index)
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, where in membership.items():
        groups.setdefault(tuple(where), []).append(name)
    return sorted(tuple(sorted(names)) for names in groups.values())
