"""Trial records as numpy columns, with a memo of each record's encoding.

A proposal over ten thousand trials cannot afford Python work per trial and parameter. Records
are immutable, so a record's encoding (state, values, constraints, last intermediate value and,
column by column, its parameters' internal coordinates) is computed once and kept in growing
numpy buffers, found again by the record's identity. The memo holds the records themselves, so
an identity cannot be reused while its entry lives. It never changes a result: a cleared memo
recomputes the same numbers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from raysweep.samplers._distributions import Distribution
from raysweep.samplers._trial import TrialRecord, TrialState

COMPLETE, PRUNED, RUNNING, IGNORED = 0, 1, 2, 3
# A PAUSED trial holds a point that is still being evaluated: as taken as a RUNNING one.
_CODES = {
    TrialState.COMPLETE: COMPLETE,
    TrialState.PRUNED: PRUNED,
    TrialState.RUNNING: RUNNING,
    TrialState.PAUSED: RUNNING,
}
_MAX_COLUMNS = 1024
# More new rows than this in one call re-sort a column instead of inserting them one by one.
_BULK = 64


class _Buffer:
    """A numpy array that grows by doubling; rows past ``size`` are unused."""

    def __init__(self, dtype: type, width: int = 0) -> None:
        self.width = width
        self._fill = np.nan if dtype is float else 0
        shape = (16, width) if width else (16,)
        self.data: np.ndarray = np.full(shape, self._fill, dtype=dtype)

    def put(self, row: int, value: object) -> None:
        if row >= len(self.data):
            self.data = np.concatenate([self.data, np.full_like(self.data, self._fill)])
        self.data[row] = value

    def widen(self, width: int) -> None:
        if width > self.width:
            pad = np.full((len(self.data), width - self.width), np.nan)
            self.data = np.hstack([self.data.reshape(len(self.data), self.width), pad])
            self.width = width


class _Column:
    """One parameter's coordinates over the memo rows, and those rows sorted by (value, number)."""

    def __init__(self) -> None:
        self.values = _Buffer(float)
        self.filled = 0
        self.order = np.empty(0, dtype=np.intp)
        self._sorted_values = np.empty(0)
        self._sorted_numbers = np.empty(0, dtype=np.int64)

    def extend(
        self, records: list[TrialRecord], numbers: np.ndarray, name: str, d: Distribution
    ) -> None:
        new = range(self.filled, len(records))
        for row in new:
            self.values.put(row, _internal(records[row], name, d))
        self.filled = len(records)
        added = [row for row in new if not np.isnan(self.values.data[row])]
        if len(added) > _BULK:
            valid = np.flatnonzero(~np.isnan(self.values.data[: self.filled]))
            self._set_order(valid[np.lexsort((numbers[valid], self.values.data[valid]))], numbers)
            return
        for row in added:
            value, number = self.values.data[row], numbers[row]
            lo = int(np.searchsorted(self._sorted_values, value, side="left"))
            hi = int(np.searchsorted(self._sorted_values, value, side="right"))
            at = lo + int(np.searchsorted(self._sorted_numbers[lo:hi], number))
            self._set_order(np.insert(self.order, at, row), numbers)

    def _set_order(self, order: np.ndarray, numbers: np.ndarray) -> None:
        self.order = order
        self._sorted_values = self.values.data[order]
        self._sorted_numbers = numbers[order]


@dataclass(frozen=True)
class Rows:
    """The memo rows of one history, in history order, plus their per-trial columns."""

    rows: np.ndarray
    state: np.ndarray
    number: np.ndarray
    values: np.ndarray
    constraints: np.ndarray
    has_constraints: np.ndarray
    step: np.ndarray
    last: np.ndarray
    space: np.ndarray


