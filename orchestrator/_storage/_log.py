"""The study's append-only event log: one writer, group commit, snapshots.

Layout of a log directory::

    segments/seg-<first seq>-g<generation>.arrows   Arrow IPC stream files, one record batch
                                                    per commit
    snapshots/snap-<last seq>-g<generation>.arrow   Arrow IPC file holding every event up to
                                                    <last seq>

The generation is the epoch of the writer's lease (:class:`~raysweep.orchestrator._storage.
_lease.Lease`); files of generation 0 (written without a lease, or before generations) have
no ``-g`` part. A writer opened with its lease is *fenced*: before every commit it reads the
lease file back (one small read), and before a snapshot writes or deletes anything it checks
again, so a writer that stalled past a takeover gets StudyLockedError naming its successor and
writes nothing. Replay (:func:`replay`, :func:`read_events`) needs no lease; where a stalled
writer's files overlap its successor's anyway (it wrote between its last check and the
takeover), replay follows the newer generation (``_replay``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from raysweep.orchestrator._errors import StorageError, StudyLockedError
from raysweep.orchestrator._storage._event import (
    Event,
    check_event_fields,
    decode_payload,
    encode_payload,
)
from raysweep.orchestrator._storage._files import (
    TEMP_MARK,
    atomic_write,
    fsync_directory,
    remove_temp_files,
)
from raysweep.orchestrator._storage._format import (
    SCHEMA,
    SCHEMA_VERSION,
    Record,
    batch_from_records,
    snapshot_name,
    stamped_schema,
)
from raysweep.orchestrator._storage._lease import Lease
from raysweep.orchestrator._storage._replay import (
    SEGMENTS,
    SNAPSHOTS,
    LogScan,
    ReplayReport,
    SupersededEvents,
    TornTail,
    read_events,
    replay,
    require_log_directory,
    scan_log,
)
from raysweep.orchestrator._storage._segment import SegmentWriter

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Event",
    "EventLog",
    "ReplayReport",
    "SupersededEvents",
    "TornTail",
    "read_events",
    "replay",
]

DEFAULT_ROTATE_AFTER = 50_000


def _prepare_directory(directory: Path, *, create: bool) -> None:
    if not create:
        require_log_directory(directory)
    try:
        for sub in (directory, directory / SEGMENTS, directory / SNAPSHOTS):
            if not sub.is_dir():
                sub.mkdir(parents=True, exist_ok=True)
                fsync_directory(sub.parent)
        # Fail now, not at the first commit minutes later, if the files cannot be created.
        probe = directory / SEGMENTS / f".probe{TEMP_MARK}{os.getpid()}"
        os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644))
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"cannot write the event log at {directory} ({exc}); choose a directory this "
            "process can create files in, or fix its permissions"
        ) from exc


class EventLog:
    """The writer of one study's event log. Make one with :meth:`open`.

    Events are *staged* (numbered, time-stamped, validated, buffered: no I/O) and *committed*
    (everything staged so far written as one record batch and fsynced). ``stage`` may run on one
    thread while ``commit`` runs on another; commits are serialised. Each writer starts a new
    segment at its first commit and never appends to a file an earlier writer left, which may
    end in a torn batch.
    """

    def __init__(
        self,
        directory: Path,
        next_seq: int,
        *,
        lease: Lease | None,
        generation: int,
        rotate_after: int,
        clock: Callable[[], float],
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._lease = lease
        self._generation = generation
        # Once another writer has taken over, it has for good: every later write refuses at once.
        self._fenced: StudyLockedError | None = None
        # _stage_lock guards the seq counter and the buffer; _write_lock serialises commits and
        # guards the segment writer. Staging never waits for the disk.
        self._stage_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._next_seq = next_seq
        self._staged: list[Record] = []
        self._closed = False
        self._segments = SegmentWriter(
            directory / SEGMENTS, rotate_after=rotate_after, generation=generation
        )

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        create: bool,
        lease: Lease | None = None,
        rotate_after: int = DEFAULT_ROTATE_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> tuple[EventLog, list[Event], ReplayReport]:
        """Open the log in ``directory`` for writing; return it, its events, and a report.

        ``create`` makes the directory (and parents) if missing; without it a missing log is a
        StorageError. The events are the replay (newest readable snapshot + segments, torn tails
        and superseded events dropped, see the report). ``clock`` gives the ``ts`` of staged
        events; a segment is closed after ``rotate_after`` events.

        ``lease``: the study's lease, held by the caller. The log then writes as its epoch and
        is fenced by it (module docstring): StudyLockedError once another process owns the
        study. Without one nothing is checked and the log writes as the newest generation
        already on disk: for tests and tools whose caller knows no one else writes.
        """
        directory = Path(directory)
        if lease is not None:
            lease.verify()  # taken over already: touch nothing, not even temporary files
        _prepare_directory(directory, create=create)
        remove_temp_files(directory / SNAPSHOTS, "snap-")
        scan = scan_log(directory)
        generation = scan.highest_generation
        if lease is not None:
            if lease.epoch < generation:
                # Its files would count as older than those already there, and replay would
                # drop them as a stalled writer's.
                raise StorageError(
                    f"the event log at {directory} holds files of writer generation "
                    f"{generation}, above this writer's lease epoch {lease.epoch} (was "
                    "LEASE.json replaced?); acquire the lease with "
                    "epoch_floor=highest_generation(directory), as LocalStudyStore does"
                )
            generation = lease.epoch
        next_seq = scan.entries[-1][0].seq + 1 if scan.entries else 0
        # pyarrow's first conversion of Python values imports pandas when installed (~0.3 s);
        # pay it here rather than in the first commit, which someone may be waiting on.
        batch_from_records([])
        log = cls(
            directory,
            next_seq,
            lease=lease,
            generation=generation,
            rotate_after=rotate_after,
            clock=clock,
        )
        return log, scan.events, scan.report

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def generation(self) -> int:
        """The writer generation stamped on this log's files: its lease's epoch."""
        return self._generation

    @property
    def next_seq(self) -> int:
        """The seq the next staged event gets."""
        with self._stage_lock:
            return self._next_seq

    @property
    def pending(self) -> int:
        """How many events are staged and not yet committed."""
        with self._stage_lock:
            return len(self._staged)

    def stage(
        self,
        kind: str,
        trial: int | None,
        payload: dict[str, Any],
        check: Callable[[Event], None] | None = None,
    ) -> Event:
        """Number and buffer an event; it is durable only after the next :meth:`commit`.

        Raises ValueError (payload not storable as JSON, NaN/inf included) or TypeError before
        anything is buffered. The returned event carries the payload exactly as replay will
        return it (e.g. tuples become lists). `check` (the caller applying the event to its
        state) sees that event first, under the staging lock so that its seq stays its own;
        if it raises, nothing is buffered.
        """
        check_event_fields(kind, trial)
        text = encode_payload(payload)
        with self._stage_lock:
            if self._closed:
                raise RuntimeError(f"the event log at {self._directory} is closed")
            record = Record(self._next_seq, self._clock(), kind, trial, text)
            event = Event(record.seq, record.ts, kind, trial, decode_payload(text))
            if check is not None:
                check(event)
            self._next_seq += 1
            self._staged.append(record)
        return event

    def commit(self) -> int:
        """Write all staged events as one batch and fsync; return how many were written.

        Nothing staged: no I/O, returns 0. On an I/O error the events stay staged (a later commit
        writes them into a fresh segment) and StorageError is raised. Once another process has
        taken the lease over, StudyLockedError names it, and nothing is written (the events stay
        staged, to no end: this process must stop writing the study).
        """
        with self._write_lock:
            return self._commit_locked()

    def append(self, kind: str, trial: int | None, payload: dict[str, Any]) -> Event:
        """Stage and commit one event (and anything staged before it)."""
        event = self.stage(kind, trial, payload)
        self.commit()
        return event

    def _check_fence(self) -> None:
        """StudyLockedError unless the lease is still ours (no check without a lease)."""
        if self._fenced is not None:
            raise self._fenced
        if self._lease is None:
            return
        try:
            self._lease.verify()
        except StudyLockedError as exc:
            self._fenced = exc
            raise

    def _restage(self, records: list[Record]) -> None:
        with self._stage_lock:
            self._staged[:0] = records

    def _commit_locked(self) -> int:
        with self._stage_lock:
            records, self._staged = self._staged, []
        if not records:
            return 0
        try:
            self._check_fence()
        except BaseException:
            self._restage(records)
            raise
        try:
            self._segments.write(records)
        except BaseException as exc:
            # Whatever happened (a full disk, an interrupt), the segment may now end in a partial
            # batch, so nothing more goes into it; the events return to the front of the buffer.
            self._segments.abandon()
            self._restage(records)
            if isinstance(exc, OSError) and not isinstance(exc, StorageError):
                raise StorageError(
                    f"cannot write events {records[0].seq}..{records[-1].seq} to the event log "
                    f"at {self._directory} ({exc}); they stay staged: free space or fix the "
                    "storage, then commit again"
                ) from exc
            raise
        return len(records)

    def _refuse_if_overtaken(self, scan: LogScan) -> None:
        """StudyLockedError if files of a newer writer are there: we were taken over."""
        newest = scan.highest_generation
        if newest > self._generation:
            self._fenced = StudyLockedError(
                f"the event log at {self._directory} holds files of writer generation {newest}, "
                f"newer than this writer's {self._generation}: another process took the study "
                "over; this process must stop writing the study"
            )
            raise self._fenced

    def snapshot(self) -> Path | None:
        """Commit, then write every event so far into one snapshot file; return its path.

        Segments wholly covered by the snapshot (or superseded), and older snapshots, are
        deleted once the snapshot is durable; files of a newer writer never are. Reads the log
        back from disk, so the snapshot holds exactly what a replay would return. None if the log
        is empty. StudyLockedError, before anything is written or deleted, once another process
        has taken the lease over.
        """
        with self._write_lock:
            self._check_fence()
            self._commit_locked()
            # Later events must go to a new segment, so the current one can be covered and deleted.
            self._segments.seal()
            scan = scan_log(self._directory)
            self._refuse_if_overtaken(scan)
            if not scan.entries:
                return None
            last = scan.entries[-1][0].seq
            path = self._directory / SNAPSHOTS / snapshot_name(last, self._generation)
            schema = stamped_schema(self._generation)
            table = pa.Table.from_batches(
                [batch_from_records([record for record, _ in scan.entries])], schema=schema
            )
            try:
                self._check_fence()
                with atomic_write(path) as sink, ipc.new_file(sink, schema) as writer:
                    writer.write_table(table)
                # Writing took a while; deleting needs the study still ours.
                self._check_fence()
                for segment in scan.segments:
                    # One with nothing kept (torn at birth, or all superseded) goes too. Never a
                    # newer writer's: that may be its open segment, with no batch in it yet.
                    covered = segment.kept_last_seq is None or segment.kept_last_seq <= last
                    if segment.generation <= self._generation and covered:
                        segment.path.unlink(missing_ok=True)
                for old in scan.snapshots:
                    # An unreadable snapshot is kept for whoever wants to inspect it by hand.
                    # One of an older writer is superseded by ours, however far it reaches.
                    superseded = old.generation < self._generation or old.last_seq <= last
                    if (
                        old.path != path
                        and old.generation <= self._generation
                        and superseded
                        and old.path not in scan.unreadable_snapshots
                    ):
                        old.path.unlink(missing_ok=True)
                fsync_directory(self._directory / SEGMENTS)
                fsync_directory(self._directory / SNAPSHOTS)
            except OSError as exc:
                raise StorageError(
                    f"cannot write snapshot {path} ({exc}); the log itself is intact: "
                    "free space or fix the storage"
                ) from exc
            return path

    def close(self) -> None:
        """Commit what is staged, close the segment; later stages raise. Idempotent.

        StudyLockedError if events were staged but the lease has been taken over: they are lost
        (the new owner's history does not have them), and the caller should say so.
        """
        with self._write_lock:
            with self._stage_lock:
                if self._closed:
                    return
                # Refuse new events first, so none can slip in after the last commit.
                self._closed = True
            try:
                self._commit_locked()
            finally:
                self._close_segment()

    def _close_segment(self) -> None:
        # The end-of-stream marker is a write too: only while the study is still ours.
        if self._segments.path is None:
            return
        try:
            self._check_fence()
        except (StudyLockedError, OSError):
            # Not ours, or the lease file unreadable: leave the segment as it is (a reader
            # takes a missing marker for a clean end all the same).
            self._segments.abandon()
        else:
            self._segments.seal()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
