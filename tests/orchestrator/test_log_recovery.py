"""The event log's recovery: snapshots, torn tails, gaps, and old or foreign formats."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from log_helpers import SAMPLE_V1, fixed_clock, segments, snapshots, write_events

from raysweep.orchestrator._errors import CorruptLogError
from raysweep.orchestrator._storage._log import (
    SCHEMA,
    SCHEMA_VERSION,
    EventLog,
    read_events,
    replay,
)

# --- snapshots -------------------------------------------------------------------------------


def test_snapshot_replaces_covered_segments_and_later_events_replay(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True, rotate_after=2)
    with log:
        first = [log.append("a", None, {"i": i}) for i in range(5)]
        path = log.snapshot()
        assert path == tmp_path / "snapshots" / f"snap-{4:020d}.arrow"
        assert segments(tmp_path) == []
        later = [log.append("b", None, {"i": i}) for i in range(3)]
    log, events, report = EventLog.open(tmp_path, create=False)
    with log:
        assert events == first + later
        assert report.snapshot == path and report.clean
        log.append("c", None, {})
        second = log.snapshot()
    assert snapshots(tmp_path) == [second]
    assert [e.seq for e in read_events(tmp_path)] == list(range(9))


def test_snapshot_of_an_empty_log_is_none(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        assert log.snapshot() is None


def test_segments_overlapping_the_snapshot_are_deduplicated(tmp_path: Path) -> None:
    # Log A: snapshot of 0..5, then 6..9. Log B holds the same events, but 3..8 in one segment;
    # copied into A it overlaps both the snapshot and A's own segment.
    def build(directory: Path, cuts: list[int], snapshot_at: int | None) -> None:
        clock = fixed_clock()
        for begin, end in itertools.pairwise([0, *cuts]):
            log, _, _ = EventLog.open(directory, create=True, clock=clock)
            with log:
                for seq in range(begin, end):
                    log.append("e", seq, {"seq": seq})
                    if seq == snapshot_at:
                        log.snapshot()

    build(tmp_path / "a", [10], snapshot_at=5)
    build(tmp_path / "b", [3, 9, 10], snapshot_at=None)
    overlapping = tmp_path / "b" / "segments" / f"seg-{3:020d}.arrows"
    shutil.copy(overlapping, tmp_path / "a" / "segments")
    events, report = replay(tmp_path / "a")
    assert [e.seq for e in events] == list(range(10))
    assert events == read_events(tmp_path / "b")
    assert report.clean


def test_unreadable_newest_snapshot_falls_back_to_older_one_and_segments(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        for i in range(5):
            log.append("a", None, {"i": i})
        good = log.snapshot()
        for i in range(3):
            log.append("b", None, {"i": i})
    bad = tmp_path / "snapshots" / f"snap-{6:020d}.arrow"
    bad.write_bytes(b"ARROW1 cut short")
    leftover = tmp_path / "snapshots" / f".snap-{7:020d}.arrow.tmp-123"
    leftover.write_bytes(b"half a snapshot")
    events, report = replay(tmp_path)
    assert [e.seq for e in events] == list(range(8))
    assert report.snapshot == good
    assert [s.path for s in report.skipped_snapshots] == [bad]
    assert not report.gaps

    log, _, _ = EventLog.open(tmp_path, create=False)  # a writer clears temporary leftovers
    with log:
        newest = log.snapshot()
    assert not leftover.exists()
    assert set(snapshots(tmp_path)) == {bad, newest}  # the bad one is kept for inspection
    assert [e.seq for e in read_events(tmp_path)] == list(range(8))


def test_an_unreadable_snapshot_beyond_the_readable_events_is_a_gap(tmp_path: Path) -> None:
    write_events(tmp_path, 3)
    (tmp_path / "snapshots" / f"snap-{9:020d}.arrow").write_bytes(b"")
    events, report = replay(tmp_path)
    assert len(events) == 3 and report.gaps == ((3, 9),)


def test_lost_events_are_reported_as_a_gap(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        for i in range(5):
            log.append("a", None, {"i": i})
        snap = log.snapshot()
        log.append("b", None, {})
    assert snap is not None
    snap.unlink()
    events, report = replay(tmp_path)
    assert [e.seq for e in events] == [5]
    assert report.gaps == ((0, 4),) and not report.clean
    assert "events 0..4 are missing" in report.describe()


# --- torn tails ------------------------------------------------------------------------------


def test_truncation_at_every_offset_keeps_exactly_the_complete_batches(tmp_path: Path) -> None:
    source = tmp_path / "source"
    log, _, _ = EventLog.open(source, create=True)
    boundaries: list[int] = []  # file size after each commit
    counts: list[int] = []
    with log:
        for size in (1, 3, 2):
            for i in range(size):
                log.stage("report", i, {"value": i / 3, "text": "ü" * i})
            log.commit()
            boundaries.append(segments(source)[0].stat().st_size)
            counts.append(len(read_events(source)))
    full = segments(source)[0].read_bytes()  # with the end-of-stream marker
    schema_size = len(SCHEMA.serialize())

    target = tmp_path / "target"
    (target / "segments").mkdir(parents=True)
    torn_file = target / "segments" / segments(source)[0].name
    for cut in range(len(full) + 1):
        torn_file.write_bytes(full[:cut])
        events, report = replay(target)
        complete = [b for b in boundaries if b <= cut]
        assert len(events) == (counts[len(complete) - 1] if complete else 0), cut
        clean_ends = {schema_size, *boundaries, len(full)}
        if cut in clean_ends:
            assert report.torn_tails == (), cut
        else:
            (tear,) = report.torn_tails
            kept = max([b for b in (schema_size, *boundaries) if b <= cut], default=0)
            assert (tear.path, tear.kept_bytes, tear.dropped_bytes) == (torn_file, kept, cut - kept)


def test_zeros_after_or_instead_of_the_last_batch_are_dropped(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        log.append("a", None, {"x": 1})
        boundary = segments(tmp_path)[0].stat().st_size
        log.append("b", None, {"x": 2})
    path = segments(tmp_path)[0]
    data = path.read_bytes()
    path.write_bytes(data + bytes(64))
    events, report = replay(tmp_path)
    assert [e.kind for e in events] == ["a", "b"] and len(report.torn_tails) == 1
    # A file system may show the appended length with zeros where the data never arrived.
    path.write_bytes(data[:boundary] + bytes(len(data) - boundary))
    events, report = replay(tmp_path)
    assert [e.kind for e in events] == ["a"]
    assert report.torn_tails[0].kept_bytes == boundary


def test_writer_after_a_crash_keeps_the_torn_file_and_continues_the_seq(tmp_path: Path) -> None:
    write_events(tmp_path, 3)
    torn = segments(tmp_path)[0]
    torn.write_bytes(torn.read_bytes()[:-20])  # cut into the last batch
    # A crash before the first batch of a writer leaves an empty file at the next name.
    empty = tmp_path / "segments" / f"seg-{2:020d}.arrows"
    empty.write_bytes(b"")
    log, events, report = EventLog.open(tmp_path, create=False)
    assert [e.seq for e in events] == [0, 1]
    assert {t.path for t in report.torn_tails} == {torn, empty}
    with log:
        log.append("after", None, {})
    assert [e.seq for e in read_events(tmp_path)] == [0, 1, 2]
    assert (tmp_path / "segments" / f"seg-{2:020d}-1.arrows").exists()
    assert empty.read_bytes() == b""


# --- format ----------------------------------------------------------------------------------


def test_schema_version_is_in_the_metadata_of_segments_and_snapshots(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True, merge_below=0)
    with log:
        log.append("a", None, {})
        log.snapshot()
        log.append("b", 1, {})
        log.snapshot()
        log.append("c", 1, {})
    key = b"raysweep.schema_version"
    assert SCHEMA_VERSION == 2
    # Version 1's layout where it describes the file; 2 on a snapshot after the chain's first,
    # which a reader of version 1 would take for the whole log.
    with ipc.open_stream(segments(tmp_path)[0].read_bytes()) as stream:
        assert stream.schema.metadata[key] == b"1"
        assert stream.schema.names == ["seq", "ts", "kind", "trial", "payload"]
    first, second = snapshots(tmp_path)
    with ipc.open_file(first.read_bytes()) as file:
        assert file.schema.metadata[key] == b"1"
    with ipc.open_file(second.read_bytes()) as file:
        assert file.schema.metadata[key] == b"2"


def write_foreign_segment(directory: Path, schema: pa.Schema) -> None:
    (directory / "segments").mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {"seq": [0], "ts": [1.0], "kind": ["a"], "trial": [None], "payload": ["{}"]},
        schema=schema,
    )
    with ipc.new_stream(directory / "segments" / f"seg-{0:020d}.arrows", schema) as writer:
        writer.write_table(table)


def test_a_segment_from_a_newer_raysweep_is_refused_with_upgrade_advice(tmp_path: Path) -> None:
    write_foreign_segment(tmp_path, SCHEMA.with_metadata({b"raysweep.schema_version": b"3"}))
    with pytest.raises(CorruptLogError, match=r"newer raysweep.*upgrade"):
        read_events(tmp_path)
    with pytest.raises(CorruptLogError):
        EventLog.open(tmp_path, create=False)


def test_a_segment_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    write_foreign_segment(tmp_path, SCHEMA.remove_metadata())
    with pytest.raises(CorruptLogError, match="not a raysweep event log file"):
        read_events(tmp_path)


def test_checked_in_v1_sample_log_still_replays(tmp_path: Path) -> None:
    events, report = replay(SAMPLE_V1)
    assert report.clean and report.snapshot is not None and len(report.segments) == 1
    assert [(e.seq, e.kind, e.trial) for e in events] == [
        (0, "study_created", None),
        (1, "trial_created", 0),
        (2, "params", 0),
        (3, "report", 0),
        (4, "trial_finished", 0),
        (5, "trial_created", 1),
        (6, "params", 1),
        (7, "report", 1),
        (8, "trial_finished", 1),
    ]
    assert [e.ts for e in events] == [1_767_225_600.0 + i for i in range(9)]
    assert events[0].payload == {"name": "sample", "directions": ["minimize"], "seed": 7}
    assert events[2].payload["note"] == "β₁ = 0.9"
    assert events[8].payload == {"state": "PRUNED", "values": None, "reason": {"rung": 0}}

    # ...and a new writer continues it (on a copy: the sample itself stays untouched).
    copy = tmp_path / "study"
    shutil.copytree(SAMPLE_V1, copy)
    log, reopened, _ = EventLog.open(copy, create=False)
    with log:
        assert reopened == events
        assert log.append("report", 2, {"step": 1, "value": 1.0}).seq == 9
