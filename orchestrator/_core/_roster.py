"""The TrialScheduler's view of the runners of an `optimize` call: which have asked for work,
which wait idle and since when, which are retired; and the planning of what to start.

The runner pool owns the actors and says which exist (`PlacementRequest.runners`): after a
TrialScheduler restart this module knows nothing, and the pool's list is the truth again at
its next request. Everything here runs under the TrialScheduler's lock, so that a runner is
retired only while it holds no trial, and a retired runner is never handed one.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Mapping

from raysweep.orchestrator._core._protocol import (
    Placement,
    PlacementAnswer,
    PlacementRequest,
    PoolRunner,
)
from raysweep.orchestrator._core._resources import ResourceRequest
from raysweep.scheduling import (
    PlacementSettings,
    Retire,
    RunnerState,
    RunnerView,
    Shape,
    Start,
    Wait,
    Work,
    WorkKind,
    plan_placement,
)

# A pool that hears of no change asks again this often: idle graces run out, nodes come and go.
RECHECK_S = 1.0


_KEY_SUFFIX = {WorkKind.RERUN: " (re-run)", WorkKind.PROMOTION: " (promoted)", WorkKind.NEW: ""}


def work_key(number: int, kind: WorkKind) -> str:
    """How the planner, the progress line and runners' reasons name a piece of pending work."""
    return f"trial {number}{_KEY_SUFFIX[kind]}"


