"""The simulated cluster, the step-time model, and the policies with the shapes they ask for.

Time is in units of one epoch on a whole H100. A step's time depends only on the hardware it
runs on (`step_time`), never on the configuration, so the policies differ by placement alone.
Shapes that `STEP_TIME` has no entry for are refused: every shape a policy may ask for has a
stated speed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from raysweep.scheduling import Shape


@dataclass(frozen=True)
class NodeSpec:
    id: str
    cpus: int
    gpus: int
    accelerator: str | None = None

    def total(self) -> dict[str, float]:
        found = {"CPU": float(self.cpus)}
        if self.gpus:
            found["GPU"] = float(self.gpus)
        return found


# GPU nodes get as many CPUs as their GPUs need at either shape below (4 per whole card, 1 per
# quarter), so a GPU-node CPU is never what a GPU waits for and the CPU-only nodes are the only
# CPUs a fixed GPU shape leaves unused.
CLUSTER: tuple[NodeSpec, ...] = (
    *(NodeSpec(f"cpu-{i}", 8, 0) for i in range(4)),
    *(NodeSpec(f"a100-{i}", 16, 4, "A100") for i in range(2)),
    NodeSpec("h100-0", 32, 8, "H100"),
)

QUARTER = Shape.of({"GPU": 0.25, "CPU": 1})
CPU8 = Shape.of({"CPU": 8})
WHOLE = Shape.of({"GPU": 1, "CPU": 4})
WHOLE_H100 = Shape.of({"GPU": 1, "CPU": 4}, "H100")

# (accelerator of the node, GPU share of the shape) -> time of one epoch. A quarter of a card
# is slower per trial but does more epochs per card (4 / 2.5 = 1.6 per A100 time unit against
# 1 / 1.6 for a whole A100): small models leave most of a card idle.
STEP_TIME: dict[tuple[str | None, float], float] = {
    ("H100", 1.0): 1.0,
    ("A100", 1.0): 1.6,
    ("H100", 0.25): 1.6,
    ("A100", 0.25): 2.5,
    (None, 0.0): 6.0,
}


def step_time(shape: Shape, accelerator: str | None) -> float:
    """How long one epoch of a trial on `shape` takes on a node with `accelerator`."""
    gpu = shape.gpu
    key = (accelerator if gpu > 0 else None, gpu)
    if key not in STEP_TIME or (gpu == 0 and shape.amounts().get("CPU", 0.0) != 8.0):
        raise KeyError(f"no step time for {shape} on {accelerator or 'a CPU node'}")
    return STEP_TIME[key]


Resources = Callable[[int], tuple[Shape, ...]]


def raysweep_resources(rung: int) -> tuple[Shape, ...]:
    """What raysweep's trials accept at `rung` (the step they resume from; 0 for a new trial),
    as `optimize(resources=lambda params, rung: ...)` would give it.

    Early rungs, most trials, are about throughput: a quarter of any GPU, else eight CPUs. A
    trial promoted from rung 3 has 6 epochs to go: a whole card of either kind if one is free,
    else a quarter. One promoted from rung 9 has 18 epochs to go, on the study's critical path: a
    whole H100.
    """
    if rung >= 9:
        return (WHOLE_H100,)
    if rung >= 3:
        return (WHOLE, QUARTER)
    return (QUARTER, CPU8)


def fixed(shape: Shape) -> Resources:
    """Every trial at every rung asks for `shape` (`tune.with_resources(trainable, {...})`)."""

    def resources(rung: int) -> tuple[Shape, ...]:
        return (shape,)

    return resources


@dataclass(frozen=True)
class Policy:
    """How trials are placed (see `_loop`); `key` names it on the command line."""

    key: str
    name: str
    description: str
    resources: Resources
    planner: bool
    runner_asks: bool = False
    # A what-if, not what the TrialScheduler does: every promotion the scheduler would grant
    # now is pending at once, not only the first (so one waiting for an H100 holds up no other).
    all_promotions: bool = False


RAYSWEEP = Policy(
    "planner",
    "raysweep planner",
    "`plan_placement` makes every hand-out; shapes from `raysweep_resources(rung)`: new trials "
    "and rung-1 promotions `[{GPU: 0.25, CPU: 1}, {CPU: 8}]`, rung-3 promotions "
    "`[{GPU: 1, CPU: 4}, {GPU: 0.25, CPU: 1}]`, rung-9 promotions "
    "`{GPU: 1, CPU: 4, accelerator_type: H100}`",
    raysweep_resources,
    planner=True,
)
RUNNER_ASKS = Policy(
    "runner-asks",
    "raysweep, runners ask first",
    "the same shapes and planner, and before it the hand-out the TrialScheduler does itself: a "
    "runner whose trial ended, and every idle one, takes the promotion if its shape is one the "
    "promotion accepts, else the next new trial if it suits (`TrialScheduler.next_trial`)",
    raysweep_resources,
    planner=True,
    runner_asks=True,
)
ALL_PROMOTIONS = Policy(
    "all-promotions",
    "what-if: every promotion offered",
    "not raysweep today: like `raysweep planner`, but every promotion ASHA would grant now is "
    "pending at once, where the TrialScheduler offers the planner only the first "
    "(`_pending_work` takes one `take_promotion`)",
    raysweep_resources,
    planner=True,
    all_promotions=True,
)
FCFS_GPU = Policy(
    "fcfs-gpu",
    "FCFS, 1 GPU",
    "every trial at every rung asks `{GPU: 1, CPU: 4}` (`tune.with_resources(trainable, "
    "{'gpu': 1, 'cpu': 4})`); the next promotion, else the next new trial, starts on the first "
    "node with room, in the cluster's order; a paused trial gives its room back",
    fixed(WHOLE),
    planner=False,
)
FCFS_QUARTER = Policy(
    "fcfs-quarter",
    "FCFS, ¼ GPU",
    "the same with `{GPU: 0.25, CPU: 1}`",
    fixed(QUARTER),
    planner=False,
)
POLICIES: dict[str, Policy] = {
    p.key: p for p in (RAYSWEEP, RUNNER_ASKS, ALL_PROMOTIONS, FCFS_GPU, FCFS_QUARTER)
}
BASELINES = (FCFS_GPU, FCFS_QUARTER)


def describe_cluster(nodes: Sequence[NodeSpec]) -> str:
    parts = []
    for spec in nodes:
        gpus = f", {spec.gpus} × {spec.accelerator}" if spec.gpus else ""
        parts.append(f"`{spec.id}` ({spec.cpus} CPU{gpus})")
    return ", ".join(parts)


def describe_step_times() -> str:
    names = {1.0: "a whole", 0.25: "a quarter of an"}
    parts = [
        f"{names[share]} {accelerator} {seconds:g}"
        for (accelerator, share), seconds in STEP_TIME.items()
        if accelerator is not None
    ]
    return ", ".join(parts) + f", 8 CPUs {STEP_TIME[(None, 0.0)]:g}"
