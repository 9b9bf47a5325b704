"""Bad input gets a clear error, and nothing already recorded is lost."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
from objectives import returns

from raysweep.orchestrator import (
    DuplicatedStudyError,
    ObjectiveUsageError,
    StorageError,
    Trial,
    UnplaceableResourcesError,
    create_study,
)
from raysweep.samplers import (
    GridSampler,
    IncompatibleDistributionError,
    InvalidDistributionError,
    RandomSampler,
    TPESampler,
    TrialState,
)
from raysweep.scheduling import ASHA

pytestmark = pytest.mark.usefixtures("ray_session")


def returns_x(trial: Trial) -> float:
    return trial.suggest_float("x", 0.0, 2.0)


def _study(tmp_path: Path, name: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return create_study(name=name, storage=tmp_path, sampler=RandomSampler(seed=0), **kwargs)


@pytest.mark.parametrize(
    ("result", "reason"),
    [(math.nan, "nan"), (math.inf, "inf"), ("0.5", "'0.5'"), (None, "None"), (True, "True")],
)
def test_objective_returning_a_non_number_fails_the_trial_only(
    tmp_path: Path, result: object, reason: str
) -> None:
    study = _study(tmp_path, "bad-return")
    study.optimize(returns(result), n_trials=2, show_progress=False)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.FAILED] * 2
    assert all(reason in (t.error or "") and "finite number" in (t.error or "") for t in trials)
    study.close()


def _raises_on_odd(trial: Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number % 2:
        raise RuntimeError(f"boom in trial {trial.number}")
    return x


def test_objective_raising_fails_the_trial_with_its_traceback(tmp_path: Path) -> None:
    study = _study(tmp_path, "raises")
    study.optimize(_raises_on_odd, n_trials=4, max_concurrent=2, show_progress=False)
    by_number = {t.number: t for t in study.trials}
    assert len(by_number) == 4
    for number, t in by_number.items():
        if number % 2:
            assert t.state is TrialState.FAILED
            assert "Traceback" in (t.error or "") and f"boom in trial {number}" in (t.error or "")
        else:
            assert t.state is TrialState.COMPLETE
    study.close()


def test_catch_empty_propagates_and_keeps_the_record(tmp_path: Path) -> None:
    study = _study(tmp_path, "propagates")
    with pytest.raises(RuntimeError, match="boom in trial 1"):
        study.optimize(_raises_on_odd, n_trials=6, catch=(), show_progress=False)
    by_number = {t.number: t for t in study.trials}
    assert by_number[0].state is TrialState.COMPLETE
    assert by_number[1].state is TrialState.FAILED
    assert len(by_number) == 2  # no trial started after the error
    study.close()


def _steps_backwards(trial: Trial) -> float:
    trial.report(1.0, step=2)
    trial.report(0.5, step=2)
    return 0.0


def _two_distributions(trial: Trial) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    return float(trial.suggest_int("x", 0, 5))


def _low_above_high(trial: Trial) -> float:
    return trial.suggest_float("lr", 1.0, 0.1)


def _log_of_zero(trial: Trial) -> float:
    return trial.suggest_float("lr", 0.0, 1.0, log=True)


def _bad_step(trial: Trial) -> float:
    return float(trial.suggest_int("units", 32, 128, step=5))


def _bad_choices(trial: Trial) -> float:
    trial.suggest_categorical("act", ["relu", ["tanh"]])  # type: ignore[list-item]
    return 0.0


@pytest.mark.parametrize(
    ("objective", "error", "message"),
    [
        (_steps_backwards, ObjectiveUsageError, "steps must increase"),
        (_two_distributions, IncompatibleDistributionError, "'x'"),
        (_low_above_high, InvalidDistributionError, "low"),
        (_log_of_zero, InvalidDistributionError, "log"),
        (_bad_step, InvalidDistributionError, "step"),
        (_bad_choices, InvalidDistributionError, "JSON"),
    ],
)
def test_misused_trial_api_stops_the_study_with_a_clear_error(
    tmp_path: Path, objective: Any, error: type[Exception], message: str
) -> None:
    study = _study(tmp_path, "misuse")
    with pytest.raises(error, match=message):
        study.optimize(objective, n_trials=5, show_progress=False)
    trials = study.trials
    assert len(trials) == 1 and trials[0].state is TrialState.FAILED
    assert message.strip("'") in (trials[0].error or "")
    study.close()


def test_same_name_with_another_kind_across_trials_is_refused(tmp_path: Path) -> None:
    study = _study(tmp_path, "kinds")
    study.optimize(returns(1.0), n_trials=1, show_progress=False)  # x is a float here
    with pytest.raises(IncompatibleDistributionError):
        study.optimize(_as_int, n_trials=2, show_progress=False)
    assert study.trials[0].state is TrialState.COMPLETE
    study.close()


def _as_int(trial: Trial) -> float:
    return float(trial.suggest_int("x", 0, 3))


def test_step_beyond_max_resource(tmp_path: Path) -> None:
    study = _study(
        tmp_path, "beyond", scheduler=ASHA(min_resource=1, max_resource=3, reduction_factor=3)
    )

    def objective(trial: Trial) -> float:
        trial.report(1.0, step=30)
        return 1.0

    with pytest.raises(ObjectiveUsageError, match="beyond max_resource=3"):
        study.optimize(objective, n_trials=1, show_progress=False)
    study.close()


@pytest.mark.parametrize(
    "resources", [{"GPU": 3}, {"CPU": 4}, {"TPU": 8}, {"GPU": 1, "accelerator": 1}]
)
def test_resources_no_node_can_hold_are_an_error_not_a_hang(
    tmp_path: Path, resources: dict[str, float]
) -> None:
    study = _study(tmp_path, "unplaceable")
    with pytest.raises(UnplaceableResourcesError, match="no node"):
        study.optimize(returns(1.0), n_trials=1, resources=resources, show_progress=False)
    assert study.trials == []
    study.close()


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"gpu": 1}, "did you mean 'GPU'"),
        ({"GPU": 1.5}, "fraction"),
        ({"CPU": -1}, "≥ 0"),
        ({"CPU": "one"}, "number"),
        ([("CPU", 1)], r"resources\[0\] must be a dict"),
        ([], "empty list"),
        ({"GPU": 1, "accelerator_type": 100}, "Ray's name of an accelerator type"),
        ({"CPU": 1, "accelerator_type": "H100"}, "but no GPU"),
        ({"memory": 0.5}, "in bytes"),
        ([{"CPU": 1}, {"CPU": 1}], "same alternative twice"),
        ("CPU", r"or a TPUSlice\(version='v5p', topology='2x2x2'\), a list of such"),
    ],
)
def test_malformed_resources(tmp_path: Path, resources: Any, message: str) -> None:
    study = _study(tmp_path, "malformed")
    with pytest.raises(ValueError, match=message):
        study.optimize(returns(1.0), n_trials=1, resources=resources, show_progress=False)
    study.close()


@pytest.mark.parametrize("n_trials", [0, -3, 2.5, True])
def test_n_trials_must_be_positive(tmp_path: Path, n_trials: Any) -> None:
    study = _study(tmp_path, "n-trials")
    with pytest.raises(ValueError, match="n_trials must be an int ≥ 1"):
        study.optimize(returns(1.0), n_trials=n_trials, show_progress=False)
    study.close()


def test_two_different_seeds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two different seeds"):
        create_study(name="seeds", storage=tmp_path, seed=1, sampler=RandomSampler(seed=2))


def test_reopening_with_another_seed_or_direction_is_refused(tmp_path: Path) -> None:
    study = create_study(name="fixed", storage=tmp_path, seed=1)
    study.close()
    with pytest.raises(ValueError, match="seed 1"):
        create_study(name="fixed", storage=tmp_path, seed=2, load_if_exists=True)
    with pytest.raises(ValueError, match="directions"):
        create_study(name="fixed", storage=tmp_path, direction="maximize", load_if_exists=True)
    with pytest.raises(ValueError, match="load_if_exists"):
        create_study(name="fixed", storage=tmp_path)


def test_reopening_with_another_sampler_or_scheduler_is_refused(tmp_path: Path) -> None:
    study = create_study(
        name="kept", storage=tmp_path, sampler=RandomSampler(seed=4), scheduler=ASHA(max_resource=9)
    )
    study.close()
    with pytest.raises(ValueError, match=r"sampler RandomSampler.*TPESampler.*drop sampler="):
        create_study(name="kept", storage=tmp_path, sampler=TPESampler(), load_if_exists=True)
    with pytest.raises(ValueError, match=r"scheduler .*max_resource.*27.*drop scheduler="):
        create_study(
            name="kept", storage=tmp_path, scheduler=ASHA(max_resource=27), load_if_exists=True
        )
    # The same ones again are fine, and so is leaving them out.
    same = create_study(
        name="kept",
        storage=tmp_path,
        sampler=RandomSampler(seed=4),
        scheduler=ASHA(max_resource=9),
        load_if_exists=True,
    )
    same.close()


def test_a_reopened_study_without_a_sampler_goes_on_with_the_recorded_one(tmp_path: Path) -> None:
    grid = GridSampler({"x": [0.0, 1.0, 2.0]})
    study = create_study(name="grid", storage=tmp_path, sampler=grid)
    study.optimize(returns_x, n_trials=2, show_progress=False)
    study.close()
    again = create_study(name="grid", storage=tmp_path, load_if_exists=True)
    again.optimize(returns_x, n_trials=10, show_progress=False)
    # The grid, not a default TPE: its third point, then it is exhausted.
    assert sorted(t.params["x"] for t in again.trials) == [0.0, 1.0, 2.0]
    again.close()


def test_creating_an_open_study_again_without_load_if_exists_is_refused(tmp_path: Path) -> None:
    study = create_study(name="twice", storage=tmp_path)
    with pytest.raises(DuplicatedStudyError, match="load_if_exists"):
        create_study(name="twice", storage=tmp_path)
    again = create_study(name="twice", storage=tmp_path, load_if_exists=True)
    assert again.directory == study.directory
    study.close()


def test_storage_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot write") as info:
        create_study(name="s", storage=blocker / "studies")
    assert str(blocker) in str(info.value)
    assert isinstance(info.value, OSError)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a read-only mount-like dir")
def test_storage_on_a_read_only_path(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        create_study(name="s", storage="/proc/raysweep-studies")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a/b"}, "study name"),
        ({"name": ""}, "study name"),
        ({"name": "x", "direction": "up"}, "'minimize' or 'maximize'"),
        ({"name": "x", "direction": "minimize", "directions": ["minimize"]}, "not both"),
        (
            {
                "name": "x",
                "directions": ["minimize", "maximize"],
                "scheduler": ASHA(max_resource=3),
            },
            "one objective",
        ),
    ],
)
def test_create_study_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_study(storage=tmp_path, **kwargs)
