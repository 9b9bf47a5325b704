"""Reading an event log back: the chain of readable snapshots + the segments, torn tails dropped.

Nothing here writes; a replay needs no lease and may run while a writer appends (it then sees a
prefix of the log, possibly with a torn tail that is only a write in progress).

**The snapshot chain.** A snapshot holds the events a writer had committed since the snapshot
before it (``_log``); one written before snapshots were chained holds everything from seq 0.
Replay reads every readable snapshot, the newest writer's (then the furthest-reaching) first,
and then the segments; a seq held by several files keeps its first copy, which is the same event
wherever it comes from (the rules below drop a stalled writer's copies first). A snapshot none of
whose events is kept (another holds them all) is *redundant*: the next writer's snapshot deletes
it.

**Two writers.** Every file names the generation of the writer that wrote it (its lease's
epoch, ``_format``). A writer of generation *h* that starts at seq *s* has replayed everything
before *s*, so anything an older generation wrote at *s* or later was written after *h* took
the study over, by a writer that had stalled past its lease: those events are dropped (and
reported as superseded), whichever file name sorts first. Where one writer's files overlap
each other (a batch rewritten after a failed commit), the first copy is kept. A snapshot of
generation *h* ending at seq *L* shows that *h* started at *L* + 1 or before, which still holds
once the snapshot has replaced *h*'s segments.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.ipc as ipc

from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._storage._event import Event
from raysweep.orchestrator._storage._format import (
    SEGMENTS,
    SNAPSHOTS,
    FileRef,
    Record,
    check_generation,
    check_schema,
    events_from_batch,
    file_name,
    parse_segment_name,
    parse_snapshot_name,
)
from raysweep.orchestrator._storage._object_store import ObjectFiles, ObjectLocation, is_uri
from raysweep.orchestrator._storage._saved_state import parse_state_name

_SEQ = operator.attrgetter("seq")

__all__ = [
    "LocalFiles",
    "LogFiles",
    "ReplayReport",
    "SkippedSnapshot",
    "SupersededEvents",
    "TornTail",
    "highest_generation",
    "log_files",
    "newest_generation",
    "read_events",
    "replay",
    "snapshot_files",
]

# The IPC end-of-stream marker: continuation token, then a zero metadata length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


class LogFiles(Protocol):
    """Where a log's files are read from: a local directory or an object-store prefix."""

    @property
    def location(self) -> Path | str:
        """The log's place, for reports and messages."""
        ...

    def require_log(self) -> None:
        """StorageError, saying what is wrong, unless a log is here."""
        ...

    def entries(self, folder: str) -> list[tuple[str, FileRef]]:
        """(name, reference) of each file directly in ``folder`` (none if it is missing)."""
        ...

    def read_all(self, refs: Sequence[FileRef]) -> list[bytes]:
        """The bytes of each file, in order; StorageError if one cannot be read."""
        ...


