"""raysweep.orchestrator: studies on Ray — the public API, the actors and the event log."""

from raysweep.orchestrator._core._state import ResourceUsage
from raysweep.orchestrator._core._trial import Trial
from raysweep.orchestrator._errors import (
    CorruptLogError,
    DuplicatedStudyError,
    ObjectiveUsageError,
    RaysweepError,
    StorageError,
    StudyLockedError,
    TrialPaused,
    TrialPruned,
    TrialStateError,
    UnplaceableResourcesError,
)
from raysweep.orchestrator._study import Study, create_study
from raysweep.samplers import TrialState

__all__ = [
    "CorruptLogError",
    "DuplicatedStudyError",
    "ObjectiveUsageError",
    "RaysweepError",
    "ResourceUsage",
    "StorageError",
    "Study",
    "StudyLockedError",
    "Trial",
    "TrialPaused",
    "TrialPruned",
    "TrialState",
    "TrialStateError",
    "UnplaceableResourcesError",
    "create_study",
]
