"""The discrete-event loop: one ASHA promote-mode study placed on the simulated cluster.

Trials report every epoch to the real scheduler state (`ASHA(mode="promote").new_state`), so
pauses and promotions are the algorithm's own. What differs between policies is only who runs
what where:

- `planner`: every hand-out comes from `plan_placement`. It is called whenever something
  changes (a trial pauses or completes, a runner goes idle) and at the moments its rules look
  at the clock (an idle runner's grace ends, a waiting trial becomes overdue); its `Retire`,
  `Start` and `Reuse` decisions are applied at once. The pending work is what the
  TrialScheduler gives it (`_trial_scheduler._pending_work`): the one promotion the scheduler
  offers now, then the next new trials, at most `max_runners` of them, each with the shapes its
  resources function gives at its rung. A trial that pauses leaves its runner idle, holding its
  room, until the planner reuses or retires it.
- `runner-asks`: the same planner, and before it, the hand-out the orchestrator does without
  it: a runner whose trial ended (and every idle runner, whenever something changed) takes the
  promotion if its shape is one the promotion accepts, else the next new trial if its shape is
  one new trials accept (`TrialScheduler.next_trial`), unless its node is kept for other work
  (the planner's reservation); the planner then starts and retires runners for what is left.
- `all-promotions` (a what-if): as `planner`, with every promotion ASHA would grant now pending,
  not only the first.
- FCFS (`planner` false): one fixed shape for every trial at every rung; the promotion the
  scheduler offers, else the next new trial, starts on the first node (in the cluster's order)
  with room for it, and nothing behind it starts while it waits; a trial that pauses gives its
  room back at once.

A started runner runs the work it was started for with no start-up time, and a resume from a
checkpoint costs nothing: both are the same for every policy, and left out. GPU shares go onto
the fullest card they fit on, whole GPUs onto the lowest-numbered free cards.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.multi_fidelity._problems import MFProblem
from benchmarks.placement._model import NodeSpec, Policy, step_time
from raysweep.scheduling import (
    ASHA,
    Action,
    ClusterNode,
    PlacementSettings,
    Plan,
    Retire,
    Reuse,
    RunnerState,
    RunnerView,
    Shape,
    Start,
    Wait,
    Work,
    WorkKind,
    plan_placement,
)

# The simulated cluster puts GPU shares onto cards as Ray does and as the planner assumes: a
# share onto the fullest card it fits on, whole GPUs onto whole free cards.
from raysweep.scheduling._placement import _card_choice

MIN_RESOURCE, MAX_RESOURCE, ETA = 1, 27, 3
_EPS = 1e-9
CREATING, PROMOTIONS_ONLY = "new trials left", "promotions only"
# Timer wake-ups in a row with no step running and nothing placed: the planner is stuck.
_MAX_IDLE_WAKEUPS = 10_000


@dataclass(frozen=True)
class Settings:
    """The study's and the planner's knobs, in time units (one epoch on a whole H100)."""

    n_trials: int
    max_runners: int
    idle_grace: float
    reserve_after: float


@dataclass
class Result:
    policy: str
    seed: int
    makespan: float
    epochs: int
    # Kind -> busy share of the cluster's total while work was queued, and over the makespan.
    queued_utilisation: dict[str, float]
    utilisation: dict[str, float]
    queued_time: float
    epochs_to_target: int | None
    time_to_target: float | None
    completed: int
    starts: int = 0
    reuses: int = 0
    retirements: int = 0
    # Rung a promotion left -> its waits (from first offered to started), in time units.
    promotion_waits: dict[int, list[float]] = field(default_factory=dict)
    # Rung a trial started at -> how many starts (and resumes) on each shape.
    shapes_by_rung: dict[int, dict[str, int]] = field(default_factory=dict)
    # The most of each resource in use on any node at any time, as a share of the node's total.
    peak_node_share: float = 0.0
    trial_states: dict[str, int] = field(default_factory=dict)
    # When the last new trial started; after it, only promotions are left to place.
    last_created: float = 0.0
    # Phase -> {"time": time queued, kind: busy share meanwhile}.
    queued_phases: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_s: float = 0.0


@dataclass
class _Node:
    spec: NodeSpec
    free: dict[str, float]
    cards: list[float]

    def fits(self, shape: Shape) -> bool:
        if shape.accelerator_type is not None and shape.accelerator_type != self.spec.accelerator:
            return False
        for name, amount in shape.resources:
            if name != "GPU" and self.free.get(name, 0.0) < amount - _EPS:
                return False
        return _card_choice(self.cards, shape.gpu) is not None


@dataclass
class _Runner:
    name: str
    shape: Shape
    node: str
    cards: list[tuple[int, float]]
    state: RunnerState
    since: float = 0.0
    trial: int | None = None


@dataclass
class _Trial:
    config: Any
    status: str = "running"
    step: int = 0


@dataclass(frozen=True)
class _Item:
    """A piece of pending work: a new trial (`trial` None) or a promotion from `rung`."""

    key: str
    kind: WorkKind
    rung: int
    trial: int | None


def _promotion_item(trial: int, rung: int) -> _Item:
    # The TrialScheduler's key for it, so that its waiting time runs from when first offered.
    return _Item(f"trial {trial} (promoted)", WorkKind.PROMOTION, rung, trial)


class _Run:
    def __init__(
        self,
        policy: Policy,
        cluster: Sequence[NodeSpec],
        problem: MFProblem,
        seed: int,
        settings: Settings,
    ) -> None:
        if problem.max_steps != MAX_RESOURCE:
            raise ValueError(f"{problem.name} has {problem.max_steps} steps, not {MAX_RESOURCE}")
        self.policy = policy
        self.problem = problem
        self.seed = seed
        self.settings = settings
        self.nodes = {
            spec.id: _Node(spec, {"CPU": float(spec.cpus)}, [1.0] * spec.gpus) for spec in cluster
        }
        self.totals = {
            kind: sum(s.total().get(kind, 0.0) for s in cluster) for kind in ("CPU", "GPU")
        }
        self.state = ASHA(
            min_resource=MIN_RESOURCE,
            max_resource=MAX_RESOURCE,
            reduction_factor=ETA,
            mode="promote",
        ).new_state(maximize=problem.maximize)
        self.trials: list[_Trial] = []
        self.runners: dict[str, _Runner] = {}
        self.names = 0
        self.heap: list[tuple[float, int, str, int, int]] = []
        self.seq = 0
        self.now = 0.0
        self.first_seen: dict[str, float] = {}
        self.queued = False
        self.timer = math.inf
        self.busy_time = dict.fromkeys(self.totals, 0.0)
        # Phase -> time with work queued, and the busy resource-time of each kind meanwhile.
        self.queued_phases = {
            phase: dict.fromkeys(("time", *self.totals), 0.0)
            for phase in (CREATING, PROMOTIONS_ONLY)
        }
        self.last_created = 0.0
        self.epochs = 0
        self.last_step_end = 0.0
        self.target: tuple[int, float] | None = None
        self.completed = 0
        self.result = Result(policy.key, seed, 0.0, 0, {}, {}, 0.0, None, None, 0)
        self.last_waits: tuple[Wait, ...] = ()

    # ----- the loop ----------------------------------------------------------------------------

    def run(self) -> Result:
        self._changed()
        wakeups = 0
        while self.heap or self.timer < math.inf:
            next_step = self.heap[0][0] if self.heap else math.inf
            if self.timer < next_step:
                self._advance(self.timer)
                self._changed()
                wakeups = 0 if self.heap else wakeups + 1
                if wakeups > _MAX_IDLE_WAKEUPS:
                    raise RuntimeError(self._stuck("woken again and again, nothing placed"))
                continue
            time, _, name, trial, step = heapq.heappop(self.heap)
            self._advance(time)
            runner = self.runners[name]
            if self._report(runner, trial, step):
                self._changed(runner if runner.name in self.runners else None)
        pending = self._pending()
        if pending:
            raise RuntimeError(self._stuck(f"{len(pending)} pieces of work never started"))
        return self._finish()

    def _advance(self, time: float) -> None:
        span = time - self.now
        if span < -_EPS:
            raise AssertionError(f"time went back from {self.now} to {time}")
        busy = dict.fromkeys(self.totals, 0.0)
        for runner in self.runners.values():
            if runner.state is RunnerState.BUSY:
                amounts = runner.shape.amounts()
                for kind in busy:
                    busy[kind] += amounts.get(kind, 0.0)
        for kind, amount in busy.items():
            self.busy_time[kind] += span * amount
        if self.queued:
            phase = self.queued_phases[PROMOTIONS_ONLY if self._final() else CREATING]
            phase["time"] += span
            for kind, amount in busy.items():
                phase[kind] += span * amount
        self.now = time

    def _report(self, runner: _Runner, number: int, step: int) -> bool:
        """One finished epoch; whether its runner is free now."""
        trial = self.trials[number]
        value, _ = self.problem.curve(trial.config, step)
        self.epochs += 1
        self.last_step_end = self.now
        trial.step = step
        decision = self.state.on_report(number, 0, step, value)
        if decision.action is Action.CONTINUE and step < MAX_RESOURCE:
            self._schedule(runner, number, step + 1)
            return False
        if decision.action is Action.PAUSE:
            trial.status = "paused"
        elif decision.action is Action.STOP:
            trial.status = "stopped"
        else:
            trial.status = "complete"
            self.completed += 1
            full = self.problem.full_value(trial.config)
            sign = 1.0 if self.problem.maximize else -1.0
            if self.target is None and sign * full >= sign * self.problem.top5_threshold:
                self.target = (self.epochs, self.now)
        runner.trial = None
        if self.policy.planner:
            runner.state = RunnerState.IDLE
            runner.since = self.now
        else:
            self._remove(runner)
        return True

    def _schedule(self, runner: _Runner, number: int, step: int) -> None:
        seconds = step_time(runner.shape, self.nodes[runner.node].spec.accelerator)
        self.seq += 1
        heapq.heappush(self.heap, (self.now + seconds, self.seq, runner.name, number, step))

    # ----- hand-outs ---------------------------------------------------------------------------

    def _changed(self, freed: _Runner | None = None) -> None:
        """Hand out work after a change; `freed`: the runner whose trial just ended."""
        if self.policy.runner_asks:
            self._runners_ask(freed)
        if self.policy.planner:
            self._plan_until_settled()
        else:
            self._first_come_first_served()

    def _runners_ask(self, freed: _Runner | None) -> None:
        """The orchestrator's own hand-out: the runner whose trial ended asks first, then the
        idle ones (woken by the change), longest idle first; each takes what suits its shape."""
        idle = sorted(
            (r for r in self.runners.values() if r.state is RunnerState.IDLE and r is not freed),
            key=lambda r: (r.since, r.name),
        )
        # As the TrialScheduler does (`RunnerRoster.kept_from`): a runner on a node the last
        # plan keeps for other work takes nothing that work goes before.
        kept = {node: wait.work for wait in self.last_waits for node in wait.reserved}
        for runner in [freed, *idle] if freed is not None else idle:
            keeper = kept.get(runner.node)
            promotion = self.state.promotion(final=self._final())
            if (
                promotion is not None
                and runner.shape in self.policy.resources(promotion.rung)
                and (
                    keeper in (None, _promotion_item(promotion.trial, promotion.rung).key)
                    or not keeper.endswith("(promoted)")  # a new trial's node: not ahead
                )
            ):
                item = _promotion_item(promotion.trial, promotion.rung)
            elif (
                not self._final()
                and runner.shape in self.policy.resources(0)
                and keeper in (None, f"trial {len(self.trials)}")
            ):
                item = _Item(f"trial {len(self.trials)}", WorkKind.NEW, 0, None)
            else:
                continue
            self._give(runner, item)
            self.result.reuses += 1

    def _plan_until_settled(self) -> None:
        # A promotion placed can reveal the next one: plan again until a plan places none.
        while True:
            items = {item.key: item for item in self._pending()}
            plan = self._plan(items)
            placed_promotion = False
            for decision in plan.decisions:
                if isinstance(decision, Retire):
                    self._retire(self.runners[decision.runner])
                elif isinstance(decision, Start):
                    item = items[decision.work]
                    (node,) = decision.nodes
                    self._give(self._start(decision.shape, node), item)
                    self.result.starts += 1
                    placed_promotion |= item.kind is WorkKind.PROMOTION
                elif isinstance(decision, Reuse):
                    item = items[decision.work]
                    runner = self.runners[decision.runner]
                    if runner.state is not RunnerState.IDLE:
                        raise AssertionError(f"{decision}: the runner is {runner.state.value}")
                    self._give(runner, item)
                    self.result.reuses += 1
                    placed_promotion |= item.kind is WorkKind.PROMOTION
            self.last_waits = tuple(d for d in plan.decisions if isinstance(d, Wait))
            if not placed_promotion:
                break
        self.queued = bool(self.last_waits)
        self._set_timer(items)

    def _plan(self, items: dict[str, _Item]) -> Plan:
        for key in [k for k in self.first_seen if k not in items]:
            del self.first_seen[key]
        work = []
        for key, item in items.items():
            since = self.first_seen.setdefault(key, self.now)
            work.append(Work(key, item.kind, self.policy.resources(item.rung), item.rung, since))
        views = [
            ClusterNode(
                node.spec.id,
                node.spec.total(),
                dict(node.free, GPU=sum(node.cards)) if node.cards else dict(node.free),
                accelerator_type=node.spec.accelerator,
                gpu_cards=tuple(node.cards) if node.cards else None,
            )
            for node in self.nodes.values()
        ]
        runners = [
            RunnerView(r.name, r.shape, (r.node,), r.state, r.since) for r in self.runners.values()
        ]
        settings = PlacementSettings(
            self.settings.max_runners,
            idle_grace_s=self.settings.idle_grace,
            reserve_after_s=self.settings.reserve_after,
        )
        return plan_placement(work, views, runners, now=self.now, settings=settings)

    def _set_timer(self, items: dict[str, _Item]) -> None:
        """The next moment a rule of the planner's looks at the clock for."""
        moments = [
            r.since + self.settings.idle_grace
            for r in self.runners.values()
            if r.state is RunnerState.IDLE
        ]
        waiting = {w.work for w in self.last_waits}
        moments += [self.first_seen[k] + self.settings.reserve_after for k in waiting]
        later = [m for m in moments if m > self.now + _EPS]
        self.timer = min(later, default=math.inf)

    def _first_come_first_served(self) -> None:
        self.queued = False
        while True:
            pending = self._pending(limit=1)
            if not pending:
                return
            item = pending[0]
            (shape,) = self.policy.resources(item.rung)
            node = next((n for n in self.nodes.values() if n.fits(shape)), None)
            if node is None:
                self.queued = True
                return
            self._give(self._start(shape, node.spec.id), item)
            self.result.starts += 1

    def _pending(self, limit: int | None = None) -> list[_Item]:
        items = []
        listed: set[int] = set()
        while True:
            promotion = self.state.promotion(
                final=self._final(), ready=lambda number: number not in listed
            )
            if promotion is None:
                break
            items.append(_promotion_item(promotion.trial, promotion.rung))
            listed.add(promotion.trial)
            if not self.policy.all_promotions:
                break
        first = len(self.trials)
        wanted = min(self.settings.n_trials - first, self.settings.max_runners)
        items += [_Item(f"trial {n}", WorkKind.NEW, 0, None) for n in range(first, first + wanted)]
        return items[:limit] if limit is not None else items

    def _final(self) -> bool:
        return len(self.trials) >= self.settings.n_trials

    # ----- runners and rooms -------------------------------------------------------------------

    def _start(self, shape: Shape, node_id: str) -> _Runner:
        node = self.nodes[node_id]
        if not node.fits(shape):
            raise AssertionError(
                f"{shape} does not fit on {node_id}: free {node.free}, {node.cards}"
            )
        cards = _card_choice(node.cards, shape.gpu)
        assert cards is not None
        for index, share in cards:
            node.cards[index] -= share
        for name, amount in shape.resources:
            if name != "GPU":
                node.free[name] -= amount
        self.names += 1
        runner = _Runner(f"runner-{self.names}", shape, node_id, cards, RunnerState.IDLE, self.now)
        self.runners[runner.name] = runner
        self.result.peak_node_share = max(self.result.peak_node_share, self._check_room(node))
        return runner

    def _check_room(self, node: _Node) -> float:
        """What the node's runners hold must be what its room lacks, and never more than it
        has; the largest share of any resource (or card) taken."""
        held = {"CPU": 0.0}
        cards = [0.0] * len(node.cards)
        for runner in self.runners.values():
            if runner.node == node.spec.id:
                held["CPU"] += runner.shape.amounts().get("CPU", 0.0)
                for index, share in runner.cards:
                    cards[index] += share
        total = node.spec.cpus
        if abs(held["CPU"] + node.free["CPU"] - total) > _EPS or held["CPU"] > total + _EPS:
            raise AssertionError(f"{node.spec.id}: runners hold {held['CPU']} of {total} CPUs")
        for index, taken in enumerate(cards):
            if abs(taken + node.cards[index] - 1.0) > _EPS or taken > 1.0 + _EPS:
                raise AssertionError(f"{node.spec.id}: card {index} holds {taken} of 1")
        return max([held["CPU"] / total, *cards])

    def _remove(self, runner: _Runner) -> None:
        node = self.nodes[runner.node]
        for index, share in runner.cards:
            node.cards[index] += share
        for name, amount in runner.shape.resources:
            if name != "GPU":
                node.free[name] += amount
        del self.runners[runner.name]
        self._check_room(node)

    def _retire(self, runner: _Runner) -> None:
        if runner.state is RunnerState.BUSY:
            raise AssertionError(f"{runner.name} was retired holding trial {runner.trial}")
        self._remove(runner)
        self.result.retirements += 1

    def _give(self, runner: _Runner, item: _Item) -> None:
        if item.kind is WorkKind.PROMOTION:
            assert item.trial is not None
            number = item.trial
            self.state.on_resume(number)
            waited = self.now - self.first_seen.get(item.key, self.now)
            self.result.promotion_waits.setdefault(item.rung, []).append(waited)
            self.trials[number].status = "running"
        else:
            number = len(self.trials)
            if number >= self.settings.n_trials:
                raise AssertionError(f"trial {number} started past the budget")
            rng = np.random.default_rng([self.seed, number])
            used = [t.config for t in self.trials]
            self.trials.append(_Trial(self.problem.random_config(rng, used=used)))
            self.last_created = self.now
        counts = self.result.shapes_by_rung.setdefault(item.rung, {})
        counts[str(runner.shape)] = counts.get(str(runner.shape), 0) + 1
        runner.state, runner.trial = RunnerState.BUSY, number
        self._schedule(runner, number, self.trials[number].step + 1)

    # ----- the end -----------------------------------------------------------------------------

    def _stuck(self, what: str) -> str:
        waits = "; ".join(f"{w.work}: {w.reason}" for w in self.last_waits[:3])
        return f"{self.policy.key}, seed {self.seed}, at {self.now:.2f}: {what} ({waits})"

    def _finish(self) -> Result:
        result = self.result
        result.makespan = self.last_step_end
        result.last_created = self.last_created
        result.epochs = self.epochs
        result.completed = self.completed
        span = self.last_step_end
        for kind, total in self.totals.items():
            result.utilisation[kind] = self.busy_time[kind] / (total * span) if span else 0.0
        phases = self.queued_phases
        result.queued_time = sum(phase["time"] for phase in phases.values())
        for kind, total in self.totals.items():
            busy = sum(phase[kind] for phase in phases.values())
            result.queued_utilisation[kind] = _share(busy, total * result.queued_time)
        for name, phase in phases.items():
            shares = {
                kind: _share(phase[kind], total * phase["time"])
                for kind, total in self.totals.items()
            }
            result.queued_phases[name] = {"time": phase["time"], **shares}
        if self.target is not None:
            result.epochs_to_target, result.time_to_target = self.target
        for trial in self.trials:
            result.trial_states[trial.status] = result.trial_states.get(trial.status, 0) + 1
        return result


def _share(part: float, whole: float) -> float:
    # No time queued at all: nothing ever waited, which is as good as fully busy.
    return part / whole if whole > 0 else 1.0


def run_policy(
    policy: Policy,
    cluster: Sequence[NodeSpec],
    problem: MFProblem,
    seed: int,
    settings: Settings,
) -> Result:
    """Run the study once under `policy`; trial n's configuration is the same for every
    policy of a seed (`default_rng([seed, n])`, no configuration drawn twice)."""
    return _Run(policy, cluster, problem, seed, settings).run()
