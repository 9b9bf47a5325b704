"""Detached studies: a run that outlives its driver, found by name, stopped cleanly, restarted.

Each run is started by a driver subprocess on the session's Ray (the test process started that
Ray, so it cannot detach itself: its Ray ends with it), and watched from here by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import driver
import pytest

from raysweep.orchestrator import (
    DetachedStudyError,
    DuplicatedStudyError,
    RunState,
    attach_study,
    create_study,
    detached_studies,
)
from raysweep.orchestrator._cli import main as cli
from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._storage._log import read_events
from raysweep.samplers import TrialState


def _detach(
    address: str, storage: Path, name: str, n_trials: int, objective: str = "slow_quadratic"
) -> str:
    """Run a driver that starts a detached run and exits; returns what it printed."""
    done = subprocess.run(
        driver.command(address, storage, name, n_trials, "--objective", objective, "--detach"),
        capture_output=True,
        text=True,
        env=dict(os.environ, RAY_ADDRESS="", PYTHONUNBUFFERED="1"),
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("detached"), done.stdout
    return done.stdout


def _state(directory: Path) -> StudyState:
    return StudyState.replay(read_events(directory))


def _wait_until(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_detached_run_outlives_its_driver_and_is_found_by_name(
    ray_session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 24 trials of 0.5 s, 2 at a time: the run goes on for seconds after the driver has gone.
    _detach(ray_session, tmp_path, "outlives", n_trials=24)
    run = attach_study("outlives")
    at_exit = run.status()
    assert at_exit.state is RunState.RUNNING
    assert at_exit.progress is not None and at_exit.progress.finished < 24
    assert "outlives" in [s.name for s in detached_studies()]
    assert cli(["status", "outlives"]) == 0
    assert "study 'outlives': running (detached; n_trials=24" in capsys.readouterr().out

    # `raysweep attach` follows the run until it ends, and says how it ended.
    assert cli(["attach", "outlives"]) == 0
    assert "study 'outlives': finished" in capsys.readouterr().out
    ended = run.wait(timeout=0)
    assert ended.state is RunState.FINISHED, ended
    assert ended.progress is not None and ended.progress.finished == 24
    state = _state(tmp_path / "outlives")
    assert state.count(TrialState.COMPLETE) == 24
    assert state.count(TrialState.RUNNING) == 0
    # The run recorded its goal under its own id, then its end.
    assert state.optimize_run == ended.run and not state.optimizing
    # Its study is closed: this process takes the lease at once.
    study = create_study(name="outlives", storage=tmp_path, load_if_exists=True)
    assert len(study.trials) == 24
    study.close()
    # An ended run stays listed until it is removed.
    assert cli(["stop", "outlives"]) == 0
    assert "had already ended (finished); removed it" in capsys.readouterr().out
    assert "outlives" not in [s.name for s in detached_studies()]


def test_stop_ends_a_detached_run_cleanly_and_keeps_every_trial(
    ray_session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No n_trials: the run goes on until it is stopped.
    _detach(ray_session, tmp_path, "stopped", n_trials=0)
    run = attach_study("stopped")
    _wait_until(lambda: (run.status().progress or _NO).finished >= 4, 60)

    # While it runs: the Study of another process is bound to it, and refuses a second run.
    with pytest.raises(DuplicatedStudyError, match="runs detached"):
        create_study(name="stopped", storage=tmp_path)
    bound = create_study(name="stopped", storage=tmp_path, load_if_exists=True)
    assert len(bound.trials) >= 4
    with pytest.raises(DetachedStudyError, match="runs detached"):
        bound.optimize(lambda trial: 0.0, n_trials=1)
    # So is a second driver detaching the same study.
    second = subprocess.run(
        driver.command(ray_session, tmp_path, "stopped", 0, "--detach"),
        capture_output=True,
        text=True,
        env=dict(os.environ, RAY_ADDRESS=""),
        timeout=180,
    )
    assert second.returncode != 0
    assert "runs detached on the Ray cluster" in second.stdout + second.stderr

    assert cli(["stop", "stopped"]) == 0
    out = capsys.readouterr().out
    assert "study 'stopped': stopped (detached; no n_trials" in out
    ended = run.status()
    assert ended.state is RunState.STOPPED and ended.error == "stopped by `raysweep stop`"
    state = _state(tmp_path / "stopped")
    # Running trials finished: nothing left RUNNING, none interrupted, every one recorded.
    assert state.count(TrialState.RUNNING) == 0
    assert state.count(TrialState.COMPLETE) == ended.progress.finished  # type: ignore[union-attr]
    assert not [e for e in read_events(tmp_path / "stopped") if e.kind == "trial_interrupted"]
    with pytest.raises(DetachedStudyError, match="that run has ended"):
        bound.trials  # noqa: B018
    bound.close()
    study = create_study(name="stopped", storage=tmp_path, load_if_exists=True)
    study.close()
    attach_study("stopped").stop()


def test_stop_now_interrupts_running_trials_for_a_re_run(ray_session: str, tmp_path: Path) -> None:
    # Trials of 30 s that report every 0.1 s: a stop that waited for them would take 30 s.
    _detach(ray_session, tmp_path, "stop-now", n_trials=6, objective="long_reporting")
    run = attach_study("stop-now")
    _wait_until(lambda: _state(tmp_path / "stop-now").count(TrialState.RUNNING) == 2, 60)
    started = time.monotonic()
    ended = run.stop(now=True, timeout=60)
    assert time.monotonic() - started < 20
    assert ended.state is RunState.STOPPED
    events = read_events(tmp_path / "stop-now")
    interrupted = [e for e in events if e.kind == "trial_interrupted"]
    assert len(interrupted) == 2
    stopped = [e for e in events if e.kind == "optimize_stopped"]
    assert stopped[-1].payload.get("reason") == "stopped by `raysweep stop` --now"
    state = _state(tmp_path / "stop-now")
    assert state.count(TrialState.RUNNING) == 0
    assert len(state.waiting_optimize_trials()) == 2
    run.stop()


def test_a_detached_run_goes_on_after_its_host_is_killed(ray_session: str, tmp_path: Path) -> None:
    _detach(ray_session, tmp_path, "host-killed", n_trials=14)
    run = attach_study("host-killed")
    _wait_until(lambda: (run.status().progress or _NO).finished >= 3, 60)
    os.kill(run.status().pid, signal.SIGKILL)
    ended = run.wait(timeout=180)
    assert ended.state is RunState.FINISHED and ended.restarted
    state = _state(tmp_path / "host-killed")
    assert state.count(TrialState.COMPLETE) == 14
    assert state.count(TrialState.RUNNING) == 0
    numbers = Counter(
        e.trial for e in read_events(tmp_path / "host-killed") if e.kind == "trial_created"
    )
    assert max(numbers.values()) == 1  # no trial number created twice
    run.stop()


def test_detached_runs_refuse_what_cannot_work(ray_session: str, tmp_path: Path) -> None:
    study = create_study(name="here", storage=tmp_path)
    # This process started the session's Ray: it ends with this process, and a run with it.
    with pytest.raises(DetachedStudyError, match="needs a Ray cluster that outlives this process"):
        study.optimize(lambda trial: 0.0, n_trials=1, detach=True)
    assert study.trials == []  # nothing was handed over
    study.close()
    with pytest.raises(DetachedStudyError, match="no detached study named 'absent'"):
        attach_study("absent")
    assert cli(["stop", "absent"]) == 2


class _NoProgress:
    finished = 0


_NO = _NoProgress()
