"""The fault model: a driver SIGKILLed or interrupted, a runner that dies, a second writer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import driver
import pytest
import ray
from objectives import slow_quadratic

from raysweep.orchestrator import Trial, create_study
from raysweep.orchestrator._storage._log import read_events
from raysweep.samplers import RandomSampler, TrialState


def _start_driver(address: str, storage: Path, name: str, n_trials: int) -> subprocess.Popen[str]:
    env = dict(os.environ, RAY_ADDRESS="", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        driver.command(address, storage, name, n_trials),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def _finished(directory: Path) -> dict[int, dict[str, Any]]:
    """Trials whose end is durable in the log: number -> payload of `trial_finished`."""
    if not (directory / "segments").is_dir():
        return {}
    events = read_events(directory)
    return {
        e.trial: e.payload for e in events if e.kind == "trial_finished" and e.trial is not None
    }


def _wait_for(predicate: Any, timeout: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(
                f"driver exited early:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"timed out; driver said:\n{proc.stdout.read() if proc.stdout else ''}")


def _driver_after(address: str, storage: Path, name: str, finished: int) -> subprocess.Popen[str]:
    """A driver running study `name`, once `finished` of its trials are durable in the log."""
    proc = _start_driver(address, storage, name, n_trials=40)
    _wait_for(lambda: len(_finished(storage / name)) >= finished, 90, proc)
    return proc


def test_sigkilled_driver_resumes_with_no_completed_trial_lost(
    ray_session: str, tmp_path: Path
) -> None:
    directory = tmp_path / "killed"
    proc = _driver_after(ray_session, tmp_path, "killed", finished=4)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    durable = _finished(directory)
    assert len(durable) < 40

    study = create_study(name="killed", storage=tmp_path, load_if_exists=True)
    after = {t.number: t for t in study.trials}
    for number, payload in durable.items():
        assert after[number].state.value == payload["state"]
        assert list(after[number].values or []) == payload["values"]
    interrupted = [t for t in after.values() if t.state is TrialState.WAITING]
    study.optimize(slow_quadratic, n_trials=len(durable) + 3, max_concurrent=2, show_progress=False)
    final = {t.number: t for t in study.trials}
    assert sorted(final) == list(range(len(final)))  # numbers never reused, none skipped
    assert sum(t.state.is_finished() for t in final.values()) == len(durable) + 3
    for number, payload in durable.items():
        assert final[number].state.value == payload["state"]
        assert final[number].attempt == after[number].attempt  # completed trials are not re-run
    proposed = _proposed(directory)
    checked = 0
    for trial in interrupted:
        rerun = final[trial.number]
        if rerun.state.is_finished():
            assert rerun.attempt == trial.attempt + 1
            # The value the first attempt drew, or else the one it was handed up front.
            first = trial.params.get("x", proposed.get(trial.number))
            if first is not None:
                assert rerun.params["x"] == first, (trial.number, first, rerun.params)
                checked += 1
    assert checked or not interrupted
    study.close()


def _proposed(directory: Path) -> dict[int, float]:
    """Each trial's up-front proposal for x, as its `trial_created` recorded it."""
    return {
        e.trial: e.payload["proposal"]["x"]["value"]
        for e in read_events(directory)
        if e.kind == "trial_created"
        and e.trial is not None
        and "x" in e.payload.get("proposal", {})
    }


def test_ctrl_c_stops_cleanly_and_interrupted_trials_resume(
    ray_session: str, tmp_path: Path
) -> None:
    directory = tmp_path / "interrupted"
    proc = _driver_after(ray_session, tmp_path, "interrupted", finished=2)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert time.monotonic() - started < 20
    assert proc.returncode != 0 and "KeyboardInterrupt" in output
    assert "finished" not in output.splitlines()

    events = read_events(directory)
    kinds = [e.kind for e in events]
    assert "trial_interrupted" in kinds
    study = create_study(name="interrupted", storage=tmp_path, load_if_exists=True)
    waiting = [t for t in study.trials if t.state is TrialState.WAITING]
    assert waiting, "the trials running at Ctrl-C are recorded as waiting to be re-run"
    assert not [t for t in study.trials if t.state is TrialState.RUNNING]
    total = len(study.trials) + 1
    study.optimize(slow_quadratic, n_trials=total, max_concurrent=2, show_progress=False)
    by_number = {t.number: t for t in study.trials}
    for trial in waiting:
        assert by_number[trial.number].state is TrialState.COMPLETE
        assert by_number[trial.number].attempt == trial.attempt + 1
    study.close()


