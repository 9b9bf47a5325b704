"""Study state rebuilt from the event log: events in, trial records out.

`StudyState.apply` is the only way state changes, both while the study runs and on replay, so a
study reopened from its log is the study that was written. It does no I/O and needs no Ray.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import math
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    ValuesView,
)
from dataclasses import dataclass, field
from typing import Any, ClassVar

from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core._hardware_use import held_resources, tally_close, tally_open
from raysweep.orchestrator._errors import CorruptLogError
from raysweep.orchestrator._storage._event import Event
from raysweep.samplers import (
    Distribution,
    StudyDirection,
    TrialRecord,
    TrialState,
    distribution_from_json,
)


@dataclass(frozen=True)
class StudyInfo:
    """What `study_created` fixed for the life of the study."""

    name: str
    directions: tuple[StudyDirection, ...]
    seed: int
    seed_source: str
    sampler: dict[str, Any]
    scheduler: dict[str, Any]

    def to_payload(self) -> ev.StudyCreated:
        return ev.StudyCreated(
            name=self.name,
            directions=[d.value for d in self.directions],
            seed=self.seed,
            seed_source=self.seed_source,
            sampler=self.sampler,
            scheduler=self.scheduler,
        )

    @classmethod
    def from_payload(cls, payload: ev.StudyCreated) -> StudyInfo:
        return cls(
            name=payload.name,
            directions=tuple(StudyDirection(d) for d in payload.directions),
            seed=int(payload.seed),
            seed_source=payload.seed_source,
            sampler=payload.sampler,
            scheduler=payload.scheduler,
        )


@dataclass
class ResourceUsage:
    """The training work a study did, counted in reported steps (epochs, say).

    ``repeated_steps`` counts reports at a step the trial had already reported: work done again
    because a trial was resumed without a checkpoint (restarted from scratch) or re-run after
    its runner was lost.
    """

    reported_steps: int = 0
    repeated_steps: int = 0
    pauses: int = 0
    resumed_from_checkpoint: int = 0
    restarted_from_scratch: int = 0


@dataclass(slots=True)
class _Trial:
    number: int
    origin: str
    state: TrialState = TrialState.WAITING
    attempt: int = -1
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    values: tuple[float, ...] | None = None
    constraints: tuple[float, ...] | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    started: float | None = None
    completed: float | None = None
    runner: str | None = None
    crashes: int = 0
    # Promote mode: the step of the last checkpoint saved (None: none), kept while paused and
    # after, so that a re-run after a crash resumes from it too. Its place follows from the
    # trial's number and this step; the location the log names is never used.
    checkpoint_step: int | None = None
    paused_step: int | None = None
    # The highest step ever reported by any attempt: a report at or below it is work repeated.
    high_step: int = 0
    # The up-front proposal handed out when the trial was created (name -> distribution, value).
    proposal: dict[str, tuple[Distribution, Any]] = field(default_factory=dict)
    # The id of the `tell` call that finished it (a retried one is answered, not applied).
    told_by: str | None = None
    # Where its latest attempt ran or runs (`Placement.to_json`), if known.
    placement: dict[str, Any] | None = None
    # What its attempts held and used (`_hardware_use.tally_open/close`); None: no attempt
    # with a known placement yet.
    hardware: dict[str, Any] | None = None

    def record(self) -> TrialRecord:
        # Every value was checked on its way into the log, to TrialRecord's rules; the record
        # gets copies (user attributes deep ones, as a checked record's are).
        user_attrs = copy.deepcopy(self.user_attrs) if self.user_attrs else {}
        return TrialRecord.unchecked(
            self.number,
            self.state,
            dict(self.params),
            dict(self.distributions),
            self.values,
            self.constraints,
            dict(self.intermediate),
            max(self.attempt, 0),
            user_attrs,
            self.error,
            self.started,
            self.completed,
        )


class TrialTable(dict[int, _Trial]):
    """Trial number -> trial, in number order; trials read back from a saved state are built
    on first access.

    Reopening a 100,000-trial study from its saved state would otherwise build every trial's
    objects before the study can answer anything, though a reopen mostly touches a few (the
    best, the unfinished, the new). Looking one up builds it (``dict``'s own ``__missing__``
    hook, so a built trial costs a plain lookup); anything that walks the table builds the
    rest first and puts the table back in number order.
    """

    __slots__ = ("_before_all", "_build", "_unbuilt")

    def __init__(self) -> None:
        super().__init__()
        # Number -> row, of the trials not built yet; `_build(row)` builds one.
        self._unbuilt: dict[int, int] = {}
        self._build: Callable[[int], _Trial] | None = None
        self._before_all: Callable[[], None] | None = None

    def hold(
        self,
        numbers: Iterable[int],
        build: Callable[[int], _Trial],
        before_all: Callable[[], None] | None = None,
    ) -> None:
        """Hold trial ``numbers[row]`` as row ``row``, built by ``build(row)`` when needed;
        ``before_all`` is called before the rows still held are all built at once. Only for a
        new, empty table: the rows' numbers come before any trial added later."""
        if dict.__len__(self) or self._unbuilt:
            raise RuntimeError("rows go into an empty trial table")
        self._unbuilt = {number: row for row, number in enumerate(numbers)}
        self._build, self._before_all = build, before_all

    @property
    def unbuilt(self) -> int:
        """How many trials are still rows."""
        return len(self._unbuilt)

    def __missing__(self, number: int) -> _Trial:
        row = self._unbuilt.pop(number, None)
        if row is None:
            raise KeyError(number)
        assert self._build is not None
        trial = self._build(row)
        dict.__setitem__(self, number, trial)
        return trial

    def build_all(self) -> None:
        """Build every trial still a row, and restore number order."""
        if not self._unbuilt:
            return
        assert self._build is not None
        if self._before_all is not None:
            self._before_all()
        build, unbuilt = self._build, self._unbuilt
        self._unbuilt = {}
        with gc_paused():
            merged = sorted(
                [*dict.items(self), *((number, build(row)) for number, row in unbuilt.items())],
                key=_first,
            )
            dict.clear(self)
            dict.update(self, merged)

    def __contains__(self, number: object) -> bool:
        return dict.__contains__(self, number) or number in self._unbuilt

    def get(self, number: int, default: _Trial | None = None) -> _Trial | None:  # type: ignore[override]
        trial = dict.get(self, number)
        if trial is None and number in self._unbuilt:
            return self[number]
        return default if trial is None else trial

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._unbuilt)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[int]:
        self.build_all()
        return dict.__iter__(self)

    def keys(self) -> KeysView[int]:  # type: ignore[override]
        self.build_all()
        return dict.keys(self)

    def values(self) -> ValuesView[_Trial]:  # type: ignore[override]
        self.build_all()
        return dict.values(self)

    def items(self) -> ItemsView[int, _Trial]:  # type: ignore[override]
        self.build_all()
        return dict.items(self)

    def __eq__(self, other: object) -> bool:
        self.build_all()
        return dict.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        self.build_all()
        return dict.__repr__(self)

    def copy(self) -> dict[int, _Trial]:
        self.build_all()
        return dict(dict.items(self))

    def pop(self, *args: Any) -> Any:
        self.build_all()
        return dict.pop(self, *args)

    def popitem(self) -> tuple[int, _Trial]:
        self.build_all()
        return dict.popitem(self)

    def setdefault(self, *args: Any) -> Any:
        self.build_all()
        return dict.setdefault(self, *args)

    def __delitem__(self, number: int) -> None:
        self.build_all()
        dict.__delitem__(self, number)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection while many objects that stay are built at once.

    Building a 100,000-trial study's objects would otherwise set off collection after
    collection, each walking every object built so far, for nothing: they all stay, and none
    holds a cycle that only the collector could free.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first(item: tuple[int, _Trial]) -> int:
    return item[0]


