"""A study's log and lease on S3 (moto on loopback): replay, the conditional-write lease and its
fence, uploads cut by the network, and what is refused. No Ray."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from log_helpers import fixed_clock
from s3_helpers import CuttingProxy, S3Server

from raysweep.orchestrator._cli import main
from raysweep.orchestrator._core._state_table import StateToSave
from raysweep.orchestrator._errors import StorageError, StudyLockedError
from raysweep.orchestrator._storage import _object_store
from raysweep.orchestrator._storage._format import segment_name, snapshot_name
from raysweep.orchestrator._storage._lease import Lease, LeaseOwner
from raysweep.orchestrator._storage._log import Event, EventLog, read_events, replay
from raysweep.orchestrator._storage._object_store import ObjectLocation
from raysweep.orchestrator._storage._replay import highest_generation
from raysweep.orchestrator._storage._s3_lease import lease_slot
from raysweep.orchestrator._storage._saved_state import state_name
from raysweep.orchestrator._storage._store import (
    LocalStudyStore,
    ObjectStudyStore,
    open_study_store,
    storage_environment,
)

SAMPLE_STUDY = Path(__file__).parent / "data" / "study_v1"


def _study_uri(s3: S3Server, name: str = "study", *, endpoint: str | None = None) -> str:
    return s3.uri(s3.new_bucket(), f"studies/{name}", endpoint=endpoint)


def _lease(uri: str, description: str = "writer", **options: float) -> Lease:
    root = ObjectLocation.parse(uri)
    return Lease.acquire_in(
        lease_slot(root),
        description=description,
        epoch_floor=highest_generation(uri),
        **options,  # type: ignore[arg-type]
    )


def _write(log: EventLog) -> list[Event]:
    """Events of several kinds in commits of one and of several events, a snapshot between."""
    written = [log.append("study_created", None, {"name": "s", "seed": 1})]
    for trial in range(3):
        written.append(log.stage("trial_created", trial, {"origin": "optimize"}))
        written.append(log.stage("param", trial, {"name": "x", "value": trial / 3}))
        log.commit()
    written.append(log.append("user_attr", 1, {"key": "note", "value": "ünïcode ✓"}))
    log.snapshot()
    for trial in range(3):
        written.append(log.append("trial_finished", trial, {"state": "complete", "values": [1]}))
    return written


# --- (a) the log on S3 ------------------------------------------------------------------------


def test_events_committed_to_s3_replay_as_a_local_log_of_them_does(
    s3_server: S3Server, tmp_path: Path
) -> None:
    uri = _study_uri(s3_server)
    lease = _lease(uri)
    with EventLog.open(uri, create=True, lease=lease, clock=fixed_clock())[0] as log:
        written = _write(log)
    lease.release()
    with EventLog.open(tmp_path, create=True, clock=fixed_clock())[0] as local:
        local_written = _write(local)

    events, report = replay(uri)
    assert events == written == local_written
    assert replay(tmp_path)[0] == events
    assert read_events(uri) == events
    assert report.clean and report.directory == ObjectLocation.parse(uri).display
    assert str(report.snapshot).startswith("s3://") and "?" not in str(report.snapshot)
    # Reopened for writing, it goes on after the last event.
    with EventLog.open(uri, create=True, lease=_lease(uri))[0] as log:
        assert log.next_seq == len(written)


def test_every_commit_is_one_sealed_segment_object_named_by_first_seq_and_generation(
    s3_server: S3Server,
) -> None:
    uri = _study_uri(s3_server)
    lease = _lease(uri)
    log, _, _ = EventLog.open(uri, create=True, lease=lease)
    log.append("a", None, {})
    log.stage("b", None, {})
    log.stage("b", None, {})
    log.commit()
    log.close()
    root = ObjectLocation.parse(uri)
    names = [k.rsplit("/", 1)[-1] for k in s3_server.keys(root.bucket, f"{root.key}/segments/")]
    assert names == [segment_name(0, lease.epoch), segment_name(1, lease.epoch)]
    assert lease.epoch == 1 and names[0].endswith("-g1.arrows")
    # Each object is a whole stream, end-of-stream marker included: nothing is ever torn.
    body = s3_server.client().get_object(Bucket=root.bucket, Key=f"{root.key}/segments/{names[1]}")
    assert body["Body"].read().endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    assert replay(uri)[1].torn_tails == ()


def test_a_checked_in_study_reads_the_same_from_s3_with_the_cli(
    s3_server: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = _study_uri(s3_server, "core")
    root = ObjectLocation.parse(uri)
    client = s3_server.client()
    for path in SAMPLE_STUDY.rglob("*"):
        if path.is_file():
            key = f"{root.key}/{path.relative_to(SAMPLE_STUDY).as_posix()}"
            client.put_object(Bucket=root.bucket, Key=key, Body=path.read_bytes())
    assert main(["trials", str(SAMPLE_STUDY)]) == 0
    local = capsys.readouterr().out
    assert main(["trials", uri]) == 0
    assert capsys.readouterr().out == local
    assert main(["log", uri]) == 0
    assert f"of {root.display} from snapshot" in capsys.readouterr().out


def test_a_prefix_without_a_log_is_a_clear_error(
    s3_server: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = _study_uri(s3_server, "nothing-here")
    with pytest.raises(StorageError, match="no event log at s3://"):
        replay(uri)
    assert main(["log", uri]) == 2
    assert "no event log at s3://" in capsys.readouterr().err


# --- which store, and what it is given ---------------------------------------------------------


def test_open_study_store_picks_the_store_for_the_location(
    s3_server: S3Server, tmp_path: Path
) -> None:
    assert isinstance(open_study_store(str(tmp_path)), LocalStudyStore)
    local = open_study_store(f"file://{tmp_path}")
    assert isinstance(local, LocalStudyStore) and local.directory == tmp_path
    uri = _study_uri(s3_server)
    store = open_study_store(uri)
    assert isinstance(store, ObjectStudyStore)
    root = ObjectLocation.parse(uri)
    assert store.location == root.display == f"s3://{root.bucket}/{root.key}"
    # Checkpoints go under the study's own prefix, with the endpoint, for runners anywhere.
    assert store.checkpoint_root == (
        f"s3://{root.bucket}/{root.key}/checkpoints?endpoint_override={s3_server.endpoint}"
        "&scheme=http"
    )


def test_the_actors_are_given_the_s3_variables_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    monkeypatch.setenv("UNRELATED", "x")
    found = storage_environment("s3://bucket/prefix")
    assert found["AWS_ACCESS_KEY_ID"] == "key" and "UNRELATED" not in found
    assert found["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:1"
    assert storage_environment("/tmp/studies") == {} == storage_environment("file:///tmp/x")


# --- (b) the lease by conditional writes --------------------------------------------------------


def _race(uri: str, drivers: int) -> list[Lease | StudyLockedError]:
    """What each of ``drivers`` threads got, started together, asking for the lease."""
    start = threading.Barrier(drivers)
    outcomes: list[Lease | StudyLockedError] = []

    def driver(index: int) -> None:
        store = ObjectStudyStore(uri)
        start.wait()
        try:
            outcomes.append(store.acquire_lease(description=f"driver {index}", wait=0))
        except StudyLockedError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=driver, args=(i,)) for i in range(drivers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_threads_racing_for_the_lease_one_wins_the_others_are_told_who(
    s3_server: S3Server,
) -> None:
    bucket = s3_server.new_bucket()
    for round_ in range(4):
        outcomes = _race(s3_server.uri(bucket, f"race-{round_}"), 4)
        (winner,) = [o for o in outcomes if isinstance(o, Lease)]
        refused = [o for o in outcomes if isinstance(o, StudyLockedError)]
        assert len(refused) == 3
        for exc in refused:
            assert repr(winner.owner.description) in str(exc) and "epoch 1" in str(exc)
        winner.release()


def test_of_two_writes_naming_the_same_version_exactly_one_lands(s3_server: S3Server) -> None:
    root = ObjectLocation.parse(_study_uri(s3_server))
    mine, theirs = lease_slot(root), lease_slot(root)
    me = LeaseOwner("me", "host-a", None, 1, None, "me", 0, 0)
    them = LeaseOwner("them", "host-b", None, 2, None, "them", 0, 0)
    # Both saw no record: the first create lands, the second is refused (If-None-Match).
    seen_by_me, seen_by_them = mine.read(), theirs.read()
    assert seen_by_me.version is None is seen_by_them.version
    assert mine.write(me, seen_by_me.version) is not None
    assert theirs.write(them, seen_by_them.version) is None
    # Both saw the same record: the first replacement lands, the second is refused (If-Match).
    seen_by_me, seen_by_them = mine.read(), theirs.read()
    assert seen_by_me.owner == me == seen_by_them.owner
    assert theirs.write(them, seen_by_them.version) is not None
    assert mine.write(me, seen_by_me.version) is None
    assert mine.read().owner == them


_RACER = """
import sys, time
from raysweep.orchestrator._errors import StudyLockedError
from raysweep.orchestrator._storage._store import ObjectStudyStore
store = ObjectStudyStore(sys.argv[1])
store.check_writable()
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
try:
    lease = store.acquire_lease(description="racer", wait=0)
