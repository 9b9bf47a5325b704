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
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.orchestrator import UnplaceableResourcesError
from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import (
    Assignment,
    Idle,
    PlacementAnswer,
    PlacementRequest,
    PoolRunner,
    ReportNote,
    TrialOutcome,
)
from raysweep.orchestrator._core._resources import ResourceRequest
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import FloatDistribution, RandomSampler, StudyDirection, TrialState
from raysweep.scheduling import ASHA, Action, ClusterNode, Shape

RUNGS = (1, 2, 4, 8)
PROMOTE = ASHA(min_resource=1, max_resource=8, reduction_factor=2, mode="promote")


def _open(directory: Path, *, load: bool = False) -> ts.TrialSchedulerCore:
    info = StudyInfo(
        name="roster",
        directions=(StudyDirection.MAXIMIZE,),
        seed=3,
        seed_source="create_study",
        sampler=RandomSampler(seed=3).to_json(),
        scheduler=PROMOTE.to_json(),
    )
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), info, load_if_exists=load, given=frozenset({"seed"})
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
        ResourceRequest((CPU,)),
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


def test_each_attempt_records_where_it_runs_and_a_reopen_keeps_it(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(2, 3)
    gpu = Shape.of({"GPU": 0.5}, "H100")
    node = ClusterNode("n7", {"GPU": 2.0}, {"GPU": 2.0}, accelerator_type="H100")
    described = PlacementRequest(
        (node,), (PoolRunner("g0", gpu, ("n7",)),), ResourceRequest((gpu,)), max_runners=3
    )
    core.place(described)
    a = core.next_trial("g0", None)
    assert isinstance(a, Assignment) and a.placement is not None
    assert (a.placement.runner, a.placement.resources, a.placement.nodes) == (
        "g0",
        {"GPU": 0.5},
        ("n7",),
    )
    assert a.placement.accelerator_type == "H100"
    # A runner the pool never described (a core driven directly) runs with no placement known.
    b = core.next_trial("other", None)
    assert isinstance(b, Assignment) and b.placement is None
    core.next_trial("g0", TrialOutcome(a.number, a.attempt, TrialState.COMPLETE, (1.0,)), False)
    assert core.placements() == {a.number: a.placement.to_json()}
    core.close()
    # From the saved state, and from the events alone.
    again = _open(tmp_path, load=True)
    assert again.placements() == {a.number: a.placement.to_json()}
    again.close()
    for saved in tmp_path.glob("**/*state*"):
        if saved.is_file():
            saved.unlink()
    replayed = _open(tmp_path, load=True)
    assert replayed.placements() == {a.number: a.placement.to_json()}
    replayed.close()


GPU = Shape.of({"GPU": 1})
X = FloatDistribution(0.0, 1.0)


def _gpu_from_rung_1(params: dict, rung: int) -> dict:
    return {"GPU": 1} if rung >= 1 else {"CPU": 1}


def _gpu_for_large_x(params: dict, rung: int) -> dict:
    return {"GPU": 1} if params.get("x", 0.0) > 0.5 else {"CPU": 1}


def _mixed(resources: ResourceRequest, *runners: tuple[str, Shape]) -> PlacementRequest:
    node = ClusterNode("n0", {"CPU": 4.0, "GPU": 1.0}, {"CPU": 3.0, "GPU": 1.0})
    pool = tuple(PoolRunner(name, shape, ("n0",)) for name, shape in runners)
    return PlacementRequest((node,), pool, resources, max_runners=2)


def _place_until_known(core: ts.TrialSchedulerCore, request: PlacementRequest) -> PlacementAnswer:
    answer = core.place(request)
    # The proposals a function of the parameters needs were fetched within the call.
    assert answer.awaiting_proposal is None
    return answer


def test_a_promotion_to_a_rung_that_needs_a_gpu_goes_to_a_gpu_runner(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(1, 2)
    request = ResourceRequest((), _gpu_from_rung_1)
    first = _place_until_known(core, _mixed(request))
    assert [(s.shape, s.work) for s in first.starts] == [(CPU, "trial 0")]
    core.place(_mixed(request, ("c0", CPU)))
    a = core.next_trial("c0", None)
    assert isinstance(a, Assignment) and a.placement is not None
    assert a.placement.resources == {"CPU": 1.0}
    paused = _pause(core, a, 0.5)
    # Promoted at once (the only trial), to rung 1: a GPU's. The CPU runner does not get it.
    assert isinstance(core.next_trial("c0", paused), Idle)
    answer = core.place(_mixed(request, ("c0", CPU)))
    assert [(s.shape, s.work) for s in answer.starts] == [(GPU, "trial 0 (promoted)")]
    core.place(_mixed(request, ("c0", CPU), ("g0", GPU)))
    promoted = core.next_trial("g0", None)
    assert isinstance(promoted, Assignment) and promoted.number == a.number
    assert promoted.resume is not None and promoted.placement is not None
    assert promoted.placement.resources == {"GPU": 1.0}
    core.close()


def test_new_trials_go_to_runners_of_the_shape_their_parameters_ask_for(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(12, 2)
    resources = ResourceRequest((), _gpu_for_large_x)
    # The pool, as a dict: each start adds a runner, each retirement removes one.
    pool: dict[str, Shape] = {}
    order = random.Random(4)
    ran: dict[int, tuple[float, dict[str, float]]] = {}

    def place() -> None:
        answer = _place_until_known(core, _mixed(resources, *pool.items()))
        for decision in answer.retired:
            pool.pop(decision.runner, None)
        for name, start in zip(answer.start_names, answer.starts, strict=True):
            pool[name] = start.shape

    place()
    for _ in range(400):
        if len(ran) == 12:
            break
        name = order.choice(sorted(pool))
        a = core.next_trial(name, None)
        if not isinstance(a, Assignment):
            if a is None:
                pool.pop(name)
            place()
            continue
        proposed = a.proposal.get("x")
        x = core.suggest(a.number, a.attempt, "x", X, ())
        assert a.placement is not None and a.placement.resources == pool[name].amounts()
        # The first trials had no proposal (the space was unknown yet): x is drawn in them.
        expected = _gpu_for_large_x({"x": proposed[1]} if proposed else {}, 0)
        assert a.placement.resources == expected
        ran[a.number] = (x, a.placement.resources)
        done = TrialOutcome(a.number, a.attempt, TrialState.COMPLETE, (x,))
        assert core.next_trial(name, done, False) is None
        place()
    assert len(ran) == 12
    assert {tuple(r) for _, r in ran.values()} == {("GPU",), ("CPU",)}
    core.close()


def test_a_resources_function_that_fails_names_the_trial_and_what_to_return(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(2, 2)

    def broken(params: dict, rung: int) -> dict:
        return {"gpu": 1}

    with pytest.raises(ValueError, match=r"for trial 0 \(rung 0\).*did you mean 'GPU'"):
        _place_until_known(core, _mixed(ResourceRequest((), broken)))

    def too_big(params: dict, rung: int) -> dict:
        return {"GPU": 8}

    with pytest.raises(UnplaceableResourcesError, match=r"trial 0 needs \{GPU: 8\}"):
        _place_until_known(core, _mixed(ResourceRequest((), too_big)))
    core.close()


def test_progress_says_why_a_trial_waits_for_hardware(tmp_path: Path) -> None:
    core = _open(tmp_path)
    core.start_optimize(3, 3)
    h100 = Shape.of({"GPU": 1}, "H100")
    node = ClusterNode("n0", {"CPU": 2.0, "GPU": 1.0}, {"CPU": 2.0, "GPU": 0.0}, {}, "H100")
    request = PlacementRequest((node,), (), ResourceRequest((h100,)), max_runners=3)
    answer = core.place(request)
    assert answer.starts == () and len(answer.waits) == 3
    waiting = core.progress().waiting
    assert waiting is not None
    assert waiting.startswith("trial 0 waits: no free GPU of type H100")
    assert waiting.endswith("(and 2 more waiting)")
    core.close()


def test_with_an_autoscaler_a_shape_no_node_holds_waits_and_says_for_how_long(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(1, 1)
    gpu = Shape.of({"GPU": 1, "CPU": 1})
    node = ClusterNode("head", {"CPU": 2.0}, {"CPU": 2.0})
    request = PlacementRequest(
        (node,), (), ResourceRequest((gpu,)), max_runners=1, autoscaling=True
    )
    # Not refused: an autoscaler may launch a node for it; the wait says it was asked.
    answer = core.place(request)
    assert answer.starts == () and [s for s in answer.unmet] == [gpu]
    waiting = core.progress().waiting
    assert waiting is not None and waiting.startswith("trial 0 waits: no node can hold")
    assert "the autoscaler was asked for a node 0 s ago" in waiting
    assert "ray status" in waiting
    core.close()


def test_an_idle_runner_woken_again_and_again_still_ages_towards_its_retirement(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(2, 3)
    assert isinstance(core.next_trial("r0", None), Assignment)
    assert isinstance(core.next_trial("r1", None), Assignment)
    idle = "r2"
    assert isinstance(core.next_trial(idle, None), Idle)
    grace = 0.3
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        # Woken by every change, it asks again and is idle again: its wait goes on.
        assert isinstance(core.next_trial(idle, None), Idle)
        assert core.place(_request("r0", "r1", "r2", idle_grace_s=grace)).retired == ()
        time.sleep(0.05)
    time.sleep(0.05)
    retired = core.place(_request("r0", "r1", "r2", idle_grace_s=grace)).retired
    assert [d.runner for d in retired] == [idle]
    core.close()


def test_a_runner_on_a_node_kept_for_a_promotion_takes_no_new_trial(tmp_path: Path) -> None:
    # Found by the simulated placement benchmark: runners asking for work themselves went on
    # taking new trials on the node the planner kept for a waiting promotion, so it never
    # drained and the promotion waited for as long as new trials came.
    core = _open(tmp_path)
    core.start_optimize(5, 2)
    resources = ResourceRequest((), _gpu_from_rung_1)
    # The node's GPU is held by work of another study: the promotion waits for it.
    node = ClusterNode("n0", {"CPU": 2.0, "GPU": 1.0}, {"CPU": 0.0, "GPU": 0.0})

    def place() -> PlacementAnswer:
        runners = tuple(PoolRunner(name, CPU, ("n0",)) for name in ("c0", "c1"))
        return _place_until_known(core, PlacementRequest((node,), runners, resources, 2))

    place()
    t0 = core.next_trial("c0", None)
    t1 = core.next_trial("c1", None)
    assert isinstance(t0, Assignment) and isinstance(t1, Assignment)
    t2 = core.next_trial("c0", _pause(core, t0, 0.2))
    # Trial 1 scores higher: promoted to rung 1, which asks for a GPU; c1 takes trial 3.
    t3 = core.next_trial("c1", _pause(core, t1, 0.9))
    assert isinstance(t2, Assignment) and isinstance(t3, Assignment) and t3.number == 3
    waiting = {w.work: w for w in place().waits}
    assert not waiting["trial 1 (promoted)"].reserved
    # Once it has waited past the planner's delay, the node is kept for it ...
    core._roster._first_seen["trial 1 (promoted)"] -= 60.0
    assert {w.work: w for w in place().waits}["trial 1 (promoted)"].reserved == ("n0",)
    # ... and a CPU runner there takes no new trial (trial 4): it waits, and is retired.
    done = TrialOutcome(t2.number, t2.attempt, TrialState.COMPLETE, (0.5,))
    assert isinstance(core.next_trial("c0", done), Idle)
    assert [d.runner for d in place().retired] == ["c0"]
    core.close()


def _gpu_from_rung_2(params: dict, rung: int) -> dict:
    return {"GPU": 1} if rung >= 2 else {"CPU": 1}


def _pause_at(core: ts.TrialSchedulerCore, a: Assignment, step: int, value: float) -> TrialOutcome:
    decision = core.report(a.number, a.attempt, (ReportNote(step, value),))
    assert decision is not None and decision.action is Action.PAUSE, decision
    return TrialOutcome(a.number, a.attempt, TrialState.PAUSED, paused_at=step)


def test_a_promotion_waiting_for_a_gpu_does_not_hold_up_one_a_cpu_runner_can_take(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path)
    core.start_optimize(3, 2)
    request = ResourceRequest((), _gpu_from_rung_2)
    _place_until_known(core, _mixed(request))
    core.place(_mixed(request, ("c0", CPU)))
    first = core.next_trial("c0", None)
    assert isinstance(first, Assignment) and first.number == 0
    second = core.next_trial("c0", _pause_at(core, first, 1, 0.9))
    assert isinstance(second, Assignment) and second.number == 1
    promoted = core.next_trial("c0", _pause_at(core, second, 1, 0.5))
    assert isinstance(promoted, Assignment) and promoted.number == 0  # to rung 2, on a CPU
    third = core.next_trial("c0", _pause_at(core, promoted, 2, 0.95))
    assert isinstance(third, Assignment) and third.number == 2
    # Every trial has started: trial 0 is promoted from rung 2, which needs a GPU; trial 2
    # (second of three at rung 1) from rung 1, on a CPU. The CPU runner takes trial 2 now
    # instead of idling until a GPU runner has taken trial 0.
    answer = core.next_trial("c0", _pause_at(core, third, 1, 0.7))
    assert isinstance(answer, Assignment) and answer.number == 2 and answer.resume is not None
    # And the plan starts a GPU runner for trial 0 meanwhile.
    plan = core.place(_mixed(request, ("c0", CPU)))
    assert [(s.shape, s.work) for s in plan.starts] == [(GPU, "trial 0 (promoted)")]
    core.close()
