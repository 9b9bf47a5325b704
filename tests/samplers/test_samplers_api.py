"""The public surface of raysweep.samplers, and its freedom from the runtime's dependencies."""

from __future__ import annotations

import subprocess
import sys

import raysweep.samplers

EXPORTED = {
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
}


def test_exported_names_are_pinned() -> None:
    assert set(raysweep.samplers.__all__) == EXPORTED
    assert len(raysweep.samplers.__all__) == len(EXPORTED)
    for name in EXPORTED:
        assert hasattr(raysweep.samplers, name)


_PROBE = """
import sys
for blocked in ("ray", "pyarrow", "kubernetes", "raysweep.orchestrator", "raysweep.scheduling"):
    sys.modules[blocked] = None
import raysweep.samplers
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "pyarrow", "kubernetes"))
print(loaded)
"""


def test_imports_without_ray_pyarrow_or_the_other_packages() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['kubernetes', 'pyarrow', 'ray']"  # only the blocks
