"""Placement: which trial runs where, as values with reasons.

The planner is a pure function of what waits to run (re-runs, promotions, new trials, each with
the shapes it accepts, most preferred first), the nodes of the cluster (total and free resources,
labels, accelerator type) and the runners that exist. It answers with decisions: hand a trial to
an idle runner of its shape, start a runner for it on given nodes, retire a runner, or wait, and
why. The orchestrator turns these into actors, placement groups and label selectors; nothing here
knows Ray.

Rules, in the order they apply:

- Re-runs and promotions go before new trials, higher rungs first, then the longest waiting.
- A trial takes the first of its shapes that can start now: an idle runner of that shape, or room
  for one. A runner is reused only for the shape it was started with (a warm process is the point
  of a runner; a process holding a GPU is not reshaped into a CPU one).
- Best fit: a runner goes to the node that its shape leaves the least room on, among nodes whose
  special resources (GPUs, TPUs, custom ones) it needs; a fractional GPU goes onto the fullest
  card it fits, so shares fill a card before another is opened and whole cards stay whole.
- A shape of several hosts (a TPU slice) is placed whole, on every host of one slice, or not at
  all.
- A trial whose first shape has waited `reserve_after_s` is given a node (or slice) that could
  hold it: nothing behind it in the queue starts there, and idle runners there are retired, until
  it starts. So a stream of small shapes cannot starve a large one, and a new trial kept waiting
  never holds up a re-run or a promotion.
- Idle runners no pending trial takes are retired after `idle_grace_s`, at once when a waiting
  trial needs their room or their place under `max_runners`; a cluster's autoscaler can then
  remove the node.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "SLICE_NAME_LABEL",
    "SLICE_POD_TYPE_LABEL",
    "SLICE_WORKER_LABEL",
    "ClusterNode",
    "PlacementSettings",
    "Plan",
    "Retire",
    "Reuse",
    "RunnerState",
    "RunnerView",
    "Shape",
    "Start",
    "Wait",
    "Work",
    "WorkKind",
    "complete_slices",
    "plan_placement",
]

# Ray's labels on the hosts of a TPU slice.
SLICE_NAME_LABEL = "ray.io/tpu-slice-name"
SLICE_WORKER_LABEL = "ray.io/tpu-worker-id"
SLICE_POD_TYPE_LABEL = "ray.io/tpu-pod-type"

# Resources every node has in quantity and every shape may ask for: a node with only these
# left is not a "large hole" another shape would miss.
_COMMON = frozenset({"CPU", "memory", "object_store_memory"})
_EPS = 1e-9


@dataclass(frozen=True)
class Shape:
    """One way to run a trial: resources per host, on hosts of a given kind.

    `resources` are Ray's names and amounts per host ("CPU", "GPU", "memory" in bytes, custom
    names). With a `pod_type` it is a gang on every host of one TPU slice of that pod type
    (`hosts` of them, host 0 first); without, one node.
    """

    resources: tuple[tuple[str, float], ...]
    accelerator_type: str | None = None
    hosts: int = 1
    pod_type: str | None = None

    def __post_init__(self) -> None:
        if self.hosts < 1:
            raise ValueError(f"a shape needs at least one host, not {self.hosts}")
        if self.hosts > 1 and self.pod_type is None:
            raise ValueError("a shape of several hosts is a TPU slice: give its pod_type")

    @classmethod
    def of(
        cls,
        resources: Mapping[str, float],
        accelerator_type: str | None = None,
        *,
        hosts: int = 1,
        pod_type: str | None = None,
    ) -> Shape:
        amounts = tuple(sorted((k, float(v)) for k, v in resources.items() if v > 0))
        return cls(amounts, accelerator_type, hosts, pod_type)

    def amounts(self) -> dict[str, float]:
        return dict(self.resources)

    @property
    def gpu(self) -> float:
        return self.amounts().get("GPU", 0.0)

    def __str__(self) -> str:
        parts = [f"{k}: {v:g}" for k, v in self.resources]
        if self.accelerator_type is not None:
            parts.append(f"accelerator_type: {self.accelerator_type}")
        text = "{" + ", ".join(parts) + "}"
        if self.pod_type is not None:
            hosts = f"{self.hosts} host{'s' if self.hosts != 1 else ''}"
            text = f"{self.pod_type} slice ({hosts} of {text})"
        return text


@dataclass(frozen=True)
class ClusterNode:
    """A live node as the planner sees it.

    `free` is what is not taken, by our runners or anyone else; `gpu_cards` is the free share
    of each GPU card (1.0 = a whole free card), when known: Ray gives a fractional GPU to one
    card, so the planner packs shares card by card.
    """

    id: str
    total: Mapping[str, float]
    free: Mapping[str, float]
    labels: Mapping[str, str] = field(default_factory=dict)
    accelerator_type: str | None = None
    gpu_cards: tuple[float, ...] | None = None

    def cards(self) -> list[float]:
        if self.gpu_cards is not None:
            return list(self.gpu_cards)
        # Unknown: whole free cards, then what is left of a shared one, then full ones (one
        # entry per card, so that a retired runner's share has a card to go back to).
        free = self.free.get("GPU", 0.0)
        whole = math.floor(free + _EPS)
        rest = free - whole
        cards = [1.0] * whole + ([rest] if rest > _EPS else [])
        count = math.ceil(self.total.get("GPU", 0.0) - _EPS)
        return cards + [0.0] * max(0, count - len(cards))

    @property
    def slice_name(self) -> str | None:
        return self.labels.get(SLICE_NAME_LABEL)


def complete_slices(nodes: Iterable[ClusterNode], shape: Shape) -> dict[str, tuple[str, ...]]:
    """The complete TPU slices of `shape`'s pod type among `nodes`: slice name -> its node ids
    by worker id (host 0 first). A slice missing a host, or of another size, is left out."""
    members: dict[str, list[tuple[int, str]]] = {}
    for node in nodes:
        name = node.labels.get(SLICE_NAME_LABEL)
        if name is None or node.labels.get(SLICE_POD_TYPE_LABEL) != shape.pod_type:
            continue
        try:
            worker = int(node.labels.get(SLICE_WORKER_LABEL, "0"))
        except ValueError:
            continue
        members.setdefault(name, []).append((worker, node.id))
    return {
        name: tuple(node for _, node in sorted(hosts))
        for name, hosts in sorted(members.items())
        if sorted(w for w, _ in hosts) == list(range(shape.hosts))
    }


class RunnerState(enum.Enum):
    STARTING = "starting"  # asked of the cluster; has not asked for a trial yet
    IDLE = "idle"
    BUSY = "busy"


@dataclass(frozen=True)
class RunnerView:
    name: str
    shape: Shape
    nodes: tuple[str, ...]
    state: RunnerState
    # When it last became idle (or was asked for, while starting).
    since: float = 0.0


class WorkKind(enum.IntEnum):
    """Kinds of pending work, in the order they are placed."""

    RERUN = 0
    PROMOTION = 1
    NEW = 2


@dataclass(frozen=True)
class Work:
    """A trial waiting to run; `rung` is the step it starts at (0 for a new trial)."""

    key: str
    kind: WorkKind
    shapes: tuple[Shape, ...]
    rung: int = 0
    waiting_since: float = 0.0

    def __post_init__(self) -> None:
        if not self.shapes:
            raise ValueError(f"{self.key}: a trial needs at least one shape it can run on")


@dataclass(frozen=True)
class Reuse:
    """Give `work` to the idle `runner` (started with the same shape)."""

    runner: str
    work: str
    reason: str


@dataclass(frozen=True)
class Start:
    """Start a runner of `shape` on `nodes` (one per host, host 0 first) for `work`; for a
    slice shape, `slice_name` is the TPU slice they make up."""

    shape: Shape
    nodes: tuple[str, ...]
    work: str
    reason: str
    slice_name: str | None = None


@dataclass(frozen=True)
class Retire:
    runner: str
    reason: str


@dataclass(frozen=True)
class Wait:
    """`work` cannot start now; `reason` says why, for the user ("no free GPU of type H100")."""

    work: str
    reason: str
    # A runner of a shape it accepts is starting: it will most likely take it.
    starting: str | None = None
    # The nodes kept for it because it waited too long (nothing else starts there).
    reserved: tuple[str, ...] = ()


Decision = Reuse | Start | Retire | Wait


@dataclass(frozen=True)
class PlacementSettings:
    max_runners: int
    idle_grace_s: float = 10.0
    reserve_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_runners < 1:
            raise ValueError(f"max_runners must be ≥ 1, not {self.max_runners}")


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    # Shapes of the trials that wait for room no node has now: what an autoscaler should add.
    unmet: tuple[Shape, ...]

    def of_kind(self, kind: type[Decision]) -> list[Decision]:
        return [d for d in self.decisions if isinstance(d, kind)]


def plan_placement(
    work: Sequence[Work],
    nodes: Sequence[ClusterNode],
    runners: Sequence[RunnerView],
    *,
    now: float,
    settings: PlacementSettings,
) -> Plan:
    """Decide where the pending `work` runs, and which runners to retire (see the module)."""
    return _Planner(nodes, runners, now, settings).plan(work)


class _Room:
    """What is free on one node while a plan is made: starts take from it."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self.free = {k: float(v) for k, v in node.free.items()}
        self.cards = node.cards()
        # The work this node is kept for (it waited too long); nothing else starts here.
        self.reserved_for: str | None = None

    def fits(self, shape: Shape) -> bool:
        if (
            shape.accelerator_type is not None
            and shape.accelerator_type != self.node.accelerator_type
        ):
            return False
        for name, amount in shape.resources:
            if name == "GPU":
                continue
            if self.free.get(name, 0.0) < amount - _EPS:
                return False
        return _card_choice(self.cards, shape.gpu) is not None

    def could_ever_fit(self, shape: Shape) -> bool:
        if (
            shape.accelerator_type is not None
            and shape.accelerator_type != self.node.accelerator_type
        ):
            return False
        total = self.node.total
        return all(total.get(name, 0.0) >= amount - _EPS for name, amount in shape.resources)

    def take(self, shape: Shape) -> None:
        for name, amount in shape.resources:
            if name != "GPU":
                self.free[name] = self.free.get(name, 0.0) - amount
        cards = _card_choice(self.cards, shape.gpu)
        assert cards is not None
        for index, share in cards:
            self.cards[index] -= share
        self.free["GPU"] = self.free.get("GPU", 0.0) - shape.gpu

    def give_back(self, shape: Shape) -> None:
        """Room a retired runner leaves. Which card it held is not known. When the node's
        cards are known, its share goes back onto the fullest card that can take it (a start
        planned on that room surely fits). When only the node's free amount is known (what
        Ray reports), onto the card it completes soonest: retiring the fewest runners that
        could free a whole card; were the guess wrong, Ray holds the start until the room is
        really there, and the next plan retires more once the grace is over."""
        for name, amount in shape.resources:
            if name != "GPU":
                self.free[name] = self.free.get(name, 0.0) + amount
        left = shape.gpu
        if self.node.gpu_cards is not None:
            order = sorted(range(len(self.cards)), key=lambda i: self.cards[i])
        else:
            order = sorted(
                (i for i in range(len(self.cards)) if self.cards[i] < 1.0 - _EPS),
                key=lambda i: (-self.cards[i], i),
            )
        for index in order:
            if left <= _EPS:
                break
            back = min(left, 1.0 - self.cards[index])
            self.cards[index] += back
            left -= back
        self.free["GPU"] = self.free.get("GPU", 0.0) + shape.gpu

    def fit_score(self, shape: Shape) -> tuple[int, float]:
        """Lower is a better fit: special resources the shape would leave idle here, then the
        room it leaves of what it asks for."""
        wanted = {name for name, _ in shape.resources}
        stranded = sum(
            1
            for name, amount in self.free.items()
            if name not in _COMMON
            and name not in wanted
            and not name.startswith(("node:", "accelerator_type:"))
            and amount > _EPS
        )
        leftover = 0.0
        for name, amount in shape.resources:
            total = self.node.total.get(name, 0.0)
            if name == "GPU" and amount < 1.0:
                # The card it would go onto: the fuller, the better.
                cards = _card_choice(self.cards, amount)
                assert cards is not None
                leftover += self.cards[cards[0][0]] - amount
            elif total > 0:
                leftover += (self.free.get(name, 0.0) - amount) / total
        return stranded, leftover


