"""Every sampler drives a short study through the public API on local Ray."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from raysweep.orchestrator import Trial, create_study
from raysweep.samplers import (
    CmaEsSampler,
    GPSampler,
    GridSampler,
    NSGA2Sampler,
    QMCSampler,
    RandomSampler,
    Sampler,
    SamplerConfigurationError,
    StudyDirection,
    TPESampler,
    TrialState,
)

pytestmark = pytest.mark.usefixtures("ray_session")


def conditional(trial: Trial) -> float:
    """The project brief's conditional space, with a cheap made-up loss."""
    n_layers = trial.suggest_int("n_layers", 1, 3)
    loss = 0.0
    for i in range(n_layers):
        units = trial.suggest_int(f"n_units_l{i}", 32, 128)
        dropout = trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)
        loss += abs(units - 64) / 64 + abs(dropout - 0.3)
    optimizer = trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD"])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    return loss + (0.0 if optimizer == "Adam" else 0.5) + abs(math.log10(lr) + 3)


def two_objectives(trial: Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    return x, (1.0 + y) * (1.0 - math.sqrt(x))


def constrained(trial: Trial) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    y = trial.suggest_float("y", -2.0, 2.0)
    trial.set_constraints([x + y - 0.5])  # feasible when x + y <= 0.5
    return (x - 1.0) ** 2 + (y - 1.0) ** 2


def grid_point(trial: Trial) -> float:
    a = trial.suggest_int("a", 0, 10)
    b = trial.suggest_categorical("b", ["p", "q"])
    return a + (0.5 if b == "q" else 0.0)


def _check_conditional(trial: Any) -> None:
    params = trial.params
    assert 1 <= params["n_layers"] <= 3
    assert {k for k in params if k.startswith("n_units_l")} == {
        f"n_units_l{i}" for i in range(params["n_layers"])
    }
    assert all(32 <= params[f"n_units_l{i}"] <= 128 for i in range(params["n_layers"]))
    assert all(0.2 <= params[f"dropout_l{i}"] <= 0.5 for i in range(params["n_layers"]))
    assert params["optimizer"] in {"Adam", "RMSprop", "SGD"}
    assert 1e-5 <= params["lr"] <= 1e-1


@pytest.mark.parametrize(
    "sampler",
    [
        TPESampler(n_startup_trials=4),
        RandomSampler(),
        QMCSampler(),
        GPSampler(n_startup_trials=4),
        CmaEsSampler(popsize=4),
    ],
    ids=lambda s: type(s).__name__,
)
def test_each_single_objective_sampler_runs_the_conditional_study(
    tmp_path: Path, sampler: Sampler
) -> None:
    study = create_study(name="conditional", storage=tmp_path, sampler=sampler, seed=11)
    study.optimize(conditional, n_trials=14, max_concurrent=2, show_progress=False)
    trials = study.trials
    assert len(trials) == 14
    assert all(t.state is TrialState.COMPLETE for t in trials), [t.error for t in trials]
    for t in trials:
        _check_conditional(t)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 14  # no repeated point
    assert study.best_value == min(t.value for t in trials if t.value is not None)
    study.close()


def test_a_grid_study_visits_each_point_once_and_stops_when_the_grid_is_done(
    tmp_path: Path,
) -> None:
    sampler = GridSampler({"a": [0, 3, 7], "b": ["p", "q"]})
    study = create_study(name="grid", storage=tmp_path, sampler=sampler)
    study.optimize(grid_point, n_trials=50, max_concurrent=2, show_progress=False)
    points = [(t.params["a"], t.params["b"]) for t in study.trials]
    assert sorted(points) == sorted((a, b) for a in (0, 3, 7) for b in ("p", "q"))
    assert study.best_params == {"a": 0, "b": "p"}
    study.close()


@pytest.mark.parametrize(
    "sampler",
    [NSGA2Sampler(population_size=4), TPESampler(n_startup_trials=4)],
    ids=lambda s: type(s).__name__,
)
def test_multi_objective_studies_give_a_pareto_front(tmp_path: Path, sampler: Sampler) -> None:
    study = create_study(
        name="mo", storage=tmp_path, directions=["minimize", "minimize"], sampler=sampler
    )
    study.optimize(two_objectives, n_trials=16, max_concurrent=2, show_progress=False)
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert len(complete) == 16
    front = study.best_trials
    assert front
    for t in front:
        assert t.values is not None
        dominated = any(
            o.values is not None
            and all(a <= b for a, b in zip(o.values, t.values, strict=True))
            and o.values != t.values
            for o in complete
        )
        assert not dominated
    study.close()


def test_constraints_reach_the_log_and_best_trial_is_feasible(tmp_path: Path) -> None:
    study = create_study(
        name="constrained", storage=tmp_path, sampler=TPESampler(n_startup_trials=5), seed=2
    )
    study.optimize(constrained, n_trials=20, max_concurrent=2, show_progress=False)
    trials = study.trials
    assert all(t.constraints is not None and len(t.constraints) == 1 for t in trials)
    assert all(
        math.isclose(t.constraints[0], t.params["x"] + t.params["y"] - 0.5)  # type: ignore[index]
        for t in trials
    )
    best = study.best_trial
    assert best.feasible
    feasible = [t for t in trials if t.feasible]
    assert best.value == min(t.value for t in feasible if t.value is not None)
    assert study.best_trials == [best]
    study.close()


def test_ask_tell_with_constraints(tmp_path: Path) -> None:
    study = create_study(name="asktell", storage=tmp_path, sampler=TPESampler())
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, x, constraints=[x - 0.5])
    other = study.ask()
    other.suggest_float("x", 0.0, 1.0)
    with pytest.raises(ValueError, match="report 1"):
        study.tell(other, 0.1, constraints=[0.0, 0.0])
    other.set_constraints([-1.0])
    told = study.tell(other, 0.1)
    assert told.constraints == (-1.0,) and told.feasible
    study.close()