class LocalFiles:
    """A log directory of the local file system, for reading."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def location(self) -> Path:
        return self.directory

    def require_log(self) -> None:
        require_log_directory(self.directory)

    def entries(self, folder: str) -> list[tuple[str, FileRef]]:
        where = self.directory / folder
        if not where.is_dir():
            return []
        return [(path.name, path) for path in where.iterdir()]

    def read_all(self, refs: Sequence[FileRef]) -> list[bytes]:
        return [_read_bytes(Path(ref)) for ref in refs]


def log_files(location: str | os.PathLike[str]) -> LogFiles:
    """The files of the log at ``location``: a local path, or a URI ``pyarrow.fs`` opens."""
    if is_uri(location):
        assert isinstance(location, str)
        parsed = ObjectLocation.parse(location)
        if parsed.scheme == "file":
            return LocalFiles(Path(parsed.path))
        return ObjectFiles(parsed)
    return LocalFiles(Path(location))


@dataclass(frozen=True)
class TornTail:
    """The unreadable end of a segment, dropped on replay: a write cut short by a crash."""

    path: FileRef
    kept_bytes: int
    dropped_bytes: int
    reason: str


@dataclass(frozen=True)
class SkippedSnapshot:
    """A snapshot that could not be read; replay fell back to an older one and the segments."""

    path: FileRef
    reason: str


@dataclass(frozen=True)
class SupersededEvents:
    """Events of one file that a stalled writer wrote after a newer one took the study over.

    Dropped on replay: writer generation ``newer_generation`` started at ``first_seq`` or
    before, without them, and its history is the study's from there on.
    """

    path: FileRef
    generation: int
    first_seq: int
    last_seq: int
    count: int
    newer_generation: int


@dataclass(frozen=True)
class ReplayReport:
    """What a replay read and what it had to drop.

    ``gaps`` lists inclusive ranges of sequence numbers that no readable file holds: events that
    were written once and are lost (say, an unreadable snapshot whose segments were deleted).
    A torn tail alone never makes a gap, since the events in it were never acknowledged.
    ``superseded`` lists what writers that had lost the lease wrote anyway (module docstring).
    """

    directory: Path | str
    # The snapshot reaching furthest among those replayed (None: none was).
    snapshot: FileRef | None
    skipped_snapshots: tuple[SkippedSnapshot, ...]
    segments: tuple[FileRef, ...]
    events: int
    torn_tails: tuple[TornTail, ...]
    gaps: tuple[tuple[int, int], ...]
    superseded: tuple[SupersededEvents, ...] = ()
    # Every snapshot some of whose events were replayed, in seq order (the chain).
    snapshots: tuple[FileRef, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.skipped_snapshots or self.torn_tails or self.gaps or self.superseded)

    def describe(self) -> str:
        """One line per finding, for logs and the CLI."""
        if len(self.snapshots) > 1:
            start = (
                f"from {len(self.snapshots)} snapshots ({file_name(self.snapshots[0])} to "
                f"{file_name(self.snapshots[-1])})"
            )
        elif self.snapshot is not None:
            start = f"from snapshot {file_name(self.snapshot)}"
        else:
            start = "without a snapshot"
        lines = [
            f"replayed {self.events} events of {self.directory} {start} "
            f"and {len(self.segments)} segment(s)"
        ]
        lines += [
            f"skipped unreadable snapshot {s.path}: {s.reason}" for s in self.skipped_snapshots
        ]
        lines += [
            f"dropped a torn tail of {t.path}: {t.dropped_bytes} bytes after byte {t.kept_bytes} "
            f"({t.reason})"
            for t in self.torn_tails
        ]
        lines += [
            f"dropped events {d.first_seq}..{d.last_seq} ({d.count}) of {d.path}: writer "
            f"generation {d.generation} wrote them after generation {d.newer_generation} had "
            "taken the study over"
            for d in self.superseded
        ]
        lines += [f"events {low}..{high} are missing" for low, high in self.gaps]
        return "\n".join(lines)


@dataclass
class _Run:
    """The events one file gave, in increasing seq order, with their payloads as stored."""

    seqs: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.seqs)

    def extend(self, other: _Run) -> None:
        self.seqs += other.seqs
        self.events += other.events
        self.texts += other.texts

    def after(self, seq: int) -> _Run:
        """The events after seq `seq`."""
        start = bisect.bisect_right(self.seqs, seq)
        if start == 0:
            return self
        return _Run(self.seqs[start:], self.events[start:], self.texts[start:])

    def before(self, cut: int) -> _Run:
        """The events before seq `cut`."""
        end = bisect.bisect_left(self.seqs, cut)
        if end == len(self.seqs):
            return self
        return _Run(self.seqs[:end], self.events[:end], self.texts[:end])

    def contiguous(self) -> bool:
        return not self.seqs or self.seqs[-1] - self.seqs[0] + 1 == len(self.seqs)


@dataclass
class SegmentScan:
    path: FileRef
    first_seq: int
    generation: int
    run: _Run
    torn: TornTail | None
    # The last seq replay kept from this segment, after dropping what newer writers
    # superseded (None: nothing); set by scan_log, read by snapshots deciding what to delete.
    kept_last_seq: int | None = None


@dataclass(frozen=True)
class SnapshotFile:
    path: FileRef
    last_seq: int
    generation: int


@dataclass(frozen=True)
class ChainTail:
    """The snapshot that ends the chain at `LogScan.covered`, whole: a writer may fold it into its
    next snapshot (with `events` events from `first_seq`) instead of adding a small file."""

    path: FileRef
    first_seq: int
    events: int
    generation: int


@dataclass
class LogScan:
    """A replay plus what a writer needs to know about the files (for snapshots and cleanup)."""

    events: list[Event]
    # The payload of each event as stored (what a snapshot writes again).
    texts: list[str]
    report: ReplayReport
    segments: list[SegmentScan] = field(default_factory=list)
    snapshots: list[SnapshotFile] = field(default_factory=list)
    unreadable_snapshots: set[FileRef] = field(default_factory=set)
    # The last seq up to which every event replayed came from a snapshot (-1: none): the next
    # snapshot starts after it.
    covered: int = -1
    # Snapshots replayed in full whose events all came from other files: deletable.
    redundant_snapshots: list[SnapshotFile] = field(default_factory=list)
    # A snapshot replayed in part because a newer writer superseded its end: only a snapshot of
    # everything (from seq 0) can replace it and make the next replay clean.
    superseded_snapshot: bool = False
    tail: ChainTail | None = None

    def records(self, after: int = -1) -> list[Record]:
        """The events after seq `after`, as records to write."""
        start = bisect.bisect_right(self.events, after, key=_SEQ)
        return [
            Record(e.seq, e.ts, e.kind, e.trial, text)
            for e, text in zip(self.events[start:], self.texts[start:], strict=True)
        ]

    @property
    def highest_generation(self) -> int:
        """The newest writer generation among the log's files (0 for none)."""
        return max(
            [s.generation for s in self.segments] + [s.generation for s in self.snapshots],
            default=0,
        )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read {path} ({exc}); check its permissions") from exc


