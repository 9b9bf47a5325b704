"""Writing segments: the Arrow IPC stream a local writer appends its commits to, or, on an
object store, one whole sealed stream per commit."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from raysweep.orchestrator._storage._files import fsync_directory, write_all
from raysweep.orchestrator._storage._format import (
    SEGMENTS,
    Record,
    batch_from_records,
    segment_name,
    stamped_schema,
)
from raysweep.orchestrator._storage._object_store import ObjectFiles
from raysweep.orchestrator._storage._replay import END_OF_STREAM

__all__ = ["ObjectSegmentWriter", "SegmentWriter"]


class SegmentWriter:
    """Appends batches to the current segment of ``directory``, opening and sealing segments.

    A segment is created at the first batch after construction, after :meth:`seal`, after
    :meth:`abandon`, and after ``rotate_after`` events. Each carries ``generation`` (the writer's
    lease epoch) in its name and schema metadata. Not thread-safe: the event log serialises its
    calls.
    """

    def __init__(self, directory: Path, *, rotate_after: int, generation: int) -> None:
        if rotate_after < 1:
            raise ValueError(f"rotate_after must be at least 1, got {rotate_after}")
        self._directory = directory
        self._rotate_after = rotate_after
        self._schema = stamped_schema(generation).serialize().to_pybytes()
        self._generation = generation
        self._fd: int | None = None
        self._path: Path | None = None
        self._events = 0

    @property
    def path(self) -> Path | None:
        """The segment being written, if one is open."""
        return self._path

    def write(self, records: list[Record]) -> None:
        """Append ``records`` as one batch and fsync it. On error, call :meth:`abandon`."""
        batch = batch_from_records(records).serialize()
        if self._fd is None:
            fd = self._create(records[0].seq)
            # Schema and first batch in one write and one fsync: a segment with a schema and no
            # data exists only as a torn write, never on purpose.
            write_all(fd, self._schema + batch.to_pybytes())
            os.fsync(fd)
            fsync_directory(self._directory)
        else:
            write_all(self._fd, memoryview(batch))
            os.fsync(self._fd)
        self._events += len(records)
        if self._events >= self._rotate_after:
            self.seal()

    def _create(self, first_seq: int) -> int:
        attempt = 0
        while True:
            # A file of this name exists when a crash (or a failed write of ours) left a segment
            # whose first batch never completed; never reuse it, whatever it holds.
            path = self._directory / segment_name(first_seq, self._generation, attempt)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                attempt += 1
                continue
            self._fd, self._path, self._events = fd, path, 0
            return fd

    def seal(self) -> None:
        """Close the current segment with an end-of-stream marker; never raises."""
        if self._fd is None:
            return
        # The marker tells readers the segment was closed, not cut short. It is a courtesy:
        # every batch before it is already durable, and a reader drops a torn marker like any
        # torn tail, so a failure here must not fail the commit that triggered it.
        with contextlib.suppress(OSError):
            write_all(self._fd, END_OF_STREAM)
            os.fsync(self._fd)
        self.abandon()

    def abandon(self) -> None:
        """Stop writing the current segment as it is (it may end in a partial batch)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._path = None
        self._events = 0


class ObjectSegmentWriter:
    """Writes each commit as a segment object of its own: schema, one batch, end of stream.

    An object store cannot append, so a segment is never reopened: every object is complete
    and sealed when it lands (a PUT is all or nothing), and none is ever torn. Its key is
    derived from its first seq and the writer's generation alone, so a commit sent again, after
    a lost connection or a failed commit whose events went back to the buffer, replaces the
    object with the same events (and possibly more after them) instead of adding a copy.
    """

    def __init__(self, files: ObjectFiles, *, generation: int) -> None:
        self._files = files
        self._schema = stamped_schema(generation).serialize().to_pybytes()
        self._generation = generation

    @property
    def path(self) -> None:
        """No segment stays open between commits."""
        return None

    def write(self, records: list[Record]) -> None:
        """Write ``records`` as one whole segment object; OSError if it could not be stored."""
        batch = batch_from_records(records).serialize().to_pybytes()
        name = segment_name(records[0].seq, self._generation)
        self._files.put(SEGMENTS, name, self._schema + batch + END_OF_STREAM)

    def seal(self) -> None:
        """Nothing to do: every segment object is sealed when written."""

    def abandon(self) -> None:
        """Nothing to do: a failed PUT leaves nothing behind to abandon."""
