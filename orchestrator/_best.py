"""The best trial of a study, and its Pareto front: feasible COMPLETE trials only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from raysweep.samplers import StudyDirection, TrialRecord, TrialState, pareto_front_mask


def best_trial(records: Sequence[TrialRecord], direction: StudyDirection, name: str) -> TrialRecord:
    complete = [t for t in records if t.state is TrialState.COMPLETE and t.values]
    if not complete:
        raise ValueError(f"study {name!r} has no completed trial yet")
    feasible = [t for t in complete if t.feasible]
    if not feasible:
        raise ValueError(
            f"study {name!r} has {len(complete)} completed trials but none is feasible "
            "(every one has a constraint value > 0)"
        )
    sign = -1.0 if direction is StudyDirection.MAXIMIZE else 1.0
    return min(feasible, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]


def pareto_front(
    records: Sequence[TrialRecord], directions: Sequence[StudyDirection]
) -> list[TrialRecord]:
    feasible = [t for t in records if t.state is TrialState.COMPLETE and t.values and t.feasible]
    if not feasible:
        return []
    signs = np.array([-1.0 if d is StudyDirection.MAXIMIZE else 1.0 for d in directions])
    losses = np.array([t.values for t in feasible], dtype=float) * signs
    return [t for t, front in zip(feasible, pareto_front_mask(losses), strict=True) if front]
