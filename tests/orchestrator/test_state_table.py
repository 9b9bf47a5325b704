"""A saved state (one row per trial) rebuilds exactly what replaying the events does: the study's
state, what the pruner was told, the pruner itself; and a study reopened from it goes on as one
reopened from its events. No Ray."""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import (
    Assignment,
    ParamNote,
    ReportNote,
    TrialOutcome,
    UserAttrNote,
)
from raysweep.orchestrator._core._recorder import _told
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo, StudyState, TrialTable
from raysweep.orchestrator._core._state_table import (
    StateToSave,
    Told,
    _pack,
    _unpack,
    load_state,
    save_state,
)
from raysweep.orchestrator._storage._format import parse_snapshot_name, segment_name
from raysweep.orchestrator._storage._log import EventLog, read_events
from raysweep.orchestrator._storage._replay import log_files
from raysweep.orchestrator._storage._saved_state import (
    StateLink,
    StateName,
    lay,
    parse_state_name,
    read_state_link,
    saved_state_table,
    state_link,
    write_state_file,
)
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    RandomSampler,
    StudyDirection,
    TrialState,
)
from raysweep.scheduling import ASHA, Action, Hyperband, MedianStopping, Scheduler, SchedulerState

DATA = Path(__file__).parent / "data"
X = FloatDistribution(low=0.0, high=1.0)
N = IntDistribution(low=1, high=9)
C = CategoricalDistribution(choices=("a", True, None, 2, 1.5))


