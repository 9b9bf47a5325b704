"""A study's history lent to a sampler without copying it.

At 100,000 trials a copy of the history per proposal (a tuple of every record, another with the
trial itself taken out) costs more than a cheap sampler's proposal. A :class:`HistoryView` reads
the keeper's own list instead, less a few positions and plus a few records; the keeper promises
not to change that list while a view of it lives (it changes a copy instead), so to a sampler a
view is as immutable as a tuple.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from raysweep.samplers._trial import TrialRecord


class HistoryView(Sequence[TrialRecord]):
    """The records of `base` in order, less those at the positions `left_out`, then `extra`.

    Iterating, ``len``, ``in`` and indexing cost what they cost on a tuple (iteration runs at C
    speed; an index is found past at most ``len(left_out)`` gaps), never a copy of `base`. A view
    equals any tuple, list or view with the same records.

    The keeper of `base` must not change it while the view lives: a sampler may keep a context
    past its call, and a context is a snapshot.
    """

    __slots__ = ("__weakref__", "_base", "_extra", "_left_out", "_len")

    def __init__(
        self,
        base: list[TrialRecord],
        left_out: Iterable[int] = (),
        extra: Iterable[TrialRecord] = (),
    ) -> None:
        positions = sorted(set(left_out))
        if positions and (positions[0] < 0 or positions[-1] >= len(base)):
            raise ValueError(
                f"HistoryView: positions to leave out must lie in 0..{len(base) - 1}, "
                f"not {positions}"
            )
        self._base = base
        self._left_out = tuple(positions)
        self._extra = tuple(extra)
        self._len = len(base) - len(positions) + len(self._extra)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[TrialRecord]:
        if not self._left_out:
            return itertools.chain(self._base, self._extra)
        return itertools.chain(itertools.compress(self._base, self._kept()), self._extra)

    def __reversed__(self) -> Iterator[TrialRecord]:
        return reversed(tuple(self))

    def __contains__(self, value: object) -> bool:
        # `in` over an iterator compares at C speed, and builds no tuple.
        return value in iter(self)  # type: ignore[operator]

    @overload
    def __getitem__(self, index: int) -> TrialRecord: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[TrialRecord, ...]: ...
    def __getitem__(self, index: int | slice) -> TrialRecord | tuple[TrialRecord, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if not isinstance(index, int):
            raise TypeError(f"HistoryView indices must be ints or slices, not {type(index)!r}")
        position = index + self._len if index < 0 else index
        if not 0 <= position < self._len:
            raise IndexError(f"HistoryView index {index} out of range for {self._len} records")
        kept = len(self._base) - len(self._left_out)
        if position >= kept:
            return self._extra[position - kept]
        # The smallest base position p with p - (gaps at or before p) == position.
        for gap in self._left_out:
            if gap > position:
                break
            position += 1
        return self._base[position]

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        return tuple(self).index(value, start, self._len if stop is None else stop)

    def count(self, value: Any) -> int:
        return tuple(self).count(value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HistoryView | tuple | list):
            return len(other) == self._len and tuple(self) == tuple(other)
        return NotImplemented

    # Trial records hold dicts: a tuple of them cannot be hashed either.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<HistoryView of {self._len} trial records>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent elsewhere, a view is its records: the keeper's list stays behind.
        return (tuple, (tuple(self),))

    def _kept(self) -> Iterator[bool]:
        """True for each position of `base` the view keeps, lazily and at C speed."""
        runs: list[Iterable[bool]] = []
        start = 0
        for gap in self._left_out:
            runs += (itertools.repeat(True, gap - start), (False,))
            start = gap + 1
        runs.append(itertools.repeat(True))
        return itertools.chain.from_iterable(runs)