except StudyLockedError as exc:
    print("refused", exc, flush=True)
else:
    print("won", lease.epoch, flush=True)
    time.sleep(4)  # hold it until the other has tried
    lease.release()
"""


@pytest.mark.slow
def test_two_driver_processes_racing_for_the_lease_exactly_one_wins(s3_server: S3Server) -> None:
    uri = _study_uri(s3_server)
    start_at = f"{time.time() + 3.0}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_RACER), uri, start_at],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    assert sorted(line.split()[0] for line in outputs) == ["refused", "won"], outputs
    winner = racers[[o.split()[0] for o in outputs].index("won")]
    (refusal,) = [o for o in outputs if o.startswith("refused")]
    assert f"pid {winner.pid}" in refusal and "StudyLockedError" not in refusal
    assert "epoch 1" in refusal


def test_a_stale_lease_is_taken_over_with_a_higher_epoch_and_the_stale_writer_is_fenced(
    s3_server: S3Server,
) -> None:
    uri = _study_uri(s3_server)
    root = ObjectLocation.parse(uri)
    stalled = _lease(uri, "stalled writer")
    old_log, _, _ = EventLog.open(uri, create=True, lease=stalled)
    first = [old_log.append("a", None, {"i": i}) for i in range(2)]
    time.sleep(0.3)  # no heartbeat: stale for a successor that waits 0.2 s
    successor = _lease(uri, "successor", stale_after=0.2)
    assert successor.epoch == stalled.epoch + 1 == 2
    assert successor.previous_owner is not None
    assert successor.previous_owner.owner_id == stalled.owner.owner_id
    assert "heartbeat" in (successor.takeover_reason or "")

    stored = s3_server.keys(root.bucket)
    old_log.stage("a", None, {"i": 2})
    with pytest.raises(StudyLockedError, match=r"'successor'.*epoch 2.*held epoch 1"):
        old_log.commit()
    with pytest.raises(StudyLockedError):
        old_log.snapshot()
    with pytest.raises(StudyLockedError):
        stalled.heartbeat()
    assert s3_server.keys(root.bucket) == stored  # the fenced writer wrote nothing

    new_log, events, report = EventLog.open(uri, create=True, lease=successor)
    assert events == first and report.clean
    later = new_log.append("b", None, {})
    new_log.close()
    with pytest.raises(StudyLockedError):
        old_log.close()  # its staged event is lost, and it says so
    names = s3_server.keys(root.bucket, f"{root.key}/segments/")
    assert names[-1].endswith(segment_name(2, 2)) and names[-1].endswith("-g2.arrows")
    events, report = replay(uri)
    assert events == [*first, later] and report.clean


def _names(s3: S3Server, root: ObjectLocation, folder: str) -> list[str]:
    names = [key.rsplit("/", 1)[-1] for key in s3.keys(root.bucket, f"{root.key}/{folder}/")]
    return [name for name in names if name]  # not the folder's own marker


def test_the_snapshot_chain_on_s3_folds_small_links_and_replays_as_a_local_chain(
    s3_server: S3Server, tmp_path: Path
) -> None:
    uri = _study_uri(s3_server)
    root = ObjectLocation.parse(uri)
    written: dict[str, list[Event]] = {uri: [], str(tmp_path): []}
    clocks = {location: fixed_clock() for location in written}
    for _ in range(3):  # opened and closed often: 2 events per writer, then a snapshot
        for location in written:
            lease = _lease(uri) if location == uri else None
            log = EventLog.open(
                location, create=True, lease=lease, merge_below=3, clock=clocks[location]
            )[0]
            with log:
                written[location] += [log.append("e", None, {"i": i}) for i in range(2)]
                log.snapshot()
            if lease is not None:
                lease.release()
    assert written[uri] == written[str(tmp_path)]
    # 0..1 is folded into 0..3 (under 3 events); 4..5 starts a second link, schema version 2.
    assert _names(s3_server, root, "snapshots") == [
        snapshot_name(3, 1).replace("-g1", "-g2"),
        snapshot_name(5, 3),
    ]
    assert _names(s3_server, root, "segments") == []
    events, report = replay(uri)
    assert events == written[uri] == replay(tmp_path)[0]
    assert report.clean and len(report.snapshots) == 2
    assert all(str(ref).startswith("s3://") for ref in report.snapshots)


def test_a_stalled_writers_chained_snapshot_on_s3_deletes_and_supersedes_nothing_of_the_new(
    s3_server: S3Server,
) -> None:
    uri = _study_uri(s3_server)
    root = ObjectLocation.parse(uri)
    stalled = _lease(uri, "stalled writer")
    old_log, _, _ = EventLog.open(uri, create=True, lease=stalled, merge_below=0)
    first = [old_log.append("a", None, {"i": i}) for i in range(2)]
    old_log.snapshot()
    first.append(old_log.append("a", None, {"i": 2}))
    time.sleep(0.3)  # no heartbeat: stale for a successor that waits 0.2 s
    successor = _lease(uri, "successor", stale_after=0.2)
    new_log, events, _ = EventLog.open(uri, create=True, lease=successor, merge_below=0)
    assert events == first

    # The race the fence cannot close: the stalled writer's last check passed just before the
    # takeover, so its commit and chained snapshot land (and delete its own files).
    stalled_verify = stalled.verify
    stalled.verify = lambda: None  # type: ignore[method-assign]
    old_log.append("late", None, {})
    late_snapshot = old_log.snapshot()
    assert late_snapshot is not None and str(late_snapshot).endswith(snapshot_name(3, 1))

    later = [new_log.append("b", None, {"i": i}) for i in range(2)]
    replayed, report = replay(uri)
    assert replayed == [*first, *later]  # the late event is the stalled writer's: dropped
    assert [(d.first_seq, d.newer_generation) for d in report.superseded] == [(3, 2)]
    # Once the new owner has files, a stalled writer's snapshot refuses and touches nothing.
    stored = s3_server.keys(root.bucket)
    with pytest.raises(StudyLockedError, match="generation 2"):
        old_log.snapshot()
    assert s3_server.keys(root.bucket) == stored
    stalled.verify = stalled_verify  # type: ignore[method-assign]

    # The new owner's next snapshot is one of everything (a file it had not seen appeared),
    # which clears the stalled writer's files; the next replay is clean.
    everything = new_log.snapshot()
    assert everything is not None and str(everything).endswith(snapshot_name(4, 2))
    new_log.close()
    assert _names(s3_server, root, "snapshots") == [snapshot_name(4, 2)]
    assert _names(s3_server, root, "segments") == []
    replayed, report = replay(uri)
    assert replayed == [*first, *later] and report.clean


def test_a_saved_state_on_s3_is_read_back_with_the_events_after_it(
    s3_server: S3Server,
) -> None:
    uri = _study_uri(s3_server)
    root = ObjectLocation.parse(uri)
    lease = _lease(uri)
    log = EventLog.open(uri, create=True, lease=lease)[0]
    written = [log.append("e", None, {"i": i}) for i in range(3)]
    staged = log.stage("e", None, {"i": 3})
    kinds = {"n": "int", "v": "str"}
    state = StateToSave(
        2, '{"study": 1}', {"n": [1, 3], "v": ["a", None]}, kinds, {"b": b"\x00\xff"}, {"a": b"1"}
    )
    state = dataclasses.replace(state, key="n")
    # Not all committed: it would not stand for the log up to its seq.
    assert log.save_state(dataclasses.replace(state, last_seq=3)) is None
    saved_ref = log.save_state(state)  # committed, in segments: no snapshot needed
    assert saved_ref is not None and str(saved_ref).startswith("s3://")
    log.close()
    lease.release()
    assert replay(uri)[0] == [*written, staged]  # readers ignore it

    lease = _lease(uri)
    log, events, report = EventLog.open(uri, create=True, lease=lease, saved_state=True)
    assert events == [staged] and report.clean and log.next_seq == 4
    assert log.saved_state is not None
    assert (log.saved_state.study, log.saved_state.columns, log.saved_state.blobs) == (
        '{"study": 1}',
        {"n": [1, 3], "v": ["a", None]},
        {"b": b"\x00\xff", "a": b"1"},
    )
    later = log.append("f", None, {})
    laid_on = log.state_base
    assert laid_on == 2
    # Laid on the one before: rows by key replace its rows, appended bytes continue its own.
    delta = StateToSave(
        4,
        '{"study": 2}',
        {"n": [7, 3], "v": ["d", "c"]},
        kinds,
        {"b": b"\x01"},
        {"a": b"2"},
        laid_on,
        "n",
    )
    assert log.save_state(delta) is not None
    log.close()
    lease.release()
    lease = _lease(uri)
    log, events, _ = EventLog.open(uri, create=True, lease=lease, saved_state=True)
    assert log.saved_state is not None and events == [] and log.next_seq == 5
    assert (log.saved_state.study, log.saved_state.columns, log.saved_state.blobs) == (
        '{"study": 2}',
        {"n": [1, 3, 7], "v": ["a", "c", "d"]},
        {"b": b"\x01", "a": b"12"},
    )
    log.close()
    lease.release()
    assert [n for n in _names(s3_server, root, "snapshots") if n.startswith("state-")] == [
        state_name(2, 1),
        state_name(4, 2),
    ]
    assert [e.seq for e in replay(uri)[0]] == [0, 1, 2, 3, 4] and later.seq == 4


def test_release_keeps_the_record_and_the_next_writer_counts_the_epoch_on(
    s3_server: S3Server,
) -> None:
    uri = _study_uri(s3_server)
    first = ObjectStudyStore(uri).acquire_lease(description="first", wait=0)
    first.release()
    first.release()  # idempotent
    root = ObjectLocation.parse(uri)
    record = s3_server.client().get_object(Bucket=root.bucket, Key=f"{root.key}/LEASE.json")
    assert LeaseOwner.from_json(record["Body"].read().decode()).released_at is not None
    second = ObjectStudyStore(uri).acquire_lease(description="second", wait=0)
    assert second.epoch == 2 and second.previous_owner is None
    with pytest.raises(StudyLockedError, match="released by this process"):
        first.verify()
    second.release()


def test_the_heartbeat_renews_and_stops_once_another_writer_has_the_lease(
    s3_server: S3Server,
) -> None:
    uri = _study_uri(s3_server)
    lease = ObjectStudyStore(uri).acquire_lease(description="beating", wait=0)
    before = lease.owner.heartbeat_at
    lease.heartbeat()
    lease.heartbeat()
    assert lease.owner.heartbeat_at > before
    lease.verify()
    # Another process replaces the record (it took the lease over): the next beat finds out.
    root = ObjectLocation.parse(uri)
    other = LeaseOwner("someone-else", "host-b", None, 4242, None, "other", 0, time.time())
    s3_server.client().put_object(
        Bucket=root.bucket, Key=f"{root.key}/LEASE.json", Body=other.to_json().encode()
    )
    with pytest.raises(StudyLockedError, match="pid 4242 on host 'host-b'"):
        lease.heartbeat()
    with pytest.raises(StudyLockedError):
        lease.verify()
    lease.release()  # not ours any more: leaves the other's record alone
    record = s3_server.client().get_object(Bucket=root.bucket, Key=f"{root.key}/LEASE.json")
    assert LeaseOwner.from_json(record["Body"].read().decode()) == other


# --- what is refused, and how -----------------------------------------------------------------


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[CuttingProxy]:
    cutting = CuttingProxy((s3_server.host, s3_server.port))
    yield cutting
    cutting.close()


def test_a_store_that_ignores_conditional_writes_is_refused(
    s3_server: S3Server, proxy: CuttingProxy
) -> None:
    proxy.strip_conditions()
    uri = _study_uri(s3_server, endpoint=proxy.endpoint)
    with pytest.raises(StorageError, match="does not honour If-None-Match"):
        ObjectStudyStore(uri).check_writable()
    with pytest.raises(StorageError, match="does not honour"):
        ObjectStudyStore(uri).acquire_lease(description="unsafe", wait=0)


def test_a_lease_on_gs_is_refused_saying_what_is_supported() -> None:
    store = ObjectStudyStore("gs://some-bucket/studies/x")
    for attempt in (store.check_writable, lambda: store.acquire_lease(description="", wait=0)):
        with pytest.raises(StorageError, match=r"gs://.*s3:// only.*read_events"):
            attempt()


def test_without_boto3_the_error_names_the_extra(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = _study_uri(s3_server)
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(StorageError, match=r"pip install 'raysweep\[s3\]'"):
        ObjectStudyStore(uri).check_writable()


def test_a_uri_pyarrow_cannot_open_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="cannot open the storage nosuch://"):
        ObjectLocation.parse("nosuch://bucket/prefix")
    with pytest.raises(ValueError, match="names no bucket"):
        ObjectLocation.parse("s3://")


# --- (c) a connection cut mid-upload -------------------------------------------------------------


@pytest.mark.parametrize("when", ["request", "answer"])
def test_an_upload_cut_by_the_network_is_sent_again_and_replays_each_event_once(
    s3_server: S3Server, proxy: CuttingProxy, when: str
) -> None:
    uri = _study_uri(s3_server, endpoint=proxy.endpoint)
    lease = _lease(uri)
    log, _, _ = EventLog.open(uri, create=True, lease=lease)
    before = log.append("before", None, {})
    # "request": cut halfway through the body, nothing stored; "answer": stored, but the
    # writer never hears so, and sends it again.
    proxy.cut_uploads(1, when)
    during = [log.stage("during", i, {"i": i}) for i in range(3)]
    assert log.commit() == 3
    assert proxy.cuts_done == 1
    key = f"/segments/{segment_name(1, lease.epoch)}"
    assert sum(put.endswith(key) for put in proxy.segment_puts) >= 2
    after = log.append("after", None, {})
    log.close()
    lease.release()
    events, report = replay(uri)
    assert events == [before, *during, after] and report.clean


@pytest.mark.slow
def test_an_outage_fails_the_commit_and_the_retried_commit_adds_no_duplicate(
    s3_server: S3Server, proxy: CuttingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fewer tries than in production, to keep the test short: pyarrow's client retries each
    # for about six seconds already.
    monkeypatch.setattr(_object_store, "_PUT_ATTEMPTS", 2)
    monkeypatch.setattr(_object_store, "_PUT_BACKOFF_S", 0.05)
    uri = _study_uri(s3_server, endpoint=proxy.endpoint)
    root = ObjectLocation.parse(uri)
    lease = _lease(uri)
    log, _, _ = EventLog.open(uri, create=True, lease=lease)
    before = log.append("before", None, {})
    # Every upload lands, and every answer is lost: the writer cannot know its events are in.
    proxy.cut_uploads(10**6, "answer")
    staged = [log.stage("staged", i, {"i": i}) for i in range(2)]
    with pytest.raises(StorageError, match=r"events 1\.\.2 .* they stay staged"):
        log.commit()
    assert log.pending == 2
    proxy.cut_uploads(0)
    later = log.stage("later", None, {})
    assert log.commit() == 3  # the staged two and the new one, under the same key
    log.close()
    lease.release()
    segments = s3_server.keys(root.bucket, f"{root.key}/segments/")
    assert [s.rsplit("/", 1)[-1] for s in segments] == [segment_name(0, 1), segment_name(1, 1)]
    events, report = replay(uri)
    assert events == [before, *staged, later] and report.clean


def test_a_checkpoint_under_a_uri_with_a_query_is_saved_and_loaded_back(
    s3_server: S3Server,
) -> None:
    from raysweep.orchestrator._storage import _checkpoints

    # The endpoint in the query (as the study's checkpoint_root carries it) stays at the end.
    base, _, query = _study_uri(s3_server, "ckpt", endpoint=s3_server.endpoint).partition("?")
    root = f"{base}/checkpoints?{query}"
    saved = _checkpoints.save(root, 3, 9, {"epoch": 9, "w": [1.0, 2.0]})
    assert saved == f"{base}/checkpoints/trial-3/step-9.npz?{query}"
    assert _checkpoints.load(root, 3, 9) == {"epoch": 9, "w": [1.0, 2.0]}
    _checkpoints.remove(root, 3, 9)
    with pytest.raises(Exception):  # noqa: B017 (gone: whatever pyarrow raises)
        _checkpoints.load(root, 3, 9)
