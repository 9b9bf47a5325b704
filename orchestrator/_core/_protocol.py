"""Messages between runners, the driver and the TrialScheduler actor.

Plain frozen values, pickled by Ray. A runner batches what it learned inside the objective
(parameters it drew from the up-front proposal, reports between rungs, user attributes) and sends
the batch with its next message that must wait for an answer anyway, so that a trial costs as few
round trips as the decisions it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raysweep.orchestrator._core._resources import ResourceRequest
from raysweep.samplers import Distribution, TrialRecord, TrialState
from raysweep.scheduling import ClusterNode, Retire, Scheduler, Shape, Start, Wait


@dataclass(frozen=True)
class ParamNote:
    name: str
    distribution: Distribution
    value: Any


@dataclass(frozen=True)
class ReportNote:
    step: int
    value: float


@dataclass(frozen=True)
class UserAttrNote:
    key: str
    value: Any


Note = ParamNote | ReportNote | UserAttrNote


# A joint proposal: parameter name -> (the distribution it was drawn from, the value).
Proposal = dict[str, tuple[Distribution, Any]]


@dataclass(frozen=True)
class NoProposal:
    """The sampler has no new point for this trial number (it raised SearchSpaceExhaustedError)."""

    reason: str


ProposalOrNone = Proposal | NoProposal


@dataclass(frozen=True)
class Updates:
    """Trial records that changed since the last batch sent to the SamplerService.

    Batches are numbered: calls to the service run outside the scheduler's lock, so two batches
    may arrive out of order, and the service keeps a record only if it is newer than its copy.
    """

    version: int
    records: tuple[TrialRecord, ...]
    # Every trial of the study is in `records`: what a new or restarted service starts from.
    complete: bool = False


@dataclass(frozen=True)
class Resume:
    """Where a trial picks up: after its checkpoint at `step`, or from scratch (no checkpoint).

    `step` is the step the trial had reached (its checkpoint's step when there is one). The
    checkpoint's place follows from the trial's number and `step`, never from the log.
    """

    step: int
    from_checkpoint: bool


@dataclass(frozen=True)
class Placement:
    """Where an attempt of a trial runs: its runner, the resources it holds on each host, the
    nodes (host 0 first), their accelerator type, and the TPU slice they make up (for a
    `TPUSlice` trial). Recorded with the attempt in the log."""

    runner: str
    resources: dict[str, float]
    nodes: tuple[str, ...]
    accelerator_type: str | None = None
    slice_name: str | None = None

    @property
    def hosts(self) -> int:
        return len(self.nodes)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "runner": self.runner,
            "resources": dict(self.resources),
            "nodes": list(self.nodes),
        }
        if self.accelerator_type is not None:
            data["accelerator_type"] = self.accelerator_type
        if self.slice_name is not None:
            data["slice_name"] = self.slice_name
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Placement:
        return cls(
            str(data["runner"]),
            {str(k): float(v) for k, v in data["resources"].items()},
            tuple(str(n) for n in data["nodes"]),
            data.get("accelerator_type"),
            data.get("slice_name"),
        )


@dataclass(frozen=True)
class Assignment:
    """A trial handed to a runner (or to an ask/tell caller)."""

    number: int
    attempt: int
    params: dict[str, Any]
    distributions: dict[str, Distribution]
    proposal: Proposal
    scheduler: Scheduler
    n_objectives: int
    # How many constraint values each trial of this study reports; None until one has.
    n_constraints: int | None = None
    # A paused (or interrupted) trial resumed: from its checkpoint, or from scratch.
    resume: Resume | None = None
    # Where checkpoints of paused trials are written (beside the study's log).
    checkpoint_root: str | None = None
    # How checkpoints are stored and which ones may be loaded: "safe" (data only) or "pickle".
    # The trust of the process that opened the study, not a fact of the study: never logged.
    checkpoint_format: str = "safe"
    # Where this attempt runs (None: an ask/tell trial, or a runner the pool never described).
    placement: Placement | None = None
    # The energy the trial's earlier attempts were attributed ("cpu_joules", "gpu_joules";
    # a value None: unknown), so that `trial.energy()` covers the whole trial. None: no
    # earlier attempt.
    energy_before: dict[str, float | None] | None = None


@dataclass(frozen=True)
class TrialOutcome:
    """How one attempt of a trial ended, as the runner saw it."""

    number: int
    attempt: int
    state: TrialState | None  # None: interrupted, to be re-run as a new attempt
    values: tuple[float, ...] | None = None
    error: str | None = None
    notes: tuple[Note, ...] = field(default_factory=tuple)
    constraints: tuple[float, ...] | None = None
    # state PAUSED: the step it paused at and where its checkpoint was saved (None: none
    # given). The location is logged for readers only; the checkpoint is found by number and
    # step.
    paused_at: int | None = None
    checkpoint: str | None = None
    # The id of the `tell` call that reported it (None: a runner's outcome).
    request: str | None = None
    # What the runner measured over the attempt (`EnergyUse.to_json`); None: nothing.
    energy: dict[str, Any] | None = None
    # state None: the attempt ended because its hardware failed (a host of its TPU slice was
    # lost), which counts towards the crashes that fail a trial.
    crash: bool = False


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]
    best_value: float | None
    target: int | None
    finished: int
    accepting: bool
    # Why trials wait for hardware, as the last placement found (None: none does).
    waiting: str | None = None


@dataclass(frozen=True)
class Idle:
    """No trial for this runner now, but one may come (a trial running may pause and make a
    promotion, or be lost and need a re-run): wait with `wait_for_work(version)` and ask again.
    """

    version: int


@dataclass(frozen=True)
class PoolRunner:
    """A runner the pool started (and has not seen end): its shape and the nodes it holds."""

    name: str
    shape: Shape
    nodes: tuple[str, ...]
    # The TPU slice its nodes make up (a slice shape).
    slice_name: str | None = None


@dataclass(frozen=True)
class PlacementRequest:
    """What the runner pool tells the TrialScheduler when it asks what to start and retire."""

    nodes: tuple[ClusterNode, ...]
    runners: tuple[PoolRunner, ...]
    # What each trial of this optimize call accepts (shapes, or a function giving them).
    resources: ResourceRequest
    max_runners: int
    idle_grace_s: float = 10.0
    # An autoscaler can launch nodes: a shape no live node holds waits for one, not an error.
    autoscaling: bool = False


@dataclass(frozen=True)
class PlacementAnswer:
    """What the pool is to do now. Retirements are already applied: a retired runner is never
    handed a trial again, so the pool may end one that `never_asked` without losing a trial."""

    starts: tuple[Start, ...]
    retired: tuple[Retire, ...]
    never_asked: frozenset[str]
    waits: tuple[Wait, ...]
    unmet: tuple[Shape, ...]
    # No work can come any more: the pool ends once its runners have returned.
    done: bool
    # Ask again once the version moves on (`wait_for_work`), or after this many seconds.
    version: int
    recheck_s: float
    # The first new trial whose shapes wait for its proposal (a function of the parameters).
    awaiting_proposal: int | None = None
    # The name of the runner each start is for (the TrialScheduler knows its shape at once).
    start_names: tuple[str, ...] = ()
