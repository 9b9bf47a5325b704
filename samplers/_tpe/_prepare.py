"""One sampling context's history as TPE needs it: arrays, the below/above split, name sets.

Computed once per context and shared by the proposal at trial start and the independent
proposals inside the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raysweep.samplers._base import SamplingContext
from raysweep.samplers._tpe._history import COMPLETE, PRUNED, RUNNING, HistoryMemo, Rows
from raysweep.samplers._tpe._options import Gamma, strategy_weights
from raysweep.samplers._tpe._split import Outcomes, Split, split


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


def thin_above(
    prepared: Prepared,
    finished: np.ndarray,
    running: np.ndarray,
    weights: str,
    limit: int | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The history positions of the "above" estimator's trials and their kernel weights (None:
    the ``weights`` strategy's, all trials kept), at most ``limit`` of them.

    Past the limit: every running trial (the points taken right now), the newest finished ones
    up to half the remaining room, and an even stride by age over the older ones, each strided
    trial weighted up to stand for those it skips, so that g keeps the whole set's mass and
    shape. The newest trials sit where l(x) now draws candidates, where g's detail matters.
    Deterministic: no randomness is drawn.
    """
    positions = np.concatenate([finished, running])
    if limit is None or len(positions) <= limit:
        return positions, None
    numbers = prepared.rows.number[positions]
    kernel_weights = strategy_weights(weights, numbers)
    room = max(limit - len(running), 0)
    by_age = np.argsort(-numbers[: len(finished)], kind="stable")  # newest first
    newest, older = by_age[: room // 2], by_age[room // 2 :]
    n_strided = max(room - len(newest), 1)
    strided = older[(np.arange(room - len(newest)) * len(older)) // n_strided]
    kernel_weights[strided] *= len(older) / n_strided
    running_at = np.arange(len(finished), len(positions))
    chosen = np.sort(np.concatenate([newest, strided, running_at]))
    return positions[chosen], kernel_weights[chosen]
