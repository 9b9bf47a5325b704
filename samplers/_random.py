"""Uniform random search, and the uniform draw other samplers reuse for their start-up trials."""

from __future__ import annotations

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


class RandomSampler(Sampler):
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
        return {
            name: self.sample_independent(context, name, distribution)
            for name, distribution in search_space.items()
        }

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        return sample_uniform(context.rng(name), distribution)
