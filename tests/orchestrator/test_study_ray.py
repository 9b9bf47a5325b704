"""End-to-end studies on a real (local) Ray: optimize, ASHA, resume, runner reuse, results."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pyarrow as pa
import pytest
from objectives import quadratic

from raysweep.orchestrator import Trial, TrialStateError, create_study
from raysweep.samplers import RandomSampler, TrialState
from raysweep.scheduling import ASHA

pytestmark = pytest.mark.usefixtures("ray_session")


def test_optimize_runs_prunes_and_records(tmp_path: Path) -> None:
    study = create_study(
        name="e2e",
        storage=tmp_path,
        direction="maximize",
        sampler=RandomSampler(seed=1),
        scheduler=ASHA(min_resource=1, max_resource=9, reduction_factor=3),
    )
    study.optimize(quadratic, n_trials=24, max_concurrent=2, show_progress=False)
    trials = study.trials
    assert [t.number for t in trials] == list(range(24))
    states = {t.state for t in trials}
    assert states <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    for t in trials:
        assert 1 <= t.params["n_layers"] <= 3
        assert {f"n_units_l{i}" for i in range(t.params["n_layers"])} <= set(t.params)
        assert "n_units_l3" not in t.params
        assert 1e-5 <= t.params["lr"] <= 1e-1
        assert t.params["optimizer"] in {"Adam", "RMSprop", "SGD"}
        if t.state is TrialState.PRUNED:
            assert max(t.intermediate_values) < 9
        else:
            assert sorted(t.intermediate_values) == list(range(1, 10))
    best = study.best_trial
    assert best.state is TrialState.COMPLETE
    assert best.value == max(t.value for t in trials if t.state is TrialState.COMPLETE)
    assert study.best_params == dict(best.params)
    # Runners are reused: two runners served all 24 trials.
    assert len({t.user_attrs["pid"] for t in trials if "pid" in t.user_attrs}) <= 2
    study.close()


def test_trials_table_is_plain_arrow(tmp_path: Path) -> None:
    study = create_study(name="table", storage=tmp_path, sampler=RandomSampler(seed=3))
    study.optimize(quadratic, n_trials=5, show_progress=False)
    table = study.trials_table()
    assert isinstance(table, pa.Table)
    assert table.num_rows == 5
    assert table.column("number").to_pylist() == list(range(5))
    assert table.schema.field("params_lr").type == pa.float64()
    assert table.schema.field("params_n_layers").type == pa.int64()
    assert table.schema.field("params_optimizer").type == pa.string()
    assert table.column("state").to_pylist() == ["complete"] * 5
    values = table.column("value").to_pylist()
    assert values == [t.value for t in study.trials]
    # Trials with one layer have no second layer: a null, not a made-up value.
    layers = table.column("params_n_layers").to_pylist()
    second = table.column("params_n_units_l1").to_pylist() if layers != [1] * 5 else []
    for n, units in zip(layers, second, strict=False):
        assert (units is None) == (n < 2)
    curves = table.column("intermediate_values").to_pylist()
    assert [p["step"] for p in curves[0]] == list(range(1, 10))
    study.close()


def test_n_trials_counts_the_whole_study_across_reopen(tmp_path: Path) -> None:
    study = create_study(name="resume", storage=tmp_path, sampler=RandomSampler(seed=5))
    study.optimize(quadratic, n_trials=4, max_concurrent=2, show_progress=False)
    before = {t.number: t.values for t in study.trials}
    study.close()

    again = create_study(
        name="resume", storage=tmp_path, sampler=RandomSampler(seed=5), load_if_exists=True
    )
    again.optimize(quadratic, n_trials=7, max_concurrent=2, show_progress=False)
    after = again.trials
    assert [t.number for t in after] == list(range(7))
    assert {t.number: t.values for t in after if t.number in before} == before
    # Asking for fewer than the study has runs nothing.
    again.optimize(quadratic, n_trials=3, show_progress=False)
    assert len(again.trials) == 7
    again.close()


def test_same_seed_same_suggestions(tmp_path: Path) -> None:
    params = []
    for name in ("seeded-a", "seeded-b"):
        study = create_study(name=name, storage=tmp_path, seed=11)
        study.optimize(quadratic, n_trials=3, max_concurrent=2, show_progress=False)
        params.append([t.params for t in study.trials])
        assert study.seed == 11
        study.close()
    assert params[0] == params[1]


def test_drawn_seed_is_recorded_and_reused(tmp_path: Path) -> None:
    study = create_study(name="drawn", storage=tmp_path)
    seed = study.seed
    study.optimize(quadratic, n_trials=1, show_progress=False)
    study.close()
    again = create_study(name="drawn", storage=tmp_path, load_if_exists=True)
    assert again.seed == seed
    again.close()


def test_ask_tell_and_should_prune(tmp_path: Path) -> None:
    study = create_study(
        name="asktell",
        storage=tmp_path,
        direction="minimize",
        sampler=RandomSampler(seed=2),
        scheduler=ASHA(min_resource=1, max_resource=4, reduction_factor=2),
    )
    good = study.ask()
    x = good.suggest_float("x", -1.0, 1.0)
    good.report(0.1, step=1)
    assert not good.should_prune()
    record = study.tell(good, x * x)
    assert record.state is TrialState.COMPLETE and record.params == {"x": x}

    bad = study.ask()
    bad.suggest_float("x", -1.0, 1.0)
    bad.report(5.0, step=1)  # worse than the 0.1 already at rung 1 with η = 2
    assert bad.should_prune()
    assert study.tell(bad, state=TrialState.PRUNED).state is TrialState.PRUNED

    nan = study.ask()
    failed = study.tell(nan, math.nan)
    assert failed.state is TrialState.FAILED and "finite" in (failed.error or "")

    with pytest.raises(Exception, match="already"):
        study.tell(good, 1.0)
    study.close()


def test_the_ray_edge_logs_runner_life_at_debug_and_is_silent_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    edge = logging.getLogger("raysweep.orchestrator._ray")
    assert edge.getEffectiveLevel() > logging.DEBUG and not edge.handlers
    study = create_study(name="logged", storage=tmp_path, sampler=RandomSampler(seed=2))
    with caplog.at_level(logging.DEBUG, logger="raysweep.orchestrator._ray"):
        study.optimize(quadratic, n_trials=3, max_concurrent=2, show_progress=False)
    # Each line is stamped with the time into the pool's run: "+1.23 s runner ...".
    stamped = [r.getMessage().split(" s ", 1) for r in caplog.records]
    assert all(len(parts) == 2 and parts[0].startswith("+") for parts in stamped), stamped
    said = [parts[1] for parts in stamped]
    started = [m for m in said if m.startswith("runner ") and " started with {CPU: 1} on " in m]
    # Each runner returned by itself, or was ended before its first trial (the other runner
    # may have run all three).
    gone = [
        m for m in said if m.startswith("runner ") and (" returned after " in m or " ended: " in m)
    ]
    assert len(started) == 2 and len(gone) == 2
    assert {m.split()[1] for m in started} == {m.split()[1] for m in gone}
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    study.close()


def test_errors_raised_in_the_actors_arrive_as_themselves(tmp_path: Path) -> None:
    study = create_study(name="clean-errors", storage=tmp_path, sampler=RandomSampler(seed=2))
    trial = study.ask()
    study.tell(trial, 0.5)
    with pytest.raises(TrialStateError) as info:
        study.tell(trial, 2.0)
    # Not Ray's RayTaskError(TrialStateError) with the actor's pid and ANSI colours first.
    assert type(info.value) is TrialStateError
    assert str(info.value) == f"trial {trial.number} cannot be told: it is already complete"
    with pytest.raises(TrialStateError, match="does not exist"):
        study.trial(999)
    study.close()


def test_tell_takes_a_state_by_name_and_refuses_what_is_not_a_value(tmp_path: Path) -> None:
    study = create_study(name="tell-args", storage=tmp_path, sampler=RandomSampler(seed=2))
    assert study.tell(study.ask().number, state="pruned").state is TrialState.PRUNED
    assert study.tell(study.ask(), state="FAILED").state is TrialState.FAILED
    asked = study.ask()
    with pytest.raises(ValueError, match="'complete', 'pruned' or 'failed'"):
        study.tell(asked, state="done")
    with pytest.raises(TypeError, match=r"not the str '0\.9'.*float"):
        study.tell(asked, "0.9")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TrialState or its name"):
        study.tell(asked, state=3)  # type: ignore[arg-type]
    # None of the refused calls touched the trial: it can still be told.
    assert study.tell(asked, 0.9).state is TrialState.COMPLETE
    study.close()


def test_asked_trial_survives_restart_and_is_told_by_number(tmp_path: Path) -> None:
    study = create_study(name="asked", storage=tmp_path, sampler=RandomSampler(seed=4))
    trial = study.ask()
    value = trial.suggest_int("k", 1, 10)
    number = trial.number
    study.close()

    again = create_study(name="asked", storage=tmp_path, load_if_exists=True)
    assert again.trial(number).state is TrialState.RUNNING
    assert again.trial(number).params == {"k": value}
    again.optimize(quadratic, n_trials=2, show_progress=False)
    numbers = [t.number for t in again.trials]
    assert numbers == sorted(set(numbers)) and number in numbers  # numbers never reused
    assert again.tell(number, float(value)).state is TrialState.COMPLETE
    optimized = next(t.number for t in again.trials if t.number != number)
    with pytest.raises(Exception, match="started by optimize"):
        again.tell(optimized, 1.0)
    again.close()


def _two_objectives(trial: Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    return x, 1.0 - x * x


def test_two_objectives(tmp_path: Path) -> None:
    study = create_study(name="two", storage=tmp_path, directions=["minimize", "maximize"], seed=0)
    study.optimize(_two_objectives, n_trials=3, show_progress=False)
    for t in study.trials:
        assert t.state is TrialState.COMPLETE and t.values is not None
        assert t.values == (t.params["x"], 1.0 - t.params["x"] ** 2)
    table = study.trials_table()
    assert "values_0" in table.column_names and "values_1" in table.column_names
    with pytest.raises(ValueError, match="several objectives"):
        _ = study.best_trial
    study.close()


def test_a_closed_study_says_so(tmp_path: Path) -> None:
    study = create_study(name="closed", storage=tmp_path, seed=0)
    study.close()
    study.close()  # idempotent
    with pytest.raises(RuntimeError, match="is closed; open it again"):
        _ = study.trials
    with pytest.raises(RuntimeError, match="is closed"):
        study.optimize(quadratic, n_trials=1, show_progress=False)
    again = create_study(name="closed", storage=tmp_path, load_if_exists=True)
    assert again.trials == []
    again.close()
