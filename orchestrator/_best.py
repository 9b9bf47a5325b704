"""A study's Pareto front: feasible COMPLETE trials only.

The best trial of a single-objective study is kept by the study's state as trials finish
(``_core._state.StudyState.best_number``) and sent alone (``TrialSchedulerCore.best``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from raysweep.samplers import StudyDirection, TrialRecord, TrialState, pareto_front_mask


def pareto_front(
    records: Sequence[TrialRecord], directions: Sequence[StudyDirection]
) -> list[TrialRecord]:
    feasible = [t for t in records if t.state is TrialState.COMPLETE and t.values and t.feasible]
    if not feasible:
        return []
    signs = np.array([-1.0 if d is StudyDirection.MAXIMIZE else 1.0 for d in directions])
    losses = np.array([t.values for t in feasible], dtype=float) * signs
    return [t for t, front in zip(feasible, pareto_front_mask(losses), strict=True) if front]
