"""raysweep.orchestrator: studies on Ray — the public API, the actors and the event log."""

from raysweep.orchestrator._core._state import ResourceUsage
from raysweep.orchestrator._core._tpu_slice import TPUSlice
from raysweep.orchestrator._core._trial import Trial
from raysweep.orchestrator._detached import DetachedStudy, attach_study, detached_studies
from raysweep.orchestrator._errors import (
    CorruptLogError,
    DetachedStudyError,
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
from raysweep.orchestrator._ray._study_host import DetachedStatus, RunState
from raysweep.orchestrator._study import Study, create_study
from raysweep.samplers import TrialState

__all__ = [
    "CorruptLogError",
    "DetachedStatus",
    "DetachedStudy",
    "DetachedStudyError",
    "DuplicatedStudyError",
    "ObjectiveUsageError",
    "RaysweepError",
    "ResourceUsage",
    "RunState",
    "StorageError",
    "Study",
    "StudyLockedError",
    "TPUSlice",
    "Trial",
    "TrialPaused",
    "TrialPruned",
    "TrialState",
    "TrialStateError",
    "UnplaceableResourcesError",
    "attach_study",
    "create_study",
    "detached_studies",
]
