"""MultiFidelitySampler: a model-based sampler for studies pruned by ASHA or Hyperband.

BOHB (Falkner, Klein and Hutter, ICML 2018, "BOHB: Robust and Efficient Hyperparameter
Optimization at Scale", section 4.1) fits its TPE-like model on the results of the highest
budget that has enough observations: low budgets have many, cheap and noisy results; high
budgets few, faithful ones. This sampler does the same asynchronously, for any base sampler: it
picks a fidelity from ``context.fidelity_steps`` (the scheduler's rungs, passed in by the
orchestrator as plain ints, so samplers never know the scheduler), rewrites the history as
single-budget results at that fidelity (:mod:`raysweep.samplers._fidelity_view`), and lets the
base sampler propose on that view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from raysweep.samplers._base import Sampler, SamplingContext
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._errors import SamplerConfigurationError
from raysweep.samplers._fidelity_view import FidelityMemo, counts, view_history
from raysweep.samplers._from_json import sampler_from_json
from raysweep.samplers._tpe import TPESampler
from raysweep.samplers._trial import StudyDirection

# Contexts whose views are kept: the orchestrator may interleave the proposals of a few trials.
_VIEWS_KEPT = 16


class MultiFidelitySampler(Sampler):
    """Proposes with ``base`` (default :class:`TPESampler`) fitted on one fidelity's results.

    Use it with a scheduler that compares trials at rungs (``ASHA``, ``Hyperband``), e.g.
    ``create_study(..., scheduler=ASHA(..., mode="promote"), sampler=MultiFidelitySampler())``.

    * The fidelity is the highest of ``context.fidelity_steps`` at which at least
      ``min_observations`` trials have a (not NaN) value; when none has enough, the lowest (it
      has the most data, and the base does its own random start-up there). The default
      ``min_observations`` is ``d + 3`` for ``d`` parameters seen so far (BOHB's
      ``N_min = d + 1``, plus the two points its model needs beyond that), raised to the base's
      ``n_startup_trials`` when it has one, so the chosen fidelity is one where the base
      actually models rather than samples at random.
    * A trial's value at a fidelity is its report that crossed that rung (the first step at or
      past it and below the next fidelity step); at the last fidelity, the full budget, a
      COMPLETE trial's objective value. The base sees trials with a value as COMPLETE (NaN:
      FAILED), RUNNING and WAITING trials without one as RUNNING (their points are taken),
      trials pruned or paused below the fidelity as PRUNED at the highest fidelity they reached
      (TPE ranks them after every COMPLETE one: they lost to the trials that got there), and
      no others.
    * Without fidelities (``fidelity_steps == ()``: the scheduler compares no steps) it is
      exactly the base sampler: there is nothing to choose.

    One objective only. ``base`` may also be a base sampler's ``to_json()`` (so that
    ``MultiFidelitySampler(**sampler.to_json()["arguments"])`` rebuilds a sampler); ``seed``
    defaults to the base's.
    """

    def __init__(
        self,
        base: Sampler | Mapping[str, Any] | None = None,
        *,
        min_observations: int | None = None,
        seed: int | None = None,
    ) -> None:
        base = _base_sampler(base)
        if seed is not None and base.seed is not None and seed != base.seed:
            raise ValueError(
                f"MultiFidelitySampler: seed={seed!r} differs from the base sampler's seed "
                f"{base.seed!r}; pass the seed once"
            )
        super().__init__(seed=base.seed if seed is None else seed)
        if min_observations is not None and (
            isinstance(min_observations, bool)
            or not isinstance(min_observations, int)
            or min_observations < 1
        ):
            raise ValueError(
                f"MultiFidelitySampler: min_observations={min_observations!r} must be an int "
                ">= 1, or None for the number of parameters + 3"
            )
        self.base = base
        self.min_observations = min_observations
        self._memo = FidelityMemo()
        self._views: OrderedDict[int, tuple[SamplingContext, SamplingContext, int | None]] = (
            OrderedDict()
        )
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        # The memos (and their locks) are caches: a copy in another process starts without them.
        state = dict(self.__dict__)
        state["_memo"], state["_views"], state["_lock"] = None, None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._memo = FidelityMemo()
        self._views = OrderedDict()
        self._lock = threading.RLock()

    def check_directions(self, directions: tuple[StudyDirection, ...]) -> None:
        if len(directions) != 1:
            raise SamplerConfigurationError(
                f"MultiFidelitySampler models one objective at each rung; this study has "
                f"{len(directions)}. Use TPESampler or NSGA2Sampler (and no pruning scheduler) "
                "for several objectives"
            )
        self.base.check_directions(directions)

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        return self.base.infer_relative_search_space(self.view(context))

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(self.view(context), search_space)

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        return self.base.sample_independent(self.view(context), name, distribution)

    def fidelity(self, context: SamplingContext) -> int | None:
        """The fidelity step the base models for this context; None without fidelities."""
        return self._lookup(context)[2]

    def view(self, context: SamplingContext) -> SamplingContext:
        """The context the base sampler is given: ``context`` itself without fidelities."""
        return self._lookup(context)[1]

    def min_observations_for(self, context: SamplingContext) -> int:
        """Results a fidelity needs before the base models it (see the class docstring)."""
        if self.min_observations is not None:
            return self.min_observations
        startup = getattr(self.base, "n_startup_trials", 0)
        if isinstance(startup, bool) or not isinstance(startup, int):
            startup = 0
        return max(len(context.seen_distributions) + 3, startup)

    def _lookup(
        self, context: SamplingContext
    ) -> tuple[SamplingContext, SamplingContext, int | None]:
        # One view object per context, so the base's per-context caches (TPE's) hit across the
        # joint proposal and the independent ones inside the objective.
        with self._lock:
            found = self._views.get(id(context))
            if found is not None and found[0] is context:
                self._views.move_to_end(id(context))
                return found
            found = (context, *self._build(context))
            self._views[id(context)] = found
            while len(self._views) > _VIEWS_KEPT:
                self._views.popitem(last=False)
            return found

    def _build(self, context: SamplingContext) -> tuple[SamplingContext, int | None]:
        steps = context.fidelity_steps
        if not steps:
            return context, None
        if len(context.directions) != 1:
            self.check_directions(context.directions)
        with self._memo.lock:
            entries = self._memo.entries(context.history, steps)
            needed = self.min_observations_for(context)
            enough = [i for i, n in enumerate(counts(entries, len(steps))) if n >= needed]
            index = enough[-1] if enough else 0
            history = view_history(entries, index)
        view = SamplingContext(
            study_seed=context.study_seed,
            trial_number=context.trial_number,
            directions=context.directions,
            history=history,
            seen=context.seen_distributions,
            # A view of the context's history, which was checked (or vouched for) already.
            history_excludes_trial=True,
        )
        return view, steps[index]


def _base_sampler(base: Sampler | Mapping[str, Any] | None) -> Sampler:
    """The base sampler: the default, the one given, or one rebuilt from its ``to_json()``."""
    if base is None:
        return TPESampler()
    if isinstance(base, Sampler):
        return base
    if not isinstance(base, Mapping) or set(base) != {"class", "arguments"}:
        raise TypeError(
            f"MultiFidelitySampler: base={base!r} must be a Sampler (e.g. TPESampler()), a "
            "sampler's to_json() dict, or None for TPESampler()"
        )
    try:
        return sampler_from_json(base)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"MultiFidelitySampler: base: {exc}") from None
