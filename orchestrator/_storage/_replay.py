"""Reading an event log back: newest readable snapshot + the segments, torn tails dropped.

Nothing here writes; a replay needs no lease and may run while a writer appends (it then sees a
prefix of the log, possibly with a torn tail that is only a write in progress).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._storage._event import Event
from raysweep.orchestrator._storage._format import (
    Record,
    check_schema,
    parse_segment_name,
    parse_snapshot_name,
    record_to_event,
    records_from_batch,
)

__all__ = ["ReplayReport", "SkippedSnapshot", "TornTail", "read_events", "replay"]

# The IPC end-of-stream marker: continuation token, then a zero metadata length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
SEGMENTS = "segments"
SNAPSHOTS = "snapshots"

_Entry = tuple[Record, Event]


@dataclass(frozen=True)
class TornTail:
    """The unreadable end of a segment, dropped on replay: a write cut short by a crash."""

    path: Path
    kept_bytes: int
    dropped_bytes: int
    reason: str


@dataclass(frozen=True)
class SkippedSnapshot:
    """A snapshot that could not be read; replay fell back to an older one and the segments."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ReplayReport:
    """What a replay read and what it had to drop.

    ``gaps`` lists inclusive ranges of sequence numbers that no readable file holds: events that
    were written once and are lost (say, an unreadable snapshot whose segments were deleted).
    A torn tail alone never makes a gap, since the events in it were never acknowledged.
    """

    directory: Path
    snapshot: Path | None
    skipped_snapshots: tuple[SkippedSnapshot, ...]
    segments: tuple[Path, ...]
    events: int
    torn_tails: tuple[TornTail, ...]
    gaps: tuple[tuple[int, int], ...]

    @property
    def clean(self) -> bool:
        return not (self.skipped_snapshots or self.torn_tails or self.gaps)

    def describe(self) -> str:
        """One line per finding, for logs and the CLI."""
        start = f"from snapshot {self.snapshot.name}" if self.snapshot else "without a snapshot"
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
        lines += [f"events {low}..{high} are missing" for low, high in self.gaps]
        return "\n".join(lines)


@dataclass
class SegmentScan:
    path: Path
    first_seq: int
    entries: list[_Entry]
    torn: TornTail | None

    @property
    def last_seq(self) -> int | None:
        return self.entries[-1][0].seq if self.entries else None


@dataclass
class LogScan:
    """A replay plus what a writer needs to know about the files (for snapshots and cleanup)."""

    entries: list[_Entry]
    report: ReplayReport
    segments: list[SegmentScan] = field(default_factory=list)
    snapshots: list[tuple[Path, int]] = field(default_factory=list)
    unreadable_snapshots: set[Path] = field(default_factory=set)

    @property
    def events(self) -> list[Event]:
        return [event for _, event in self.entries]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read {path} ({exc}); check its permissions") from exc


def read_segment(path: Path, first_seq: int) -> SegmentScan:
    """Every complete batch of a stream-format segment, up to the first damaged byte."""
    data = _read_bytes(path)
    reader = pa.BufferReader(pa.py_buffer(data))
    schema: pa.Schema | None = None
    entries: list[_Entry] = []
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
            continue
        try:
            new_entries = _decode_batch(message, schema, first_seq + len(entries))
        except (pa.ArrowException, ValueError) as exc:
            torn_reason = f"damaged batch: {exc}"
            break
        entries.extend(new_entries)
    torn = None
    if torn_reason is not None:
        torn = TornTail(path, position, len(data) - position, torn_reason)
    elif schema is None:
        torn = TornTail(path, 0, len(data), "no schema message (the segment was never written)")
    return SegmentScan(path, first_seq, entries, torn)


def _decode_batch(message: ipc.Message, schema: pa.Schema, expected_seq: int) -> list[_Entry]:
    if message.type != "record batch":
        raise ValueError(f"unexpected {message.type!r} message")
    batch = ipc.read_record_batch(message, schema)
    # A crash can leave a message whose length is right but whose bytes are zeros; full
    # validation, the seq run and the JSON parse below catch that rather than replaying garbage.
    batch.validate(full=True)
    entries: list[_Entry] = []
    for offset, record in enumerate(records_from_batch(batch)):
        if record.seq != expected_seq + offset:
            raise ValueError(f"found seq {record.seq} where {expected_seq + offset} was due")
        entries.append((record, record_to_event(record)))
    return entries


