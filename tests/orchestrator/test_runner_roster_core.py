"""The runners' side of the TrialScheduler core: when a runner is told to wait rather than
leave, and when it may be retired.

A runner told "no more work" leaves for good; a promote-mode study must not say so while a
running trial may still pause and make a promotion (the pool would run on fewer runners to
the end). A runner that holds a trial is never retired.
"""

from __future__ import annotations

import random
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import (
    Assignment,
    Idle,
    PlacementRequest,
    PoolRunner,
    ReportNote,
    TrialOutcome,
)
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import RandomSampler, StudyDirection, TrialState
from raysweep.scheduling import ASHA, Action, ClusterNode, Shape

RUNGS = (1, 2, 4, 8)
PROMOTE = ASHA(min_resource=1, max_resource=8, reduction_factor=2, mode="promote")


def _open(directory: Path) -> ts.TrialSchedulerCore:
    info = StudyInfo(
        name="roster",
        directions=(StudyDirection.MAXIMIZE,),
        seed=3,
        seed_source="create_study",
        sampler=RandomSampler(seed=3).to_json(),
        scheduler=PROMOTE.to_json(),
    )
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), info, load_if_exists=False, given=frozenset({"seed"})
    )
    core.open()
    service = SamplerServiceCore(RandomSampler(seed=3), 3, (StudyDirection.MAXIMIZE,))
    core.attach_sampler(LocalSamplerClient(service))
    return core


@dataclass
class _Runner:
    """One runner; each `act` is one call it makes. An answer that is neither a trial nor None
    means "wait": the runner asks again on a later act."""

    name: str
    trial: Assignment | None = None
    next_rung: int = 0
    outcome: TrialOutcome | None = None
    done: bool = False

    def act(self, core: ts.TrialSchedulerCore, log: list[tuple[str, str]]) -> None:
        if self.trial is None:
            answer = core.next_trial(self.name, self.outcome)
            self.outcome = None
            if answer is None:
                self.done = True
                log.append((self.name, "left"))
            elif isinstance(answer, Assignment):
                self.trial, self.next_rung = answer, 0
                log.append((self.name, "got a trial"))
            return
        a = self.trial
        step = RUNGS[self.next_rung]
        value = random.Random(a.number).random() + step
        decision = core.report(a.number, a.attempt, (ReportNote(step, value),))
        self.next_rung += 1
        if decision is not None and decision.action is Action.PAUSE:
            self.outcome = TrialOutcome(a.number, a.attempt, TrialState.PAUSED, paused_at=step)
            self.trial = None
        elif self.next_rung == len(RUNGS):
            self.outcome = TrialOutcome(a.number, a.attempt, TrialState.COMPLETE, (value,))
            self.trial = None


def _run(directory: Path, n_trials: int, runners: int, order: random.Random) -> list:
    core = _open(directory)
    core.start_optimize(n_trials, runners)
    pool = [_Runner(f"r{i}") for i in range(runners)]
    log: list[tuple[str, str]] = []
    try:
        for _ in range(20_000):
            live = [r for r in pool if not r.done]
            if not live:
                break
            order.choice(live).act(core, log)
        else:
            pytest.fail("the runners never all left")
        assert core.progress().finished == n_trials
    finally:
        core.close()
    return log