def read_segment(path: FileRef, data: bytes, first_seq: int, generation: int) -> SegmentScan:
    """Every complete batch of a stream-format segment, up to the first damaged byte."""
    reader = pa.BufferReader(pa.py_buffer(data))
    schema: pa.Schema | None = None
    run = _Run()
    torn_reason: str | None = None
    position = 0
    while True:
        position = reader.tell()
        try:
            message = ipc.read_message(reader)
        except EOFError:
            # Raised at the end of the bytes and at an end-of-stream marker alike, and also for
            # a run of zeros, which is what some file systems show after a crash mid-append.
            if data[position:] not in (b"", END_OF_STREAM):
                torn_reason = "unreadable bytes after the last complete batch"
            break
        except (pa.ArrowException, OSError, ValueError) as exc:
            torn_reason = f"incomplete message: {exc}"
            break
        if schema is None:
            if message.type != "schema":
                torn_reason = f"the segment starts with a {message.type!r} message, not a schema"
                break
            schema = ipc.read_schema(message)
            check_schema(schema, path)
            check_generation(schema, path, generation)
            continue
        try:
            batch_run = _decode_batch(message, schema, first_seq + len(run))
        except (pa.ArrowException, ValueError) as exc:
            torn_reason = f"damaged batch: {exc}"
            break
        run.extend(batch_run)
    torn = None
    if torn_reason is not None:
        torn = TornTail(path, position, len(data) - position, torn_reason)
    elif schema is None:
        torn = TornTail(path, 0, len(data), "no schema message (the segment was never written)")
    return SegmentScan(path, first_seq, generation, run, torn)


def _decode_batch(message: ipc.Message, schema: pa.Schema, expected_seq: int) -> _Run:
    if message.type != "record batch":
        raise ValueError(f"unexpected {message.type!r} message")
    batch = ipc.read_record_batch(message, schema)
    # A crash can leave a message whose length is right but whose bytes are zeros; full
    # validation, the seq run and the JSON parse below catch that rather than replaying garbage.
    batch.validate(full=True)
    run = _Run(*events_from_batch(batch))
    if run.seqs != list(range(expected_seq, expected_seq + len(run))):
        offset, seq = next((i, s) for i, s in enumerate(run.seqs, start=0) if s != expected_seq + i)
        raise ValueError(f"found seq {seq} where {expected_seq + offset} was due")
    return run