def _card_choice(cards: list[float], gpu: float) -> list[tuple[int, float]] | None:
    """The cards a GPU amount goes onto: a share onto the fullest card it fits on, whole cards
    onto whole free ones; None if it does not fit."""
    if gpu <= _EPS:
        return []
    if gpu < 1.0 - _EPS:
        fitting = [i for i, free in enumerate(cards) if free >= gpu - _EPS]
        if not fitting:
            return None
        best = min(fitting, key=lambda i: (cards[i], i))
        return [(best, gpu)]
    whole = [i for i, free in enumerate(cards) if free >= 1.0 - _EPS]
    need = round(gpu)
    if len(whole) < need:
        return None
    return [(i, 1.0) for i in whole[:need]]


class _Planner:
    def __init__(
        self,
        nodes: Sequence[ClusterNode],
        runners: Sequence[RunnerView],
        now: float,
        settings: PlacementSettings,
    ) -> None:
        self.rooms = {n.id: _Room(n) for n in nodes}
        self.runners = list(runners)
        self.now = now
        self.settings = settings
        self.count = len(self.runners)
        self.decisions: list[Decision] = []
        self.unmet: list[Shape] = []
        # Idle and starting runners no trial has been matched with yet.
        self.free_runners = {
            r.name: r for r in self.runners if r.state in (RunnerState.IDLE, RunnerState.STARTING)
        }
        self.retired: set[str] = set()
        # Work that waited too long -> the nodes kept for it.
        self.reserved: dict[str, tuple[str, ...]] = {}
        # Queue position of each pending trial: a node kept for one blocks only those behind it.
        self.rank: dict[str, int] = {}

    def plan(self, work: Sequence[Work]) -> Plan:
        # Re-runs and promotions first, higher rungs first among them, then the longest waiting.
        ordered = sorted(
            work,
            key=lambda w: (w.kind is WorkKind.NEW, -w.rung, w.kind, w.waiting_since, w.key),
        )
        self.rank = {item.key: index for index, item in enumerate(ordered)}
        for item in ordered:
            # Kept before anything is placed, so that what comes after cannot take it.
            if self._overdue(item) and not self._could_start_now(item):
                self.reserved[item.key] = self._reserve(item.shapes[0], item)
        waiting = [item for item in ordered if not self._place(item)]
        # Second pass: room freed by retiring idle runners no trial took, for those that wait.
        waiting = [item for item in waiting if not self._place_after_retiring(item)]
        for index, item in enumerate(waiting):
            # Ahead of it: those before it in the queue that want the same room.
            ahead = sum(1 for other in waiting[:index] if other.shapes[0] == item.shapes[0])
            self.decisions.append(self._wait(item, ahead))
        for runner in list(self.free_runners.values()):
            if runner.state is not RunnerState.IDLE or runner.name in self.retired:
                continue
            kept = self._kept_for_another(runner, None)
            if kept is not None:
                self._retire(runner, f"its node is kept for {kept}, which waited longest")
            elif self.now - runner.since >= self.settings.idle_grace_s:
                self._retire(
                    runner,
                    f"idle for {self.now - runner.since:.0f} s; no trial waits for its shape",
                )
        return Plan(tuple(self.decisions), tuple(self.unmet))

    # ----- one trial -------------------------------------------------------------------------

    def _place(self, item: Work) -> bool:
        """Reuse, cover or start for `item`; whether it was placed."""
        for shape in item.shapes:
            runner = self._idle_runner(shape, item)
            if runner is not None:
                del self.free_runners[runner.name]
                if runner.state is RunnerState.STARTING:
                    self.decisions.append(
                        Wait(
                            item.key,
                            f"runner {runner.name} ({shape}) is starting for it",
                            starting=runner.name,
                        )
                    )
                else:
                    self.decisions.append(
                        Reuse(runner.name, item.key, f"idle runner of shape {shape}")
                    )
                return True
            if self.count < self.settings.max_runners:
                nodes = self._best_nodes(shape, item)
                if nodes is not None:
                    self._start(shape, nodes, item)
                    return True
        return False

    def _place_after_retiring(self, item: Work) -> bool:
        """Retire idle runners no trial took, when that lets `item` start."""
        spare = [
            r
            for r in self.free_runners.values()
            if r.state is RunnerState.IDLE and r.name not in self.retired
        ]
        if not spare:
            return False
        for shape in item.shapes:
            chosen = self._retirements_for(shape, item, spare)
            if chosen is None:
                continue
            for runner in chosen:
                self._retire(runner, f"its room is needed by {item.key} ({shape})")
            nodes = self._best_nodes(shape, item)
            assert nodes is not None
            self._start(shape, nodes, item)
            return True
        return False

    def _retirements_for(
        self, shape: Shape, item: Work, spare: list[RunnerView]
    ) -> list[RunnerView] | None:
        """Spare runners whose retirement lets `shape` start, their room given back already;
        None (and nothing changed) if no such set exists."""
        places = self.count - self.settings.max_runners + 1  # runners to retire for a place
        for hosts in self._host_sets(shape, item, ever=True):
            saved = {node: (dict(room.free), list(room.cards)) for node, room in self.rooms.items()}
            chosen: list[RunnerView] = []
            for runner in (r for r in spare if set(r.nodes) & set(hosts)):
                if self._fits_all(shape, hosts) and len(chosen) >= places:
                    break
                self._give_back(runner)
                chosen.append(runner)
            others = [r for r in spare if r not in chosen]
            while len(chosen) < places and others:
                extra = others.pop(0)
                self._give_back(extra)
                chosen.append(extra)
            if self._fits_all(shape, hosts) and len(chosen) >= places:
                return chosen
            for node, (free, cards) in saved.items():
                self.rooms[node].free, self.rooms[node].cards = free, cards
        return None

    def _give_back(self, runner: RunnerView) -> None:
        for node in runner.nodes:
            if node in self.rooms:
                self.rooms[node].give_back(runner.shape)

    # ----- nodes -----------------------------------------------------------------------------

    def _best_nodes(self, shape: Shape, item: Work) -> tuple[str, ...] | None:
        options = list(self._host_sets(shape, item, ever=False))
        if not options:
            return None
        return min(options, key=lambda hosts: (_sum_scores(self.rooms, hosts, shape), hosts))

    def _host_sets(self, shape: Shape, item: Work, *, ever: bool) -> Iterable[tuple[str, ...]]:
        """Node ids (one per host, host 0 first) where `shape` fits now (or, `ever`, once
        freed), skipping nodes kept for another trial."""

        def usable(room: _Room) -> bool:
            if self._kept_from(room, item):
                return False
            return room.could_ever_fit(shape) if ever else room.fits(shape)

        if shape.pod_type is None:
            for node_id, room in self.rooms.items():
                if usable(room):
                    yield (node_id,)
            return
        for hosts in self._slices(shape).values():
            if all(usable(self.rooms[h]) for h in hosts):
                yield hosts

    def _slices(self, shape: Shape) -> dict[str, tuple[str, ...]]:
        assert shape.pod_type is not None
        return complete_slices((room.node for room in self.rooms.values()), shape)

    def _fits_all(self, shape: Shape, hosts: tuple[str, ...]) -> bool:
        return all(self.rooms[h].fits(shape) for h in hosts)

    # ----- decisions -------------------------------------------------------------------------

    def _idle_runner(self, shape: Shape, item: Work) -> RunnerView | None:
        """An idle runner of `shape` (before a starting one: it can take the trial now)."""
        # A runner on a node kept for another trial is not reused: that room must drain.
        matching = [
            r
            for r in self.free_runners.values()
            if r.shape == shape
            and r.name not in self.retired
            and self._kept_for_another(r, item) is None
        ]
        if not matching:
            return None
        return min(matching, key=lambda r: (r.state is not RunnerState.IDLE, r.since, r.name))

    def _start(self, shape: Shape, nodes: tuple[str, ...], item: Work) -> None:
        for node in nodes:
            self.rooms[node].take(shape)
            if self.rooms[node].reserved_for == item.key:
                self.rooms[node].reserved_for = None
        self.count += 1
        host0 = self.rooms[nodes[0]].node
        where = host0.id if shape.pod_type is None else f"slice {host0.slice_name}"
        self.decisions.append(
            Start(
                shape,
                nodes,
                item.key,
                f"{shape} fits best on {where}",
                None if shape.pod_type is None else host0.slice_name,
            )
        )

    def _retire(self, runner: RunnerView, reason: str) -> None:
        self.retired.add(runner.name)
        self.free_runners.pop(runner.name, None)
        self.count -= 1
        self.decisions.append(Retire(runner.name, reason))

    def _could_start_now(self, item: Work) -> bool:
        """Whether an idle runner or free room could take `item`, were it alone (a trial that
        waits only for a place under max_runners needs no room kept)."""
        return any(
            self._idle_runner(shape, item) is not None
            or any(self._host_sets(shape, item, ever=False))
            for shape in item.shapes
        )

    def _overdue(self, item: Work) -> bool:
        return self.now - item.waiting_since >= self.settings.reserve_after_s

    def _kept_for_another(self, runner: RunnerView, item: Work | None) -> str | None:
        """The work another than `item` that a node of `runner` is kept for, if any."""
        for node in runner.nodes:
            room = self.rooms.get(node)
            if (room is not None and room.reserved_for is not None) and (
                item is None or self._kept_from(room, item)
            ):
                return room.reserved_for
        return None

    def _kept_from(self, room: _Room, item: Work) -> bool:
        """Whether `room` is kept for a trial ahead of `item` in the queue."""
        keeper = room.reserved_for
        if keeper is None or keeper == item.key:
            return False
        return self.rank.get(keeper, -1) < self.rank.get(item.key, len(self.rank))

    def _wait(self, item: Work, ahead: int) -> Wait:
        first = item.shapes[0]
        reserved = self.reserved.get(item.key, ())
        self.unmet.append(first)
        return Wait(
            item.key,
            self._why(item, ahead) + (f"; {_join(reserved)} kept for it" if reserved else ""),
            reserved=reserved,
        )

    def _reserve(self, shape: Shape, item: Work) -> tuple[str, ...]:
        """Keep the nodes closest to holding `shape` for `item`: nothing else starts there."""
        options = list(self._host_sets(shape, item, ever=True))
        if not options:
            return ()
        hosts = max(options, key=lambda h: (_closeness(self.rooms, h, shape), tuple(reversed(h))))
        for node in hosts:
            self.rooms[node].reserved_for = item.key
        return hosts

    def _why(self, item: Work, ahead: int) -> str:
        behind = f"; {ahead} trial{'s' if ahead != 1 else ''} ahead" if ahead else ""
        if self.count >= self.settings.max_runners and any(
            any(self._host_sets(shape, item, ever=False)) for shape in item.shapes
        ):
            return f"all {self.settings.max_runners} runners (max_concurrent) are taken{behind}"
        reasons = [self._why_shape(shape, item) for shape in item.shapes]
        return "; ".join(dict.fromkeys(reasons)) + behind

    def _why_shape(self, shape: Shape, item: Work) -> str:
        able = [room for room in self.rooms.values() if room.could_ever_fit(shape)]
        if shape.pod_type is not None:
            slices = self._slices(shape)
            if not slices:
                return f"no {shape.pod_type} slice in the cluster"
            hosts = [
                h for h in slices.values() if all(self.rooms[x].could_ever_fit(shape) for x in h)
            ]
            if not hosts:
                per_host = Shape(shape.resources, shape.accelerator_type)
                return f"no {shape.pod_type} slice has hosts that can hold {per_host}"
            if all(any(self._kept_from(self.rooms[x], item) for x in h) for h in hosts):
                return f"the {shape.pod_type} slices are kept for a trial that waited longer"
            return f"every {shape.pod_type} slice is taken"
        if not able:
            return f"no node can hold {shape}"
        kinds = [name for name, _ in shape.resources if name not in _COMMON]
        what = " and ".join(kinds) or "CPU"
        if shape.accelerator_type is not None:
            what += f" of type {shape.accelerator_type}"
        elif kinds == ["GPU"]:
            what = "GPU"
        if all(self._kept_from(room, item) for room in able):
            return f"the nodes with free {what} are kept for a trial that waited longer"
        return f"no free {what} for {shape}"


def _sum_scores(
    rooms: Mapping[str, _Room], hosts: tuple[str, ...], shape: Shape
) -> tuple[int, float]:
    scores = [rooms[h].fit_score(shape) for h in hosts]
    return sum(s for s, _ in scores), sum(f for _, f in scores)


def _closeness(rooms: Mapping[str, _Room], hosts: tuple[str, ...], shape: Shape) -> float:
    """How much of `shape` is free on `hosts` now (1.0: all of it)."""
    shares = []
    for host in hosts:
        room = rooms[host]
        for name, amount in shape.resources:
            free = room.free.get(name, 0.0)
            shares.append(min(1.0, max(0.0, free) / amount))
    return min(shares) if shares else 1.0


def _join(nodes: tuple[str, ...]) -> str:
    return "node " + nodes[0] if len(nodes) == 1 else "nodes " + ", ".join(nodes)
