"""Trial records as numpy columns, with a memo of each record's encoding.

A proposal over ten thousand trials cannot afford Python work per trial and parameter. Records
are immutable, so a record's encoding (state, values, constraints, last intermediate value and,
column by column, its parameters' internal coordinates) is computed once and kept in growing
numpy buffers, found again by the record's identity. The memo holds the records themselves, so
an identity cannot be reused while its entry lives. It never changes a result: a cleared memo
recomputes the same numbers.
"""

from __future__ import annotations

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
        self._columns: dict[tuple[str, Distribution], tuple[_Buffer, list[int]]] = {}

    def rows(self, history: Sequence[TrialRecord]) -> Rows:
        """The encoded columns of ``history``, one entry per record, in order."""
        with self.lock:
            # Old versions of records (a RUNNING trial that has since finished) pile up.
            if len(self._records) > 3 * len(history) + 1024:
                self._clear()
            found = list(map(self._row_of.get, map(id, history)))
            if None in found:
                for i, row in enumerate(found):
                    if row is None:
                        found[i] = self._add(history[i])
            rows = np.array(found, dtype=np.intp).reshape(-1)
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

    def column(self, name: str, distribution: Distribution, rows: np.ndarray) -> np.ndarray:
        """Internal coordinates of ``name`` under ``distribution`` at ``rows`` (NaN: absent)."""
        with self.lock:
            key = (name, distribution)
            if key not in self._columns:
                if len(self._columns) >= _MAX_COLUMNS:
                    self._columns.clear()
                self._columns[key] = (_Buffer(float), [0])
            buffer, filled = self._columns[key]
            for row in range(filled[0], len(self._records)):
                buffer.put(row, _internal(self._records[row], name, distribution))
            filled[0] = max(filled[0], len(self._records))
            result: np.ndarray = buffer.data[rows]
            return result

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
