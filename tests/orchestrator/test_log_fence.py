"""Fencing the event log: a writer that lost the lease writes nothing, and replay follows the
newest writer where two writers' segments overlap."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.ipc as ipc
import pytest
from log_helpers import segments

from raysweep.orchestrator._errors import CorruptLogError, StorageError, StudyLockedError
from raysweep.orchestrator._storage._format import SCHEMA, Record, batch_from_records
from raysweep.orchestrator._storage._lease import LEASE_FILE, Lease
from raysweep.orchestrator._storage._log import EventLog, replay
from raysweep.orchestrator._storage._store import LocalStudyStore

# Short, so that a stall past it takes a fraction of a second.
STALE_AFTER = 0.2


def _kinds_and_seqs(directory: Path) -> list[tuple[int, str]]:
    events, _ = replay(directory)
    return [(e.seq, e.kind) for e in events]


def test_a_writer_stalled_past_the_lease_timeout_is_fenced(tmp_path: Path) -> None:
    lease_a = Lease.acquire(tmp_path, description="writer A", stale_after=STALE_AFTER)
    log_a, _, _ = EventLog.open(tmp_path, create=True, lease=lease_a)
    for i in range(3):
        log_a.stage("a", None, {"i": i})
    log_a.commit()
    (segment_a,) = segments(tmp_path)
    a_bytes = segment_a.read_bytes()

    time.sleep(STALE_AFTER * 2)  # A stalls: no heartbeat for longer than the lease lasts
    lease_b = Lease.acquire(tmp_path, description="writer B", stale_after=STALE_AFTER)
    assert lease_b.previous_owner == lease_a.owner
    assert lease_b.epoch > lease_a.epoch
    log_b, replayed, _ = EventLog.open(tmp_path, create=False, lease=lease_b)
    assert [e.kind for e in replayed] == ["a", "a", "a"]
    for i in range(2):
        log_b.stage("b", None, {"i": i})
    log_b.commit()
    (segment_b,) = [p for p in segments(tmp_path) if p != segment_a]
    b_bytes = segment_b.read_bytes()

    # A wakes up and carries on as if it still owned the study.
    log_a.stage("a-late", None, {})
    with pytest.raises(StudyLockedError, match=r"taken over by .*writer B"):
        log_a.commit()
    with pytest.raises(StudyLockedError, match=r"taken over by .*writer B"):
        log_a.snapshot()
    assert segment_a.read_bytes() == a_bytes  # A wrote nothing more ...
    assert segment_b.read_bytes() == b_bytes  # ... and deleted nothing of B's
    assert list((tmp_path / "snapshots").iterdir()) == []
    expected = [(0, "a"), (1, "a"), (2, "a"), (3, "b"), (4, "b")]
    assert _kinds_and_seqs(tmp_path) == expected

    log_b.close()
    lease_b.release()
    assert _kinds_and_seqs(tmp_path) == expected
    with pytest.raises(StudyLockedError):
        log_a.close()  # the staged event cannot be written anywhere: say so
    lease_a.release()  # B's lease is not A's to remove
    assert _kinds_and_seqs(tmp_path) == expected


def test_the_study_store_hands_its_lease_to_the_log(tmp_path: Path) -> None:
    store_a = LocalStudyStore(tmp_path)
    store_a.acquire_lease(description="writer A", wait=0.0)
    log_a, _, _ = store_a.open_log()
    log_a.append("a", None, {})

    # Pretend A has not renewed its lease for a minute: B declares it stale and takes over.
    lease_file = tmp_path / LEASE_FILE
    data = json.loads(lease_file.read_text())
    data["heartbeat_at"] -= 60
    lease_file.write_text(json.dumps(data))
    store_b = LocalStudyStore(tmp_path)
    store_b.acquire_lease(description="writer B", wait=0.0)
    log_b, _, _ = store_b.open_log()
    log_b.append("b", None, {})

    with pytest.raises(StudyLockedError, match=r"taken over by .*writer B"):
        log_a.append("a-late", None, {})
    with pytest.raises(StudyLockedError):
        log_a.snapshot()
    log_b.append("b", None, {})
    assert log_b.snapshot() is not None
    assert _kinds_and_seqs(tmp_path) == [(0, "a"), (1, "b"), (2, "b")]


def _write_segment(directory: Path, name: str, generation: int, seqs: range, kind: str) -> None:
    """A segment as writer generation ``generation`` writes it, built by hand."""
    metadata = {**(SCHEMA.metadata or {}), b"raysweep.writer_generation": str(generation).encode()}
    schema = SCHEMA.with_metadata(metadata)
    records = [Record(seq, 1000.0 + seq, kind, None, "{}") for seq in seqs]
    (directory / "segments").mkdir(parents=True, exist_ok=True)
    with ipc.new_stream(directory / "segments" / name, schema) as writer:
        writer.write_batch(batch_from_records(records))


def test_replay_follows_the_newest_writer_where_segments_overlap(tmp_path: Path) -> None:
    # Writer 1 wrote 0..2, stalled, and went on writing 3..9 after writer 2, which had replayed
    # 0..2, took over and wrote 3..6.
    _write_segment(tmp_path, f"seg-{0:020d}-g1.arrows", 1, range(0, 6), "old")
    _write_segment(tmp_path, f"seg-{6:020d}-g1.arrows", 1, range(6, 10), "old")
    _write_segment(tmp_path, f"seg-{3:020d}-g2.arrows", 2, range(3, 7), "new")
    events, report = replay(tmp_path)
    assert [(e.seq, e.kind) for e in events] == [
        (0, "old"),
        (1, "old"),
        (2, "old"),
        (3, "new"),
        (4, "new"),
        (5, "new"),
        (6, "new"),
    ]
    assert not report.clean and not report.gaps
    assert [
        (s.generation, s.first_seq, s.last_seq, s.newer_generation) for s in report.superseded
    ] == [(1, 3, 5, 2), (1, 6, 9, 2)]
    described = report.describe()
    assert "writer generation 1" in described and "generation 2" in described


def test_overlap_is_resolved_the_same_whichever_name_sorts_first(tmp_path: Path) -> None:
    # The newer writer's segment sorts before the older one's (it starts at a lower seq).
    _write_segment(tmp_path, f"seg-{2:020d}-g1.arrows", 1, range(2, 5), "old")
    _write_segment(tmp_path, f"seg-{0:020d}.arrows", 0, range(0, 2), "first")
    _write_segment(tmp_path, f"seg-{1:020d}-g3.arrows", 3, range(1, 3), "new")
    assert _kinds_and_seqs(tmp_path) == [(0, "first"), (1, "new"), (2, "new")]


def test_files_carry_the_writer_generation_in_name_and_metadata(tmp_path: Path) -> None:
    store = LocalStudyStore(tmp_path)
    lease = store.acquire_lease(description="me", wait=0.0)
    log, _, _ = store.open_log()
    assert log.generation == lease.epoch == 1
    log.append("a", None, {})
    (segment,) = segments(tmp_path)
    assert segment.name == f"seg-{0:020d}-g1.arrows"
    with ipc.open_stream(segment.read_bytes()) as stream:
        assert stream.schema.metadata[b"raysweep.writer_generation"] == b"1"
    snapshot = log.snapshot()
    assert snapshot is not None and snapshot.name == f"snap-{0:020d}-g1.arrow"
    with ipc.open_file(snapshot.read_bytes()) as file:
        assert file.schema.metadata[b"raysweep.writer_generation"] == b"1"
    log.close()
    lease.release()

    # The next writer is generation 2, even if LEASE.json is lost in between.
    (tmp_path / LEASE_FILE).unlink()
    again = LocalStudyStore(tmp_path)
    assert again.acquire_lease(description="me", wait=0.0).epoch == 2
    log, events, report = again.open_log()
    assert [e.kind for e in events] == ["a"] and report.clean
    log.append("b", None, {})
    log.close()
    assert _kinds_and_seqs(tmp_path) == [(0, "a"), (1, "b")]


def test_a_store_opens_its_log_only_under_its_lease(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="acquire_lease"):
        LocalStudyStore(tmp_path).open_log()


def test_a_lease_below_the_generations_on_disk_is_refused(tmp_path: Path) -> None:
    _write_segment(tmp_path, f"seg-{0:020d}-g5.arrows", 5, range(0, 2), "old")
    with Lease.acquire(tmp_path, description="me") as lease:
        assert lease.epoch == 1  # no floor given
        with pytest.raises(StorageError, match="epoch_floor"):
            EventLog.open(tmp_path, create=False, lease=lease)
    assert [p.name for p in segments(tmp_path)] == [f"seg-{0:020d}-g5.arrows"]


def test_a_log_without_a_lease_writes_as_the_newest_generation(tmp_path: Path) -> None:
    _write_segment(tmp_path, f"seg-{0:020d}-g4.arrows", 4, range(0, 2), "old")
    log, _, _ = EventLog.open(tmp_path, create=False)
    assert log.generation == 4
    log.append("tool", None, {})
    log.close()
    assert [p.name for p in segments(tmp_path)][-1] == f"seg-{2:020d}-g4.arrows"
    assert _kinds_and_seqs(tmp_path) == [(0, "old"), (1, "old"), (2, "tool")]


def test_a_log_overtaken_while_open_refuses_to_snapshot(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)  # no lease: generation 0
    log.append("a", None, {})
    _write_segment(tmp_path, f"seg-{1:020d}-g1.arrows", 1, range(1, 3), "new")
    with pytest.raises(StudyLockedError, match="generation 1"):
        log.snapshot()
    with pytest.raises(StudyLockedError):
        log.append("a-late", None, {})
    assert len(segments(tmp_path)) == 2 and list((tmp_path / "snapshots").iterdir()) == []
    assert _kinds_and_seqs(tmp_path) == [(0, "a"), (1, "new"), (2, "new")]


def test_a_renamed_segment_is_refused(tmp_path: Path) -> None:
    _write_segment(tmp_path, f"seg-{0:020d}-g2.arrows", 3, range(0, 2), "x")
    with pytest.raises(CorruptLogError, match=r"generation 2 .* says 3"):
        replay(tmp_path)


def test_the_new_owners_snapshot_clears_the_stalled_writers_files(tmp_path: Path) -> None:
    _write_segment(tmp_path, f"seg-{0:020d}-g1.arrows", 1, range(0, 8), "old")
    _write_segment(tmp_path, f"seg-{3:020d}-g2.arrows", 2, range(3, 5), "new")
    store = LocalStudyStore(tmp_path)
    lease = store.acquire_lease(description="me", wait=0.0)
    assert lease.epoch == 3
    log, events, report = store.open_log()
    assert [e.kind for e in events] == ["old"] * 3 + ["new"] * 2
    assert [(s.first_seq, s.last_seq, s.count) for s in report.superseded] == [(3, 7, 5)]
    log.append("newest", None, {})
    snapshot = log.snapshot()
    assert segments(tmp_path) == []  # generation 1's 5..7 are superseded, not needed
    log.close()
    lease.release()
    events, report = replay(tmp_path)
    assert report.snapshot == snapshot and report.clean
    assert [e.kind for e in events] == ["old"] * 3 + ["new"] * 2 + ["newest"]


def test_writer_started_records_what_a_stalled_writer_wrote(tmp_path: Path) -> None:
    from test_trial_scheduler_core import _crash, _open

    first = _open(tmp_path)  # generation 1
    _crash(first)
    first._lease.release()
    second = _open(tmp_path, load=True)  # generation 2
    _crash(second)
    second._lease.release()
    (start,) = [int(p.name[4:24]) for p in segments(tmp_path) if "-g2" in p.name]
    # Generation 1 had stalled, and wrote on after generation 2 had taken over.
    name = f"seg-{start:020d}-g1.arrows"
    _write_segment(tmp_path, name, 1, range(start, start + 3), "user_attr")

    third = _open(tmp_path, load=True)
    started = [e for e in replay(tmp_path)[0] if e.kind == "writer_started"]
    assert len(started) == 3
    recorded = started[-1].payload["replay"]
    assert recorded is not None and name in recorded and "generation 1" in recorded
    third.close()
