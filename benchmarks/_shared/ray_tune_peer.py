"""Ray Tune as the peer of our ASHA: one place that says how Tune is set up, so that every
benchmark that runs it (overhead, live multi-fidelity) gives it the same settings.

Ray Tune is a benchmark-only dependency, imported here and nowhere in raysweep.
"""

from __future__ import annotations

from typing import Any

from raysweep.scheduling import ASHA


def tune_asha_config(asha: ASHA, *, metric: str, concurrency: int, num_samples: int = 1) -> Any:
    """A `TuneConfig` with Tune's `ASHAScheduler` on the rungs of `asha` (its minimum and maximum
    resource and reduction factor, counted in `training_iteration`, maximizing `metric`), at most
    `concurrency` trials at a time, and `reuse_actors=True`: Tune's fastest setting, so that the
    comparison does not charge Tune for starting an actor per trial."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    return tune.TuneConfig(
        num_samples=num_samples,
        scheduler=ASHAScheduler(
            time_attr="training_iteration",
            metric=metric,
            mode="max",
            max_t=asha.max_resource,
            grace_period=asha.min_resource,
            reduction_factor=asha.reduction_factor,
        ),
        reuse_actors=True,
        max_concurrent_trials=concurrency,
    )