@pytest.mark.parametrize(
    ("sampler", "directions", "message"),
    [
        (NSGA2Sampler(), ["minimize"], "multi-objective"),
        (GPSampler(), ["minimize", "maximize"], "objective"),
        (CmaEsSampler(), ["minimize", "maximize"], "objective"),
    ],
    ids=["nsga2-single", "gp-multi", "cmaes-multi"],
)
def test_a_sampler_that_cannot_serve_the_study_is_refused(
    tmp_path: Path, sampler: Sampler, directions: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        create_study(name="refused", storage=tmp_path, directions=directions, sampler=sampler)
    assert not (tmp_path / "refused").exists()  # nothing was written


def test_the_default_sampler_is_tpe(tmp_path: Path) -> None:
    study = create_study(name="default", storage=tmp_path)
    info = study._info  # the log records the sampler's configuration
    assert info.sampler["class"] == "TPESampler"
    assert study.directions == (StudyDirection.MINIMIZE,)
    study.close()


def off_grid(trial: Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def test_a_grid_value_outside_the_asked_distribution_stops_optimize_with_what_to_fix(
    tmp_path: Path,
) -> None:
    study = create_study(name="offgrid", storage=tmp_path, sampler=GridSampler({"x": [0.5, 2.0]}))
    with pytest.raises(SamplerConfigurationError, match=r"grid value 2.0 of parameter 'x'") as info:
        study.optimize(off_grid, n_trials=4, max_concurrent=1, show_progress=False)
    # Raised in the SamplerService, passed through the TrialScheduler and a runner: it still
    # arrives as itself, its message first, not as Ray's RayTaskError with pids and colours.
    assert type(info.value) is SamplerConfigurationError
    assert str(info.value).startswith("GridSampler: the grid value 2.0 of parameter 'x'")
    assert any(t.state is TrialState.FAILED for t in study.trials)
    study.close()


def test_optimize_says_why_it_stopped_when_the_grid_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = create_study(name="griddone", storage=tmp_path, sampler=GridSampler({"a": [1, 2]}))
    study.optimize(grid_point_a, n_trials=5, show_progress=True)
    assert len(study.trials) == 2
    assert "the sampler has no new point" in capsys.readouterr().err
    study.close()


def grid_point_a(trial: Trial) -> float:
    return float(trial.suggest_int("a", 0, 10))
