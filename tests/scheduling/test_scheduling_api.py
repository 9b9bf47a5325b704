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
        "plan_placement",
        "scheduler_from_json",
        "simulate",
    ]
    for name in scheduling.__all__:
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
