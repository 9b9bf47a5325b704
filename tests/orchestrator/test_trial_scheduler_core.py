"""The TrialScheduler driven directly, without Ray: the log is the state."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from raysweep.orchestrator import CorruptLogError, StudyLockedError
from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import (
    Assignment,
    ParamNote,
    PlacementRequest,
    PoolRunner,
    ReportNote,
    TrialOutcome,
)
from raysweep.orchestrator._core._resources import ResourceRequest
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo, StudyState
from raysweep.orchestrator._storage._event import Event
from raysweep.orchestrator._storage._lease import LEASE_FILE
from raysweep.orchestrator._storage._log import read_events
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import (
    FloatDistribution,
    RandomSampler,
    Sampler,
    StudyDirection,
    TPESampler,
    TrialState,
)
from raysweep.scheduling import ASHA, Action, ClusterNode, Shape

CPU = Shape.of({"CPU": 1})


def _request(*runners: str, cpus: float = 4, idle_grace_s: float = 10.0) -> PlacementRequest:
    node = ClusterNode("n0", {"CPU": cpus}, {"CPU": cpus - len(runners)})
    return PlacementRequest(
        (node,),
        tuple(PoolRunner(name, CPU, ("n0",)) for name in runners),
        ResourceRequest((CPU,)),
        max_runners=4,
        idle_grace_s=idle_grace_s,
    )


X = FloatDistribution(low=0.0, high=1.0)


def _info(scheduler: ASHA | None = None, sampler: Sampler | None = None) -> StudyInfo:
    asha = scheduler or ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    return StudyInfo(
        name="core",
        directions=(StudyDirection.MAXIMIZE,),
        seed=3,
        seed_source="create_study",
        sampler=(sampler or RandomSampler(seed=3)).to_json(),
        scheduler=asha.to_json(),
    )


def _open(
    directory: Path, *, load: bool = False, sampler: Sampler | None = None
) -> ts.TrialSchedulerCore:
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory),
        _info(sampler=sampler),
        load_if_exists=load,
        given=frozenset({"seed"}),
    )
    core.open()
    sampler = sampler or RandomSampler(seed=3)
    service = SamplerServiceCore(sampler, 3, (StudyDirection.MAXIMIZE,))
    core.attach_sampler(LocalSamplerClient(service))
    return core


def _run(core: ts.TrialSchedulerCore, runner: str, value_of: dict[int, float]) -> int:
    """Run trials on one runner until the scheduler says stop; returns how many ran."""
    outcome = None
    ran = 0
    while (a := core.next_trial(runner, outcome)) is not None:
        x = a.params.get("x", a.proposal.get("x", (X, None))[1])
        if x is None:
            x = core.suggest(a.number, a.attempt, "x", X, ())
            notes: tuple[ParamNote | ReportNote, ...] = ()
        else:
            notes = (ParamNote("x", X, x),)
        decision = core.report(
            a.number, a.attempt, (*notes, ReportNote(1, value_of.get(a.number, x)))
        )
        state = (
            TrialState.PRUNED
            if decision and decision.action is Action.STOP
            else TrialState.COMPLETE
        )
        values = None if state is TrialState.PRUNED else (x,)
        outcome = TrialOutcome(a.number, a.attempt, state, values)
        ran += 1
    return ran


def test_trials_flow_through_the_log_and_replay_to_the_same_state(tmp_path: Path) -> None:
    core = _open(tmp_path)
    assert core.start_optimize(5) == 5
    assert _run(core, "r1", {}) == 5
    records = core.records()
    assert [r.number for r in records] == list(range(5))
    assert all(r.state.is_finished() for r in records)
    core.close()

    replayed = StudyState.replay(read_events(tmp_path)).records()
    assert replayed == records
    again = _open(tmp_path, load=True)
    assert again.records() == records
    assert again.start_optimize(5) == 0
    again.close()


def test_running_trials_of_a_dead_writer_are_queued_for_a_rerun(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(3)
    first = core.next_trial("r1", None)
    assert first is not None
    core.report(first.number, first.attempt, (ParamNote("x", X, 0.5), ReportNote(1, 0.5)))
    # The writer vanishes without closing (its process was killed): nothing more is written.
    core._closed.set()
    core._rec.log.commit()
    core._lease.release()

    again = _open(tmp_path, load=True)
    (record,) = again.records()
    assert record.state is TrialState.WAITING
    again.start_optimize(3)
    rerun = again.next_trial("r2", None)
    assert rerun is not None and (rerun.number, rerun.attempt) == (first.number, 1)
    assert rerun.params == {"x": 0.5}  # a re-run keeps its parameters
    again.close()


def test_a_runner_that_handed_back_its_last_trial_is_still_one_to_wait_for(
    tmp_path: Path,
) -> None:
    # Once no work can come, the pool ends the runners that never asked for a trial; a runner
    # that closed its trial and is returning must not be among them: its result may carry the
    # error that stops the study (killed, optimize returned as if nothing had gone wrong).
    core = _open(tmp_path)
    core.start_optimize(2)
    a = core.next_trial("r1", None)
    b = core.next_trial("r2", None)
    assert isinstance(a, Assignment) and isinstance(b, Assignment)
    failed = TrialOutcome(a.number, a.attempt, TrialState.FAILED, None, "usage error")
    core.stop_new_trials(None)
    assert core.next_trial("r1", failed, False) is None
    answer = core.place(_request("r1", "r2", "r3"))
    assert answer.done
    # r2 holds a trial: it is not retired, and hands its trial back by itself.
    assert {d.runner for d in answer.retired} == {"r1", "r3"}
    assert answer.never_asked == {"r3"}
    core.runner_lost("r2", "killed", False)
    assert core.record(b.number).state is TrialState.WAITING
    core.close()


def test_late_reports_of_a_closed_attempt_are_still_recorded(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(1)
    a = core.next_trial("r1", None)
    assert a is not None
    finished = TrialOutcome(a.number, a.attempt, TrialState.COMPLETE, (1.0,))
    assert core.next_trial("r1", finished) is None
    core.report_later(a.number, a.attempt, (ReportNote(2, 0.25),))
    assert core.records()[0].intermediate_values == {2: 0.25}
    with pytest.raises(Exception, match="not running"):
        core.report(a.number, a.attempt, (ReportNote(3, 0.1),))
    core.close()


def test_a_writer_whose_lease_is_taken_over_stops_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ts, "_HEARTBEAT_INTERVAL_S", 0.0)
    monkeypatch.setattr(ts, "_FLUSH_INTERVAL_S", 0.01)
    core = _open(tmp_path)
    core.start_optimize(2)
    lease = json.loads((tmp_path / LEASE_FILE).read_text())
    lease["owner_id"] = "someone-else"
    (tmp_path / LEASE_FILE).write_text(json.dumps(lease))
    deadline = time.monotonic() + 5
    while core._broken is None and time.monotonic() < deadline:
        time.sleep(0.01)
    before = len(read_events(tmp_path))
    with pytest.raises(StudyLockedError, match="taken over"):
        core.next_trial("r1", None)
    assert len(read_events(tmp_path)) == before
    core.close()  # nothing staged was lost: a quiet close, which writes nothing either
    assert len(read_events(tmp_path)) == before
    assert json.loads((tmp_path / LEASE_FILE).read_text())["owner_id"] == "someone-else"


def _crash(core: ts.TrialSchedulerCore) -> None:
    """Stop a writer the way a killed process does: no snapshot, no lease release."""
    core._closed.set()
    core._background.join()
    core._rec.log.commit()


def test_a_torn_last_write_is_dropped_reported_and_nothing_before_it_lost(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(3)
    assert _run(core, "r1", {}) == 3
    before = core.records()
    _crash(core)
    core._lease.release()
    (segment,) = sorted((tmp_path / "segments").iterdir())
    with segment.open("ab") as f:
        f.write(b"\xff\xff\xff\xff\x40\x00\x00\x00torn")  # half of a batch that never finished

    again = _open(tmp_path, load=True)
    assert again.records() == before
    started = [e for e in read_events(tmp_path) if e.kind == "writer_started"][-1]
    assert "torn" in (started.payload["replay"] or "")
    again.close()


def test_a_dead_writers_lease_is_taken_over_and_recorded(tmp_path: Path) -> None:
    import subprocess
    import sys

    core = _open(tmp_path)
    _crash(core)  # the lease file stays, naming this process ...
    lease = json.loads((tmp_path / LEASE_FILE).read_text())
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lease["pid"] = int(gone.stdout)  # ... now a process that has exited
    lease["owner_id"] = "dead-writer"
    (tmp_path / LEASE_FILE).write_text(json.dumps(lease))

    again = _open(tmp_path, load=True)
    started = [e for e in read_events(tmp_path) if e.kind == "writer_started"][-1]
    assert started.payload["took_over_from"] is not None
    assert str(lease["pid"]) in started.payload["took_over_from"]
    again.close()


def test_a_restarted_sampler_service_is_sent_the_whole_study(tmp_path: Path) -> None:
    from raysweep.orchestrator._core._protocol import Updates
    from raysweep.orchestrator._errors import SamplerOutOfStepError

    fresh = SamplerServiceCore(RandomSampler(seed=3), 3, (StudyDirection.MAXIMIZE,))
    with pytest.raises(SamplerOutOfStepError):
        fresh.propose((7,), Updates(5, ()))  # a delta, but it has seen nothing before

    core = _open(tmp_path)
    core.start_optimize(6)
    assert _run_some(core, 3) == 3
    # Ray restarts a lost service with its constructor arguments and nothing else:
    client = core._proposals.sampler
    assert isinstance(client, LocalSamplerClient)
    restarted = SamplerServiceCore(RandomSampler(seed=3), 3, (StudyDirection.MAXIMIZE,))
    client._service = restarted
    core._proposals._ready.clear()
    assert _run(core, "r1", {}) == 3  # the study goes on ...
    # ... and the service saw every trial that existed when it was last asked (a trial is
    # created once its proposal is known, so the last one came after).
    assert sorted(r.number for r in restarted._history()) == list(range(5))
    core.close()


def _run_some(core: ts.TrialSchedulerCore, n: int) -> int:
    outcome, ran = None, 0
    for _ in range(n):
        a = core.next_trial("r0", outcome)
        assert a is not None
        x = a.proposal["x"][1] if "x" in a.proposal else core.suggest(a.number, 0, "x", X, ())
        notes = (ParamNote("x", X, x),) if "x" in a.proposal else ()
        core.report(a.number, a.attempt, notes)
        outcome, ran = TrialOutcome(a.number, a.attempt, TrialState.COMPLETE, (x,)), ran + 1
    core.next_trial("r0", outcome, False)
    return ran


def test_a_rerun_gets_the_proposal_its_lost_first_attempt_was_handed(tmp_path: Path) -> None:
    # TPE after its start-up trials: a proposal depends on the history, so a fresh one for the
    # re-run would differ.
    tpe = TPESampler(n_startup_trials=2, seed=3)
    core = _open(tmp_path, sampler=tpe)
    core.start_optimize(12)
    _run_some(core, 4)
    handed = core.next_trial("r1", None)
    assert handed is not None and "x" in handed.proposal
    _run_some(core, 3)  # other trials finish meanwhile
    # The runner dies before its next round trip: the value it took from the proposal was
    # only in its batch.
    core.runner_lost("r1", "node died", True)
    rerun = core.next_trial("r2", None)
    assert rerun is not None and (rerun.number, rerun.attempt) == (handed.number, 1)
    assert rerun.proposal["x"][1] == handed.proposal["x"][1]
    # ... and after the writer restarts, from the log.
    core.runner_lost("r2", "node died", True)
    _crash(core)
    core._lease.release()
    again = _open(tmp_path, load=True, sampler=tpe)
    again.start_optimize(12)
    third = again.next_trial("r3", None)
    assert third is not None and third.number == handed.number
    assert third.proposal["x"][1] == handed.proposal["x"][1]
    again.close()


def test_an_event_that_cannot_apply_is_never_written(tmp_path: Path) -> None:
    core = _open(tmp_path)
    with pytest.raises(CorruptLogError, match="trial 99"):
        core._rec.emit(ev.UserAttrSet("note", 1), 99)  # no such trial
    core.close()
    # The study still opens: the event that failed was not written.
    StudyState.replay(read_events(tmp_path))
    assert not [e for e in read_events(tmp_path) if e.trial == 99]


def test_trial_numbers_continue_after_the_highest_even_across_a_gap() -> None:
    def created(seq: int, number: int) -> Event:
        return Event(seq, 0.0, "trial_created", number, {"origin": "optimize"})

    study = {"name": "gap", "directions": ["maximize"], "seed": 1, "seed_source": "given"}
    study |= {
        "sampler": RandomSampler(seed=1).to_json(),
        "scheduler": ASHA(max_resource=9).to_json(),
    }
    events = [Event(0, 0.0, "study_created", None, study)]
    events += [created(1, 0), created(2, 1), created(3, 3)]  # trial 2's creation is gone
    state = StudyState.replay(events)
    assert state.next_number == 4
    with pytest.raises(CorruptLogError, match="created twice"):
        StudyState.replay([*events, created(4, 1)])


def test_a_study_snapshotted_along_the_way_reopens_to_the_same_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ts, "SNAPSHOT_EVERY", 7)
    monkeypatch.setattr(ts, "_FLUSH_INTERVAL_S", 0.001)
    core = _open(tmp_path)
    core.start_optimize(30)
    _run(core, "r1", {})
    records = core.records()
    core.close()
    assert len(list((tmp_path / "snapshots").iterdir())) >= 1
    again = _open(tmp_path, load=True)
    assert again.records() == records
    again.close()


def test_the_periodic_snapshot_holds_no_lock_runners_wait_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ts, "SNAPSHOT_EVERY", 1)
    monkeypatch.setattr(ts, "_FLUSH_INTERVAL_S", 0.001)
    core = _open(tmp_path)
    log = core._rec.log
    entered, release = threading.Event(), threading.Event()
    snapshot = log.snapshot

    def slow_snapshot() -> object:
        entered.set()
        release.wait(30)
        return snapshot()

    monkeypatch.setattr(log, "snapshot", slow_snapshot)
    core.start_optimize(3)
    assert entered.wait(30)
    # While the snapshot is under way, a runner's report and a reader's questions go through.
    answered: list[object] = []
    thread = threading.Thread(target=lambda: answered.append((core.records(), core.progress())))
    thread.start()
    thread.join(30)
    alive = thread.is_alive()
    release.set()
    thread.join()
    core.close()
    assert not alive and answered


def test_the_best_trial_is_one_record_kept_as_trials_finish(tmp_path: Path) -> None:
    core = _open(tmp_path)  # maximize
    with pytest.raises(ValueError, match="no completed trial yet"):
        core.best()
    core.start_optimize(8)
    _run(core, "r1", {})
    complete = [r for r in core.records() if r.state is TrialState.COMPLETE]
    expected = max(complete, key=lambda r: (r.values[0] if r.values else 0.0, -r.number))
    assert core.best() == expected
    assert core.progress().best_value == expected.values[0]  # type: ignore[index]
    core.close()
    again = _open(tmp_path, load=True)  # replayed, not recomputed by the caller
    assert again.best() == expected
    again.close()


def test_only_feasible_trials_are_the_best(tmp_path: Path) -> None:
    core = _open(tmp_path)  # maximize
    infeasible = core.ask()
    core.tell(infeasible.number, TrialState.COMPLETE, (5.0,), None, (), (1.0,))
    with pytest.raises(ValueError, match="1 completed trials but none is feasible"):
        core.best()
    assert core.progress().best_value is None
    feasible = core.ask()
    core.tell(feasible.number, TrialState.COMPLETE, (2.0,), None, (), (-1.0,))
    assert core.best().number == feasible.number
    assert core.progress().best_value == 2.0
    core.close()
