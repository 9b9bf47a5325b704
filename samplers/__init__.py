"""Search spaces, trial records and samplers: the pure core that proposes parameter values.

Nothing here talks to Ray, reads a clock or touches a global random state; every proposal is a
function of a :class:`SamplingContext`, so replaying a study's event log reproduces it.

The samplers that need scipy or a model (and `sampler_from_json`, which names them all) are
imported on first use: a process that only records trials (a runner) does not pay for them.
"""

import importlib
from typing import TYPE_CHECKING, Any

from raysweep.samplers._base import (
    Sampler,
    SamplingContext,
    SeenDistributions,
    sampler_rng,
    seen_distributions,
)
from raysweep.samplers._categorical import CategoricalDistribution
from raysweep.samplers._distributions import Distribution, check_compatible, distribution_from_json
from raysweep.samplers._errors import (
    IncompatibleDistributionError,
    InvalidDistributionError,
    SamplerConfigurationError,
    SearchSpaceExhaustedError,
)
from raysweep.samplers._float import FloatDistribution
from raysweep.samplers._grid import GridSampler
from raysweep.samplers._history import HistoryView
from raysweep.samplers._hypervolume import hypervolume, hypervolume_contributions
from raysweep.samplers._int import IntDistribution
from raysweep.samplers._jsonvalues import CategoricalChoice
from raysweep.samplers._pareto import nondominated_ranks, pareto_front_mask
from raysweep.samplers._random import RandomSampler
from raysweep.samplers._trial import StudyDirection, TrialRecord, TrialState, trial_record_from_json

if TYPE_CHECKING:
    from raysweep.samplers._cmaes import CmaEsSampler
    from raysweep.samplers._from_json import sampler_from_json
    from raysweep.samplers._gp import GPSampler
    from raysweep.samplers._multi_fidelity import MultiFidelitySampler
    from raysweep.samplers._nsga2 import NSGA2Sampler
    from raysweep.samplers._qmc import QMCSampler
    from raysweep.samplers._tpe import TPESampler

# Public names imported when first used: name -> its module.
_ON_FIRST_USE = {
    "CmaEsSampler": "raysweep.samplers._cmaes",
    "sampler_from_json": "raysweep.samplers._from_json",
    "GPSampler": "raysweep.samplers._gp",
    "MultiFidelitySampler": "raysweep.samplers._multi_fidelity",
    "NSGA2Sampler": "raysweep.samplers._nsga2",
    "QMCSampler": "raysweep.samplers._qmc",
    "TPESampler": "raysweep.samplers._tpe",
}

__all__ = [
    "CategoricalChoice",
    "CategoricalDistribution",
    "CmaEsSampler",
    "Distribution",
    "FloatDistribution",
    "GPSampler",
    "GridSampler",
    "HistoryView",
    "IncompatibleDistributionError",
    "IntDistribution",
    "InvalidDistributionError",
    "MultiFidelitySampler",
    "NSGA2Sampler",
    "QMCSampler",
    "RandomSampler",
    "Sampler",
    "SamplerConfigurationError",
    "SamplingContext",
    "SearchSpaceExhaustedError",
    "SeenDistributions",
    "StudyDirection",
    "TPESampler",
    "TrialRecord",
    "TrialState",
    "check_compatible",
    "distribution_from_json",
    "hypervolume",
    "hypervolume_contributions",
    "nondominated_ranks",
    "pareto_front_mask",
    "sampler_from_json",
    "sampler_rng",
    "seen_distributions",
    "trial_record_from_json",
]


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
