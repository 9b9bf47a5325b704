"""CMA-ES over the numeric parameters, rebuilt from the study's history on every proposal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from raysweep.samplers._base import SamplingContext, intersection_space
from raysweep.samplers._cmaes_replay import (
    CmaSettings,
    NumericDistribution,
    ReplayCache,
    draw,
    from_unit,
    generations,
    to_unit,
)
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._int import IntDistribution
from raysweep.samplers._random import UniformIndependentSampler
from raysweep.samplers._trial import StudyDirection, TrialState

_MISSING_CMAES = "CmaEsSampler needs the optional package cmaes: pip install 'raysweep[cmaes]'"
_DEFAULT_SIGMA0 = 1 / 6


def _require_cmaes() -> None:
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise ImportError(_MISSING_CMAES) from None


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_real(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def default_popsize(dim: int) -> int:
    """The population size CMA-ES recommends for ``dim`` parameters: 4 + floor(3 ln dim)."""
    return 4 + math.floor(3 * math.log(dim))


class CmaEsSampler(UniformIndependentSampler):
    """Single-objective CMA-ES (Hansen, arXiv:1604.00772) over the float and int parameters.

    Each numeric parameter is searched on its search coordinate (the logarithm with ``log``)
    scaled so that its internal bounds become [0, 1]; ints and stepped floats are searched as
    continuous and rounded when mapped back. Categorical parameters are not modelled: they, and
    every parameter outside the joint space, are drawn uniformly on their own.

    The sampler keeps no state. The joint space is the numeric names that every COMPLETE trial
    has, each with the distribution the study uses now (sorted by name). The COMPLETE trials that
    hold that space, ordered by number, are cut into generations of ``popsize``; the full ones
    are told, in order, to a fresh optimizer (a memo cache makes this incremental), and the
    proposal for trial *n* is one draw of the resulting distribution from the trial's own stream
    ``context.rng(None)``. So trials running in parallel each get their own draw, as the
    members of one CMA-ES generation do. A trial that completes late, with a number below
    trials already told, reshapes the generations from its position on. Infinite values keep
    their rank; PRUNED and FAILED trials are not told. When the run converges or breaks down
    (the library's ``should_stop``), it restarts from ``x0`` with ``sigma0``.

    Args:
        x0: starting mean, name -> external value inside the parameter's range (it need not
            be on a step grid); names not given start at the centre of their range. Checked
            when the first proposal is made: each name must be a numeric parameter the study
            has already used.
        sigma0: initial step size as a fraction of each parameter's range, in (0, 1];
            ``None`` means 1/6.
        popsize: trials per generation, an int >= 2; ``None`` means 4 + floor(3 ln d) for
            d numeric parameters.
        n_startup_trials: COMPLETE trials drawn uniformly before CMA-ES starts. With 0 the
            first trial is uniform anyway: the joint space comes from COMPLETE trials.
        seed: the study seed to use (see :class:`Sampler`).

    Needs the optional package ``cmaes`` (``pip install 'raysweep[cmaes]'``).
    """

    def __init__(
        self,
        *,
        x0: Mapping[str, float] | None = None,
        sigma0: float | None = None,
        popsize: int | None = None,
        n_startup_trials: int = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        _require_cmaes()
        self.x0 = None if x0 is None else _checked_x0(x0)
        if sigma0 is not None and not (_is_real(sigma0) and 0 < sigma0 <= 1):
            raise ValueError(
                f"CmaEsSampler: sigma0={sigma0!r} must be a number in (0, 1], the initial step "
                "size as a fraction of each parameter's range, or None for 1/6"
            )
        if popsize is not None and not _is_count(popsize, 2):
            raise ValueError(
                f"CmaEsSampler: popsize={popsize!r} must be an int >= 2, or None for "
                "4 + floor(3 ln d) with d numeric parameters"
            )
        if not _is_count(n_startup_trials, 0):
            raise ValueError(
                f"CmaEsSampler: n_startup_trials={n_startup_trials!r} must be an int >= 0"
            )
        self.sigma0 = None if sigma0 is None else float(sigma0)
        self.popsize = popsize
        self.n_startup_trials = n_startup_trials
        self._cache = ReplayCache()

    def check_directions(self, directions: tuple[StudyDirection, ...]) -> None:
        if len(directions) != 1:
            raise ValueError(
                f"CmaEsSampler optimizes one objective, and this study has {len(directions)}; "
                "for a multi-objective study use NSGA2Sampler or TPESampler"
            )

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """The numeric names every COMPLETE trial has, with the distribution used now.

        Empty until ``n_startup_trials`` trials (and at least one) are COMPLETE.
        """
        complete = [t for t in context.history if t.state is TrialState.COMPLETE]
        if not complete or len(complete) < self.n_startup_trials:
            return {}
        space = intersection_space(context)
        numeric = (FloatDistribution, IntDistribution)
        return {name: space[name] for name in sorted(space) if isinstance(space[name], numeric)}

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        self.check_directions(context.directions)
        result: dict[str, Any] = {}
        space: dict[str, NumericDistribution] = {}
        for name in sorted(search_space):
            distribution = search_space[name]
            if isinstance(distribution, (FloatDistribution, IntDistribution)):
                space[name] = distribution
            else:
                result[name] = self.sample_independent(context, name, distribution)
        if not space:
            return result
        start = self._check_x0_in(context, space)
        settings = CmaSettings(
            mean=tuple(
                to_unit(d, start[name]) if name in start else 0.5 for name, d in space.items()
            ),
            sigma=_DEFAULT_SIGMA0 if self.sigma0 is None else self.sigma0,
            popsize=default_popsize(len(space)) if self.popsize is None else self.popsize,
            seed=context.study_seed % 2**32,
        )
        told = generations(context.history, space, context.directions[0], settings.popsize)
        state = self._cache.state(settings, told)
        point = draw(state, int(context.rng(None).integers(2**32)))
        for (name, distribution), unit in zip(space.items(), point, strict=True):
            result[name] = from_unit(distribution, unit)
        return result

    def _check_x0_in(
        self, context: SamplingContext, space: Mapping[str, NumericDistribution]
    ) -> dict[str, float]:
        """``x0`` once the space is known: every name used by the study, numeric, in range."""
        seen = context.seen_distributions
        for name, value in (self.x0 or {}).items():
            distribution = space.get(name, seen.get(name))
            if distribution is None:
                numeric = sorted(
                    n
                    for n, d in seen.items()
                    if isinstance(d, (FloatDistribution, IntDistribution))
                )
                raise ValueError(
                    f"CmaEsSampler: x0 names {name!r}, which no trial of this study has used; "
                    f"name the objective's numeric parameters ({numeric}) and leave out "
                    "conditional ones, which CMA-ES does not model"
                )
            if not isinstance(distribution, (FloatDistribution, IntDistribution)):
                raise ValueError(
                    f"CmaEsSampler: x0[{name!r}] is for a categorical parameter; CMA-ES draws "
                    "those uniformly, so leave it out of x0"
                )
            if name in space and not distribution.low <= value <= distribution.high:
                raise ValueError(
                    f"CmaEsSampler: x0[{name!r}]={value!r} is outside {distribution!r}; "
                    f"pass a value in [{distribution.low!r}, {distribution.high!r}]"
                )
        return self.x0 or {}


def _checked_x0(x0: object) -> dict[str, float]:
    """``x0`` as a plain JSON dict, refusing anything but str -> finite number."""
    if not isinstance(x0, Mapping):
        raise ValueError(
            f"CmaEsSampler: x0={x0!r} must be a dict of parameter name -> starting value, "
            "or None to start at the centre of every range"
        )
    for name, value in x0.items():
        if not isinstance(name, str) or not _is_real(value):
            raise ValueError(
                f"CmaEsSampler: x0[{name!r}]={value!r}; x0 maps each parameter name (a str) "
                "to a finite int or float"
            )
    return {
        name: int(value) if isinstance(value, (int, np.integer)) else float(value)
        for name, value in x0.items()
    }
