"""The study's append-only event log: one writer, group commit, snapshots.

Layout of a log directory (or object-store prefix)::

    segments/seg-<first seq>-g<generation>.arrows   Arrow IPC stream files, one record batch
                                                    per commit
    snapshots/snap-<last seq>-g<generation>.arrow   Arrow IPC file holding the events after the
                                                    previous snapshot, up to <last seq>

Snapshots form a chain: each holds what was committed since the one before (the first from seq
0), so that writing one costs what is new, never the whole log again. The writer keeps the
records it committed since its last snapshot and writes them, without reading anything back; a
snapshot of fewer than ``merge_below`` events at the chain's end is folded into the next one (an
Arrow-level copy), so that studies opened and closed often do not pile up small files. Only when
the files are not what the writer saw at open (a stalled writer's, written since) or a snapshot
holds a stalled writer's events does it write a snapshot of everything from a fresh scan, which
replaces the whole chain.

On a local file system a segment is appended to, one fsynced batch per commit, until it is
rotated. On an object store (a ``pyarrow.fs`` URI: ``s3://bucket/prefix/<study>``), which
cannot append or fsync, every commit is one whole segment object, sealed, named by its first
seq and generation (``_segment.ObjectSegmentWriter``), and a snapshot is one whole object too.

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

import bisect
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

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
    CHAINED_SNAPSHOT_VERSION,
    SCHEMA,
    SCHEMA_VERSION,
    SEGMENTS,
    SNAPSHOTS,
    FileRef,
    Record,
    batch_from_records,
    file_name,
    parse_segment_name,
    parse_snapshot_name,
    snapshot_name,
    stamped_schema,
)
from raysweep.orchestrator._storage._object_store import ObjectFiles, ObjectLocation, is_uri
from raysweep.orchestrator._storage._replay import (
    ChainTail,
    LocalFiles,
    LogFiles,
    LogScan,
    ReplayReport,
    SupersededEvents,
    TornTail,
    read_events,
    replay,
    require_log_directory,
    scan_log,
    snapshot_files,
)
from raysweep.orchestrator._storage._saved_state import (
    SavedState,
    StateFields,
    StateFile,
    StateLink,
    StateName,
    lay,
    parse_state_name,
    read_state_link,
    saved_state_table,
    state_link,
    state_name,
    write_state_file,
)
from raysweep.orchestrator._storage._segment import ObjectSegmentWriter, SegmentWriter

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
# A snapshot at the chain's end smaller than this is rewritten into the next one.
DEFAULT_MERGE_BELOW = 10_000
# A saved state laid on others is laid together with them into a whole one once the chain has
# this many links, or once the states laid on the whole one are as large as it is (and at
# least _STATE_MIN_SIZE bytes): a reopen then reads about twice the whole state at most, and
# rewriting the whole study's rows costs, over a study's life, about twice one rewrite at its
# end.
_STATE_LINKS = 16
_STATE_MIN_SIZE = 1 << 20


def _lay_now(chain: list[_Link]) -> bool:
    """Whether the states laid on the whole one (first) are to be laid together with it."""
    laid_on = sum(link.size for link in chain[1:])
    return len(chain) > _STATE_LINKS or laid_on >= max(chain[0].size, _STATE_MIN_SIZE)


def _size(file: StateFile) -> int:
    """About the bytes of `file`: what reading it back costs."""
    return int(file.table.nbytes) + sum(map(len, file.batch_metadata.values()))


@dataclasses.dataclass(frozen=True)
class _Link:
    """A saved state of the chain the writer lays its next state on."""

    name: StateName
    ref: FileRef
    size: int


@contextlib.contextmanager
def _storage_errors(doing: str, fix: str = "free space or fix the storage") -> Iterator[None]:
    """An OSError while `doing` (writing beside the log) is a StorageError saying the log
    itself is intact; a StorageError already says what failed."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"{doing} ({exc}); the log itself is intact: {fix}") from exc


