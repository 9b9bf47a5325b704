"""What a detached run's host reads from the log after a restart, and how its status reads
(pure: the TrialScheduler core on a local log, no Ray)."""

from __future__ import annotations

from pathlib import Path

from test_restart_core import _die, _open

from raysweep.orchestrator._core._protocol import Progress
from raysweep.orchestrator._ray._study_host import DetachedStatus, RunState


def test_a_run_ended_only_once_the_log_shows_it_stopped(tmp_path: Path) -> None:
    core = _open(tmp_path)
    assert not core.run_ended("run-a")  # never started
    core.start_optimize(10, 2, "run-a")
    assert not core.run_ended("run-a")  # going on
    _die(core)
    # The host died while the run went on: its successor goes on with it.
    again = _open(tmp_path, restarted=True)
    assert not again.run_ended("run-a")
    again.stop_new_trials("stopped by `raysweep stop`")
    _die(again)
    # Stopped, then the host died: the run stays ended, and no other run is taken for it.
    third = _open(tmp_path, restarted=True)
    assert third.run_ended("run-a")
    assert not third.run_ended("run-b")
    assert not third.wants_more()
    # A later run of the same study (another detach, or a driver's optimize) is its own.
    third.start_optimize(12, 1, None)
    assert not third.run_ended("run-a")
    third.close()


def test_the_status_says_where_the_run_is_and_how_it_ended() -> None:
    status = DetachedStatus(
        name="digits",
        directory="/studies/digits",
        run="r",
        state=RunState.FAILED,
        progress=Progress({"complete": 7, "failed": 1}, 0.25, 20, 8, False),
        n_trials=20,
        max_concurrent=2,
        started=0.0,
        ended=60.0,
        error="Traceback (most recent call last):\n  ...\nZeroDivisionError: division by zero",
        restarted=True,
    )
    text = status.describe()
    assert "study 'digits': failed (detached; n_trials=20, max_concurrent=2)" in text
    assert "trials: complete 7, failed 1 | best 0.25" in text
    assert "error: ZeroDivisionError: division by zero" in text
    assert "its host restarted since" in text
    assert all(state.ended for state in (RunState.FINISHED, RunState.STOPPED, RunState.FAILED))
    assert not any(state.ended for state in (RunState.STARTING, RunState.RUNNING))
    unbounded = DetachedStatus("x", "d", "r", RunState.RUNNING, None, 2**62, 1, 0.0, None)
    assert "no n_trials" in unbounded.describe()
