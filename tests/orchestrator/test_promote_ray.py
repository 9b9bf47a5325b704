"""Promote mode end to end on local Ray: pauses free runners, promoted trials resume from their
checkpoints (really: the model goes on training), and everything is rebuilt from the log."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
from rung_checks import check_every_rung_promoted_its_top
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from raysweep.orchestrator import ObjectiveUsageError, Trial, create_study
from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._storage._log import EventLog
from raysweep.samplers import MultiFidelitySampler, RandomSampler, TrialState
from raysweep.scheduling import ASHA, Hyperband

pytestmark = pytest.mark.usefixtures("ray_session")

EPOCHS = 9
PROMOTE = ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3, mode="promote")


def digits_mlp(trial: Trial) -> float:
    """The quickstart's training, smaller: an MLP on digits, one `partial_fit` per epoch."""
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    units = trial.suggest_int("units", 16, 64)
    x, y = load_digits(return_X_y=True)
    x_train, y_train, x_val, y_val = x[:1200] / 16.0, y[:1200], x[1200:] / 16.0, y[1200:]
    model = MLPClassifier(hidden_layer_sizes=(units,), learning_rate_init=lr, random_state=0)
    first = 1
    saved = trial.checkpoint()
    if saved is not None:
        model, first = saved["model"], saved["epoch"] + 1
        assert first == trial.checkpoint_step + 1
    accuracy = 0.0
    for epoch in range(first, EPOCHS + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=np.arange(10))
        accuracy = float(model.score(x_val, y_val))
        trial.report(accuracy, epoch, checkpoint=lambda e=epoch: {"model": model, "epoch": e})
    trial.set_user_attr("first_epoch", first)
    trial.set_user_attr("epochs_trained", int(model.t_) // len(x_train))
    return accuracy


def no_checkpoint(trial: Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("checkpoint_given", trial.checkpoint() is not None)
    for epoch in range(1, EPOCHS + 1):
        trial.report(x * epoch, epoch)
    return x * EPOCHS


def earlier_is_better(trial: Trial) -> float:
    """Lower trial numbers score higher at every step; checkpoints carry the epoch."""
    saved = trial.checkpoint()
    first = 1 if saved is None else saved["epoch"] + 1
    value = 0.0
    for epoch in range(first, EPOCHS + 1):
        value = 1.0 - 0.01 * trial.number + 0.001 * epoch
        trial.report(value, epoch, checkpoint=lambda e=epoch: {"epoch": e})
    return value


def never_reports(trial: Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def unpicklable_checkpoint(trial: Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    for epoch in range(1, EPOCHS + 1):
        trial.report(x, epoch, checkpoint=lambda: {"generator": (i for i in range(3))})
    return x


def value_not_function(trial: Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.report(x, 1, checkpoint={"x": x})  # type: ignore[arg-type]
    return x


def _events(directory: Path) -> list[Any]:
    log, events, _ = EventLog.open(directory, create=False)
    log.close()
    return events


def _promotions_given_up(events: list[Any]) -> list[int]:
    return [
        e.trial for e in events if e.kind == ev.EventKind.TRIAL_RESUMED and "skipped" in e.payload
    ]


def _study(tmp_path: Path, name: str, **options: Any) -> Any:
    options.setdefault("scheduler", PROMOTE)
    options.setdefault("sampler", RandomSampler(seed=1))
    return create_study(name=name, storage=tmp_path, direction="maximize", **options)


def test_promoted_trials_continue_training_from_their_checkpoint(tmp_path: Path) -> None:
    # The checkpoint is the scikit-learn model itself: only a pickle holds it.
    study = _study(tmp_path, "digits-promote", checkpoint_format="pickle")
    study.optimize(digits_mlp, n_trials=12, max_concurrent=2, show_progress=False)
    trials = study.trials
    states = [t.state for t in trials]
    assert states.count(TrialState.PAUSED) >= 6
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert complete, states
    for trial in complete:
        # Resumed from rung 3, not retrained: the model carried its epochs over.
        assert trial.user_attrs["first_epoch"] > 1
        assert trial.user_attrs["epochs_trained"] == EPOCHS
        assert sorted(trial.intermediate_values) == list(range(1, EPOCHS + 1))
    usage = study.resource_usage()
    assert usage.repeated_steps == 0
    assert usage.resumed_from_checkpoint >= len(complete)
    assert usage.pauses >= 6 + len(complete)
    assert usage.reported_steps == sum(len(t.intermediate_values) for t in trials)
    # Checkpoints of finished trials are gone; each paused trial keeps its latest one.
    study.close()
    kept = {p.parent.name for p in (study.directory / "checkpoints").rglob("step-*.pkl")}
    paused = {f"trial-{t.number}" for t in trials if t.state is TrialState.PAUSED}
    assert kept == paused


def test_a_promotion_without_checkpoint_restarts_and_is_counted(tmp_path: Path) -> None:
    study = _study(tmp_path, "no-checkpoint")
    study.optimize(no_checkpoint, n_trials=9, max_concurrent=1, show_progress=False)
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert complete
    assert not any(t.user_attrs["checkpoint_given"] for t in study.trials)
    usage = study.resource_usage()
    assert usage.restarted_from_scratch >= len(complete)
    assert usage.resumed_from_checkpoint == 0
    # Each promotion re-runs the steps the trial had reached (1 from rung 1, 3 from rung 3).
    assert usage.repeated_steps >= 4 * len(complete)
    study.close()


def test_pausing_holds_no_runner_and_no_gpu(tmp_path: Path) -> None:
    total = ray.cluster_resources()["GPU"]
    study = _study(tmp_path, "gpu-pause")
    study.optimize(
        no_checkpoint, n_trials=10, max_concurrent=2, resources={"GPU": 1}, show_progress=False
    )
    states = [t.state for t in study.trials]
    assert states.count(TrialState.PAUSED) > 2  # more trials paused than runners existed
    assert ray.get(study._actors.scheduler.busy_runners.remote()) == set()
    study.close()
    # Every runner, and so every GPU, was given back, though trials are still paused (killed
    # actors hand their resources back within moments).
    deadline = time.monotonic() + 20
    while ray.available_resources().get("GPU") != total and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("GPU") == total
    running = 0
    events = _events(study.directory)
    # Only paused trials are promoted: no promotion is given up.
    assert not [
        e for e in events if e.kind == ev.EventKind.TRIAL_RESUMED and "skipped" in e.payload
    ]
    for event in events:
        if event.kind in (ev.EventKind.TRIAL_STARTED, ev.EventKind.TRIAL_RESUMED):
            running += 1
        elif event.kind in (
            ev.EventKind.TRIAL_PAUSED,
            ev.EventKind.TRIAL_FINISHED,
            ev.EventKind.TRIAL_INTERRUPTED,
        ):
            running -= 1
        assert running <= 2


def test_a_reopened_study_promotes_what_the_first_run_paused(tmp_path: Path) -> None:
    study = _study(tmp_path, "reopen")
    study.optimize(earlier_is_better, n_trials=6, max_concurrent=2, show_progress=False)
    before = {t.number: t for t in study.trials}
    study.close()
    study = _study(tmp_path, "reopen", load_if_exists=True)
    study.optimize(earlier_is_better, n_trials=15, max_concurrent=2, show_progress=False)
    after = {t.number: t for t in study.trials}
    # Rung 1 now holds 15 trials: its top 5 are trials 0-4, so those the first run left paused
    # there are promoted now, by a scheduler rebuilt from the log.
    left = [
        n
        for n in range(5)
        if before[n].state is TrialState.PAUSED and max(before[n].intermediate_values) == 1
    ]
    assert left
    for number in left:
        assert max(after[number].intermediate_values) >= 3
        assert min(after[number].intermediate_values) == 1  # its curve kept its first step
    assert study.resource_usage().repeated_steps == 0
    # The default format: data only, found by trial and step.
    checkpoints = list((study.directory / "checkpoints").rglob("step-*.*"))
    assert checkpoints and all(p.suffix == ".npz" for p in checkpoints)
    study.close()


def test_hyperband_records_each_trials_bracket(tmp_path: Path) -> None:
    scheduler = Hyperband(max_resource=EPOCHS, mode="promote")
    study = _study(tmp_path, "hyperband", scheduler=scheduler)
    study.optimize(no_checkpoint, n_trials=12, max_concurrent=2, show_progress=False)
    study.close()
    created = [e for e in _events(study.directory) if e.kind == ev.EventKind.TRIAL_CREATED]
    assert len(created) == 12
    assert [e.payload["bracket"] for e in created] == [scheduler.bracket(e.trial) for e in created]
    assert len({e.payload["bracket"] for e in created}) == 3


def test_model_based_asha_is_one_line(tmp_path: Path) -> None:
    study = _study(tmp_path, "model-based", sampler=MultiFidelitySampler(seed=3))
    study.optimize(no_checkpoint, n_trials=20, max_concurrent=2, show_progress=False)
    curves = {t.number: t.intermediate_values for t in study.trials}
    reached = check_every_rung_promoted_its_top(curves, (1, 3, 9), 3, maximize=True)
    assert reached[0] == 20
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert len(complete) == reached[2]
    study.close()


def checkpointing_noop(trial: Trial) -> float:
    """A no-op training whose value is fixed per trial; it checkpoints at every step."""
    saved = trial.checkpoint()
    first = 1 if saved is None else saved["epoch"] + 1
    base = trial.suggest_float("x", 0.0, 1.0)
    for epoch in range(first, 28):
        trial.report(base + epoch, epoch, checkpoint=lambda e=epoch: {"epoch": e})
    return base + 27


@pytest.mark.slow
def test_every_rung_promotes_its_top_at_120_trials_on_two_runners(tmp_path: Path) -> None:
    asha = ASHA(min_resource=1, max_resource=27, reduction_factor=3, mode="promote")
    study = _study(tmp_path, "promote-120", scheduler=asha)
    study.optimize(checkpointing_noop, n_trials=120, max_concurrent=2, show_progress=False)
    curves = {t.number: t.intermediate_values for t in study.trials}
    study.close()
    reached = check_every_rung_promoted_its_top(curves, (1, 3, 9, 27), 3, maximize=True)
    # Before the fix: 29 trials reached step 3 and 3 reached step 27.
    assert reached[0] == 120 and reached[1] >= 40 and reached[3] >= 4, reached
    events = _events(study.directory)
    assert not [
        e for e in events if e.kind == ev.EventKind.TRIAL_RESUMED and "skipped" in e.payload
    ]


def test_an_unpicklable_checkpoint_stops_the_study_saying_what_to_return(tmp_path: Path) -> None:
    study = _study(tmp_path, "unpicklable", checkpoint_format="pickle")
    with pytest.raises(ObjectiveUsageError, match=r"checkpoint cannot be saved.*plain data"):
        study.optimize(unpicklable_checkpoint, n_trials=3, show_progress=False)
    study.close()


def test_a_checkpoint_the_safe_format_cannot_hold_stops_the_study_naming_pickle(
    tmp_path: Path,
) -> None:
    study = _study(tmp_path, "not-data")
    with pytest.raises(
        ObjectiveUsageError,
        match=r"state\['generator'\] is a generator.*checkpoint_format=\"pickle\"",
    ):
        study.optimize(unpicklable_checkpoint, n_trials=3, show_progress=False)
    study.close()


def test_pickle_checkpoints_are_refused_by_a_study_opened_safe(tmp_path: Path) -> None:
    study = _study(tmp_path, "trust", checkpoint_format="pickle")
    study.optimize(earlier_is_better, n_trials=6, max_concurrent=2, show_progress=False)
    assert list((study.directory / "checkpoints").rglob("step-*.pkl"))
    # Trust is this process's choice, made once per open study.
    with pytest.raises(ValueError, match=r"open in this process with checkpoint_format=\"pickle\""):
        _study(tmp_path, "trust", load_if_exists=True)
    study.close()
    study = _study(tmp_path, "trust", load_if_exists=True)  # safe, the default
    with pytest.raises(ObjectiveUsageError, match=r"is a pickle .*checkpoint_format=\"pickle\""):
        study.optimize(earlier_is_better, n_trials=15, max_concurrent=2, show_progress=False)
    study.close()


def test_a_checkpoint_that_is_not_a_function_is_refused(tmp_path: Path) -> None:
    study = _study(tmp_path, "not-function")
    with pytest.raises(ObjectiveUsageError, match="checkpoint must be a function"):
        study.optimize(value_not_function, n_trials=2, show_progress=False)
    study.close()


def test_an_objective_that_never_reports_runs_to_the_end_with_a_warning(tmp_path: Path) -> None:
    study = _study(tmp_path, "silent")
    with pytest.warns(RuntimeWarning, match="without calling trial.report"):
        study.optimize(never_reports, n_trials=3, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    study.close()


def test_ask_refuses_a_study_that_pauses(tmp_path: Path) -> None:
    study = _study(tmp_path, "ask-promote")
    with pytest.raises(ValueError, match=r"promote mode.*optimize"):
        study.ask()
    study.close()


def gpu_from_rung_3(params: dict[str, Any], rung: int) -> dict[str, float]:
    return {"GPU": 1} if rung >= 3 else {"CPU": 1}


def test_a_promoted_trial_moves_to_the_hardware_its_rung_asks_for(tmp_path: Path) -> None:
    # Rungs at epochs 1, 3, 9: trials start on a CPU; promoted from rung 3 they need a GPU.
    study = _study(tmp_path, "moves")
    study.optimize(
        earlier_is_better,
        n_trials=9,
        max_concurrent=2,
        resources=gpu_from_rung_3,
        show_progress=False,
    )
    moved = 0
    for event in _events(study.directory):
        placement = event.payload.get("placement")
        if event.kind == ev.EventKind.TRIAL_STARTED and event.payload.get("attempt") == 0:
            assert placement is not None and placement["resources"] == {"CPU": 1.0}
        if event.kind == ev.EventKind.TRIAL_RESUMED:
            wanted = {"GPU": 1.0} if event.payload["rung"] >= 3 else {"CPU": 1.0}
            assert placement is not None and placement["resources"] == wanted
            moved += event.payload["rung"] >= 3
    assert moved >= 1
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert complete and all(sorted(t.intermediate_values) == list(range(1, 10)) for t in complete)
    study.close()