class FencingLease(Protocol):
    """The writer lease as the log uses it (``_lease.Lease``, on any storage)."""

    @property
    def epoch(self) -> int: ...

    def verify(self) -> None:
        """StudyLockedError unless the lease is still this process's."""
        ...


class _Segments(Protocol):
    @property
    def path(self) -> Path | None: ...

    def write(self, records: list[Record]) -> None: ...

    def seal(self) -> None: ...

    def abandon(self) -> None: ...


class _LogStorage(Protocol):
    """How the log's files are made: the local directory, or the object-store prefix."""

    @property
    def files(self) -> LogFiles: ...

    def prepare(self, *, create: bool) -> None:
        """Make the log's place (``create``) or check that a log is there; StorageError."""
        ...

    def segments(self, *, generation: int, rotate_after: int) -> _Segments: ...

    def write_snapshot(self, name: str, table: pa.Table) -> FileRef:
        """Write ``table`` all or nothing as the snapshot ``name``; OSError if it failed."""
        ...

    def write_state(self, name: str, file: StateFile) -> FileRef:
        """Write ``file`` all or nothing as the saved state ``name``; OSError if it failed."""
        ...

    def delete(self, ref: FileRef) -> None:
        """Remove a file; one already gone is fine."""
        ...

    def sync(self) -> None:
        """Make the deletions durable."""
        ...


class _LocalStorage:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self.files = LocalFiles(directory)

    def prepare(self, *, create: bool) -> None:
        _prepare_directory(self._directory, create=create)
        remove_temp_files(self._directory / SNAPSHOTS, "snap-")
        remove_temp_files(self._directory / SNAPSHOTS, "state-")

    def segments(self, *, generation: int, rotate_after: int) -> SegmentWriter:
        return SegmentWriter(
            self._directory / SEGMENTS, rotate_after=rotate_after, generation=generation
        )

    def write_snapshot(self, name: str, table: pa.Table) -> Path:
        path = self._directory / SNAPSHOTS / name
        with atomic_write(path) as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return path

    def write_state(self, name: str, file: StateFile) -> Path:
        path = self._directory / SNAPSHOTS / name
        with atomic_write(path) as sink:
            write_state_file(sink, file)
        return path

    def delete(self, ref: FileRef) -> None:
        Path(ref).unlink(missing_ok=True)

    def sync(self) -> None:
        fsync_directory(self._directory / SEGMENTS)
        fsync_directory(self._directory / SNAPSHOTS)


class _ObjectStorage:
    def __init__(self, files: ObjectFiles) -> None:
        self.files = files

    def prepare(self, *, create: bool) -> None:
        # Nothing to make: a prefix exists once an object is under it. Nothing half-written
        # to clean up either: a PUT that failed left nothing.
        if create:
            self.files.probe()
        else:
            self.files.require_log()

    def segments(self, *, generation: int, rotate_after: int) -> ObjectSegmentWriter:
        return ObjectSegmentWriter(self.files, generation=generation)

    def write_snapshot(self, name: str, table: pa.Table) -> str:
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return self.files.put(SNAPSHOTS, name, sink.getvalue().to_pybytes())

    def write_state(self, name: str, file: StateFile) -> str:
        sink = pa.BufferOutputStream()
        write_state_file(sink, file)
        return self.files.put(SNAPSHOTS, name, sink.getvalue().to_pybytes())

    def delete(self, ref: FileRef) -> None:
        self.files.delete(ref)

    def sync(self) -> None:
        pass  # a deletion on an object store is durable when it returns


