"""Writer generations in the event log: replay follows the newest writer where two writers'
segments overlap."""

from __future__ import annotations

from pathlib import Path

import pyarrow.ipc as ipc
import pytest
from log_helpers import segments

from raysweep.orchestrator._errors import CorruptLogError, StudyLockedError
from raysweep.orchestrator._storage._format import SCHEMA, Record, batch_from_records
from raysweep.orchestrator._storage._log import EventLog, replay


def _kinds_and_seqs(directory: Path) -> list[tuple[int, str]]:
    events, _ = replay(directory)
    return [(e.seq, e.kind) for e in events]


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