def read_snapshot(path: Path, last_seq: int) -> list[_Entry]:
    """The events of a snapshot; ValueError (with the reason) if it cannot be used."""
    data = _read_bytes(path)
    try:
        reader = ipc.open_file(pa.py_buffer(data))
        check_schema(reader.schema, path)
        entries: list[_Entry] = []
        for index in range(reader.num_record_batches):
            batch = reader.get_batch(index)
            batch.validate(full=True)
            entries.extend((r, record_to_event(r)) for r in records_from_batch(batch))
    except pa.ArrowException as exc:
        raise ValueError(str(exc)) from exc
    seqs = [record.seq for record, _ in entries]
    if any(a >= b for a, b in itertools.pairwise(seqs)):
        raise ValueError("its events are not in strictly increasing seq order")
    if not seqs or seqs[-1] != last_seq:
        raise ValueError(f"its name says it ends at seq {last_seq}, its content does not")
    return entries


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


def scan_log(directory: Path) -> LogScan:
    require_log_directory(directory)
    snapshots: list[tuple[Path, int]] = []
    snapshot_dir = directory / SNAPSHOTS
    if snapshot_dir.is_dir():
        for path in snapshot_dir.iterdir():
            last = parse_snapshot_name(path.name)
            if last is not None:
                snapshots.append((path, last))
    snapshots.sort(key=lambda item: item[1], reverse=True)

    merged: dict[int, _Entry] = {}
    used: Path | None = None
    skipped: list[SkippedSnapshot] = []
    for path, last in snapshots:
        try:
            entries = read_snapshot(path, last)
        except ValueError as exc:
            skipped.append(SkippedSnapshot(path, str(exc)))
            continue
        merged = {entry[0].seq: entry for entry in entries}
        used = path
        break

    named: list[tuple[int, int, Path]] = []
    for path in (directory / SEGMENTS).iterdir():
        parsed = parse_segment_name(path.name)
        if parsed is not None:
            named.append((*parsed, path))
    named.sort()
    segments = [read_segment(path, first) for first, _, path in named]
    for segment in segments:
        for entry in segment.entries:
            # Snapshot first, then segments in name order: a seq seen twice (a segment partly
            # covered by the snapshot, or a batch rewritten after a failed commit) keeps the first.
            merged.setdefault(entry[0].seq, entry)

    ordered = [merged[seq] for seq in sorted(merged)]
    gaps: list[tuple[int, int]] = []
    expected = 0
    for record, _ in ordered:
        if record.seq != expected:
            gaps.append((expected, record.seq - 1))
        expected = record.seq + 1
    # A snapshot is renamed into place only when complete, so an unreadable one that reaches
    # past everything we could read proves that the events after are lost, not never written.
    unreadable = {s.path for s in skipped}
    claimed = max((last for path, last in snapshots if path in unreadable), default=-1)
    if claimed >= expected:
        gaps.append((expected, claimed))

    report = ReplayReport(
        directory=directory,
        snapshot=used,
        skipped_snapshots=tuple(skipped),
        segments=tuple(segment.path for segment in segments),
        events=len(ordered),
        torn_tails=tuple(s.torn for s in segments if s.torn is not None),
        gaps=tuple(gaps),
    )
    return LogScan(ordered, report, segments, snapshots, unreadable)


def replay(directory: str | os.PathLike[str]) -> tuple[list[Event], ReplayReport]:
    """All events of the log in ``directory``, in seq order, and what was dropped on the way.

    Read-only: takes no lease, creates no file. Raises StorageError if ``directory`` holds no
    log or cannot be read, CorruptLogError if a file in it is not ours or too new to read.
    """
    scan = scan_log(Path(directory))
    return scan.events, scan.report


def read_events(directory: str | os.PathLike[str]) -> list[Event]:
    """The events of the log in ``directory``; see :func:`replay`."""
    return replay(directory)[0]
