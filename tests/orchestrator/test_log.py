"""The event log: opening, staging and group commit, concurrency, rotation."""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.ipc as ipc
import pytest
from log_helpers import fixed_clock, segments, write_events

from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._storage._log import Event, EventLog, read_events, replay

# --- opening ---------------------------------------------------------------------------------


def test_open_missing_directory_without_create_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="create=True"):
        EventLog.open(tmp_path / "nope", create=False)
    with pytest.raises(StorageError, match="does not exist"):
        read_events(tmp_path / "nope")


def test_open_directory_that_is_not_a_log_without_create(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a raysweep event log"):
        EventLog.open(tmp_path, create=False)


def test_open_unwritable_location_raises_storage_error_naming_it(tmp_path: Path) -> None:
    # A path below a regular file cannot be created even by root, unlike a chmod-ed directory.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="a-file") as info:
        EventLog.open(blocker / "study", create=True)
    assert isinstance(info.value, OSError)


def test_new_log_is_empty_and_writes_no_segment_until_a_commit(tmp_path: Path) -> None:
    log, events, report = EventLog.open(tmp_path / "s", create=True)
    assert events == [] and report.clean and report.events == 0
    assert log.commit() == 0
    log.close()
    assert segments(tmp_path / "s") == []


# --- staging and committing ------------------------------------------------------------------


def test_events_round_trip_exactly_across_reopen(tmp_path: Path) -> None:
    payloads: list[dict[str, Any]] = [
        {},
        {"text": "naïve – 日本語 – 🎲", "none": None, "flag": True},
        {"nested": {"a": {"b": [1, 2.5, None, "x", {"c": False}]}}, "big": 2**70},
        {"float": 0.1, "neg": -1e-300, "tuple": (1, 2)},
    ]
    log, _, _ = EventLog.open(tmp_path, create=True, clock=fixed_clock())
    with log:
        written = [
            log.append("k", t, p) for t, p in zip([None, 0, 7, 2**62], payloads, strict=True)
        ]
    assert written[3].payload["tuple"] == [1, 2]  # stage returns the payload as replay will
    assert read_events(tmp_path) == written
    log, replayed, report = EventLog.open(tmp_path, create=False)
    log.close()
    assert replayed == written and report.clean


def test_seq_increases_strictly_across_reopens_and_each_writer_starts_a_segment(
    tmp_path: Path,
) -> None:
    for round_ in range(3):
        log, events, _ = EventLog.open(tmp_path, create=True)
        assert len(events) == 2 * round_
        with log:
            assert log.next_seq == 2 * round_
            log.append("a", None, {})
            log.append("b", None, {})
    assert [e.seq for e in read_events(tmp_path)] == list(range(6))
    assert [p.name for p in segments(tmp_path)] == [
        f"seg-{first:020d}.arrows" for first in (0, 2, 4)
    ]


def test_group_commit_writes_one_batch_and_empty_commit_does_nothing(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        for i in range(5):
            log.stage("report", 1, {"i": i})
        assert log.pending == 5 and segments(tmp_path) == []
        assert log.commit() == 5
        size = segments(tmp_path)[0].stat().st_size
        assert log.commit() == 0
        assert segments(tmp_path)[0].stat().st_size == size
    with ipc.open_stream(segments(tmp_path)[0].read_bytes()) as reader:
        assert [b.num_rows for b in reader] == [5]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"v": math.nan}, ValueError),
        ({"v": [math.inf]}, ValueError),
        ({"v": {1, 2}}, ValueError),
        ({"v": "\ud800"}, ValueError),
        ({"v": object()}, ValueError),
        ([1, 2], TypeError),
    ],
)
def test_unstorable_payload_is_rejected_at_stage(
    tmp_path: Path, payload: Any, error: type[Exception]
) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log:
        with pytest.raises(error):
            log.stage("report", 0, payload)
        assert log.pending == 0 and log.next_seq == 0
    assert segments(tmp_path) == []


@pytest.mark.parametrize(("kind", "trial"), [("", None), (3, None), ("k", True), ("k", 2**63)])
def test_bad_kind_or_trial_is_rejected(tmp_path: Path, kind: Any, trial: Any) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    with log, pytest.raises(TypeError):
        log.stage(kind, trial, {})


def test_close_commits_what_is_staged_and_later_stages_fail(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    log.stage("a", None, {})
    log.close()
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.stage("b", None, {})
    assert [e.kind for e in read_events(tmp_path)] == ["a"]


def test_concurrent_stage_and_commit_keep_every_event_once_in_order(tmp_path: Path) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True, rotate_after=150)
    per_thread, stagers = 300, 2
    done = threading.Event()
    staged: list[list[Event]] = [[] for _ in range(stagers)]

    def stage(index: int) -> None:
        for i in range(per_thread):
            staged[index].append(log.stage("report", index, {"i": i}))
            if i % 10 == 0:
                time.sleep(0.001)  # so that staging interleaves with many commits

    def commit() -> None:
        while not done.is_set():
            log.commit()

    threads = [threading.Thread(target=stage, args=(i,)) for i in range(stagers)]
    committers = [threading.Thread(target=commit) for _ in range(2)]
    for thread in committers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in committers:
        thread.join()
    log.close()

    events = read_events(tmp_path)
    assert [e.seq for e in events] == list(range(per_thread * stagers))
    assert sorted(events, key=lambda e: e.seq) == sorted(
        itertools.chain(*staged), key=lambda e: e.seq
    )
    for index in range(stagers):
        assert [e.payload["i"] for e in events if e.trial == index] == list(range(per_thread))
    batches = 0
    for path in segments(tmp_path):
        with ipc.open_stream(path.read_bytes()) as reader:
            batches += sum(1 for _ in reader)
    assert batches >= 5 and len(segments(tmp_path)) >= 2  # commits ran while staging went on


def test_rotation_starts_a_new_segment_after_n_events(tmp_path: Path) -> None:
    written = write_events(tmp_path, 10, rotate_after=4)
    assert [p.name[4:-7] for p in segments(tmp_path)] == [f"{n:020d}" for n in (0, 4, 8)]
    assert read_events(tmp_path) == written


def test_failed_commit_keeps_events_staged_and_a_retry_writes_them_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, _, _ = EventLog.open(tmp_path, create=True)
    real_fsync = os.fsync
    failures = iter([True])

    def flaky_fsync(fd: int) -> None:
        if next(failures, False):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    with log:
        log.stage("a", None, {})
        log.stage("b", None, {})
        monkeypatch.setattr(os, "fsync", flaky_fsync)
        with pytest.raises(StorageError, match="stay staged"):
            log.commit()
        assert log.pending == 2
        log.stage("c", None, {})
        assert log.commit() == 3
    events, report = replay(tmp_path)
    assert [(e.seq, e.kind) for e in events] == [(0, "a"), (1, "b"), (2, "c")]
    assert report.gaps == ()
    # The abandoned segment is never reused: the retry went to a fresh file.
    assert {p.name for p in segments(tmp_path)} == {
        f"seg-{0:020d}.arrows",
        f"seg-{0:020d}-1.arrows",
    }
