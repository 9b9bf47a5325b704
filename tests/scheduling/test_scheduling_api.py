"""The public surface of raysweep.scheduling and its layer rule."""

from __future__ import annotations

import subprocess
import sys

import raysweep.scheduling as scheduling


def test_exported_names_are_pinned() -> None:
    assert sorted(scheduling.__all__) == [
        "ASHA",
        "Action",
        "ClusterNode",
        "Completion",
        "Decision",
        "Hyperband",
        "MedianStopping",
        "NoPruning",
        "PercentileStopping",
        "PlacementSettings",
        "Plan",
        "Promotion",
        "Retire",
        "Reuse",
        "RunnerState",
        "RunnerView",
        "SLICE_NAME_LABEL",
        "SLICE_POD_TYPE_LABEL",
        "SLICE_WORKER_LABEL",
        "Scheduler",
        "SchedulerState",
        "Shape",
        "SimulatedTrial",
        "Simulation",
        "Start",
        "StepEvent",
        "Wait",
        "Work",
        "WorkKind",
        "complete_slices",
        "plan_placement",
        "scheduler_from_json",
        "simulate",
    ]
    for name in scheduling.__all__:
        if name.startswith("SLICE_"):  # Ray's label names, as text
            assert getattr(scheduling, name).startswith("ray.io/tpu-")
            continue
        assert getattr(scheduling, name).__module__.startswith("raysweep.scheduling")


def test_imports_without_ray_pyarrow_or_samplers() -> None:
    code = (
        "import sys\n"
        "for blocked in ('ray', 'pyarrow', 'raysweep.samplers', 'raysweep.orchestrator'):\n"
        "    sys.modules[blocked] = None\n"
        "import raysweep.scheduling\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
