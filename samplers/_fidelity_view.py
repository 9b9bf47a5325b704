"""A study's history seen at one fidelity: the single-budget history a multi-fidelity sampler
hands its base sampler.

A trial's value at a fidelity (a rung step) is the report that crossed that rung: the first
report at or past the step and below the next fidelity step; at the last fidelity (the full
budget) a COMPLETE trial's objective value. :class:`FidelityMemo` keeps each record's values and
its view records by the record's identity, so the base sampler meets the same view record
objects from one proposal to the next (TPE's own memo is keyed by identity too).
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Sequence

from raysweep.samplers._trial import TrialRecord, TrialState

# Trials without a result at the fidelity whose points are still taken: the base sampler's
# constant liar (or keep-apart rule) should see them.
_TAKEN = (TrialState.RUNNING, TrialState.WAITING)
# Trials the scheduler stopped, or has not promoted yet, at a lower rung.
_STOPPED = (TrialState.PRUNED, TrialState.PAUSED)


def values_at_fidelities(record: TrialRecord, steps: tuple[int, ...]) -> tuple[float | None, ...]:
    """The record's value at each of ``steps`` (None: no result there; NaN: a diverged run)."""
    reported = sorted(record.intermediate_values)
    result: list[float | None] = []
    for i, low in enumerate(steps):
        if i == len(steps) - 1 and record.state is TrialState.COMPLETE and record.values:
            result.append(record.values[0])
            continue
        high = steps[i + 1] if i + 1 < len(steps) else math.inf
        at = bisect_left(reported, low)
        crossing = reported[at] if at < len(reported) else None
        result.append(
            record.intermediate_values[crossing]
            if crossing is not None and crossing < high
            else None
        )
    return tuple(result)


def view_record(
    record: TrialRecord, values: tuple[float | None, ...], index: int, steps: tuple[int, ...]
) -> TrialRecord | None:
    """The record as the base sampler sees it at fidelity ``steps[index]``.

    ``values`` are the record's :func:`values_at_fidelities`. A value there makes a COMPLETE
    record, with no intermediate values since the view has one budget and with its constraints,
    a property of the configuration. A running or waiting trial without one stays RUNNING: its
    point is taken. A trial the scheduler stopped or paused below this fidelity (PRUNED or
    PAUSED, with results only at lower fidelities) becomes a PRUNED record holding only its
    value at the highest fidelity it reached: not being promoted is a result too, and a base
    that ranks pruned trials (TPE puts them after every COMPLETE one) learns where not to look,
    while one that ignores them (GP, CMA-ES) sees nothing. Any other trial is left out (None):
    FAILED ones, and COMPLETE ones without a report at this fidelity. A NaN value (a diverged
    run) makes the record FAILED.
    """
    value = values[index]
    reports: dict[int, float] = {}
    if value is not None:
        state = TrialState.COMPLETE
    elif record.state in _TAKEN:
        state = TrialState.RUNNING
    else:
        reached = [(i, v) for i, v in enumerate(values) if v is not None]
        if record.state not in _STOPPED or not reached or reached[-1][0] > index:
            return None
        state, (last, value) = TrialState.PRUNED, reached[-1]
        reports[steps[last]] = value
    if value is not None and math.isnan(value):
        state, reports = TrialState.FAILED, {}
    complete = state is TrialState.COMPLETE
    return TrialRecord(
        number=record.number,
        state=state,
        params=record.params,
        distributions=record.distributions,
        values=(value,) if complete and value is not None else None,
        constraints=record.constraints if complete else None,
        intermediate_values=reports,
    )


class _Entry:
    """One record's values at the fidelities, and its view record per fidelity index."""

    __slots__ = ("record", "steps", "values", "views")

    def __init__(self, record: TrialRecord, steps: tuple[int, ...]) -> None:
        self.record = record  # held so that its id cannot be reused while the entry lives
        self.steps = steps
        self.values = values_at_fidelities(record, steps)
        self.views: dict[int, TrialRecord | None] = {}

    def view(self, index: int) -> TrialRecord | None:
        if index not in self.views:
            self.views[index] = view_record(self.record, self.values, index, self.steps)
        return self.views[index]


class FidelityMemo:
    """Values and view records of the records met so far, keyed by record identity.

    Records are immutable, so an entry never goes stale; the memo only saves work and never
    changes a result. Old versions of records (a RUNNING trial that has since finished) pile
    up, so the memo is cleared when it grows well past the history.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._entries: dict[tuple[int, tuple[int, ...]], _Entry] = {}

    def entries(self, history: Sequence[TrialRecord], steps: tuple[int, ...]) -> list[_Entry]:
        """One entry per record of ``history``, in order."""
        with self.lock:
            if len(self._entries) > 3 * len(history) + 1024:
                self._entries.clear()
            result = []
            for record in history:
                key = (id(record), steps)
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._entries[key] = _Entry(record, steps)
                result.append(entry)
            return result


def counts(entries: Sequence[_Entry], n_steps: int) -> list[int]:
    """How many records have a usable (not NaN) value at each fidelity index."""
    result = [0] * n_steps
    for entry in entries:
        for i, value in enumerate(entry.values):
            if value is not None and not math.isnan(value):
                result[i] += 1
    return result


def view_history(entries: Sequence[_Entry], index: int) -> tuple[TrialRecord, ...]:
    """The history at fidelity ``index``: the view records that are not left out."""
    views = (entry.view(index) for entry in entries)
    return tuple(view for view in views if view is not None)