class RunnerRoster:
    def __init__(self, lock: threading.RLock) -> None:
        self._changed = threading.Condition(lock)
        # Different in every process, so that a runner waiting on a version a restarted
        # scheduler never had is answered at once.
        self._version = time.time_ns()
        self._asked: set[str] = set()
        self._idle_since: dict[str, float] = {}
        self._retired: set[str] = set()
        # Each runner as the pool last described it (shape, nodes).
        self._described: dict[str, PoolRunner] = {}
        # When each pending piece of work was first seen (the planner's waiting_since).
        self._first_seen: dict[str, float] = {}
        self.last_waits: tuple[Wait, ...] = ()
        # Node -> the work the last plan keeps it for (`Wait.reserved`), and its kind.
        self._kept: dict[str, tuple[str, WorkKind]] = {}
        # What the trials of the optimize call accept, as the pool last said (None: not yet).
        self.request: ResourceRequest | None = None
        # Whether the pool's last request said an autoscaler can launch nodes.
        self.autoscaling = False

    @property
    def version(self) -> int:
        return self._version

    def changed(self) -> None:
        """Something a waiting runner or the pool may act on happened (lock held)."""
        self._version += 1
        self._changed.notify_all()

    def wait(self, version: int, timeout: float) -> int:
        """Block (the lock released meanwhile) until the version moves on from `version`."""
        self._changed.wait_for(lambda: self._version != version, timeout=timeout)
        return self._version

    # ----- what runners do (lock held) -------------------------------------------------------

    def asked(self, runner: str) -> None:
        self._asked.add(runner)

    def went_idle(self, runner: str) -> None:
        # Kept from the first time: a runner woken and idle again has waited all along.
        self._idle_since.setdefault(runner, time.monotonic())

    def took_work(self, runner: str) -> bool:
        """`runner` holds a trial now; whether other runners wait idle (they may want to know:
        the trials after it may be theirs)."""
        self._idle_since.pop(runner, None)
        return bool(self._idle_since)

    def placement(self, runner: str | None) -> Placement | None:
        """Where `runner` runs, as the pool described it (None: not described)."""
        described = self._described.get(runner) if runner is not None else None
        if described is None:
            return None
        shape = described.shape
        return Placement(
            described.name,
            shape.amounts(),
            described.nodes,
            shape.accelerator_type,
            described.slice_name,
        )

    def shape_of(self, runner: str) -> Shape | None:
        described = self._described.get(runner)
        return None if described is None else described.shape

    def kept_from(self, runner: str, number: int, kind: WorkKind) -> str | None:
        """The work a node of `runner` is kept for, when that keeps `runner` from taking trial
        `number` as `kind`: a runner asking for work itself must not undo the planner's
        reservation, or the node never drains. A node kept for a new trial holds up only new
        trials, as in the planner."""
        described = self._described.get(runner)
        if described is None:
            return None
        work = work_key(number, kind)
        for node in described.nodes:
            keeper, keeper_kind = self._kept.get(node, (None, None))
            if keeper is None or keeper == work:
                continue
            if kind is WorkKind.NEW or keeper_kind is not WorkKind.NEW:
                return keeper
        return None

    def is_retired(self, runner: str) -> bool:
        return runner in self._retired

    def lost(self, runner: str) -> None:
        self._asked.discard(runner)
        self._idle_since.pop(runner, None)
        self._retired.discard(runner)

    def retire(self, runner: str, busy: Mapping[str, object]) -> bool:
        """Retire `runner` unless it holds a trial; True if it is (now) retired."""
        if runner in busy:
            return False
        self._retired.add(runner)
        self._idle_since.pop(runner, None)
        self.changed()
        return True

    # ----- planning (lock held) --------------------------------------------------------------

    def plan(
        self,
        request: PlacementRequest,
        *,
        busy: Mapping[str, object],
        work: Callable[[float], tuple[list[Work], int | None]],
        done: bool,
    ) -> PlacementAnswer:
        """Decide what the pool starts and retires now; retirements are applied here."""
        now = time.monotonic()
        existing = {r.name for r in request.runners}
        self._described = {r.name: r for r in request.runners}
        # Runners the pool no longer has are forgotten (it reported them lost, or they ended).
        for table in (self._asked, self._retired):
            table.intersection_update(existing)
        for name in [n for n in self._idle_since if n not in existing]:
            del self._idle_since[name]
        if done:
            leaving = tuple(
                Retire(r.name, "the optimize call has no more work")
                for r in request.runners
                if r.name not in busy and r.name not in self._retired
            )
            for decision in leaving:
                self.retire(decision.runner, busy)
            return self._answer(request, (), leaving, (), (), done=True)
        views = [
            RunnerView(r.name, r.shape, r.nodes, self._state(r.name, busy), self._since(r.name))
            for r in request.runners
            if r.name not in self._retired
        ]
        pending, unknown = work(now)
        keys = {item.key for item in pending}
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in keys}
        for item in pending:
            self._first_seen.setdefault(item.key, now)
        settings = PlacementSettings(request.max_runners, idle_grace_s=request.idle_grace_s)
        plan = plan_placement(pending, request.nodes, views, now=now, settings=settings)
        retired = tuple(
            d for d in plan.of_kind(Retire) if isinstance(d, Retire) and self.retire(d.runner, busy)
        )
        starts = tuple(d for d in plan.of_kind(Start) if isinstance(d, Start))
        # Named here, so that a runner asking before the pool's next request is known.
        names = tuple(f"runner-{uuid.uuid4().hex[:8]}" for _ in starts)
        for name, start in zip(names, starts, strict=True):
            self._described[name] = PoolRunner(name, start.shape, start.nodes, start.slice_name)
        waits = tuple(d for d in plan.of_kind(Wait) if isinstance(d, Wait))
        kinds = {item.key: item.kind for item in pending}
        self._kept = {
            node: (wait.work, kinds[wait.work]) for wait in waits for node in wait.reserved
        }
        # At max_concurrent, waiting is the rule, not news; below it, trials wait for hardware.
        self.last_waits = waits if len(views) < request.max_runners else ()
        answer = self._answer(request, starts, retired, waits, plan.unmet, done=False)
        answer = dataclasses.replace(answer, start_names=names)
        if unknown is not None:
            answer = dataclasses.replace(answer, awaiting_proposal=unknown)
        return answer

    def first_seen(self, key: str, now: float) -> float:
        return self._first_seen.get(key, now)

    def _answer(
        self,
        request: PlacementRequest,
        starts: tuple[Start, ...],
        retired: tuple[Retire, ...],
        waits: tuple[Wait, ...],
        unmet: tuple[Shape, ...],
        *,
        done: bool,
    ) -> PlacementAnswer:
        never_asked = frozenset(
            r.name for r in request.runners if r.name in self._retired and r.name not in self._asked
        )
        return PlacementAnswer(
            starts, retired, never_asked, waits, unmet, done, self._version, RECHECK_S
        )

    def _state(self, runner: str, busy: Mapping[str, object]) -> RunnerState:
        if runner in busy:
            return RunnerState.BUSY
        if runner in self._idle_since:
            return RunnerState.IDLE
        # Not yet asked, or between two calls (a trial handed back, the next one on its way).
        return RunnerState.STARTING

    def _since(self, runner: str) -> float:
        return self._idle_since.get(runner, 0.0)
