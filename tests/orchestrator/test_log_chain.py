"""The snapshot chain: each snapshot holds what was committed since the one before, and the
chain replays to exactly what the log without snapshots would."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.ipc as ipc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from log_helpers import fixed_clock, segments, snapshots
from test_log_fence import _write_segment

from raysweep.orchestrator._errors import CorruptLogError
from raysweep.orchestrator._storage import _format, _log
from raysweep.orchestrator._storage._format import SCHEMA, Record, batch_from_records
from raysweep.orchestrator._storage._log import EventLog, replay
from raysweep.orchestrator._storage._store import LocalStudyStore


def _seqs(snapshot: Path) -> list[int]:
    with ipc.open_file(snapshot.read_bytes()) as reader:
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    return [s for batch in batches for s in batch.column("seq").to_pylist()]


def _write_snapshot(directory: Path, name: str, generation: int, seqs: range, kind: str) -> None:
    """A snapshot as writer generation ``generation`` writes it, built by hand."""
    metadata = {**(SCHEMA.metadata or {}), b"raysweep.writer_generation": str(generation).encode()}
    schema = SCHEMA.with_metadata(metadata)
    records = [Record(seq, 1000.0 + seq, kind, None, "{}") for seq in seqs]
    (directory / "snapshots").mkdir(parents=True, exist_ok=True)
    with ipc.new_file(directory / "snapshots" / name, schema) as writer:
        writer.write_batch(batch_from_records(records))


def test_each_snapshot_holds_only_what_was_committed_since_the_one_before(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True, rotate_after=2, merge_below=0)
    written = []
    with log:
        for size in (3, 4, 2):
            written += [log.append("e", None, {"i": i}) for i in range(size)]
            log.snapshot()
        written.append(log.append("after", None, {}))
    chain = snapshots(tmp_path)
    assert [_seqs(s) for s in chain] == [[0, 1, 2], [3, 4, 5, 6], [7, 8]]
    assert [p.name for p in segments(tmp_path)] == [f"seg-{9:020d}.arrows"]
    events, report = replay(tmp_path)
    assert events == written
    assert report.clean and report.snapshots == tuple(chain) and report.snapshot == chain[-1]
    assert "from 3 snapshots" in report.describe()


def test_a_snapshot_reads_nothing_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True, merge_below=0)
    with log:
        for i in range(5):
            log.append("e", None, {"i": i})
        log.snapshot()

    def no_scan(directory: Path) -> Any:
        raise AssertionError("the snapshot read the log back")

    log, _, _ = EventLog.open(tmp_path, create=False, merge_below=0)
    monkeypatch.setattr(_log, "scan_log", no_scan)
    with log:
        log.append("e", None, {"i": 5})
        assert log.snapshot() is not None
        assert log.snapshot() is None  # nothing new
    monkeypatch.undo()
    assert [_seqs(s) for s in snapshots(tmp_path)] == [[0, 1, 2, 3, 4], [5]]


def test_a_small_snapshot_at_the_end_of_the_chain_is_folded_into_the_next(tmp_path: Path) -> None:
    # A study opened and closed often snapshots a few events each time: those files merge until
    # one holds `merge_below` events, and the chain goes on from there.
    written = []
    for _ in range(4):
        log, _, _ = EventLog.open(tmp_path, create=True, merge_below=5)
        with log:
            written += [log.append("e", None, {}) for _ in range(2)]
            log.snapshot()
    assert [_seqs(s) for s in snapshots(tmp_path)] == [list(range(6)), [6, 7]]
    assert segments(tmp_path) == []
    assert replay(tmp_path)[0] == written


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.tuples(st.just("snapshot"), st.just(0)),
        st.tuples(st.just("reopen"), st.just(0)),
        st.tuples(st.just("crash"), st.just(0)),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS, merge_below=st.integers(0, 6), rotate_after=st.integers(1, 3))
def test_the_chain_replays_to_what_the_log_without_snapshots_does(
    ops: list[tuple[str, int]], merge_below: int, rotate_after: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        chained, plain = Path(scratch) / "chained", Path(scratch) / "plain"
        options = {"rotate_after": rotate_after, "merge_below": merge_below}
        clocks = {chained: fixed_clock(), plain: fixed_clock()}
        logs = {d: EventLog.open(d, create=True, clock=clocks[d], **options)[0] for d in clocks}
        count = 0
        for op, size in ops:
            if op == "append":
                for log in logs.values():
                    for i in range(size):
                        log.stage("e", count + i, {"i": count + i, "text": "ü" * i})
                    log.commit()
                count += size
            elif op == "snapshot":
                logs[chained].snapshot()
            else:
                for d, log in logs.items():
                    if op == "reopen":
                        log.close()  # a writer that closes: its segment is sealed
                    else:
                        log._segments.abandon()  # killed: no end-of-stream marker
                    logs[d] = EventLog.open(d, create=False, clock=clocks[d], **options)[0]
        for log in logs.values():
            log.close()
        events, report = replay(chained)
        assert events == replay(plain)[0]
        assert [e.seq for e in events] == list(range(count))
        assert report.clean


def _lease_log(directory: Path) -> tuple[EventLog, Any]:
    store = LocalStudyStore(directory)
    lease = store.acquire_lease(description="me", wait=0.0)
    log, _, _ = store.open_log()
    return log, lease


def test_a_stalled_writers_file_written_since_open_makes_a_snapshot_of_everything(
    tmp_path: Path,
) -> None:
    _write_segment(tmp_path, f"seg-{0:020d}-g1.arrows", 1, range(0, 3), "old")
    log, lease = _lease_log(tmp_path)  # generation 2, starting at seq 3
    log.append("new", None, {})
    log.snapshot()
    log.append("new", None, {})
    # Generation 1 had stalled; it wrote on after generation 2 had taken over.
    _write_segment(tmp_path, f"seg-{3:020d}-g1.arrows", 1, range(3, 6), "late")
    everything = log.snapshot()
    log.close()
    lease.release()
    assert everything is not None and snapshots(tmp_path) == [everything]
    assert _seqs(everything) == [0, 1, 2, 3, 4]
    assert segments(tmp_path) == []
    events, report = replay(tmp_path)
    assert [e.kind for e in events] == ["old"] * 3 + ["new"] * 2 and report.clean


def test_a_snapshot_holding_a_stalled_writers_events_is_replaced_by_one_of_everything(
    tmp_path: Path,
) -> None:
    # Generation 1 snapshotted 0..7 though generation 2 had taken over at 3 (and wrote 3..4).
    _write_snapshot(tmp_path, f"snap-{7:020d}-g1.arrow", 1, range(0, 8), "old")
    _write_segment(tmp_path, f"seg-{3:020d}-g2.arrows", 2, range(3, 5), "new")
    log, lease = _lease_log(tmp_path)  # generation 3
    assert not replay(tmp_path)[1].clean
    log.append("newest", None, {})
    log.snapshot()
    log.close()
    lease.release()
    events, report = replay(tmp_path)
    assert [e.kind for e in events] == ["old"] * 3 + ["new"] * 2 + ["newest"]
    assert report.clean and len(snapshots(tmp_path)) == 1 and segments(tmp_path) == []


def test_a_redundant_snapshot_is_deleted_by_the_next(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        for i in range(5):
            log.append("e", None, {"i": i})
        early = log.snapshot()
        assert early is not None
        shutil.copy(early, tmp_path / "early")
        log.append("e", None, {"i": 5})
        log.snapshot()  # folds the small one in: holds 0..5
    shutil.copy(tmp_path / "early", early)  # left behind, say, by a crash before its deletion
    log, _, report = EventLog.open(tmp_path, create=False, merge_below=0)
    assert report.clean and early not in report.snapshots
    with log:
        log.append("e", None, {"i": 6})
        log.snapshot()
    assert not early.exists()
    assert [_seqs(s) for s in snapshots(tmp_path)] == [list(range(6)), [6]]


def test_raysweep_before_the_chain_refuses_a_chained_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It would take the newest snapshot for the whole log, find the study's creation missing and
    # start the study over; version 2 on the chain's later links makes it say "upgrade".
    log, _, _ = EventLog.open(tmp_path, create=True, merge_below=0)
    with log:
        log.append("a", None, {})
        log.snapshot()
    monkeypatch.setattr(_format, "SCHEMA_VERSION", 1)
    assert [e.kind for e in replay(tmp_path)[0]] == ["a"]  # one link: version 1 reads it
    log, _, _ = EventLog.open(tmp_path, create=False, merge_below=0)
    with log:
        log.append("b", None, {})
        log.snapshot()
    with pytest.raises(CorruptLogError, match="upgrade raysweep"):
        replay(tmp_path)
    monkeypatch.undo()
    assert [e.kind for e in replay(tmp_path)[0]] == ["a", "b"]
