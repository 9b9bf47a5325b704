"""Trials run on the hardware they ask for: GPU shares and custom resources (fake, on Ray)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from objectives import slow_quadratic

from raysweep.orchestrator import Trial, create_study
from raysweep.samplers import RandomSampler, TrialState

pytestmark = pytest.mark.usefixtures("ray_session")


def _where(trial: Trial) -> float:
    import ray

    trial.set_user_attr("gpus", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    trial.set_user_attr("resources", ray.get_runtime_context().get_assigned_resources())
    return trial.suggest_float("x", 0.0, 1.0)


def test_a_gpu_share_per_trial(tmp_path: Path) -> None:
    study = create_study(name="gpu-share", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(
        _where, n_trials=4, max_concurrent=4, resources={"GPU": 0.5}, show_progress=False
    )
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for t in trials:
        assert t.user_attrs["gpus"] in {"0", "1"}
        assert t.user_attrs["resources"].get("GPU") == 0.5
    study.close()


def test_custom_resources_per_trial(tmp_path: Path) -> None:
    study = create_study(name="custom", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(_where, n_trials=2, resources={"TPU": 4, "CPU": 1}, show_progress=False)
    for t in study.trials:
        assert t.state is TrialState.COMPLETE
        assert t.user_attrs["resources"] == {"TPU": 4.0, "CPU": 1.0}
    study.close()


def test_timeout_without_n_trials_ends_the_call(tmp_path: Path) -> None:
    study = create_study(name="timeout", storage=tmp_path, sampler=RandomSampler(seed=0))
    # With no n_trials, only the timeout ends the call; how many trials fit depends on the
    # machine, but none is left running: trials that started before the deadline finish.
    study.optimize(slow_quadratic, timeout=2.0, max_concurrent=2, show_progress=False)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    study.close()