def read_snapshot(path: FileRef, data: bytes, last_seq: int, generation: int) -> _Run:
    """The events of a snapshot; ValueError (with the reason) if it cannot be used."""
    run = _Run()
    try:
        reader = ipc.open_file(pa.py_buffer(data))
        check_schema(reader.schema, path)
        check_generation(reader.schema, path, generation)
        for index in range(reader.num_record_batches):
            batch = reader.get_batch(index)
            batch.validate(full=True)
            run.extend(_Run(*events_from_batch(batch)))
    except pa.ArrowException as exc:
        raise ValueError(str(exc)) from exc
    seqs = run.seqs
    if not all(map(operator.lt, seqs, itertools.islice(seqs, 1, None))):
        raise ValueError("its events are not in strictly increasing seq order")
    if not seqs or seqs[-1] != last_seq:
        raise ValueError(f"its name says it ends at seq {last_seq}, its content does not")
    return run


def require_log_directory(directory: Path) -> None:
    if not directory.is_dir():
        raise StorageError(
            f"no event log at {directory}: the directory does not exist "
            "(a writer creates it when opened with create=True)"
        )
    if not (directory / SEGMENTS).is_dir():
        raise StorageError(
            f"{directory} is not a raysweep event log (it has no {SEGMENTS}/ folder); "
            "check the path, or create a new log there"
        )


def _segment_names(files: LogFiles) -> list[tuple[int, int, int, FileRef]]:
    """(first seq, generation, attempt, reference) of each segment, in name order."""
    named = []
    for name, ref in files.entries(SEGMENTS):
        parsed = parse_segment_name(name)
        if parsed is not None:
            named.append((*parsed, ref))
    named.sort(key=lambda entry: entry[:3])
    return named


def snapshot_files(files: LogFiles) -> list[SnapshotFile]:
    """Every snapshot, the one replay should use first (newest writer, then latest) first."""
    found: list[SnapshotFile] = []
    for name, ref in files.entries(SNAPSHOTS):
        parsed = parse_snapshot_name(name)
        if parsed is not None:
            found.append(SnapshotFile(ref, parsed.last_seq, parsed.generation))
    # A newer writer's snapshot wins over a longer one of a writer it took over from: the
    # older one may hold what that writer wrote after losing the lease.
    found.sort(key=lambda s: (s.generation, s.last_seq), reverse=True)
    return found


def highest_generation(location: str | os.PathLike[str]) -> int:
    """The newest writer generation named by the log's files; 0 if none (or no log yet)."""
    return newest_generation(log_files(location))


def newest_generation(files: LogFiles) -> int:
    """:func:`highest_generation` of the log ``files`` holds."""
    generations = [s.generation for s in snapshot_files(files)]
    generations += [generation for _, generation, _, _ in _segment_names(files)]
    # A saved state names its writer too (it is written after that writer's snapshots).
    generations += [
        parsed.generation
        for name, _ in files.entries(SNAPSHOTS)
        if (parsed := parse_state_name(name)) is not None
    ]
    return max(generations, default=0)


def _supersession_points(
    segments: list[SegmentScan], snapshots: list[SnapshotFile]
) -> dict[int, tuple[int, int]]:
    """For each generation, (seq, newer generation): from that seq on, a newer writer's
    history replaces its own. Generations that nothing newer followed are absent."""
    starts: dict[int, int] = {}
    for segment in segments:
        starts[segment.generation] = min(
            starts.get(segment.generation, segment.first_seq), segment.first_seq
        )
    for snapshot in snapshots:  # readable or not: its name alone bounds its writer's start
        bound = snapshot.last_seq + 1
        starts[snapshot.generation] = min(starts.get(snapshot.generation, bound), bound)
    points: dict[int, tuple[int, int]] = {}
    earliest: tuple[int, int] | None = None  # (start, generation) of the newer writers so far
    for generation in sorted(starts, reverse=True):
        if earliest is not None:
            points[generation] = earliest
        if earliest is None or starts[generation] < earliest[0]:
            earliest = (starts[generation], generation)
    return points