def _open_storage(location: str | os.PathLike[str]) -> _LogStorage:
    if is_uri(location):
        assert isinstance(location, str)
        parsed = ObjectLocation.parse(location)
        if parsed.scheme != "file":
            return _ObjectStorage(ObjectFiles(parsed))
        location = parsed.path
    return _LocalStorage(Path(location))


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
    end in a torn batch. On an object store every commit is a segment object of its own.
    """

    def __init__(
        self,
        storage: _LogStorage,
        next_seq: int,
        *,
        lease: FencingLease | None,
        generation: int,
        rotate_after: int,
        clock: Callable[[], float],
        scan: LogScan,
        merge_below: int = DEFAULT_MERGE_BELOW,
    ) -> None:
        self._storage = storage
        self._directory = storage.files.location
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
        self._segments = storage.segments(generation=generation, rotate_after=rotate_after)
        self._merge_below = merge_below
        self._saved_state: SavedState | None = None
        self._from_saved_state = False
        # Every event up to this seq is durable (guarded by _write_lock).
        self._committed_through = next_seq - 1
        # The saved states, a whole one first, that the next one is laid on (guarded by
        # _state_lock, which serialises saving states, apart from commits).
        self._state_lock = threading.Lock()
        self._state_chain: list[_Link] = []
        # The snapshot chain as this writer knows it (guarded by _write_lock): the chain ends at
        # _covered, and _unsnapshotted holds every event committed after it, in seq order.
        self._covered = scan.covered
        self._unsnapshotted = scan.records(after=scan.covered)
        self._tail: ChainTail | None = scan.tail
        self._links = len(scan.report.snapshots)  # the snapshots replayed from
        # What was on disk at open: a file of an older writer that is not among them was written
        # since, by a writer that had stalled past its lease (see snapshot()).
        self._seen_files = {file_name(s.path) for s in scan.segments} | {
            file_name(s.path) for s in scan.snapshots
        }
        # Older writers' segments found at open -> the last seq replayed from each (None:
        # nothing, torn at birth or all superseded): the first snapshot covers them all.
        self._found_segments = {
            file_name(s.path): s.kept_last_seq for s in scan.segments if s.generation <= generation
        }
        self._redundant = {
            file_name(s.path)
            for s in scan.redundant_snapshots
            if s.generation <= generation and s.path not in scan.unreadable_snapshots
        }
        self._replace_chain = scan.superseded_snapshot

    @classmethod
    def open(
        cls,
        location: str | os.PathLike[str],
        *,
        create: bool,
        lease: FencingLease | None = None,
        rotate_after: int = DEFAULT_ROTATE_AFTER,
        clock: Callable[[], float] = time.time,
        merge_below: int = DEFAULT_MERGE_BELOW,
        saved_state: bool = False,
    ) -> tuple[EventLog, list[Event], ReplayReport]:
        """Open the log at ``location`` for writing; return it, its events, and a report.

        ``location`` is a directory, or a URI ``pyarrow.fs`` opens (``s3://bucket/prefix``).
        ``create`` makes the directory (and parents) if missing; without it a missing log is a
        StorageError. The events are the replay (the snapshot chain + segments, torn tails and
        superseded events dropped, see the report). ``clock`` gives the ``ts`` of staged
        events; a segment is closed after ``rotate_after`` events; a snapshot of fewer than
        ``merge_below`` events at the chain's end is rewritten into the next one.

        ``lease``: the study's lease, held by the caller. The log then writes as its epoch and
        is fenced by it (module docstring): StudyLockedError once another process owns the
        study. Without one nothing is checked and the log writes as the newest generation
        already on disk: for tests and tools whose caller knows no one else writes.

        ``saved_state``: where a state a writer saved (:meth:`save_state`) describes the log up
        to its seq (``_saved_state_scan`` says when), read it instead of those events: the
        events returned are then only those after it (none, where it is the whole log), and
        :attr:`saved_state` holds it (the report counts the events it stands for as replayed).
        Otherwise, or without it, every event is replayed as above.
        """
        storage = _open_storage(location)
        directory = storage.files.location
        if lease is not None:
            lease.verify()  # taken over already: touch nothing, not even temporary files
        storage.prepare(create=create)
        found = _saved_state_scan(storage.files) if saved_state else None
        scan, saved, chain = (
            found if found is not None else (scan_log(storage.files, must_exist=False), None, [])
        )
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
        next_seq = scan.events[-1].seq + 1 if scan.events else 0
        if saved is not None:
            next_seq = max(next_seq, saved.last_seq + 1)
        log = cls(
            storage,
            next_seq,
            lease=lease,
            generation=generation,
            rotate_after=rotate_after,
            clock=clock,
            scan=scan,
            merge_below=merge_below,
        )
        log._saved_state = saved
        log._from_saved_state = saved is not None
        log._state_chain = chain
        events = scan.events
        if saved is not None:
            # The scan began where the snapshot chain ends, which may be before the state.
            events = events[bisect.bisect_right(events, saved.last_seq, key=_seq) :]
        return log, events, scan.report

    @property
    def saved_state(self) -> SavedState | None:
        """The state :meth:`open` read instead of the events (``saved_state=True``), or None
        (also once :meth:`drop_saved_state` was called)."""
        return self._saved_state

    @property
    def from_saved_state(self) -> bool:
        """Whether :meth:`open` read a saved state instead of the events."""
        return self._from_saved_state

    def drop_saved_state(self) -> None:
        """Let the saved state go once it was read: its columns are as large as the study."""
        self._saved_state = None

    @property
    def directory(self) -> Path | str:
        """The log's directory, or its object-store URI (without the query)."""
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
            # Durable now: the next snapshot holds them.
            self._unsnapshotted += records
            self._committed_through = records[-1].seq
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

    def _refuse_if_overtaken(self, newest: int) -> None:
        """StudyLockedError if files of a newer writer are there: we were taken over."""
        if newest > self._generation:
            self._fenced = StudyLockedError(
                f"the event log at {self._directory} holds files of writer generation {newest}, "
                f"newer than this writer's {self._generation}: another process took the study "
                "over; this process must stop writing the study"
            )
            raise self._fenced

    def snapshot(self) -> FileRef | None:
        """Commit, then write the events committed since the last snapshot into the next
        snapshot of the chain; return its path (None: nothing new to write).

        Segments it covers are deleted once it is durable, and so are snapshots it replaces (a
        small one at the chain's end that it absorbed, redundant ones); files of a newer writer
        never are. Reads nothing back but that small snapshot, so it costs what is new. When
        the files are not what the writer found at open, or a snapshot holds events a newer
        writer superseded, it writes a snapshot of everything instead (read back from storage,
        so it holds exactly what a replay would return), which replaces the whole chain.
        StudyLockedError, before anything is written or deleted, once another process has taken
        the lease over.
        """
        with self._write_lock:
            self._check_fence()
            self._commit_locked()
            # Later events must go to a new segment, so the current one can be covered and deleted.
            self._segments.seal()
            with _storage_errors(
                f"cannot list the event log at {self._directory}", "fix the storage"
            ):
                segments = dict(self._storage.files.entries(SEGMENTS))
                snapshots = dict(self._storage.files.entries(SNAPSHOTS))
            unknown = self._unknown_generations(segments, snapshots)
            if self._replace_chain or unknown:
                return self._snapshot_everything()
            if not self._unsnapshotted:
                return None
            return self._snapshot_delta(segments, snapshots)

    def _unknown_generations(self, segments: Iterable[str], snapshots: Iterable[str]) -> bool:
        """Whether an older writer wrote files since open (StudyLockedError for a newer one)."""
        newest, unknown = 0, False
        for name, parsed in [
            *((n, parse_segment_name(n)) for n in segments),
            *((n, parse_snapshot_name(n)) for n in snapshots),
        ]:
            if parsed is None:
                continue
            newest = max(newest, parsed.generation)
            if parsed.generation < self._generation and name not in self._seen_files:
                unknown = True
        self._refuse_if_overtaken(newest)
        return unknown

    def _snapshot_delta(
        self, segments: dict[str, FileRef], snapshots: dict[str, FileRef]
    ) -> FileRef:
        records, last = self._unsnapshotted, self._unsnapshotted[-1].seq
        name = snapshot_name(last, self._generation)
        batches = [batch_from_records(records)]
        absorbed = self._tail if self._tail and self._tail.events < self._merge_below else None
        if absorbed is not None:
            earlier = _read_whole(self._storage.files, absorbed, self._covered)
            if earlier is None:
                absorbed = None  # unreadable since open: it stays in the chain as it is
            else:
                batches[:0] = earlier
        first = absorbed.first_seq if absorbed is not None else records[0].seq
        links = self._links + (absorbed is None)
        # A link after the first says so, or raysweep before the chain would take it for the
        # whole log.
        schema = stamped_schema(self._generation, CHAINED_SNAPSHOT_VERSION if links > 1 else 1)
        table = pa.Table.from_batches([_conform(batch, schema) for batch in batches], schema=schema)
        path: FileRef = name
        with _storage_errors(f"cannot write snapshot {name} of the event log at {self._directory}"):
            self._check_fence()
            path = self._storage.write_snapshot(name, table)
            # Writing took a while; deleting needs the study still ours.
            self._check_fence()
            for segment, ref in segments.items():
                parsed = parse_segment_name(segment)
                if parsed is None:
                    continue
                # Ours are all covered: the open one was sealed and everything is committed.
                ours = parsed.generation == self._generation and parsed.first_seq <= last
                found = segment in self._found_segments
                kept = self._found_segments.get(segment)
                if ours or (found and (kept is None or kept <= last)):
                    self._storage.delete(ref)
            replaced = set(self._redundant)
            if absorbed is not None:
                replaced.add(file_name(absorbed.path))
            for old in replaced - {name}:
                if old in snapshots:
                    self._storage.delete(snapshots[old])
            self._storage.sync()
        events = len(records) + (absorbed.events if absorbed is not None else 0)
        self._chained(path, first, events, last)
        self._links = links
        return path

    def _chained(self, path: FileRef, first: int, events: int, last: int) -> None:
        """The chain now ends with `path` (holding `events` events from `first` to `last`)."""
        self._covered = last
        self._unsnapshotted = []
        self._tail = ChainTail(path, first, events, self._generation)
        self._redundant = set()
        self._found_segments = {}

    def _snapshot_everything(self) -> FileRef | None:
        """Write every event into one snapshot from a fresh scan; it replaces the chain."""
        scan = scan_log(self._storage.files, must_exist=False)
        self._refuse_if_overtaken(scan.highest_generation)
        records = scan.records()
        if not records:
            return None
        last = records[-1].seq
        name = snapshot_name(last, self._generation)
        schema = stamped_schema(self._generation)
        table = pa.Table.from_batches([batch_from_records(records)], schema=schema)
        path: FileRef = name
        with _storage_errors(f"cannot write snapshot {name} of the event log at {self._directory}"):
            self._check_fence()
            path = self._storage.write_snapshot(name, table)
            # Writing took a while; deleting needs the study still ours.
            self._check_fence()
            for segment in scan.segments:
                # One with nothing kept (torn at birth, or all superseded) goes too. Never a
                # newer writer's: that may be its open segment, with no batch in it yet.
                covered = segment.kept_last_seq is None or segment.kept_last_seq <= last
                if segment.generation <= self._generation and covered:
                    self._storage.delete(segment.path)
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
                    self._storage.delete(old.path)
            self._storage.sync()
        self._replace_chain = False
        # What the scan found is what this writer has now seen; an older writer's file that
        # appears after it is news again.
        self._seen_files = {file_name(s.path) for s in scan.segments} | {
            file_name(s.path) for s in scan.snapshots
        }
        self._chained(path, 0, len(records), last)
        self._links = 1
        return path

    @property
    def state_base(self) -> int | None:
        """The seq of the saved state the next one may be laid on (``StateFields.base_seq``):
        the last this writer saved, or the one it opened from; None: the next must be whole."""
        with self._state_lock:
            return self._state_chain[-1].name.last_seq if self._state_chain else None

    def save_state(self, saved: StateFields, *, whole: bool = False) -> FileRef | None:
        """Save the study's state beside the log, for the next :meth:`open` with
        ``saved_state=True``; return the file (None: not saved).

        ``saved`` must be the state replaying events 0..``saved.last_seq`` gives, whole or laid
        on the state at :attr:`state_base`. It is saved only if every one of those events is
        committed, it is later than that state, and it is laid on it or whole; otherwise
        nothing is written. A chain grown long is laid together into a whole state as this one
        is saved (``whole``: whatever its length, as at close, so that the next open reads one
        file), and a whole one deletes the other saved states of this writer generation or
        older. Holds up no commit while it writes. StudyLockedError, writing nothing, once
        another process has taken the lease over.
        """
        with self._state_lock:
            with self._write_lock:
                committed = self._committed_through
                at_chain_end = not self._unsnapshotted and self._covered == saved.last_seq
                tail = self._tail if at_chain_end else None
            chain = self._state_chain
            head = chain[-1] if chain else None
            if committed < saved.last_seq or (head and head.name.last_seq >= saved.last_seq):
                return None
            laid_on = None if head is None else head.name.last_seq
            if saved.base_seq is not None and saved.base_seq != laid_on:
                return None
            name = StateName(saved.last_seq, self._generation)
            file = state_name(saved.last_seq, self._generation)
            base = None if saved.base_seq is None else head
            written = saved_state_table(
                saved,
                self._generation,
                None if tail is None else (tail.first_seq, tail.events),
                None if base is None else base.name,
            )
            chain = [*chain, _Link(name, file, _size(written))] if base else []
            if chain and (whole or _lay_now(chain)):
                laid = self._lay_chain(chain[:-1], state_link(file, written, name))
                if laid is None:
                    # The chain cannot be read back (a state file changed or is gone): the
                    # next state to save must be whole.
                    self._state_chain = []
                    return None
                written, chain = laid, []
            with _storage_errors(
                f"cannot save the study's state as {file} in the event log at {self._directory}"
            ):
                self._check_fence()
                path = self._storage.write_state(file, written)
                if not chain:
                    # Whole: the states before it are of no more use. Writing took a while;
                    # deleting needs the study still ours.
                    self._check_fence()
                    for other, ref in self._storage.files.entries(SNAPSHOTS):
                        parsed = parse_state_name(other)
                        if (
                            parsed is not None
                            and other != file
                            and parsed.generation <= self._generation
                        ):
                            self._storage.delete(ref)
                self._storage.sync()
            link = _Link(name, path, _size(written))
            self._state_chain = [*chain[:-1], link] if chain else [link]
            return path

    def _lay_chain(self, chain: list[_Link], newest: StateLink) -> StateFile | None:
        """The whole state that `chain`, then `newest`, laid together make; None if the
        chain's files are no longer what this writer wrote or read."""
        with _storage_errors(
            f"cannot read the saved states of the event log at {self._directory}",
            "fix the storage",
        ):
            contents = self._storage.files.read_all([link.ref for link in chain])
        try:
            links = [
                read_state_link(link.ref, data, link.name)
                for link, data in zip(chain, contents, strict=True)
            ]
            return lay([*links, newest]).whole_file(self._generation)
        except ValueError:
            return None

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


def _saved_state_scan(files: LogFiles) -> tuple[LogScan, SavedState, list[_Link]] | None:
    """The newest saved state (laid together with the states it is laid on), with the events
    after it, what a writer needs to know of the files, and the chain of states; None where
    every event must be replayed.

    A state saved by writer generation *g* at seq *L* is the log up to *L*: *g* saved it with
    every event up to *L* committed, after checking that the study was still its own, so a
    writer after it started at *L* + 1 at the earliest. Where nothing came after (no segment,
    no snapshot past *L*, no file of a generation above *g*), it is the whole log and no event
    is read at all. Otherwise the events after *L* are replayed on top of it, by the rules of a
    whole replay (``scan_log``, from *L*, or from the snapshot chain's end where that comes
    before *L*), as long as every newer writer's files begin after it; where they do not, or a
    state of the chain cannot be read, every event is replayed. Files of older generations are
    what *g* itself replayed when it opened, or a stalled writer's that replay drops after
    *g*'s start anyway.
    """
    states = {
        parsed: ref for name, ref in files.entries(SNAPSHOTS) if (parsed := parse_state_name(name))
    }
    if not states:
        return None
    name = max(states)
    snapshots = snapshot_files(files)
    segments = [
        named for segment, _ in files.entries(SEGMENTS) if (named := parse_segment_name(segment))
    ]
    newer_before = any(
        s.generation > name.generation and s.last_seq <= name.last_seq for s in snapshots
    ) or any(
        segment.generation > name.generation and segment.first_seq <= name.last_seq
        for segment in segments
    )
    if newer_before:
        return None
    chain = _state_chain(files, states, name)
    if chain is None:
        return None  # not one this raysweep can use: replaying the events is always right
    saved, links = chain
    reach = max((s.last_seq for s in snapshots), default=-1)
    whole = (
        not segments
        and reach == name.last_seq
        and max(s.generation for s in snapshots) == name.generation
    )
    read = sorted(
        (s for s in snapshots if s.last_seq <= name.last_seq),
        key=lambda s: (s.last_seq, s.generation),
    )
    if not whole:
        # Past the chain's end the events are in segments, read from there on: what comes
        # before the state is not replayed onto it (EventLog.open), but is the writer's to
        # snapshot next.
        scan = scan_log(files, must_exist=False, after=min(name.last_seq, reach))
        found = scan.report
        after_state = len(scan.events) - bisect.bisect_right(scan.events, name.last_seq, key=_seq)
        scan.report = dataclasses.replace(
            found,
            # None where the only link past the state, folded from those before, is unreadable.
            snapshot=found.snapshot if found.snapshot is not None or not read else read[-1].path,
            events=name.last_seq + 1 + after_state,
            snapshots=tuple(s.path for s in read) + found.snapshots,
        )
        return scan, saved.saved_state(), links
    end = read[-1]
    report = ReplayReport(
        directory=files.location,
        snapshot=end.path,
        skipped_snapshots=(),
        segments=(),
        events=name.last_seq + 1,
        torn_tails=(),
        gaps=(),
        snapshots=tuple(s.path for s in read),
    )
    tail = saved.tail
    scan = LogScan(
        [],
        [],
        report,
        snapshots=snapshots,
        covered=name.last_seq,
        tail=None if tail is None else ChainTail(end.path, tail[0], tail[1], end.generation),
    )
    return scan, saved.saved_state(), links


def _state_chain(
    files: LogFiles, states: dict[StateName, FileRef], newest: StateName
) -> tuple[StateLink, list[_Link]] | None:
    """The state `newest` laid together with those it is laid on, and that chain; None if a
    state of it is missing or cannot be read."""
    names = sorted((name for name in states if name <= newest), reverse=True)
    # All at once (on an object store, several at a time): they are normally all the chain.
    contents = dict(zip(names, files.read_all([states[name] for name in names]), strict=True))
    links: list[StateLink] = []
    at: StateName | None = newest
    try:
        while at is not None:
            if at not in contents:
                return None
            link = read_state_link(states[at], contents[at], at)
            links.append(link)
            at = link.base
        links.reverse()
        laid = lay(links)
    except ValueError:
        return None
    return laid, [_Link(link.name, link.ref, len(contents[link.name])) for link in links]


def _seq(event: Event) -> int:
    return event.seq


def _read_whole(files: LogFiles, tail: ChainTail, last: int) -> list[pa.RecordBatch] | None:
    """The record batches of the snapshot `tail`, if it still holds `tail.first_seq`..`last`."""
    try:
        (data,) = files.read_all([tail.path])
        reader = ipc.open_file(pa.py_buffer(data))
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    except (OSError, pa.ArrowException):
        return None
    seqs = [batch.column("seq") for batch in batches if batch.num_rows]
    if not seqs or seqs[0][0].as_py() != tail.first_seq or seqs[-1][-1].as_py() != last:
        return None
    return batches


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with the columns, types and metadata of `schema` (C-level; no copy when equal)."""
    return pa.RecordBatch.from_arrays(
        [batch.column(f.name).cast(f.type) for f in schema], schema=schema
    )
