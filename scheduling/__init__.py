"""raysweep.scheduling: pure scheduling decisions (which trials continue, pause or stop,
and where they run).

Nothing here imports Ray or does I/O. A :class:`Scheduler` is an immutable configuration; its
:meth:`~Scheduler.new_state` makes the mutable :class:`SchedulerState` that turns reports into
:class:`Decision` values, and that state is rebuilt by replaying the reports from the log.
"""

from raysweep.scheduling._asha import ASHA
from raysweep.scheduling._base import Scheduler, SchedulerState
from raysweep.scheduling._decision import Action, Decision, Promotion
from raysweep.scheduling._from_json import scheduler_from_json
from raysweep.scheduling._hyperband import Hyperband
from raysweep.scheduling._no_pruning import NoPruning
from raysweep.scheduling._percentile import MedianStopping, PercentileStopping
from raysweep.scheduling._placement import (
    SLICE_NAME_LABEL,
    SLICE_POD_TYPE_LABEL,
    SLICE_WORKER_LABEL,
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
    complete_slices,
    plan_placement,
)
from raysweep.scheduling._simulation import Completion, SimulatedTrial, Simulation, StepEvent
from raysweep.scheduling._simulator import simulate

__all__ = [
    "ASHA",
    "SLICE_NAME_LABEL",
    "SLICE_POD_TYPE_LABEL",
    "SLICE_WORKER_LABEL",
    "Action",
    "ClusterNode",
    "Completion",
    "Decision",
    "Hyperband",
    "MedianStopping",
    "NoPruning",
    "PercentileStopping",
    "PlacementSettings",
    "Plan",
    "Promotion",
    "Retire",
    "Reuse",
    "RunnerState",
    "RunnerView",
    "Scheduler",
    "SchedulerState",
    "Shape",
    "SimulatedTrial",
    "Simulation",
    "Start",
    "StepEvent",
    "Wait",
    "Work",
    "WorkKind",
    "complete_slices",
    "plan_placement",
    "scheduler_from_json",
    "simulate",
]
