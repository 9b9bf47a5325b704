"""Uniform random search, and the uniform draw other samplers reuse outside their models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from raysweep.samplers._base import Sampler, SamplingContext
from raysweep.samplers._distributions import Distribution


def sample_uniform(rng: np.random.Generator, distribution: Distribution) -> Any:
    """One draw uniform in the search coordinate, as an external value.

    Because the internal bounds reach half a step past each end, every int, grid point and choice
    is equally likely (log-uniform with ``log``).
    """
    low, high = distribution.internal_bounds()
    return distribution.to_external(float(rng.uniform(low, high)))


def sample_uniform_each(
    context: SamplingContext, search_space: Mapping[str, Distribution]
) -> dict[str, Any]:
    """Every name drawn uniformly from its own stream, exactly as :class:`RandomSampler` would.

    Samplers use it for their start-up trials, so that a name's start-up value is the same
    whether it was proposed at trial start or asked for alone inside the objective.
    """
    return {
        name: sample_uniform(context.rng(name), distribution)
        for name, distribution in search_space.items()
    }


class UniformIndependentSampler(Sampler):
    """A sampler that draws a parameter outside its joint proposal as :class:`RandomSampler`
    does: uniformly, from the parameter's own stream ``context.rng(name)``.

    The model-based samplers that propose only a joint space (GP, NSGA-II, CMA-ES) derive from
    it, so that a new name, a conditional one or one whose range changed gets a value that
    depends only on the seed, the trial number, the name and the distribution.
    """

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        return sample_uniform(context.rng(name), distribution)


class RandomSampler(UniformIndependentSampler):
    """Draws every parameter independently and uniformly, ignoring results.

    Each name has its own stream, ``context.rng(name)``, so a value depends only on the seed, the
    trial number, the name and the distribution: not on the order parameters are met, nor on
    whether a parameter was proposed at trial start or inside the objective.
    """

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """Every name seen in a started trial (`context.seen_distributions`).

        Proposing these up front saves the objective a round trip per parameter.
        """
        return dict(context.seen_distributions)

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        return sample_uniform_each(context, search_space)
