"""The TrialScheduler: the one owner of a study's state and the only writer of its log.

It runs as a threaded Ray actor (see `_actors.py`); this module is plain Python so that it can be
driven directly in tests. Every change goes through `_emit`, which stages an event in the log and
applies it to the in-memory state, so the state is always what a replay of the log would give.
Callers that hand out work or close a trial wait for the commit (fsync); reports and decisions are
committed with the next batch, since a lost report only means the trial is re-run.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from raysweep.orchestrator import _events as ev
from raysweep.orchestrator._errors import DuplicatedStudyError, TrialStateError
from raysweep.orchestrator._lease import Lease
from raysweep.orchestrator._log import EventLog
from raysweep.orchestrator._protocol import (
    Assignment,
    Note,
    ParamNote,
    Progress,
    ReportNote,
    TrialOutcome,
    UserAttrNote,
)
from raysweep.orchestrator._state import StudyInfo, StudyState
from raysweep.samplers import (
    Distribution,
    IncompatibleDistributionError,
    StudyDirection,
    TrialRecord,
    TrialState,
    check_compatible,
)
from raysweep.scheduling import Decision, SchedulerState, scheduler_from_json

MAX_CRASHES = 3
_FLUSH_INTERVAL_S = 0.25
_HEARTBEAT_INTERVAL_S = 5.0


class SamplerClient(Protocol):
    def propose(
        self, number: int, updates: list[TrialRecord]
    ) -> dict[str, tuple[Distribution, Any]]: ...

    def suggest(
        self, number: int, name: str, distribution: Distribution, updates: list[TrialRecord]
    ) -> Any: ...


def _previous_owner(lease: Lease) -> str | None:
    owner = lease.previous_owner
    if owner is None:
        return None
    return f"{owner.describe(time.time())} ({lease.takeover_reason})"


class TrialSchedulerCore:
    def __init__(
        self,
        directory: str,
        requested: StudyInfo,
        *,
        load_if_exists: bool,
        seed_given: bool,
        lease_wait: float = 0.0,
    ) -> None:
        # Nothing that can fail happens here: errors raised by `open` reach the caller as
        # themselves, while a Ray actor whose constructor raises only reports that it died.
        self._directory = Path(directory)
        self._requested = requested
        self._load_if_exists = load_if_exists
        self._seed_given = seed_given
        self._lease_wait = lease_wait
        self._lock = threading.RLock()
        self._dirty: set[int] = set()
        self._runner_trials: dict[str, tuple[int, int]] = {}
        self._target: int | None = None
        self._accepting = False
        self._closed = threading.Event()
        self._sampler: SamplerClient | None = None

    def open(self) -> StudyInfo:
        """Take the lease, replay the log (creating the study if new); return the study's info."""
        with self._lock:
            self._lease = Lease.acquire(
                self._directory,
                description=f"raysweep study {self._requested.name!r}",
                wait=self._lease_wait,
            )
            try:
                self._log, events, self.replay_report = EventLog.open(self._directory, create=True)
                self._state = StudyState.replay(events)
                self._check_or_create(
                    self._requested,
                    load_if_exists=self._load_if_exists,
                    seed_given=self._seed_given,
                )
            except BaseException:
                self._lease.release()
                raise
            assert self._state.info is not None
            self.info = self._state.info
            self._scheduler = scheduler_from_json(self.info.scheduler)
            self._pruner: SchedulerState = self._scheduler.new_state(
                maximize=self.info.directions[0] is StudyDirection.MAXIMIZE
            )
            for event in events:
                if event.kind == ev.REPORT and event.trial is not None:
                    p = event.payload
                    self._pruner.on_report(
                        event.trial, int(p["attempt"]), int(p["step"]), ev.decode_float(p["value"])
                    )
            self._emit(
                ev.WRITER_STARTED,
                None,
                {
                    "host": socket.gethostname(),
                    "took_over_from": _previous_owner(self._lease),
                    "replay": None if self.replay_report.clean else self.replay_report.describe(),
                },
            )
            for trial in self._state.orphaned_running():
                self._emit(
                    ev.TRIAL_INTERRUPTED,
                    trial.number,
                    {
                        "attempt": trial.attempt,
                        "reason": "the study's previous writer stopped while it ran",
                        "crash": False,
                    },
                )
            self._log.commit()
            self._dirty = set(self._state.trials)
            self._background = threading.Thread(target=self._flush_loop, daemon=True)
            self._background.start()
            return self.info

    def attach_sampler(self, sampler: SamplerClient) -> None:
        with self._lock:
            self._sampler = sampler
            # A new (or restarted) sampler service knows nothing yet: send it everything.
            self._dirty = set(self._state.trials)

    def _sampler_client(self) -> SamplerClient:
        if self._sampler is None:
            raise RuntimeError("the TrialScheduler has no sampler attached")
        return self._sampler

    # ----- opening ------------------------------------------------------------------------------

    def _check_or_create(
        self, requested: StudyInfo, *, load_if_exists: bool, seed_given: bool
    ) -> None:
        existing = self._state.info
        if existing is None:
            self._emit(ev.STUDY_CREATED, None, requested.to_payload())
            self._log.commit()
            return
        if not load_if_exists:
            raise DuplicatedStudyError(
                f"study {existing.name!r} already exists in this storage; pass "
                "load_if_exists=True to continue it, or choose another name"
            )
        if existing.directions != requested.directions:
            raise ValueError(
                f"study {existing.name!r} was created with directions "
                f"{[d.value for d in existing.directions]}, not "
                f"{[d.value for d in requested.directions]}; a study's directions cannot change"
            )
        if seed_given and existing.seed != requested.seed:
            raise ValueError(
                f"study {existing.name!r} was created with seed {existing.seed}, not "
                f"{requested.seed}; drop the seed argument or pass seed={existing.seed}"
            )

    # ----- the log ------------------------------------------------------------------------------

    def _emit(self, kind: str, trial: int | None, payload: dict[str, Any]) -> None:
        with self._lock:
            event = self._log.stage(kind, trial, payload)
            self._state.apply(event)
            if trial is not None:
                self._dirty.add(trial)

    def _flush_loop(self) -> None:
        last_beat = time.monotonic()
        while not self._closed.wait(_FLUSH_INTERVAL_S):
            self._log.commit()
            if time.monotonic() - last_beat >= _HEARTBEAT_INTERVAL_S:
                self._lease.heartbeat()
                last_beat = time.monotonic()

    def _take_updates(self) -> list[TrialRecord]:
        updates = [self._state.record(n) for n in sorted(self._dirty)]
        self._dirty.clear()
        return updates

    # ----- optimize -----------------------------------------------------------------------------

    def start_optimize(self, n_trials: int) -> int:
        """Aim for `n_trials` finished trials in total; returns how many are still to run."""
        with self._lock:
            self._target = n_trials
            self._accepting = True
            return max(0, n_trials - self._state.finished_count())

    def stop_new_trials(self) -> None:
        with self._lock:
            self._accepting = False

    def next_trial(self, runner: str, outcome: TrialOutcome | None) -> Assignment | None:
        with self._lock:
            if outcome is not None:
                self._close_attempt(runner, outcome)
            assignment = self._assign(runner) if self._wants_more() else None
        self._log.commit()
        return assignment

    def wants_more(self) -> bool:
        with self._lock:
            return self._wants_more()

    def _wants_more(self) -> bool:
        if not self._accepting or self._target is None:
            return False
        in_flight = len(self._runner_trials)
        return self._state.finished_count() + in_flight < self._target

    def _assign(self, runner: str) -> Assignment:
        waiting = self._state.waiting_optimize_trials()
        if waiting:
            number = waiting[0]
            attempt = self._state.trials[number].attempt + 1
        else:
            number, attempt = self._state.next_number, 0
            self._emit(ev.TRIAL_CREATED, number, {"origin": ev.ORIGIN_OPTIMIZE})
        self._emit(ev.TRIAL_STARTED, number, {"attempt": attempt, "runner": runner})
        self._runner_trials[runner] = (number, attempt)
        return self._assignment(number, attempt)

    def _assignment(self, number: int, attempt: int) -> Assignment:
        proposal = self._sampler_client().propose(number, self._take_updates())
        trial = self._state.trials[number]
        return Assignment(
            number=number,
            attempt=attempt,
            params=dict(trial.params),
            distributions=dict(trial.distributions),
            proposal=proposal,
            scheduler=self._scheduler,
            n_objectives=len(self.info.directions),
        )

    def _close_attempt(self, runner: str | None, outcome: TrialOutcome) -> None:
        if runner is not None:
            self._runner_trials.pop(runner, None)
        trial = self._state.trials.get(outcome.number)
        if trial is None or trial.attempt != outcome.attempt or trial.state.is_finished():
            return  # a late message about an attempt already closed
        self._apply_notes(outcome.number, outcome.attempt, outcome.notes)
        if outcome.state is None:
            self._interrupt(outcome.number, outcome.error or "interrupted", crash=False)
            return
        self._emit(
            ev.TRIAL_FINISHED,
            outcome.number,
            {
                "attempt": outcome.attempt,
                "state": outcome.state.value,
                "values": ev.encode_values(outcome.values),
                "error": outcome.error,
            },
        )

    def _interrupt(self, number: int, reason: str, *, crash: bool) -> None:
        """End the attempt without a result, so that the trial is re-run.

        A stop the user asked for is not the trial's fault and never counts; a crash of the
        runner counts, so that a trial which kills its process every time ends as FAILED.
        """
        trial = self._state.trials[number]
        if crash and trial.crashes + 1 >= MAX_CRASHES:
            self._emit(
                ev.TRIAL_FINISHED,
                number,
                {
                    "attempt": trial.attempt,
                    "state": TrialState.FAILED.value,
                    "values": None,
                    "error": f"its runner crashed {MAX_CRASHES} times; the last time: {reason}",
                },
            )
            return
        self._emit(
            ev.TRIAL_INTERRUPTED,
            number,
            {"attempt": trial.attempt, "reason": reason, "crash": crash},
        )

    def runner_lost(self, runner: str, reason: str, crash: bool) -> None:
        """A runner is gone (died, or killed on Ctrl-C): its trial is re-run, not failed."""
        with self._lock:
            held = self._runner_trials.pop(runner, None)
            if held is not None:
                number, attempt = held
                trial = self._state.trials[number]
                if trial.attempt == attempt and trial.state is TrialState.RUNNING:
                    self._interrupt(number, reason, crash=crash)
        self._log.commit()

    # ----- inside a trial -----------------------------------------------------------------------

    def _apply_notes(self, number: int, attempt: int, notes: tuple[Note, ...]) -> Decision | None:
        decision = None
        for note in notes:
            if isinstance(note, ParamNote):
                self._record_param(number, note.name, note.distribution, note.value)
            elif isinstance(note, UserAttrNote):
                self._emit(ev.USER_ATTR, number, {"key": note.key, "value": note.value})
            elif isinstance(note, ReportNote):
                decision = self._record_report(number, attempt, note)
        return decision

    def _record_param(self, number: int, name: str, dist: Distribution, value: Any) -> None:
        trial = self._state.trials[number]
        if name in trial.params:
            return
        self._emit(ev.PARAM, number, {"name": name, "distribution": dist.to_json(), "value": value})

    def _record_report(self, number: int, attempt: int, note: ReportNote) -> Decision:
        self._emit(
            ev.REPORT,
            number,
            {"attempt": attempt, "step": note.step, "value": ev.encode_float(note.value)},
        )
        decision = self._pruner.on_report(number, attempt, note.step, note.value)
        if decision.rung is not None:
            self._emit(ev.DECISION, number, {"attempt": attempt, **decision.to_json()})
        return decision

    def report(self, number: int, attempt: int, notes: tuple[Note, ...]) -> Decision | None:
        """Record a runner's batch; returns the decision of its last report, if any."""
        with self._lock:
            self._require_running(number, attempt)
            return self._apply_notes(number, attempt, notes)

    def report_later(self, number: int, attempt: int, notes: tuple[Note, ...]) -> None:
        """A batch sent without waiting; it may arrive after the attempt closed.

        Threaded actors do not keep a caller's calls in order, so the notes of a closed attempt
        are still recorded (the values happened), just not judged by the pruner.
        """
        with self._lock:
            trial = self._state.trials.get(number)
            if trial is None or trial.attempt != attempt:
                return
            if trial.state is TrialState.RUNNING:
                self._apply_notes(number, attempt, notes)
                return
            for note in notes:
                if isinstance(note, ReportNote):
                    self._emit(
                        ev.REPORT,
                        number,
                        {
                            "attempt": attempt,
                            "step": note.step,
                            "value": ev.encode_float(note.value),
                        },
                    )
                elif isinstance(note, UserAttrNote):
                    self._emit(ev.USER_ATTR, number, {"key": note.key, "value": note.value})

    def suggest(
        self,
        number: int,
        attempt: int,
        name: str,
        distribution: Distribution,
        notes: tuple[Note, ...],
    ) -> Any:
        with self._lock:
            self._require_running(number, attempt)
            self._apply_notes(number, attempt, notes)
            trial = self._state.trials[number]
            if name in trial.params:
                check_compatible(trial.distributions[name], distribution)
                return trial.params[name]
            self._check_across_trials(name, distribution)
            value = self._sampler_client().suggest(number, name, distribution, self._take_updates())
            self._record_param(number, name, distribution, value)
            return value

    def _check_across_trials(self, name: str, distribution: Distribution) -> None:
        known = self._state.distributions.get(name)
        if known is not None:
            try:
                check_compatible(known, distribution)
            except IncompatibleDistributionError as exc:
                raise IncompatibleDistributionError(f"parameter {name!r}: {exc}") from None

    def _require_running(self, number: int, attempt: int) -> None:
        trial = self._state.trials.get(number)
        if trial is None:
            raise TrialStateError(f"trial {number} does not exist in this study")
        if trial.state is not TrialState.RUNNING or trial.attempt != attempt:
            raise TrialStateError(
                f"trial {number} (attempt {attempt}) is not running: it is "
                f"{trial.state.value} at attempt {trial.attempt}"
            )

    # ----- ask / tell ---------------------------------------------------------------------------

    def ask(self) -> Assignment:
        with self._lock:
            number = self._state.next_number
            self._emit(ev.TRIAL_CREATED, number, {"origin": ev.ORIGIN_ASK})
            assignment = self._assignment(number, 0)
        self._log.commit()
        return assignment

    def tell(
        self,
        number: int,
        state: TrialState,
        values: tuple[float, ...] | None,
        error: str | None,
        notes: tuple[Note, ...] = (),
    ) -> TrialRecord:
        with self._lock:
            trial = self._state.trials.get(number)
            if trial is None:
                raise TrialStateError(f"trial {number} does not exist in this study")
            if trial.state is not TrialState.RUNNING:
                raise TrialStateError(
                    f"trial {number} cannot be told: it is already {trial.state.value}"
                )
            outcome = TrialOutcome(number, trial.attempt, state, values, error, notes)
            self._close_attempt(None, outcome)
            record = self._state.record(number)
        self._log.commit()
        return record

    # ----- reading ------------------------------------------------------------------------------

    def records(self) -> list[TrialRecord]:
        with self._lock:
            return self._state.records()

    def record(self, number: int) -> TrialRecord:
        with self._lock:
            if number not in self._state.trials:
                raise TrialStateError(f"trial {number} does not exist in this study")
            return self._state.record(number)

    def progress(self) -> Progress:
        with self._lock:
            counts: dict[str, int] = {}
            best: float | None = None
            maximize = self.info.directions[0] is StudyDirection.MAXIMIZE
            for trial in self._state.trials.values():
                counts[trial.state.value] = counts.get(trial.state.value, 0) + 1
                if trial.state is TrialState.COMPLETE and trial.values and len(trial.values) == 1:
                    v = trial.values[0]
                    if not math.isnan(v) and (best is None or (v > best if maximize else v < best)):
                        best = v
            return Progress(
                counts=counts,
                best_value=best,
                target=self._target,
                finished=self._state.finished_count(),
                accepting=self._accepting,
            )

    def close(self) -> None:
        self._closed.set()
        self._background.join()
        with self._lock:
            self._log.commit()
            self._log.close()
            self._lease.release()
