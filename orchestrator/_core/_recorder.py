"""The study's facts as they happen: stage an event, apply it, let the pruner judge reports.

`StudyRecorder` is what the TrialScheduler does to its log and state, without the locking, the
lease, the sampler or the runners. Every change goes through `emit`, which stages an event in the
log and applies it to the in-memory state, so the state is always what a replay would give.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core._protocol import (
    Note,
    ParamNote,
    ReportNote,
    TrialOutcome,
    Updates,
    UserAttrNote,
)
from raysweep.orchestrator._core._state import StudyInfo, StudyState
from raysweep.orchestrator._core._state_table import (
    LoadedState,
    StateSaver,
    StateToSave,
    Told,
    load_state,
)
from raysweep.orchestrator._core._store import ReplayFindings, StudyLog, StudyStore
from raysweep.orchestrator._errors import DuplicatedStudyError
from raysweep.orchestrator._storage._event import Event
from raysweep.samplers import Distribution, StudyDirection, TrialState, sampler_from_json
from raysweep.scheduling import (
    Decision,
    Promotion,
    Scheduler,
    SchedulerState,
    scheduler_from_json,
)

# A runner process that dies this many times on one trial fails the trial: it would kill the
# next runner too.
MAX_CRASHES = 3


def check_reopen(existing: StudyInfo, requested: StudyInfo, *, given: frozenset[str]) -> None:
    """Refuse to continue a study under settings it was not created with.

    `given`: which of "seed", "sampler", "scheduler" the caller passed; those left out follow
    the log. A study keeps its sampler and scheduler: its log, its proposals and its rungs were
    made by them, and a silent change would mix two studies under one name.
    """
    if existing.directions != requested.directions:
        raise ValueError(
            f"study {existing.name!r} was created with directions "
            f"{[d.value for d in existing.directions]}, not "
            f"{[d.value for d in requested.directions]}; a study's directions cannot change"
        )
    if "seed" in given and existing.seed != requested.seed:
        raise ValueError(
            f"study {existing.name!r} was created with seed {existing.seed}, not "
            f"{requested.seed}; drop the seed argument or pass seed={existing.seed}"
        )
    for what, normalize in (("sampler", _sampler_json), ("scheduler", _scheduler_json)):
        if what not in given:
            continue
        recorded, passed = getattr(existing, what), getattr(requested, what)
        if normalize(recorded) != normalize(passed):
            raise ValueError(
                f"study {existing.name!r} was created with {what} {_show(recorded)}, not "
                f"{_show(passed)}; a study keeps the {what} it was created with: drop {what}= "
                f"to continue with it, or create a new study to use another"
            )


def _sampler_json(data: dict[str, Any]) -> dict[str, Any]:
    # Rebuilt, so that an argument added since the log was written compares by its default.
    try:
        return sampler_from_json(data).to_json()
    except (TypeError, ValueError):
        return data  # a user's own sampler class: compared as recorded


def _scheduler_json(data: dict[str, Any]) -> dict[str, Any]:
    return scheduler_from_json(data).to_json()


def _show(data: dict[str, Any]) -> str:
    if "class" in data and isinstance(data.get("arguments"), dict):
        arguments = ", ".join(f"{k}={v!r}" for k, v in data["arguments"].items())
        return f"{data['class']}({arguments})"
    return json.dumps(data, sort_keys=True)


class StudyRecorder:
    def __init__(
        self,
        log: StudyLog,
        state: StudyState,
        told: Told,
        pruner: dict[str, Any] | None = None,
        saver: StateSaver | None = None,
        pruner_told: int = 0,
    ) -> None:
        """`told`: what the pruner was told, in order (from the replay, or a saved state);
        `pruner`: the pruner's state saved with it, if any (`SchedulerState.saved`); `saver`:
        what saves the study's state next (`load_state` makes the one of a saved state);
        `pruner_told`: how many of `told` the pruner had been told when `pruner` was saved."""
        assert state.info is not None
        self.log = log
        self.state = state
        self.info: StudyInfo = state.info
        self.scheduler: Scheduler = scheduler_from_json(self.info.scheduler)
        self._pruner: SchedulerState = self.scheduler.new_state(
            maximize=self.info.directions[0] is StudyDirection.MAXIMIZE
        )
        # The pruner's state is rebuilt from what it was told, in the order it was told, and
        # what it is told from now on is kept too: a saved state holds it (`_state_table`).
        if self._restore_pruner(pruner):
            told.feed(self._pruner, start=pruner_told)
        else:
            told.feed(self._pruner)
        self.told = told
        self.saver = saver if saver is not None else StateSaver()
        # Trials whose record the sampler service has not seen since they changed.
        self.dirty: set[int] = set()
        self._send_all = True
        self._updates_version = 0

    def _tell_pruner(self, told: Told) -> None:
        """Tell the pruner what it was told after the state it was rebuilt from, and keep it."""
        told.feed(self._pruner)
        self.told.extend(told)

    def _restore_pruner(self, saved: dict[str, Any] | None) -> bool:
        """Whether the pruner was restored from `saved` (else it is fresh, to be fed)."""
        if saved is None:
            return False
        try:
            self._pruner.restore(saved)
        except (ValueError, KeyError, TypeError):
            # Saved by another raysweep, say: judging the reports again is always right.
            self._pruner = self.scheduler.new_state(
                maximize=self.info.directions[0] is StudyDirection.MAXIMIZE
            )
            return False
        return True

    @classmethod
    def open(
        cls,
        store: StudyStore,
        requested: StudyInfo,
        *,
        load_if_exists: bool,
        given: frozenset[str],
    ) -> tuple[StudyRecorder, ReplayFindings]:
        with _bulk_load():
            return cls._open(store, requested, load_if_exists=load_if_exists, given=given)

    @classmethod
    def _open(
        cls,
        store: StudyStore,
        requested: StudyInfo,
        *,
        load_if_exists: bool,
        given: frozenset[str],
    ) -> tuple[StudyRecorder, ReplayFindings]:
        log, events, report = store.open_log(saved_state=True)
        loaded = _load_saved(log)
        log.drop_saved_state()  # read: the state holds what the study needs of it
        if log.from_saved_state and loaded is None:
            # Saved by a raysweep that saves another layout: the events are the truth.
            log.close()
            log, events, report = store.open_log()
        told, pruner, pruner_told, saver, later = Told(), None, 0, None, Told()
        try:
            if loaded is not None:
                # The saved state, then what was written after it (a writer that stopped
                # without closing).
                state, told, pruner, pruner_told, saver = loaded
                state.replay_onto(events, _told(later))
            else:
                state = StudyState.replay(events, _told(told))
            if state.info is None:
                created = requested.to_payload()
                state.apply(log.append(created.kind.value, None, created.to_json()))
            elif not load_if_exists:
                raise DuplicatedStudyError(
                    f"study {state.info.name!r} already exists in this storage; pass "
                    "load_if_exists=True to continue it, or choose another name"
                )
            else:
                check_reopen(state.info, requested, given=given)
        except BaseException:
            log.close()
            raise
        del events  # read: the state holds what the study needs of them
        recorder = cls(log, state, told, pruner, saver, pruner_told)
        recorder._tell_pruner(later)
        return recorder, report

    def pruner_saved(self) -> dict[str, Any] | None:
        """The pruner's state as data (`SchedulerState.saved`), for a saved state."""
        return self._pruner.saved()

    def capture_state(self, *, with_pruner: bool = False) -> StateToSave:
        """The state to save now (`StateSaver.capture`); `saver.confirm` once it was saved."""
        return self.saver.capture(
            self.state, self.told, self.pruner_saved, self.log.state_base, with_pruner=with_pruner
        )

    def emit(self, payload: ev.Payload, trial: int | None = None) -> None:
        """Apply one event as a replay will read it back, and stage it if it applied.

        An event that cannot apply raises here and is never written: in the log it would fail
        every replay of the study.
        """
        self.log.stage(payload.kind.value, trial, payload.to_json(), check=self.state.apply)
        if trial is not None:
            self.dirty.add(trial)

    def send_all(self) -> None:
        """The next updates carry every trial (a new or restarted SamplerService)."""
        self._send_all = True

    def take_updates(self) -> Updates:
        self._updates_version += 1
        complete, self._send_all = self._send_all, False
        if complete:
            records = tuple(self.state.records())
        else:
            records = tuple(self.state.record(n) for n in sorted(self.dirty))
        self.dirty.clear()
        return Updates(self._updates_version, records, complete)

    def apply_notes(
        self, number: int, attempt: int, notes: tuple[Note, ...], *, judge: bool = True
    ) -> Decision | None:
        """Record what a trial learned; with `judge`, the pruner decides on its reports."""
        decision = None
        for note in notes:
            if isinstance(note, ParamNote):
                self.record_param(number, note.name, note.distribution, note.value)
            elif isinstance(note, UserAttrNote):
                self.emit(ev.UserAttrSet(note.key, note.value), number)
            elif isinstance(note, ReportNote):
                # Not judged now, so that a replay does not judge it either.
                self.emit(ev.ReportMade(attempt, note.step, note.value, judged=judge), number)
                if judge:
                    decision = self._judge(number, attempt, note)
        return decision

    def _judge(self, number: int, attempt: int, note: ReportNote) -> Decision:
        self.told.report(number, attempt, note.step, note.value)
        decision = self._pruner.on_report(number, attempt, note.step, note.value)
        if decision.rung is not None:
            self.emit(
                ev.DecisionMade(attempt, decision.action.value, decision.reason, decision.rung),
                number,
            )
        return decision

    def take_promotion(self, *, final: bool = False) -> Promotion | None:
        """The paused trial the scheduler promotes now, if any. A query: it records nothing.

        Only trials the study has recorded as PAUSED can be promoted. One the scheduler told to
        pause whose runner is still saving its checkpoint is passed over until its pause is
        recorded; one whose runner died first is re-run, and pauses at its rung again.
        """
        trials = self.state.trials
        return self._pruner.promotion(
            final=final, ready=lambda number: trials[number].state is TrialState.PAUSED
        )

    def promotions(self, *, final: bool = False, limit: int = 16) -> list[Promotion]:
        """The paused trials the scheduler could promote now, first `take_promotion`'s; a
        query, like it."""
        trials = self.state.trials
        return self._pruner.promotions(
            final=final, ready=lambda number: trials[number].state is TrialState.PAUSED, limit=limit
        )

    def resume(
        self, promotion: Promotion, runner: str, placement: dict[str, Any] | None = None
    ) -> None:
        """Start a promoted trial again on `runner` (same attempt: it continues)."""
        self.emit(_resumed(promotion, runner=runner, placement=placement), promotion.trial)
        self.told.resume(promotion.trial)
        self._pruner.on_resume(promotion.trial)

    def record_param(self, number: int, name: str, dist: Distribution, value: Any) -> None:
        if name not in self.state.trials[number].params:
            self.emit(ev.ParamDrawn(name, dist.to_json(), value), number)

    def close_attempt(self, outcome: TrialOutcome) -> int | None:
        """Record how an attempt ended; returns the step of a checkpoint no longer needed."""
        trial = self.state.trials.get(outcome.number)
        if (
            trial is None
            or trial.attempt != outcome.attempt
            or trial.state not in (TrialState.RUNNING, TrialState.WAITING)
            or (trial.state is TrialState.WAITING and outcome.state is None)
        ):
            # A late message about an attempt already closed (finished, or re-run since).
            return None
        # A WAITING trial of this attempt was interrupted while its runner went on (a restarted
        # scheduler queues running trials for a re-run): the result it sends now is kept, and
        # the trial is not run again.
        self.apply_notes(outcome.number, outcome.attempt, outcome.notes)
        if outcome.state is None:
            reason = outcome.error or "interrupted"
            self.interrupt(outcome.number, reason, crash=outcome.crash, energy=outcome.energy)
            return None
        old = trial.checkpoint_step
        if outcome.state is TrialState.PAUSED and outcome.paused_at is not None:
            paused = ev.TrialPaused(
                outcome.attempt, outcome.paused_at, outcome.checkpoint, outcome.energy
            )
            self.emit(paused, outcome.number)
            return old if old != trial.checkpoint_step else None
        self._finish_outcome(outcome)
        return old

    def _finish_outcome(self, outcome: TrialOutcome) -> None:
        state, values, error = outcome.state, outcome.values, outcome.error
        assert state is not None
        constraints = outcome.constraints
        problem = self.constraints_problem(constraints, state)
        if problem is not None:
            state, values, error, constraints = TrialState.FAILED, None, problem, None
        self.finish(
            outcome.number,
            state,
            values,
            error,
            constraints,
            request=outcome.request,
            energy=outcome.energy,
        )

    def constraints_problem(
        self, constraints: tuple[float, ...] | None, state: TrialState
    ) -> str | None:
        """Why a trial's constraints do not fit the study's, or None when they do.

        The first trial that reports constraints fixes how many every trial reports: a feasible
        best trial means nothing if some trials were judged on fewer constraints.
        """
        expected = self.state.n_constraints
        if constraints is not None and expected is not None and len(constraints) != expected:
            return (
                f"the trial reported {len(constraints)} constraint values; this study's trials "
                f"report {expected} (set_constraints / tell(constraints=...) must always pass "
                "the same number, one per constraint)"
            )
        if constraints is None and expected is not None and state is TrialState.COMPLETE:
            return (
                f"the trial completed without constraint values; this study's trials report "
                f"{expected}: call trial.set_constraints([...]) (or tell(..., constraints=[...])) "
                "before the trial ends"
            )
        return None

    def finish(
        self,
        number: int,
        state: TrialState,
        values: tuple[float, ...] | None,
        error: str | None,
        constraints: tuple[float, ...] | None = None,
        *,
        request: str | None = None,
        energy: dict[str, Any] | None = None,
    ) -> None:
        attempt = self.state.trials[number].attempt
        finished = ev.TrialFinished(
            attempt, state.value, values, error, constraints, request, energy
        )
        self.emit(finished, number)

    def interrupt(
        self, number: int, reason: str, *, crash: bool, energy: dict[str, Any] | None = None
    ) -> None:
        """End the attempt without a result, so that the trial is re-run.

        A stop the user asked for is not the trial's fault and never counts; a crash of the
        runner counts, so that a trial which kills its process every time ends as FAILED.
        """
        trial = self.state.trials[number]
        if crash and trial.crashes + 1 >= MAX_CRASHES:
            error = f"its runner crashed {MAX_CRASHES} times; the last time: {reason}"
            self.finish(number, TrialState.FAILED, None, error, energy=energy)
            return
        self.emit(ev.TrialInterrupted(trial.attempt, reason, crash, energy), number)


