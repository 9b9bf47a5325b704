"""raysweep.orchestrator: studies on Ray — the public API, the actors and the event log.

The study's API (`create_study`, `Study`, detached runs) is imported on first use: a runner or a
task on a node imports only the modules it runs, not the driver's side.
"""

import importlib
from typing import TYPE_CHECKING, Any

from raysweep.orchestrator._core._state import ResourceUsage
from raysweep.orchestrator._core._tpu_slice import TPUSlice
from raysweep.orchestrator._core._trial import Trial
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
from raysweep.samplers import TrialState

if TYPE_CHECKING:
    from raysweep.orchestrator._detached import DetachedStudy, attach_study, detached_studies
    from raysweep.orchestrator._ray._study_host import DetachedStatus, RunState
    from raysweep.orchestrator._study import Study, create_study

# Public names imported when first used: name -> its module.
_ON_FIRST_USE = {
    "DetachedStudy": "raysweep.orchestrator._detached",
    "attach_study": "raysweep.orchestrator._detached",
    "detached_studies": "raysweep.orchestrator._detached",
    "DetachedStatus": "raysweep.orchestrator._ray._study_host",
    "RunState": "raysweep.orchestrator._ray._study_host",
    "Study": "raysweep.orchestrator._study",
    "create_study": "raysweep.orchestrator._study",
}

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


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
