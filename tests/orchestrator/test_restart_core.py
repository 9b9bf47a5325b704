"""A TrialScheduler that dies and is restarted loses nothing it acknowledged, and a call retried
across the restart is applied once (pure core: the restart is a crash and a reopen)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import ParamNote, TrialOutcome
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import FloatDistribution, RandomSampler, StudyDirection, TrialState
from raysweep.scheduling import NoPruning

X = FloatDistribution(low=0.0, high=1.0)


def _open(directory: Path, *, restarted: bool = False) -> ts.TrialSchedulerCore:
    info = StudyInfo(
        name="restart",
        directions=(StudyDirection.MINIMIZE,),
        seed=2,
        seed_source="create_study",
        sampler=RandomSampler(seed=2).to_json(),
        scheduler=NoPruning().to_json(),
    )
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), info, load_if_exists=True, given=frozenset({"seed"})
    )
    core.open(restarted=restarted)
    service = SamplerServiceCore(RandomSampler(seed=2), 2, (StudyDirection.MINIMIZE,))
    core.attach_sampler(LocalSamplerClient(service))
    return core


def _die(core: ts.TrialSchedulerCore) -> None:
    """The actor's process is killed: what is staged is lost, the lease is left behind."""
    core._closed.set()
    core._background.join()
    core._lease.release()  # the pid is gone: the next writer would take the lease over


@pytest.fixture(autouse=True)
def _no_background_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only what a call committed before it returned survives the kill.
    monkeypatch.setattr(ts, "_FLUSH_INTERVAL_S", 3600.0)


def test_a_stop_is_committed_before_it_returns(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(50, 2)
    core.stop_new_trials("timeout")
    _die(core)
    # Ray restarts the scheduler; it must not take up the goal the stop ended.
    again = _open(tmp_path, restarted=True)
    assert not again.wants_more()
    assert again.next_trial("r1", None) is None
    again.close()


def test_an_outcome_sent_after_the_restart_queued_its_trial_is_kept(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(3, 1)
    handed = core.next_trial("r1", None)
    assert handed is not None
    _die(core)
    again = _open(tmp_path, restarted=True)
    assert again.records()[0].state is TrialState.WAITING
    # The runner finished meanwhile and sends its result to the restarted scheduler.
    notes = (ParamNote("x", X, 0.25),)
    done = TrialOutcome(handed.number, handed.attempt, TrialState.COMPLETE, (0.25,), notes=notes)
    following = again.next_trial("r1", done)
    record = again.record(handed.number)
    assert record.state is TrialState.COMPLETE and record.values == (0.25,)
    assert record.attempt == handed.attempt  # not re-run
    assert following is not None and following.number != handed.number
    again.close()


def test_a_retried_ask_gets_the_same_trial_even_across_a_restart(tmp_path: Path) -> None:
    core = _open(tmp_path)
    first = core.ask(request="ask-1")
    assert core.ask(request="ask-1").number == first.number  # the reply was lost: retried
    other = core.ask(request="ask-2")
    assert other.number != first.number
    _die(core)
    again = _open(tmp_path, restarted=True)
    assert again.ask(request="ask-1").number == first.number
    assert [r.number for r in again.records()] == [first.number, other.number]
    again.close()


def test_a_retried_tell_is_applied_once_and_answers_the_same(tmp_path: Path) -> None:
    core = _open(tmp_path)
    asked = core.ask(request="ask-1")
    told = core.tell(asked.number, TrialState.COMPLETE, (1.5,), None, request="tell-1")
    assert core.tell(asked.number, TrialState.COMPLETE, (1.5,), None, request="tell-1") == told
    _die(core)
    again = _open(tmp_path, restarted=True)
    assert again.tell(asked.number, TrialState.COMPLETE, (1.5,), None, request="tell-1") == told
    # Another tell of a finished trial is still an error.
    with pytest.raises(Exception, match="already complete"):
        again.tell(asked.number, TrialState.FAILED, None, "x", request="tell-2")
    again.close()