def _keep_before(
    run: _Run,
    path: FileRef,
    generation: int,
    points: dict[int, tuple[int, int]],
    superseded: list[SupersededEvents],
) -> _Run:
    """``run`` without what a newer writer's history replaces; the rest is reported."""
    point = points.get(generation)
    if point is None:
        return run
    cut, newer = point
    kept = run.before(cut)
    dropped = run.seqs[len(kept) :]
    if dropped:
        superseded.append(
            SupersededEvents(path, generation, dropped[0], dropped[-1], len(dropped), newer)
        )
    return kept


def scan_log(files: LogFiles, *, must_exist: bool = True, after: int = -1) -> LogScan:
    """Replay ``files``. ``must_exist=False``: for a writer that has made (or checked) the
    log's place itself; an object-store prefix exists only once something is stored in it.

    ``after``: only the events after that seq, for a writer whose saved state stands for
    those before and whose snapshot chain reaches it (``_log``): snapshots that end by it are
    not read, and the chain counts as covering it. Everything after is replayed by the same
    rules, from the names of all the files, as a whole replay would.
    """
    if must_exist:
        files.require_log()
    everything = snapshot_files(files)
    snapshots = [s for s in everything if s.last_seq > after]
    named = _segment_names(files)
    contents = files.read_all([ref for *_, ref in named])
    segments = [
        read_segment(ref, data, first, generation)
        for (first, generation, _, ref), data in zip(named, contents, strict=True)
    ]
    points = _supersession_points(segments, everything)
    superseded: list[SupersededEvents] = []

    skipped: list[SkippedSnapshot] = []
    # What each readable file keeps, snapshots first (the newest writer's, then the
    # furthest-reaching), then segments in name order: where files overlap, the first wins.
    kept: list[tuple[_Run, SnapshotFile | None]] = []
    holds: dict[FileRef, int] = {}  # events in each snapshot read, before any cut
    cut_snapshots: set[FileRef] = set()
    # The whole chain is read, so read it in one go (on an object store, several at a time).
    snapshot_data = files.read_all([snapshot.path for snapshot in snapshots])
    for snapshot, data in zip(snapshots, snapshot_data, strict=True):
        try:
            run = read_snapshot(snapshot.path, data, snapshot.last_seq, snapshot.generation)
        except ValueError as exc:
            skipped.append(SkippedSnapshot(snapshot.path, str(exc)))
            continue
        holds[snapshot.path] = len(run)
        before = len(superseded)
        run = _keep_before(run, snapshot.path, snapshot.generation, points, superseded)
        kept.append((run.after(after), snapshot))
        if len(superseded) > before:
            cut_snapshots.add(snapshot.path)
    for segment in segments:
        run = _keep_before(segment.run, segment.path, segment.generation, points, superseded)
        segment.kept_last_seq = run.seqs[-1] if run.seqs else None
        kept.append((run.after(after), None))

    merged, won = _merge([(run, origin) for run, origin in kept if len(run)])
    gaps: list[tuple[int, int]] = []
    expected = after + 1
    covered, from_snapshots = after, True
    for run, origin in merged:
        if run.seqs[0] != expected:
            gaps.append((expected, run.seqs[0] - 1))
        if not run.contiguous():
            gaps += [(a + 1, b - 1) for a, b in itertools.pairwise(run.seqs) if b != a + 1]
        expected = run.seqs[-1] + 1
        # Up to the first event replayed from a segment, the snapshots hold everything (lost
        # events, a gap, included: no later snapshot will bring them back).
        from_snapshots = from_snapshots and origin is not None
        if from_snapshots:
            covered = run.seqs[-1]
    # A snapshot is renamed into place only when complete, so an unreadable one that reaches
    # past everything we could read proves that the events after are lost, not never written.
    unreadable = {s.path for s in skipped}
    claimed = max((s.last_seq for s in snapshots if s.path in unreadable), default=-1)
    if claimed >= expected:
        gaps.append((expected, claimed))

    read = [origin for _, origin in kept if origin is not None]
    used = sorted((s for s in read if won.get(s.path)), key=lambda s: s.last_seq)
    tail = None
    if used and used[-1].last_seq == covered and won[used[-1].path] == holds[used[-1].path]:
        end = used[-1]
        first = covered - holds[end.path] + 1 if _whole(merged, end) else None
        if first is not None:
            tail = ChainTail(end.path, first, holds[end.path], end.generation)
    events: list[Event] = []
    texts: list[str] = []
    for run, _ in merged:
        events += run.events
        texts += run.texts
    report = ReplayReport(
        directory=files.location,
        snapshot=used[-1].path if used else None,
        skipped_snapshots=tuple(skipped),
        segments=tuple(segment.path for segment in segments),
        events=len(events),
        torn_tails=tuple(s.torn for s in segments if s.torn is not None),
        gaps=tuple(gaps),
        superseded=tuple(superseded),
        snapshots=tuple(s.path for s in used),
    )
    return LogScan(
        events,
        texts,
        report,
        segments,
        everything,
        unreadable,
        covered=covered,
        redundant_snapshots=[s for s in read if not won.get(s.path)],
        superseded_snapshot=any(won.get(path) for path in cut_snapshots),
        tail=tail,
    )


