"""raysweep.scheduling: pure scheduling decisions (which trials continue, pause or stop).

Nothing here imports Ray or does I/O. A :class:`Scheduler` is an immutable configuration; its
:meth:`~Scheduler.new_state` makes the mutable :class:`SchedulerState` that turns reports into
:class:`Decision` values, and that state is rebuilt by replaying the reports from the log.
"""

from raysweep.scheduling._asha import ASHA
from raysweep.scheduling._base import Scheduler, SchedulerState
from raysweep.scheduling._decision import Action, Decision, Promotion
from raysweep.scheduling._from_json import scheduler_from_json
from raysweep.scheduling._no_pruning import NoPruning

__all__ = [
    "ASHA",
    "Action",
    "Decision",
    "NoPruning",
    "Promotion",
    "Scheduler",
    "SchedulerState",
    "scheduler_from_json",
]
