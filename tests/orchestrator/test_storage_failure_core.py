"""A storage that fails under the TrialScheduler stops the study loudly: no half-alive writer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from raysweep.orchestrator import StorageError
from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import ReportNote, TrialOutcome
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo, StudyState
from raysweep.orchestrator._storage._log import read_events
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import RandomSampler, StudyDirection, TrialState
from raysweep.scheduling import NoPruning


def _open(directory: Path) -> ts.TrialSchedulerCore:
    info = StudyInfo(
        name="failing-storage",
        directions=(StudyDirection.MINIMIZE,),
        seed=1,
        seed_source="create_study",
        sampler=RandomSampler(seed=1).to_json(),
        scheduler=NoPruning().to_json(),
    )
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), info, load_if_exists=False, given=frozenset({"seed"})
    )
    core.open()
    service = SamplerServiceCore(RandomSampler(seed=1), 1, (StudyDirection.MINIMIZE,))
    core.attach_sampler(LocalSamplerClient(service))
    return core


def _wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


@pytest.fixture
def fast_background(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ts, "_HEARTBEAT_INTERVAL_S", 0.0)
    monkeypatch.setattr(ts, "_FLUSH_INTERVAL_S", 0.01)


@pytest.mark.usefixtures("fast_background")
def test_a_failed_heartbeat_stops_every_call_instead_of_leaving_a_writer_without_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = _open(tmp_path)
    core.start_optimize(5)
    first = core.next_trial("r1", None)
    assert first is not None

    def no_space() -> None:
        raise StorageError("cannot write LEASE.json: [Errno 28] No space left on device")

    monkeypatch.setattr(core._lease, "heartbeat", no_space)
    _wait_for(lambda: not core._background.is_alive())
    assert not core._background.is_alive()
    # Without heartbeats another driver takes the lease in 30 s: this writer must stop now.
    outcome = TrialOutcome(first.number, first.attempt, TrialState.COMPLETE, (1.0,))
    with pytest.raises(StorageError, match=r"heartbeat.*No space left on device"):
        core.next_trial("r1", outcome)
    with pytest.raises(StorageError, match="No space left"):
        core.report(first.number, first.attempt, (ReportNote(1, 0.5),))
    with pytest.raises(StorageError, match="No space left"):
        core.progress()
    core.close()
    # What was acknowledged before the failure is in the log.
    state = StudyState.replay(read_events(tmp_path))
    assert state.trials[first.number].attempt == 0


@pytest.mark.usefixtures("fast_background")
def test_a_failed_background_commit_fails_the_next_call_with_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = _open(tmp_path)
    core.start_optimize(5)
    first = core.next_trial("r1", None)
    assert first is not None
    log = core._rec.log

    def io_error() -> int:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(log, "commit", io_error)
    core.report_later(first.number, first.attempt, (ReportNote(1, 0.5),))
    _wait_for(lambda: not core._background.is_alive())
    assert not core._background.is_alive()
    with pytest.raises(StorageError, match=r"committing.*Input/output error"):
        core.report(first.number, first.attempt, (ReportNote(2, 0.4),))
    monkeypatch.undo()
    core.close()  # the storage is back: what was staged is written on close
    state = StudyState.replay(read_events(tmp_path))
    assert state.record(first.number).intermediate_values == {1: 0.5}