@settings(max_examples=15, deadline=None)
@given(
    n_trials=st.integers(min_value=3, max_value=12),
    runners=st.integers(min_value=2, max_value=4),
    order=st.randoms(use_true_random=False),
)
def test_a_runner_is_told_to_leave_only_once_no_work_can_come(
    n_trials: int, runners: int, order: random.Random
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        log = _run(Path(directory), n_trials, runners, order)
    first_left = next(i for i, (_, what) in enumerate(log) if what == "left")
    later = [entry for entry in log[first_left:] if entry[1] == "got a trial"]
    # A trial handed out after a runner left could have run on that runner too.
    assert later == [], (first_left, log)


CPU = Shape.of({"CPU": 1})


def _request(*runners: str, cpus: float = 4, idle_grace_s: float = 10.0) -> PlacementRequest:
    node = ClusterNode("n0", {"CPU": cpus}, {"CPU": cpus - len(runners)})
    return PlacementRequest(
        (node,),
        tuple(PoolRunner(name, CPU, ("n0",)) for name in runners),
        (CPU,),
        max_runners=3,
        idle_grace_s=idle_grace_s,
    )


def _pause(core: ts.TrialSchedulerCore, a: Assignment, value: float) -> TrialOutcome:
    decision = core.report(a.number, a.attempt, (ReportNote(1, value),))
    assert decision is not None and decision.action is Action.PAUSE
    return TrialOutcome(a.number, a.attempt, TrialState.PAUSED, paused_at=1)


def test_the_pool_is_asked_to_start_a_runner_per_trial_wanted_up_to_max_runners(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(5, 3)
    first = core.place(_request())
    assert len(first.starts) == 3 and not first.done
    assert all(start.nodes == ("n0",) for start in first.starts)
    # Once started (not yet asking), they are counted: nothing more is started.
    again = core.place(_request("r0", "r1", "r2"))
    assert again.starts == () and again.retired == ()
    core.close()


def test_an_idle_runner_is_retired_after_its_grace_and_then_never_handed_a_trial(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(2, 3)
    a = core.next_trial("r0", None)
    b = core.next_trial("r1", None)
    assert isinstance(a, Assignment) and isinstance(b, Assignment)
    # Both trials are out: a third runner waits, since either may pause and be promoted.
    idle = core.next_trial("r2", None)
    assert isinstance(idle, Idle)
    answer = core.place(_request("r0", "r1", "r2", idle_grace_s=0.0))
    # Busy runners are never retired, whatever the grace.
    assert [d.runner for d in answer.retired] == ["r2"] and answer.never_asked == frozenset()
    assert core.wait_for_work("r2", idle.version, timeout=0.0) != idle.version
    # r0's trial pauses: a promotion now exists, and the retired runner does not get it.
    paused = _pause(core, a, 0.9)
    assert core.next_trial("r2", None) is None
    promoted = core.next_trial("r0", paused)
    assert isinstance(promoted, Assignment) and promoted.number == a.number
    core.close()


def test_an_idle_runner_is_woken_when_a_trial_pauses_and_takes_the_promotion(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(1, 2)
    a = core.next_trial("r0", None)
    assert isinstance(a, Assignment)
    idle = core.next_trial("r1", None)
    assert isinstance(idle, Idle)
    woke: list[int] = []
    waiter = threading.Thread(target=lambda: woke.append(core.wait_for_work("r1", idle.version)))
    waiter.start()
    paused = _pause(core, a, 0.5)
    # r0 hands the pause back without asking for more; r1, woken, takes the promotion.
    assert core.next_trial("r0", paused, False) is None
    waiter.join(timeout=10)
    assert woke and woke[0] != idle.version
    promoted = core.next_trial("r1", None)
    assert isinstance(promoted, Assignment) and promoted.number == a.number
    assert promoted.resume is not None
    core.close()


def test_once_no_work_can_come_every_runner_not_holding_a_trial_is_retired(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(1, 3)
    a = core.next_trial("r0", None)
    assert isinstance(a, Assignment)
    assert isinstance(core.next_trial("r1", None), Idle)
    assert not core.place(_request("r0", "r1", "r2")).done
    done = TrialOutcome(a.number, a.attempt, TrialState.COMPLETE, (0.5,))
    assert core.next_trial("r0", done) is None  # the last trial: nothing can come
    answer = core.place(_request("r0", "r1", "r2"))
    assert answer.done and answer.starts == ()
    assert {d.runner for d in answer.retired} == {"r0", "r1", "r2"}
    # r2 never asked: the pool may end it; r0 and r1 leave by themselves.
    assert answer.never_asked == {"r2"}
    core.close()
