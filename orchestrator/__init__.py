"""raysweep.orchestrator: studies on Ray — the public API, the actors and the event log."""

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
from raysweep.orchestrator._state import ResourceUsage
from raysweep.orchestrator._study import Study, create_study
from raysweep.orchestrator._trial import Trial

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
    "TrialStateError",
    "UnplaceableResourcesError",
    "create_study",
]