class StudyState:
    """The trials of one study, as the log says they are."""

    def __init__(self) -> None:
        self.info: StudyInfo | None = None
        self.trials = TrialTable()
        # One past the highest trial number created: a gap in the log never reuses a number.
        self._next_number = 0
        # `ask` call id -> the trial it created, so that a retried call gets the same one.
        self.asked: dict[str, int] = {}
        # The latest distribution of each parameter name in the study, for compatibility checks.
        self.distributions: dict[str, Distribution] = {}
        self.last_seq = -1
        # Kept as trials change state, so that the scheduler's per-trial questions ("how many
        # have finished?", "which wait for a re-run?") do not scan the whole study.
        self._by_state: dict[TrialState, int] = dict.fromkeys(TrialState, 0)
        # The last `optimize` call's goal, so that a restarted scheduler carries on with it.
        self.optimize_target: int | None = None
        self.optimize_concurrency = 1
        self.optimizing = False
        # The detached run the last `optimize_started` belongs to (None: a driver's call).
        self.optimize_run: str | None = None
        self._waiting_optimize: set[int] = set()
        # Trials of `optimize` running now: what a new writer finds orphaned.
        self._running_optimize: set[int] = set()
        # Set by the first trial that reports constraints: every later one must report as many.
        self.n_constraints: int | None = None
        self.usage = ResourceUsage()
        # Each trial's record, built when asked and dropped when an event changes the trial:
        # `records()` on a large study then builds only what changed since the last call.
        self._records: dict[int, TrialRecord] = {}
        # Distributions by their JSON, shared: a study draws from a few, logged in every trial.
        self._distributions = _Distributions()
        # The best trial (single objective), kept as trials finish; recomputed from all trials
        # only after the best one stops being COMPLETE (never, in a log raysweep writes).
        self._best: int | None = None
        self._best_stale = False
        # Trials changed since the state was last saved (`_state_table.StateSaver`): a save
        # while the study runs writes only those.
        self._unsaved: set[int] = set()

    @classmethod
    def replay(
        cls,
        events: Iterable[Event],
        observe: Callable[[Event, ev.Payload], None] | None = None,
    ) -> StudyState:
        """The state the events make; `observe` is shown each event with its decoded payload
        (the recorder rebuilds its pruner from the same pass, decoding nothing twice)."""
        state = cls()
        state.replay_onto(events, observe)
        return state

    def replay_onto(
        self,
        events: Iterable[Event],
        observe: Callable[[Event, ev.Payload], None] | None = None,
    ) -> None:
        """Apply `events`, which follow those this state was made of, as :meth:`replay` does."""
        apply = self._apply
        if observe is None:
            for event in events:
                apply(event)
        else:
            for event in events:
                observe(event, apply(event))

    @property
    def next_number(self) -> int:
        return self._next_number

    def apply(self, event: Event) -> None:
        """Apply one event: decode its payload and hand it to the handler of its kind.

        Handlers check before they change anything, so an event that raises leaves the state
        as it was (the recorder relies on it to refuse an event before it is written).
        """
        self._apply(event)

    def _apply(self, event: Event) -> ev.Payload:
        payload = ev.decode_payload(event.kind, event.trial, event.payload)
        handler = self._HANDLERS[event.kind]  # a kind decode_payload knows
        handler(self, event, payload)
        if event.trial is not None:
            self._records.pop(event.trial, None)
            self._unsaved.add(event.trial)
        self.last_seq = event.seq
        return payload

    def take_unsaved(self) -> set[int]:
        """The trials changed since the last call (or since this state was made), and forget
        them; :meth:`put_back_unsaved` if they could not be saved after all."""
        numbers, self._unsaved = self._unsaved, set()
        return numbers

    def put_back_unsaved(self, numbers: set[int]) -> None:
        self._unsaved |= numbers

    # One handler per kind, each given the event (seq, ts, trial) and its typed payload.

    def _study_created(self, event: Event, p: ev.StudyCreated) -> None:
        self.info = StudyInfo.from_payload(p)

    def _writer_started(self, event: Event, p: ev.WriterStarted) -> None:
        pass  # for the reader of the log: who wrote from here on, and what replay dropped

    def _optimize_started(self, event: Event, p: ev.OptimizeStarted) -> None:
        self.optimize_target = int(p.n_trials)
        self.optimize_concurrency = int(p.concurrency)
        self.optimize_run = p.run
        self.optimizing = True

    def _optimize_stopped(self, event: Event, p: ev.OptimizeStopped) -> None:
        self.optimizing = False

    def _trial_created(self, event: Event, p: ev.TrialCreated) -> None:
        number = self._number(event)
        if number in self.trials:
            raise CorruptLogError(
                f"event {event.seq} (trial_created) creates trial {number}, which was created "
                "twice; the log was not written by raysweep"
            )
        proposal = decode_proposal(p.proposal, self._distributions)
        created = _Trial(number=number, origin=p.origin, proposal=proposal)
        self.trials[number] = created
        self._next_number = max(self._next_number, number + 1)
        if p.request is not None:
            self.asked[p.request] = number
        self._by_state[created.state] += 1
        if p.origin == ev.ORIGIN_ASK:
            self._start(created, 0, event.ts, None)

    def _trial_started(self, event: Event, p: ev.TrialStarted) -> None:
        trial = self._trial(event)
        self._start(trial, int(p.attempt), event.ts, p.runner, p.resume_step)
        trial.placement = p.placement
        if p.placement is not None:
            trial.hardware = tally_open(trial.hardware, held_resources(p.placement), event.ts)

    def _param(self, event: Event, p: ev.ParamDrawn) -> None:
        trial = self._trial(event)
        distribution = self._distributions.read(p.distribution)
        trial.distributions[p.name] = distribution
        self.distributions[p.name] = distribution
        trial.params[p.name] = p.value

    def _report(self, event: Event, p: ev.ReportMade) -> None:
        trial = self._trial(event)
        if int(p.attempt) != trial.attempt:
            return  # a late report of an attempt already replaced: not this curve
        step = int(p.step)
        trial.intermediate[step] = p.value
        self.usage.reported_steps += 1
        if step <= trial.high_step:
            self.usage.repeated_steps += 1
        trial.high_step = max(trial.high_step, step)

    def _decision(self, event: Event, p: ev.DecisionMade) -> None:
        self._trial(event)  # kept for the reader; the scheduler's state replays the reports

    def _user_attr(self, event: Event, p: ev.UserAttrSet) -> None:
        self._trial(event).user_attrs[p.key] = p.value

    def _trial_finished(self, event: Event, p: ev.TrialFinished) -> None:
        trial = self._trial(event)
        self._set_state(trial, TrialState(p.state))
        trial.values = p.values
        trial.constraints = p.constraints
        if trial.constraints is not None and self.n_constraints is None:
            self.n_constraints = len(trial.constraints)
        trial.error = p.error
        trial.completed = event.ts
        trial.runner = None
        trial.told_by = p.request
        trial.hardware = tally_close(trial.hardware, event.ts, p.energy)
        self._consider_best(trial)

    def _trial_paused(self, event: Event, p: ev.TrialPaused) -> None:
        trial = self._trial(event)
        step = int(p.step)
        self._set_state(trial, TrialState.PAUSED)
        trial.paused_step = step
        trial.checkpoint_step = trial.paused_step if p.checkpoint else None
        trial.runner = None
        trial.hardware = tally_close(trial.hardware, event.ts, p.energy)
        self.usage.pauses += 1

    def _trial_resumed(self, event: Event, p: ev.TrialResumed) -> None:
        trial = self._trial(event)
        if p.skipped is not None:
            return  # the promotion was not run: the trial was not paused
        self._set_state(trial, TrialState.RUNNING)
        trial.runner = p.runner
        if p.placement is not None:
            trial.placement = p.placement
            trial.hardware = tally_open(trial.hardware, held_resources(p.placement), event.ts)
        trial.paused_step = None
        self._count_resume(trial)

    def _trial_interrupted(self, event: Event, p: ev.TrialInterrupted) -> None:
        trial = self._trial(event)
        self._set_state(trial, TrialState.WAITING)
        trial.error = p.reason
        trial.crashes += bool(p.crash)
        trial.runner = None
        trial.hardware = tally_close(trial.hardware, event.ts, p.energy)

    # By the kind's name, as the event carries it: a str hashes in C, an enum member does not.
    _HANDLERS: ClassVar[dict[str, Callable[[StudyState, Event, Any], None]]] = {
        ev.EventKind.STUDY_CREATED.value: _study_created,
        ev.EventKind.WRITER_STARTED.value: _writer_started,
        ev.EventKind.OPTIMIZE_STARTED.value: _optimize_started,
        ev.EventKind.OPTIMIZE_STOPPED.value: _optimize_stopped,
        ev.EventKind.TRIAL_CREATED.value: _trial_created,
        ev.EventKind.TRIAL_STARTED.value: _trial_started,
        ev.EventKind.PARAM.value: _param,
        ev.EventKind.REPORT.value: _report,
        ev.EventKind.DECISION.value: _decision,
        ev.EventKind.USER_ATTR.value: _user_attr,
        ev.EventKind.TRIAL_PAUSED.value: _trial_paused,
        ev.EventKind.TRIAL_RESUMED.value: _trial_resumed,
        ev.EventKind.TRIAL_INTERRUPTED.value: _trial_interrupted,
        ev.EventKind.TRIAL_FINISHED.value: _trial_finished,
    }

    @staticmethod
    def _number(event: Event) -> int:
        assert event.trial is not None  # decode_payload checked that trial events name one
        return event.trial

    def _trial(self, event: Event) -> _Trial:
        number = self._number(event)
        trial = self.trials.get(number)
        if trial is None:
            raise CorruptLogError(
                f"event {event.seq} ({event.kind}) is about trial {number}, which no "
                "trial_created event made; the log was not written by raysweep"
            )
        return trial

    def _set_state(self, trial: _Trial, state: TrialState) -> None:
        if trial.number == self._best:
            self._best_stale = True  # its values may change, or it may not be COMPLETE any more
        self._by_state[trial.state] -= 1
        self._by_state[state] += 1
        trial.state = state
        if trial.origin == ev.ORIGIN_OPTIMIZE:
            self._waiting_optimize.discard(trial.number)
            self._running_optimize.discard(trial.number)
            if state is TrialState.WAITING:
                self._waiting_optimize.add(trial.number)
            elif state is TrialState.RUNNING:
                self._running_optimize.add(trial.number)

    def _start(
        self,
        trial: _Trial,
        attempt: int,
        ts: float,
        runner: str | None,
        resume_step: int | None = None,
    ) -> None:
        self._set_state(trial, TrialState.RUNNING)
        trial.attempt = attempt
        trial.runner = runner
        # Steps are counted per attempt: a new attempt starts a fresh curve, except for the
        # steps its checkpoint already holds when it resumes from one.
        keep = resume_step or 0
        trial.intermediate = {s: v for s, v in trial.intermediate.items() if s <= keep}
        if attempt > 0:
            self._count_resume(trial)
        if trial.started is None:
            trial.started = ts

    def _count_resume(self, trial: _Trial) -> None:
        if trial.high_step == 0:
            return  # nothing was lost: the trial had not reported yet
        if trial.checkpoint_step is not None:
            self.usage.resumed_from_checkpoint += 1
        else:
            self.usage.restarted_from_scratch += 1

    def hardware(self) -> dict[int, dict[str, Any]]:
        """What each trial's ended attempts held and used, for the trials where it is known."""
        return {n: t.hardware for n, t in self.trials.items() if t.hardware is not None}

    def placements(self) -> dict[int, dict[str, Any]]:
        """Where each trial's latest attempt ran, for the trials where it is known."""
        return {n: t.placement for n, t in self.trials.items() if t.placement is not None}

    def records(self) -> list[TrialRecord]:
        with gc_paused():
            return [self.record(number) for number in self.trials]

    def record(self, number: int) -> TrialRecord:
        record = self._records.get(number)
        if record is None:
            record = self._records[number] = self.trials[number].record()
        return record

    # ----- aggregates, kept as trials change ---------------------------------------------------

    def counts(self) -> dict[str, int]:
        """How many trials are in each state (states with none left out)."""
        return {state.value: n for state, n in self._by_state.items() if n}

    def best_number(self) -> int | None:
        """The best trial of a single-objective study, or None: the best value among COMPLETE,
        feasible trials with one value, NaN never best, ties to the lower number."""
        if self._best_stale:
            self._best, self._best_stale = None, False
            for trial in self.trials.values():
                self._consider_best(trial)
        return self._best

    def _consider_best(self, trial: _Trial) -> None:
        if self._best_stale or not _rankable(trial):
            return
        if self.info is None:
            self._best_stale = True  # no direction yet (study_created comes first in a log)
            return
        assert trial.values is not None
        if self._best is None:
            self._best = trial.number
            return
        value, best = trial.values[0], self.trials[self._best]
        assert best.values is not None
        held = best.values[0]
        if self.info.directions[0] is StudyDirection.MAXIMIZE:
            value, held = -value, -held
        if value < held or (value == held and trial.number < best.number):
            self._best = trial.number

    def count(self, *states: TrialState) -> int:
        return sum(self._by_state[state] for state in states)

    def finished_count(self) -> int:
        return self.count(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)

    def settled_count(self) -> int:
        """Finished trials and paused ones: those that need no runner unless promoted."""
        return self.finished_count() + self.count(TrialState.PAUSED)

    def waiting_optimize_trials(self) -> list[int]:
        """Trials of `optimize` waiting to be re-run, lowest number first."""
        return sorted(self._waiting_optimize)

    def orphaned_running(self) -> list[_Trial]:
        """Trials that were running under `optimize` when a previous writer stopped."""
        return [self.trials[number] for number in sorted(self._running_optimize)]