def _whole(merged: list[tuple[_Run, SnapshotFile | None]], snapshot: SnapshotFile) -> bool:
    """Whether `snapshot` gave one contiguous run of events."""
    runs = [run for run, origin in merged if origin is snapshot]
    return len(runs) == 1 and runs[0].contiguous()


def _merge(
    runs: list[tuple[_Run, SnapshotFile | None]],
) -> tuple[list[tuple[_Run, SnapshotFile | None]], dict[FileRef, int]]:
    """The runs' events in seq order, a seq held by several runs taken from the first of them;
    as runs by origin, and how many events each snapshot gave.

    Files normally hold disjoint ranges (the chain, then the segments after it): those are
    put end to end. Where they overlap (a crash between a snapshot and the deletion of what it
    covers, say), every seq is looked at.
    """
    ordered = sorted(runs, key=lambda item: item[0].seqs[0])
    if all(a.seqs[-1] < b.seqs[0] for (a, _), (b, _) in itertools.pairwise(ordered)):
        won = {origin.path: len(run) for run, origin in ordered if origin is not None}
        return ordered, won
    chosen: dict[int, tuple[Event, str, SnapshotFile | None]] = {}
    for run, origin in runs:
        for seq, event, text in zip(run.seqs, run.events, run.texts, strict=True):
            if seq not in chosen:
                chosen[seq] = (event, text, origin)
    out: list[tuple[_Run, SnapshotFile | None]] = []
    counts: dict[FileRef, int] = {}
    for seq in sorted(chosen):
        event, text, origin = chosen[seq]
        if origin is not None:
            counts[origin.path] = counts.get(origin.path, 0) + 1
        if not out or out[-1][1] is not origin:
            out.append((_Run(), origin))
        run = out[-1][0]
        run.seqs.append(seq)
        run.events.append(event)
        run.texts.append(text)
    return out, counts


def replay(location: str | os.PathLike[str]) -> tuple[list[Event], ReplayReport]:
    """All events of the log at ``location``, in seq order, and what was dropped on the way.

    ``location`` is a directory, or a URI that ``pyarrow.fs`` opens (``s3://bucket/prefix/
    <study>``, ``gs://...``). Read-only: takes no lease, creates no file. Raises StorageError
    if nothing there is a log or it cannot be read, CorruptLogError if a file in it is not
    ours or too new to read.
    """
    # No cyclic garbage collection meanwhile: the events are many objects that live on, with
    # no cycles among them, and collections walking them all would take half the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        scan = scan_log(log_files(location))
    finally:
        if enabled:
            gc.enable()
    return scan.events, scan.report


def read_events(location: str | os.PathLike[str]) -> list[Event]:
    """The events of the log at ``location``; see :func:`replay`."""
    return replay(location)[0]
