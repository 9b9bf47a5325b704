"""One sampling context's history as TPE needs it: arrays, the below/above split, name sets.

Computed once per context and shared by the proposal at trial start and the independent
proposals inside the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raysweep.samplers._base import SamplingContext
from raysweep.samplers._tpe_history import COMPLETE, PRUNED, RUNNING, HistoryMemo, Rows
from raysweep.samplers._tpe_options import Gamma
from raysweep.samplers._tpe_split import Outcomes, Split, split


@dataclass(frozen=True)
class Prepared:
    """History positions by role, the split of the ranked ones, and finished trials' names."""

    rows: Rows
    ranked: np.ndarray  # COMPLETE trials and PRUNED ones with intermediate values
    unranked: np.ndarray  # PRUNED trials without intermediate values: "above" only
    running: np.ndarray  # RUNNING and PAUSED trials
    split: Split
    name_sets: list[frozenset[str]]
    generation: int  # the memo's, whose row numbers ``rows.rows`` are


def prepare(memo: HistoryMemo, context: SamplingContext, gamma: Gamma) -> Prepared:
    """Encode ``context.history`` through ``memo`` and split it with ``gamma``."""
    with memo.lock:
        rows = memo.rows(context.history)
        finished = (rows.state == COMPLETE) | (rows.state == PRUNED)
        name_sets = [memo.names(int(s)) for s in np.unique(rows.space[finished])]
        generation = memo.generation
    has_steps = ~np.isnan(rows.step)
    ranked = np.flatnonzero((rows.state == COMPLETE) | ((rows.state == PRUNED) & has_steps))
    outcomes = Outcomes(
        complete=rows.state[ranked] == COMPLETE,
        number=rows.number[ranked],
        values=rows.values[ranked],
        step=rows.step[ranked],
        last=rows.last[ranked],
        constraints=rows.constraints[ranked],
        has_constraints=rows.has_constraints[ranked],
    )
    return Prepared(
        rows=rows,
        ranked=ranked,
        unranked=np.flatnonzero((rows.state == PRUNED) & ~has_steps),
        running=np.flatnonzero(rows.state == RUNNING),
        split=split(outcomes, context.directions, gamma),
        name_sets=name_sets,
        generation=generation,
    )