def _deep(value: Any) -> Any:
    """A comparable view of a state: objects by their class and attributes, dicts and sets as
    sorted items, floats by repr (NaN equal to NaN, 1 unequal to 1.0, -0.0 to 0.0)."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, (str, int, bool, type(None))):
        return (type(value).__name__, value)
    if isinstance(value, dict):
        return ("dict", sorted((repr(_deep(k)), _deep(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(repr(_deep(v)) for v in value))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_deep(v) for v in value])
    if hasattr(value, "__dict__"):
        return (type(value).__name__, _deep(vars(value)))
    if hasattr(value, "__slots__"):
        return (type(value).__name__, _deep({s: getattr(value, s) for s in value.__slots__}))
    return (type(value).__name__, repr(value))


def _state_view(state: StudyState) -> Any:
    # The record cache is built on demand; the distribution cache only shares equal values;
    # which trials changed since the last save is the saver's business, not the study's.
    skip = ("_records", "_distributions", "_unsaved")
    return _deep({k: v for k, v in vars(state).items() if k not in skip})


def _replayed(events: list[Any]) -> tuple[StudyState, Told]:
    told = Told()
    return StudyState.replay(events, _told(told)), told


def _pruner(state: StudyState, told: Told) -> SchedulerState:
    assert state.info is not None
    from raysweep.scheduling import scheduler_from_json

    pruner = scheduler_from_json(state.info.scheduler).new_state(
        maximize=state.info.directions[0] is StudyDirection.MAXIMIZE
    )
    told.feed(pruner)
    return pruner


def _through_a_file(state: StudyState, told: Told, pruner: SchedulerState) -> Any:
    """What load_state gives back after the state went through the Arrow file and back."""
    saved = save_state(state, told, pruner.saved())
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    write_state_file(sink, saved_state_table(saved, 3, None))
    name = parse_state_name(f"state-{saved.last_seq:020d}-g3.arrow")
    assert name is not None
    read = read_state_link("memory", sink.getvalue().to_pybytes(), name).saved_state()
    return load_state(read.last_seq, read.study, read.columns, read.blobs)


def _check_same(events: list[Any]) -> None:
    state, told = _replayed(events)
    pruner = _pruner(state, told)
    loaded, loaded_told, saved_pruner, pruner_told, _ = _through_a_file(state, told, pruner)
    assert pruner_told == (0 if saved_pruner is None else len(told))
    assert _state_view(loaded) == _state_view(state)
    assert _deep([loaded.record(n) for n in loaded.trials]) == _deep(state.records())
    assert loaded.best_number() == state.best_number()
    assert _deep(list(loaded_told.entries())) == _deep(list(told.entries()))
    # The pruner: restored from its saved state, and rebuilt from what it was told, alike.
    assert loaded.info is not None
    fresh = _pruner(loaded, Told())
    if saved_pruner is not None:
        fresh.restore(saved_pruner)
    else:
        loaded_told.feed(fresh)
    assert _deep(fresh) == _deep(pruner)


@pytest.mark.parametrize("sample", ["study_v1", "study_v2"])
def test_the_checked_in_studies_load_from_a_saved_state_as_they_replay(sample: str) -> None:
    _check_same(read_events(DATA / sample))


# --- a study with everything: pauses, promotions, prunes, failures, re-runs --------------------


def _info(scheduler: Scheduler) -> StudyInfo:
    return StudyInfo(
        name="table",
        directions=(StudyDirection.MAXIMIZE,),
        seed=11,
        seed_source="create_study",
        sampler=RandomSampler(seed=11).to_json(),
        scheduler=scheduler.to_json(),
    )


def _open(directory: Path, scheduler: Scheduler, *, load: bool) -> ts.TrialSchedulerCore:
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), _info(scheduler), load_if_exists=load, given=frozenset()
    )
    core.open()
    service = SamplerServiceCore(RandomSampler(seed=11), 11, (StudyDirection.MAXIMIZE,))
    core.attach_sampler(LocalSamplerClient(service))
    return core


def _work(core: ts.TrialSchedulerCore, rounds: int, seed: int) -> None:
    """Three runners interleaved at random; trials that fail, crash, are interrupted, pause,
    are promoted, are pruned, carry odd parameter values and user attributes; one ask/tell."""
    order = random.Random(seed)
    core.start_optimize(len(core.records()) + 40, 3)
    held: dict[str, tuple[Any, int, TrialOutcome | None]] = {}
    for step in range(rounds):
        runner = f"r{order.randrange(3)}"
        a, reported, outcome = held.pop(runner, (None, 0, None))
        if a is None:
            a = core.next_trial(runner, outcome)
            if not isinstance(a, Assignment):
                continue  # None, or Idle: this runner asks again at its next turn
            held[runner] = (a, 0, None)
            continue
        number = a.number
        kind = number % 9
        if kind == 1 and a.attempt == 0:  # interrupted: re-run as attempt 1
            held[runner] = (None, 0, TrialOutcome(number, a.attempt, None, error="stopped"))
            continue
        if kind == 2 and a.attempt < 2 and reported == 1:  # its runner dies, twice
            core.runner_lost(runner, "node gone", crash=True)
            continue
        if kind == 3 and reported == 1:
            outcome = TrialOutcome(number, a.attempt, TrialState.FAILED, error="boom")
            held[runner] = (None, 0, outcome)
            continue
        notes: list[Any] = []
        if reported == 0:
            # As an objective does: what the proposal holds, except now and then.
            proposed = {name: value for name, (_, value) in a.proposal.items()}
            if kind == 5:
                proposed = {}
            notes += [
                ParamNote("n", N, proposed.get("n", 1 + number % 9)),
                ParamNote("c", C, proposed.get("c", C.choices[number % len(C.choices)])),
                UserAttrNote("tag", {"n": number, "nan": "x" * (number % 3)}),
            ]
        rung = (1, 3, 9)[reported] if reported < 3 else 9
        value = math.nan if kind == 4 else order.random() + rung
        decision = core.report(number, a.attempt, (*notes, ReportNote(rung, value)))
        reported += 1
        if decision is not None and decision.action is Action.PAUSE:
            outcome = TrialOutcome(number, a.attempt, TrialState.PAUSED, paused_at=rung)
            held[runner] = (None, 0, outcome)
        elif decision is not None and decision.action is Action.STOP:
            held[runner] = (None, 0, TrialOutcome(number, a.attempt, TrialState.PRUNED))
        elif reported == 3:
            final = 0.0 if math.isnan(value) else value  # NaN reports; a NaN result fails
            outcome = TrialOutcome(number, a.attempt, TrialState.COMPLETE, (final,))
            held[runner] = (None, 0, outcome)
        else:
            held[runner] = (a, reported, None)
        if step == rounds // 2 and not core._rec.scheduler.pauses:
            asked = core.ask(request=f"ask-{seed}")
            core.tell(asked.number, TrialState.COMPLETE, (0.5,), None, (), None)


def _check_reopens_as_its_events_replayed(
    directory: Path, scheduler: Scheduler, *, rounds: int, seed: int
) -> None:
    """`directory` opens from its saved state to the core a copy without it replays to, and
    both go on alike (same decisions, hand-outs, promotions) for `rounds` of `_work`; what the
    one opened from its state wrote then replays to the state it holds."""
    replayed_dir = directory.parent / f"{directory.name}-replayed"
    shutil.copytree(directory, replayed_dir)
    for ref in (replayed_dir / "snapshots").glob("state-*"):
        ref.unlink()  # this copy must replay its events
    fast = _open(directory, scheduler, load=True)
    slow = _open(replayed_dir, scheduler, load=True)
    assert fast._rec.log.from_saved_state and not slow._rec.log.from_saved_state  # type: ignore[attr-defined]
    assert fast._rec.log.saved_state is None  # read, then let go: it is as large as the study  # type: ignore[attr-defined]
    assert _state_view(fast._rec.state) == _state_view(slow._rec.state)
    assert _deep(fast._rec._pruner) == _deep(slow._rec._pruner)
    assert _deep(list(fast._rec.told.entries())) == _deep(list(slow._rec.told.entries()))
    for core in (fast, slow):
        _work(core, rounds, seed=seed)
    # The same trials, decisions and hand-outs; only the clock differs between the two runs.
    untimed = [
        dataclasses.replace(r, datetime_start=None, datetime_complete=None)
        for core in (fast, slow)
        for r in core.records()
    ]
    assert _deep(untimed[: len(untimed) // 2]) == _deep(untimed[len(untimed) // 2 :])
    fast_state = _state_view(fast._rec.state)
    fast.close()
    slow.close()
    assert _state_view(_replayed(read_events(directory))[0]) == fast_state
    assert [e.kind for e in read_events(directory)] == [e.kind for e in read_events(replayed_dir)]


@pytest.mark.parametrize(
    "scheduler",
    [
        ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote"),
        ASHA(min_resource=1, max_resource=9, reduction_factor=3),
        Hyperband(min_resource=1, max_resource=9, reduction_factor=3),
        MedianStopping(warmup_steps=1, min_trials=2),
    ],
    ids=["asha-promote", "asha-stop", "hyperband", "median"],
)
def test_a_study_reopened_from_its_saved_state_is_the_one_its_events_make(
    tmp_path: Path, scheduler: Scheduler
) -> None:
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 400, seed=1)
    core.close()
    events = read_events(tmp_path)
    kinds = {e.kind for e in events}
    assert {"trial_interrupted", "report", "trial_finished"} <= kinds
    assert any(e.kind == "trial_started" and e.payload["attempt"] > 0 for e in events)
    assert any(e.kind == "trial_finished" and e.payload["state"] == "failed" for e in events)
    if scheduler.pauses:
        assert {"trial_paused", "trial_resumed"} <= kinds
    else:
        assert any(e.kind == "decision" and e.payload["action"] == "stop" for e in events)
    _check_same(events)

    # The core opens from the saved state, and is the core a replay of the events makes.
    _check_reopens_as_its_events_replayed(tmp_path, scheduler, rounds=300, seed=2)


@pytest.mark.parametrize(
    "scheduler",
    [
        ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote"),
        ASHA(min_resource=1, max_resource=9, reduction_factor=3),
        Hyperband(min_resource=1, max_resource=9, reduction_factor=3),
    ],
    ids=["asha-promote", "asha-stop", "hyperband"],
)
def test_a_study_killed_after_a_reopen_opens_from_its_state_and_the_events_since(
    tmp_path: Path, scheduler: Scheduler
) -> None:
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 300, seed=1)
    core.close()
    core = _open(tmp_path, scheduler, load=True)
    assert core._rec.log.from_saved_state  # type: ignore[attr-defined]
    _work(core, 150, seed=2)
    core._rec.log.snapshot()  # the periodic one: a link of the chain past the state
    _work(core, 150, seed=3)
    # Killed: what was committed stays (the commit thread had written it), nothing is closed.
    core._closed.set()
    core._rec.log.commit()
    core._lease.release()
    assert list((tmp_path / "segments").iterdir())
    (state_file,) = (tmp_path / "snapshots").glob("state-*")
    saved = parse_state_name(state_file.name)
    links = [parse_snapshot_name(p.name) for p in (tmp_path / "snapshots").glob("snap-*")]
    # The reopened writer folded the chain's small last link into its own: the state's seq
    # lies inside that link, whose events up to it are skipped.
    assert saved is not None and all(link is not None for link in links)
    assert all(link.last_seq > saved.last_seq for link in links if link is not None)

    _check_reopens_as_its_events_replayed(tmp_path, scheduler, rounds=200, seed=4)


def test_a_state_whose_next_link_is_unreadable_still_opens_with_the_gap_reported(
    tmp_path: Path,
) -> None:
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 120, seed=6)
    core.close()
    core = _open(tmp_path, scheduler, load=True)
    _work(core, 120, seed=7)
    core._rec.log.snapshot()  # folds the chain's last link, the state's seq inside it
    core._closed.set()
    core._lease.release()
    (link,) = (tmp_path / "snapshots").glob("snap-*")
    link.write_bytes(b"not arrow")
    log, _, report = EventLog.open(tmp_path, create=False, saved_state=True)
    assert log.saved_state is not None
    assert [s.path for s in report.skipped_snapshots] == [link]
    assert report.gaps and report.gaps[0][0] == log.saved_state.last_seq + 1
    log.close()


def test_a_state_a_newer_writer_may_have_written_before_is_not_used(tmp_path: Path) -> None:
    # A writer of a newer generation whose segment starts at or before the state's seq took
    # the study over before the state was saved: every event is replayed instead.
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 60, seed=5)
    core.close()
    (state_file,) = (tmp_path / "snapshots").glob("state-*")
    last = parse_state_name(state_file.name)
    assert last is not None
    (tmp_path / "segments" / segment_name(last.last_seq, last.generation + 1, 0)).write_bytes(b"")
    log, events, _ = EventLog.open(tmp_path, create=False, saved_state=True)
    # Replayed from seq 0; that writer's start drops what the older one wrote from there on.
    assert log.saved_state is None and events[0].seq == 0
    assert events[-1].seq == last.last_seq - 1
    log.close()


def test_values_no_column_holds_go_as_json_and_come_back_exactly() -> None:
    state, told = _replayed(read_events(DATA / "study_v1"))
    number = next(iter(state.trials))
    trial = state.trials[number]
    trial.params.update({"big": 2**70, "flag": True, "none": None, "text": "t", "one": 1.0})
    trial.distributions.update(dict.fromkeys(("big", "flag", "none", "text", "one"), X))
    pruner = _pruner(state, told)
    loaded, *_ = _through_a_file(state, told, pruner)
    assert _deep(loaded.trials[number].params) == _deep(trial.params)
    assert _state_view(loaded) == _state_view(state)


def test_a_state_stands_for_the_log_up_to_its_seq_and_no_further(tmp_path: Path) -> None:
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 120, seed=3)
    core.close()
    (state_file,) = (tmp_path / "snapshots").glob("state-*")
    # Written after the state: a writer that crashed before closing left a segment, whose
    # events alone are read, after the state.
    log, _, _ = EventLog.open(tmp_path, create=False)
    stopped = log.append("optimize_stopped", None, {})
    log._segments.abandon()  # killed: no snapshot, no new state  # type: ignore[attr-defined]
    log, events, report = EventLog.open(tmp_path, create=False, saved_state=True)
    assert log.saved_state is not None and events == [stopped]
    assert report.events == log.next_seq == stopped.seq + 1
    log.close()
    # The next clean close saves a state again (what changed, laid together with the old one
    # into one file), and it replaces the old one.
    core = _open(tmp_path, scheduler, load=True)
    core.close()
    (newer,) = (tmp_path / "snapshots").glob("state-*")
    assert newer != state_file and not state_file.exists()
    log, events, report = EventLog.open(tmp_path, create=False, saved_state=True)
    assert log.saved_state is not None and events == [] and report.clean
    assert report.events == log.next_seq == log.saved_state.last_seq + 1
    log.close()
    # A newer writer's files make an older writer's state useless, however they got there.
    (tmp_path / "snapshots" / newer.name.replace("-g", "-g9").replace("state", "snap")).write_bytes(
        b""
    )
    log, events, _ = EventLog.open(tmp_path, create=False, saved_state=True)
    assert log.saved_state is None
    log.close()
    assert len(log_files(tmp_path).entries("snapshots")) >= 3  # nothing was removed


def _reopened_pair(tmp_path: Path) -> tuple[ts.TrialSchedulerCore, ts.TrialSchedulerCore]:
    """A promote-mode study reopened from its saved state, and the same log replayed."""
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote")
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 400, seed=1)
    core.close()
    replayed_dir = tmp_path.parent / f"{tmp_path.name}-replayed"
    shutil.copytree(tmp_path, replayed_dir)
    for ref in (replayed_dir / "snapshots").glob("state-*"):
        ref.unlink()
    cores = []
    for directory in (tmp_path, replayed_dir):
        core = ts.TrialSchedulerCore(
            LocalStudyStore(directory), _info(scheduler), load_if_exists=True, given=frozenset()
        )
        core.open()
        cores.append(core)
    return cores[0], cores[1]


def test_a_study_reopened_from_its_saved_state_builds_a_trial_only_when_it_is_needed(
    tmp_path: Path,
) -> None:
    fast, slow = _reopened_pair(tmp_path)
    trials, replayed = fast._rec.state.trials, slow._rec.state.trials
    # Open, and what a reopen is asked first, build no trial: counts, the best, the unfinished.
    assert len(trials) == len(replayed) >= 40
    assert trials.unbuilt == len(trials)
    assert fast.progress() == slow.progress()
    assert _deep(fast.best()) == _deep(slow.best())
    assert fast._rec.state.orphaned_running() == []
    assert trials.unbuilt == len(trials) - 1  # the best one
    middle = len(trials) // 2
    assert middle in trials and len(trials) + 5 not in trials
    assert trials.get(len(trials) + 5) is None
    with pytest.raises(KeyError):
        trials[len(trials) + 5]
    assert _deep(trials[middle]) == _deep(replayed[middle])
    assert _deep(trials.get(middle + 1)) == _deep(replayed[middle + 1])
    assert trials.unbuilt == len(trials) - 3
    # Walking the table builds the rest, in number order, to the state a replay makes.
    assert list(trials) == sorted(replayed) == list(replayed)
    assert trials.unbuilt == 0
    assert _state_view(fast._rec.state) == _state_view(slow._rec.state)
    fast.close()
    slow.close()


def test_trials_built_cell_by_cell_equal_those_built_from_whole_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from raysweep.orchestrator._core import _state_table

    monkeypatch.setattr(_state_table, "_CELL_BUILDS", 3)
    fast, slow = _reopened_pair(tmp_path)
    trials, replayed = fast._rec.state.trials, slow._rec.state.trials
    # Three from single cells, then the columns are converted for the fourth and the rest.
    for number in (7, 0, len(trials) - 1, 12):
        assert _deep(trials[number]) == _deep(replayed[number])
    assert _deep([fast._rec.state.record(n) for n in trials]) == _deep(slow._rec.state.records())
    fast.close()
    slow.close()


def test_a_trial_table_with_rows_behaves_as_the_dict_it_stands_for() -> None:
    state, _ = _replayed(read_events(DATA / "study_v2"))
    built = dict(state.trials)
    numbers = list(built)
    table = TrialTable()
    asked: list[int] = []

    def build(row: int) -> Any:
        asked.append(row)
        return built[numbers[row]]

    table.hold(numbers, build)
    assert len(table) == len(built) and bool(table) and table.unbuilt == len(built)
    assert numbers[-1] in table and -1 not in table and asked == []
    assert table[numbers[-1]] is built[numbers[-1]] and asked == [len(numbers) - 1]
    with pytest.raises(RuntimeError, match="empty"):
        table.hold(numbers, build)
    extra = state.trials[numbers[0]]
    table[numbers[-1] + 1] = extra  # a trial created after the reopen comes last
    assert list(table) == [*numbers, numbers[-1] + 1]
    assert sorted(asked) == list(range(len(numbers)))  # each row built exactly once
    assert table == {**built, numbers[-1] + 1: extra}


def test_saving_the_state_at_close_sets_off_no_garbage_collections(tmp_path: Path) -> None:
    # The rows are built by the hundred thousand and none is in a cycle: each collection they
    # set off walks the whole study for nothing (at 50,000 trials, 3.1 s of a 1.2 s save).
    core = _open(tmp_path, ASHA(min_resource=1, max_resource=9, reduction_factor=3), load=False)
    _work(core, 300, seed=1)
    core._rec.log.snapshot()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        core._save_state()
    finally:
        gc.callbacks.remove(count)
    assert gc.isenabled()
    # One at most, as the collector comes back on (before: 82 for these 300 trials).
    assert len(collections) <= 1, collections
    assert list((tmp_path / "snapshots").glob("state-*.arrow"))
    core.close()


# --- states saved while the study runs --------------------------------------------------------


def _kill(core: ts.TrialSchedulerCore) -> None:
    """As a killed writer leaves the study: what was committed stays, nothing is closed."""
    core._closed.set()
    core._background.join()
    core._rec.log.commit()
    core._lease.release()


@pytest.mark.parametrize(
    ("scheduler", "lay_at"),
    [
        (ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote"), None),
        (ASHA(min_resource=1, max_resource=9, reduction_factor=3), None),
        (Hyperband(min_resource=1, max_resource=9, reduction_factor=3), None),
        # Chains laid together into a whole state as they are saved.
        (ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote"), 5),
    ],
    ids=["asha-promote", "asha-stop", "hyperband", "laid-together"],
)
def test_a_study_killed_before_it_ever_closed_opens_from_the_states_saved_while_it_ran(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scheduler: Scheduler,
    lay_at: int | None,
) -> None:
    from raysweep.orchestrator._storage import _log

    if lay_at is not None:
        monkeypatch.setattr(_log, "_STATE_MIN_SIZE", lay_at)
    core = _open(tmp_path, scheduler, load=False)
    for seed in range(1, 5):
        _work(core, 120, seed=seed)
        core._save_state_while_running()  # what the commit thread does with each snapshot
        if seed == 2:
            core._rec.log.snapshot()  # the chain may end before a state, or after it
    _work(core, 100, seed=9)
    _kill(core)
    states = sorted((tmp_path / "snapshots").glob("state-*"))
    if lay_at is None:
        # The first state holds every trial; each later one only what changed since, and
        # not the pruner's state (every fourth does): the reopen tells it what came after.
        assert len(states) == 4
        newest = parse_state_name(states[-1].name)
        assert newest is not None
        link = read_state_link(states[-1], states[-1].read_bytes(), newest)
        assert link.base is not None and "pruner" not in link.blobs
    else:
        assert len(states) < 4
    assert list((tmp_path / "segments").iterdir())  # events after the newest state

    _check_reopens_as_its_events_replayed(tmp_path, scheduler, rounds=200, seed=4)


def test_the_commit_thread_saves_the_state_with_each_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ts, "SNAPSHOT_EVERY", 200)
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 300, seed=1)
    assert core._rec.log.next_seq > 200
    deadline = time.monotonic() + 20
    while not list((tmp_path / "snapshots").glob("state-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    _work(core, 60, seed=2)
    _kill(core)
    log, events, report = EventLog.open(tmp_path, create=False, saved_state=True)
    assert log.saved_state is not None, "no state was saved while the study ran"
    assert report.events == log.next_seq and len(events) < log.next_seq
    log.close()
    _check_reopens_as_its_events_replayed(tmp_path, scheduler, rounds=100, seed=3)


def test_rows_the_log_did_not_save_go_into_the_next_state(tmp_path: Path) -> None:
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    core = _open(tmp_path, scheduler, load=False)
    _work(core, 150, seed=1)
    core._save_state_while_running()
    _work(core, 150, seed=2)
    rec = core._rec
    with core._lock:
        core._commit()
        changed = set(rec.state._unsaved)
        refused = rec.capture_state()
    assert refused.base_seq is not None and set(refused.columns["number"]) == changed
    rec.saver.confirm(rec.state, False)  # say the log could not save it
    _work(core, 30, seed=3)
    with core._lock:
        core._commit()
        again = rec.capture_state()
    assert set(again.columns["number"]) >= changed
    assert again.base_seq == refused.base_seq
    rec.saver.confirm(rec.state, rec.log.save_state(again) is not None)
    _kill(core)
    _check_reopens_as_its_events_replayed(tmp_path, scheduler, rounds=100, seed=5)


def test_a_chain_with_a_state_missing_replays_every_event(tmp_path: Path) -> None:
    scheduler = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    core = _open(tmp_path, scheduler, load=False)
    for seed in (1, 2, 3):
        _work(core, 100, seed=seed)
        core._save_state_while_running()
    _kill(core)
    _, middle, newest = sorted((tmp_path / "snapshots").glob("state-*"))
    middle.unlink()
    log, events, _ = EventLog.open(tmp_path, create=False, saved_state=True)
    assert log.saved_state is None and events[0].seq == 0
    log.close()
    # The writer that replayed saves a whole state next, and it replaces the broken chain.
    core = _open(tmp_path, scheduler, load=True)
    assert core._rec.log.state_base is None
    core.close()
    (whole,) = (tmp_path / "snapshots").glob("state-*")
    assert whole.name > newest.name
    _check_reopens_as_its_events_replayed(tmp_path, scheduler, rounds=60, seed=6)


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4)
)
_LONG_LISTS = (
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=60, max_size=90)
    | st.lists(st.integers(min_value=-(2**63), max_value=2**64), min_size=60, max_size=90)
    | st.lists(st.booleans(), min_size=60, max_size=90)
    | st.lists(st.integers(-3, 3) | st.floats(-1, 1), min_size=60, max_size=90)
)
_JSON = st.recursive(
    _JSON_LEAVES | _LONG_LISTS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(_JSON)
def test_a_pruners_data_packed_beside_its_json_comes_back_exactly(data: Any) -> None:
    blobs: dict[str, bytes] = {}
    text = json.dumps(_pack(data, blobs))
    assert _deep(_unpack(json.loads(text), blobs)) == _deep(data)


def test_long_lists_of_numbers_go_beside_the_json() -> None:
    scores = [0.5 * i for i in range(1000)]
    blobs: dict[str, bytes] = {}
    text = json.dumps(_pack({"rungs": [[scores, list(range(1000))]], "eta": 3}, blobs))
    assert len(blobs) == 2 and len(text) < 200


def _link(name: StateName, rows: dict[str, list[Any]], base: StateName | None) -> StateLink:
    saved = StateToSave(
        name.last_seq,
        "{}",
        rows,
        {"number": "int", "v": "str"},
        {},
        {"told": str(name.last_seq).encode()},
        None if base is None else base.last_seq,
    )
    return state_link("memory", saved_state_table(saved, name.generation, None, base), name)


def test_a_chain_of_states_lays_together_by_trial_number_or_not_at_all() -> None:
    a, b, c = StateName(10, 1), StateName(20, 1), StateName(30, 2)
    whole = _link(a, {"number": [0, 1, 2], "v": ["a0", "a1", "a2"]}, None)
    second = _link(b, {"number": [3, 1], "v": ["b3", "b1"]}, a)
    third = _link(c, {"number": [1, 4], "v": ["c1", "c4"]}, b)
    laid = lay([whole, second, third])
    assert laid.base is None and laid.name == c
    assert laid.table.to_pydict() == {
        "number": [0, 1, 2, 3, 4],
        "v": ["a0", "c1", "a2", "b3", "c4"],
    }
    assert laid.appended == {"told": b"102030"}
    for chain in ([second], [whole, third], [whole, second, second]):
        with pytest.raises(ValueError):
            lay(chain)
    other = StateToSave(20, "{}", {"number": [3]}, {"number": "int"}, {}, {"told": b""}, 10)
    with pytest.raises(ValueError, match="other columns"):
        lay([whole, state_link("memory", saved_state_table(other, 1, None, a), b)])