def _crashes_once(trial: Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number == 1 and trial.attempt == 0:
        os._exit(3)  # the runner's process dies, as on a lost node
    return x


def _always_crashes(trial: Trial) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    os._exit(3)


@pytest.mark.usefixtures("ray_session")
def test_runner_death_reruns_the_trial_without_failing_it(tmp_path: Path) -> None:
    study = create_study(name="crash", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(_crashes_once, n_trials=3, show_progress=False)
    trials = {t.number: t for t in study.trials}
    assert [trials[n].state for n in range(3)] == [TrialState.COMPLETE] * 3
    assert trials[1].attempt == 1 and trials[0].attempt == 0
    study.close()


@pytest.mark.usefixtures("ray_session")
def test_a_trial_that_always_kills_its_runner_ends_failed(tmp_path: Path) -> None:
    study = create_study(name="crashes", storage=tmp_path, sampler=RandomSampler(seed=0))
    study.optimize(_always_crashes, n_trials=1, show_progress=False)
    (trial,) = study.trials
    assert trial.state is TrialState.FAILED
    assert "crashed 3 times" in (trial.error or "")
    study.close()


def test_a_second_driver_gets_an_error_naming_the_owner(ray_session: str, tmp_path: Path) -> None:
    study = create_study(name="owned", storage=tmp_path)
    proc = _start_driver(ray_session, tmp_path, "owned", n_trials=1)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "StudyLockedError" in output
    assert "pid" in output and "raysweep study 'owned'" in output
    # The process to stop is this driver, which holds the study; not its TrialScheduler actor,
    # which Ray would restart. And the error arrives as itself, not wrapped by Ray.
    assert f"the driver pid {os.getpid()} on host {socket.gethostname()!r}" in output
    assert f"kill {os.getpid()}" in output
    assert "RayTaskError" not in output and "\x1b[" not in output
    study.close()


@pytest.mark.usefixtures("ray_session")
def test_a_lost_sampler_service_is_restarted_and_the_study_goes_on(tmp_path: Path) -> None:
    import ray
    from objectives import quadratic

    study = create_study(name="sampler-lost", storage=tmp_path, seed=1)
    study.optimize(quadratic, n_trials=3, show_progress=False)
    ray.kill(study._actors.sampler, no_restart=False)  # its process dies; Ray starts another
    study.optimize(quadratic, n_trials=8, max_concurrent=2, show_progress=False)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    assert all("lr" in t.params for t in trials)
    study.close()


@pytest.mark.usefixtures("ray_session")
def test_a_killed_trial_scheduler_is_restarted_and_the_study_goes_on(tmp_path: Path) -> None:
    import threading

    import ray

    study = create_study(name="scheduler-lost", storage=tmp_path, seed=2)
    scheduler = study._actors.scheduler
    errors: list[BaseException] = []

    def run() -> None:
        try:
            study.optimize(slow_quadratic, n_trials=10, max_concurrent=2, show_progress=False)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while len(_finished(tmp_path / "scheduler-lost")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(ray.get(scheduler.pid.remote()), signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive() and not errors, errors
    trials = study.trials
    assert sum(t.state is TrialState.COMPLETE for t in trials) == 10
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    events = read_events(tmp_path / "scheduler-lost")
    assert sum(e.kind == "writer_started" for e in events) == 2  # the restart reopened the log
    study.close()


def reports_and_waits(trial: Trial) -> float:
    """Every step is a rung of the scheduler below: each report waits for its decision."""
    x = trial.suggest_float("x", 0.0, 1.0)
    value = x
    for step in range(1, 28):
        time.sleep(0.02)
        value = x + 1.0 / step
        trial.report(value, step)
    return value


@pytest.mark.usefixtures("ray_session")
@pytest.mark.slow
def test_runners_blocked_in_a_call_survive_a_trial_scheduler_restart(tmp_path: Path) -> None:
    """Runners waiting on a decision when the scheduler dies end the attempt, not the study."""
    import threading

    import ray

    from raysweep.scheduling import ASHA

    asha = ASHA(min_resource=1, max_resource=27, reduction_factor=3)
    study = create_study(name="blocked", storage=tmp_path, seed=3, scheduler=asha)
    scheduler = study._actors.scheduler
    errors: list[BaseException] = []

    def run() -> None:
        try:
            # Nothing caught: an error inside the objective would stop optimize.
            study.optimize(
                reports_and_waits, n_trials=8, max_concurrent=2, catch=(), show_progress=False
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while len(_finished(tmp_path / "blocked")) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(ray.get(scheduler.pid.remote()), signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive() and not errors, errors
    trials = study.trials
    assert sum(t.state.is_finished() for t in trials) == 8
    assert not [t.error for t in trials if t.state is TrialState.FAILED]
    study.close()


@ray.remote
class _Gone:
    def report(self, *args: object) -> None: ...


@pytest.mark.usefixtures("ray_session")
def test_a_lost_trial_scheduler_ends_the_attempt_inside_the_objective_not_the_study() -> None:
    """RayActorError must not reach the objective, where `except Exception` would swallow it
    and a narrow `catch=` would stop the study: the attempt ends as interrupted."""
    from raysweep.orchestrator._core._protocol import Assignment, ReportNote
    from raysweep.orchestrator._errors import TrialInterrupted
    from raysweep.orchestrator._ray._links import RunnerLink
    from raysweep.scheduling import NoPruning

    gone = _Gone.remote()  # type: ignore[attr-defined]
    ray.kill(gone)
    assignment = Assignment(0, 0, {}, {}, {}, NoPruning(), 1)
    link = RunnerLink(gone, assignment, threading.Event())
    with pytest.raises(TrialInterrupted, match="TrialScheduler"):
        link.send((ReportNote(1, 0.5),), wait=True)


@pytest.mark.usefixtures("ray_session")
def test_a_restart_that_cannot_reopen_answers_every_call_with_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A constructor that raises would be restarted by Ray for ever; it stays up and says why."""
    from raysweep.orchestrator import StudyLockedError
    from raysweep.orchestrator._core._state import StudyInfo
    from raysweep.orchestrator._ray import _actors
    from raysweep.orchestrator._storage._store import LocalStudyStore
    from raysweep.samplers import StudyDirection
    from raysweep.scheduling import NoPruning

    study = create_study(name="taken", storage=tmp_path, sampler=RandomSampler(seed=1))
    study.close()
    # Another driver took the study while Ray restarted this scheduler.
    other = LocalStudyStore(tmp_path / "taken").acquire_lease(description="another driver", wait=0)
    info = StudyInfo(
        "taken",
        (StudyDirection.MINIMIZE,),
        1,
        "sampler",
        RandomSampler(seed=1).to_json(),
        NoPruning().to_json(),
    )
    monkeypatch.setattr(_actors, "was_restarted", lambda: True)
    actor = _actors.TrialSchedulerActor(
        str(tmp_path / "taken"),
        info,
        load_if_exists=True,
        given=frozenset(),
        lease_wait=0.0,
        sampler_name="no-such-actor",
        driver=("here", os.getpid()),
    )
    with pytest.raises(StudyLockedError, match="another driver"):
        actor.next_trial("runner-1", None)
    with pytest.raises(StudyLockedError):
        actor.progress()
    actor.close()
    other.release()
