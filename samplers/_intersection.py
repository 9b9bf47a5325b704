"""The space every COMPLETE trial shares: what a sampler modelling whole points can fit."""

from __future__ import annotations

from raysweep.samplers._base import SamplingContext
from raysweep.samplers._distributions import Distribution
from raysweep.samplers._trial import TrialState


def intersection_space(context: SamplingContext) -> dict[str, Distribution]:
    """The names every COMPLETE trial has with the distribution the study uses now, in
    ``seen_distributions`` order; empty until a trial is COMPLETE.

    A name whose range changed mid-study drops out: older trials were drawn from another space.
    """
    complete = [t for t in context.history if t.state is TrialState.COMPLETE]
    if not complete:
        return {}
    return {
        name: distribution
        for name, distribution in context.seen_distributions.items()
        if all(t.distributions.get(name) == distribution for t in complete)
    }