class HistoryMemo:
    """Encodings of the records a sampler has met, keyed by record identity."""

    def __init__(self) -> None:
        # Re-entrant: a caller holds it across rows() and names() so no clear falls between.
        self.lock = threading.RLock()
        self.generation = 0  # bumped on every clear: row numbers from before mean nothing now
        self._clear()

    def _clear(self) -> None:
        self._row_of: dict[int, int] = {}
        self._records: list[TrialRecord] = []
        self._state = _Buffer(np.int8)
        self._number = _Buffer(np.int64)
        self._values = _Buffer(float, 1)
        self._constraints = _Buffer(float, 1)
        self._has_constraints = _Buffer(np.bool_)
        self._step = _Buffer(float)
        self._last = _Buffer(float)
        self._space = _Buffer(np.int64)
        self._space_id: dict[frozenset[str], int] = {}
        self._spaces: list[frozenset[str]] = []
        self._columns: dict[tuple[str, Distribution], _Column] = {}

    def rows(self, history: Sequence[TrialRecord]) -> Rows:
        """The encoded columns of ``history``, one entry per record, in order."""
        with self.lock:
            # Old versions of records (a RUNNING trial that has since finished) pile up.
            if len(self._records) > 3 * len(history) + 1024:
                self._clear()
                self.generation += 1
            lookup = map(self._row_of.get, map(id, history), itertools.repeat(-1))
            rows = np.fromiter(lookup, dtype=np.intp, count=len(history))
            for i in np.flatnonzero(rows < 0).tolist():
                rows[i] = self._add(history[i])
            n_values, n_constraints = self._values.width, self._constraints.width
            return Rows(
                rows=rows,
                state=self._state.data[rows],
                number=self._number.data[rows],
                values=self._values.data[rows].reshape(-1, n_values),
                constraints=self._constraints.data[rows].reshape(-1, n_constraints),
                has_constraints=self._has_constraints.data[rows],
                step=self._step.data[rows],
                last=self._last.data[rows],
                space=self._space.data[rows],
            )

    def names(self, space: int) -> frozenset[str]:
        """The parameter names of the records whose ``Rows.space`` is ``space``."""
        with self.lock:
            return self._spaces[space]

    def values(self, name: str, distribution: Distribution) -> np.ndarray:
        """Internal coordinates of ``name`` under ``distribution`` for every memo row (NaN where
        the record lacks it); index it with :attr:`Rows.rows`."""
        with self.lock:
            result: np.ndarray = self._column(name, distribution).values.data[: len(self._records)]
            return result

    def orders(
        self, keys: list[tuple[str, Distribution]], rows: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        """``(len(rows), len(keys))`` positions in ``rows`` (distinct memo rows), column ``k``
        sorted by the internal coordinate of ``keys[k]``, then trial number; positions without
        the parameter come last. ``values[:, k]`` holds those coordinates for ``rows``.

        The same as a lexsort of each column, but for a large set O(len(memo)) rather than
        O(n log n): the memo keeps every column's rows sorted as records arrive.
        """
        with self.lock:
            n = len(rows)
            if n * 16 < len(self._records):  # a small set: sorting it is cheaper
                by_number = np.argsort(self._number.data[rows], kind="stable")
                ranked = np.argsort(values[by_number], axis=0, kind="stable")  # NaN last
                result: np.ndarray = by_number[ranked]
                return result
            columns = [self._column(name, distribution) for name, distribution in keys]
            where = np.full(len(self._records), -1, dtype=np.intp)
            where[rows] = np.arange(n)
            result = np.empty((n, len(keys)), dtype=np.intp, order="F")
            for k, column in enumerate(columns):
                ranked = where[column.order]
                ranked = ranked[ranked >= 0]
                result[: len(ranked), k] = ranked
                if len(ranked) < n:
                    result[len(ranked) :, k] = np.flatnonzero(np.isnan(values[:, k]))
            return result

    def _column(self, name: str, distribution: Distribution) -> _Column:
        key = (name, distribution)
        column = self._columns.get(key)
        if column is None:
            if len(self._columns) >= _MAX_COLUMNS:
                self._columns.clear()
            column = self._columns[key] = _Column()
        if column.filled < len(self._records):
            column.extend(self._records, self._number.data, name, distribution)
        return column

    def _add(self, record: TrialRecord) -> int:
        row = len(self._records)
        self._records.append(record)
        self._row_of[id(record)] = row
        self._state.put(row, _CODES.get(record.state, IGNORED))
        self._number.put(row, record.number)
        values = record.values or ()
        self._values.widen(len(values))
        self._values.put(row, _padded(values, self._values.width))
        constraints = record.constraints or ()
        self._constraints.widen(len(constraints))
        self._constraints.put(row, _padded(constraints, self._constraints.width))
        self._has_constraints.put(row, record.constraints is not None)
        names = frozenset(record.params)
        if names not in self._space_id:
            self._space_id[names] = len(self._spaces)
            self._spaces.append(names)
        self._space.put(row, self._space_id[names])
        if record.intermediate_values:
            step = max(record.intermediate_values)
            self._step.put(row, float(step))
            self._last.put(row, record.intermediate_values[step])
        else:
            self._step.put(row, np.nan)
            self._last.put(row, np.nan)
        return row


def _padded(values: Sequence[float], width: int) -> np.ndarray:
    result = np.full(width, np.nan)
    result[: len(values)] = values
    return result


def _internal(record: TrialRecord, name: str, distribution: Distribution) -> float:
    if name not in record.params:
        return float("nan")
    try:
        return distribution.to_internal(record.params[name])
    except ValueError:  # e.g. a value <= 0 recorded before the parameter became log-scaled
        return float("nan")