def _told(into: Told) -> Callable[[Event, ev.Payload], None]:
    """An observer of the replay that keeps what the pruner was told: judged reports and
    resumptions, with their trial (decisions are logged for readers, never replayed)."""

    def observe(event: Event, payload: ev.Payload) -> None:
        if isinstance(payload, ev.ReportMade):
            if payload.judged:
                assert event.trial is not None  # decode_payload checked it
                into.report(event.trial, int(payload.attempt), int(payload.step), payload.value)
        elif isinstance(payload, ev.TrialResumed):
            assert event.trial is not None
            into.resume(event.trial)

    return observe


def _load_saved(log: StudyLog) -> LoadedState | None:
    """The state and pruner inputs of the state the log found saved; None if it found none,
    or one of a layout this raysweep does not read."""
    saved = log.saved_state
    if saved is None:
        return None
    try:
        return load_state(saved.last_seq, saved.study, saved.columns, saved.blobs)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


@contextlib.contextmanager
def _bulk_load() -> Iterator[None]:
    """No cyclic garbage collection while a study is read back: the replay makes millions of
    objects that live on (and no cycles to collect), which sets off collections that walk them
    all, again and again, for half the time of the replay.

    Then they are frozen (`gc.freeze`): they live as long as the study, and later collections,
    the first one included, need not walk them (at 100,000 trials each full one would take a
    good fraction of a second). `TrialSchedulerCore.close` unfreezes them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def _resumed(
    promotion: Promotion, *, runner: str, placement: dict[str, Any] | None = None
) -> ev.TrialResumed:
    return ev.TrialResumed(
        promotion.trial, promotion.rung, promotion.reason, runner=runner, placement=placement
    )