def _rankable(trial: _Trial) -> bool:
    """Whether a trial competes for the best value: COMPLETE, one value (not NaN), feasible
    (every constraint <= 0, as ``TrialRecord.feasible``)."""
    return (
        trial.state is TrialState.COMPLETE
        and trial.values is not None
        and len(trial.values) == 1
        and not math.isnan(trial.values[0])
        and (trial.constraints is None or all(c <= 0.0 for c in trial.constraints))
    )


def encode_proposal(proposal: dict[str, tuple[Distribution, Any]]) -> dict[str, Any] | None:
    """A proposal as the ``proposal`` key of ``trial_created`` (None: empty, left out)."""
    if not proposal:
        return None
    return {
        name: {"distribution": dist.to_json(), "value": value}
        for name, (dist, value) in proposal.items()
    }


def decode_proposal(
    payload: dict[str, Any] | None, distributions: _Distributions
) -> dict[str, tuple[Distribution, Any]]:
    if not payload:
        return {}
    read = distributions.read
    return {name: (read(entry["distribution"]), entry["value"]) for name, entry in payload.items()}


class _Distributions:
    """`distribution_from_json`, once per distinct JSON: distributions are frozen values, so
    trials can share them (building one validates it, a few microseconds per parameter)."""

    def __init__(self) -> None:
        self._known: dict[Any, Distribution] = {}

    def read(self, data: Any) -> Distribution:
        try:
            values = tuple(data.values())
            # Types in the key: 1, 1.0 and True are equal but need not mean the same here.
            key: Any = (tuple(data), values, tuple(map(type, values)))
            known = self._known.get(key)
        except (TypeError, AttributeError):  # unhashable (choices) or not a mapping
            key = json.dumps(data, sort_keys=True, default=repr)
            known = self._known.get(key)
        if known is None:
            known = self._known[key] = distribution_from_json(data)
        return known
