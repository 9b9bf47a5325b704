"""Trials run on the hardware they ask for: GPU shares and custom resources (fake, on Ray)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from objectives import slow_quadratic

from raysweep.orchestrator import Trial, UnplaceableResourcesError, create_study
from raysweep.samplers import RandomSampler, TrialState

pytestmark = pytest.mark.usefixtures("ray_session")


def _where(trial: Trial) -> float:
    import ray

    trial.set_user_attr("gpus", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    trial.set_user_attr("resources", ray.get_runtime_context().get_assigned_resources())
    trial.set_user_attr("node", ray.get_runtime_context().get_node_id())
    placement = trial.placement
    assert placement is not None
    trial.set_user_attr("placement", [placement.resources, list(placement.nodes)])
    return trial.suggest_float("x", 0.0, 1.0)


def _where_slowly(trial: Trial) -> float:
    import time

    time.sleep(0.4)  # long enough that the runners of both alternatives are taken
    return _where(trial)


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


def test_each_trial_knows_where_it_runs_and_the_table_says_so(tmp_path: Path) -> None:
    study = create_study(name="placed", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(
        _where, n_trials=3, max_concurrent=2, resources={"GPU": 0.5}, show_progress=False
    )
    table = study.trials_table().to_pylist()
    for t, row in zip(study.trials, table, strict=True):
        resources, nodes = t.user_attrs["placement"]
        assert resources == {"GPU": 0.5} and nodes == [t.user_attrs["node"]]
        assert json.loads(row["placement_resources"]) == {"GPU": 0.5}
        assert row["placement_nodes"] == [t.user_attrs["node"]]
    study.close()


def test_a_trial_takes_the_first_alternative_that_can_start(tmp_path: Path) -> None:
    # Two fake GPUs and two CPUs: with four trials at once, two run on a GPU and two on a CPU.
    study = create_study(name="either", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(
        _where_slowly,
        n_trials=8,
        max_concurrent=4,
        resources=[{"GPU": 1}, {"CPU": 1}],
        show_progress=False,
    )
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    taken = [t.user_attrs["resources"] for t in trials]
    assert {"GPU": 1.0} in taken and {"CPU": 1.0} in taken
    assert all(r in ({"GPU": 1.0}, {"CPU": 1.0}) for r in taken)
    study.close()


def test_an_accelerator_type_no_node_has_falls_back_to_the_next_alternative(
    tmp_path: Path,
) -> None:
    study = create_study(name="typed", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(
        _where,
        n_trials=2,
        resources=[{"GPU": 1, "accelerator_type": "H100"}, {"CPU": 1}],
        show_progress=False,
    )
    assert [t.user_attrs["resources"] for t in study.trials] == [{"CPU": 1.0}] * 2
    with pytest.raises(UnplaceableResourcesError, match="accelerator_type: H100"):
        study.optimize(
            _where,
            n_trials=3,
            resources={"GPU": 1, "accelerator_type": "H100"},
            show_progress=False,
        )
    study.close()
