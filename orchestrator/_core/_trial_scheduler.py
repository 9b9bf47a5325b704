"""The TrialScheduler: the one owner of a study's state and the only writer of its log.

It runs as a threaded Ray actor (see `_actors.py`); this module is plain Python so that it can be
driven directly in tests. One lock guards the state. Calls that hand out work or close a trial
wait for the commit (fsync) of what they recorded; reports and decisions are committed with the
next batch (at most `_FLUSH_INTERVAL_S` later), since a lost report only means a re-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import socket
import threading
import time
from typing import Any

from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core._proposals import ProposalSource, SamplerClient
from raysweep.orchestrator._core._protocol import (
    Assignment,
    Idle,
    NoProposal,
    Note,
    Placement,
    PlacementAnswer,
    PlacementRequest,
    Progress,
    Proposal,
    Resume,
    TrialOutcome,
)
from raysweep.orchestrator._core._recorder import StudyRecorder
from raysweep.orchestrator._core._resources import check_holdable
from raysweep.orchestrator._core._roster import RunnerRoster, work_key
from raysweep.orchestrator._core._state import (
    ResourceUsage,
    StudyInfo,
    encode_proposal,
    gc_paused,
)
from raysweep.orchestrator._core._state_table import StateToSave
from raysweep.orchestrator._core._store import StudyStore, WriterLease
from raysweep.orchestrator._errors import (
    RaysweepError,
    StorageError,
    StudyLockedError,
    TrialStateError,
)
from raysweep.samplers import (
    Distribution,
    IncompatibleDistributionError,
    SearchSpaceExhaustedError,
    TrialRecord,
    TrialState,
    check_compatible,
)
from raysweep.scheduling import Decision, Shape, Work, WorkKind

_FLUSH_INTERVAL_S = 0.25
_HEARTBEAT_INTERVAL_S = 5.0
# How far down the promotions possible now a runner looks for one its shape may run (each
# looked at costs a scan of its rung's paused trials, under the lock).
_PROMOTIONS_LOOKED_AT = 32
# Replay reads the snapshot chain and the segments after it: add a snapshot every so many
# events, so that reopening a long study reads a few large batches rather than one per commit;
# and save the study's state with it, so that a study killed before it closes reopens from that
# state and at most this many events after it.
SNAPSHOT_EVERY = 20_000


class _Unsuited:
    """The next new trial needs a runner of another shape than the one asking."""


_UNSUITED = _Unsuited()


class TrialSchedulerCore:
    def __init__(
        self,
        store: StudyStore,
        requested: StudyInfo,
        *,
        load_if_exists: bool,
        given: frozenset[str] = frozenset(),
        lease_wait: float = 0.0,
        driver: tuple[str, int] | None = None,
        checkpoint_format: str = "safe",
    ) -> None:
        # Nothing that can fail happens here: errors raised by `open` reach the caller as
        # themselves, while a Ray actor whose constructor raises only reports that it died.
        self._store = store
        self._driver = driver
        self._requested = requested
        self._load_if_exists = load_if_exists
        # Which of seed, sampler, scheduler the caller passed (the rest follow the log).
        self._given = given
        self._lease_wait = lease_wait
        # Passed on to the runners: what the process that opened the study trusts its storage
        # with (the log never says it).
        self._checkpoint_format = checkpoint_format
        self._lock = threading.RLock()
        self._runner_trials: dict[str, tuple[int, int]] = {}
        self._roster = RunnerRoster(self._lock)
        self._target: int | None = None
        self._accepting = False
        self._closed = threading.Event()
        # Why this writer writes nothing more: its lease was taken over (StudyLockedError), its
        # storage failed (StorageError), or it could not reopen the study after a restart.
        # Every call that reads or writes then raises it.
        self._broken: RaysweepError | None = None
        self._opened = False
        # Why the sampler stopped proposing, once it has (a finished grid).
        self.exhausted_reason: str | None = None
        self._proposals = ProposalSource(
            self._lock,
            take_updates=lambda: self._rec.take_updates(),
            next_number=lambda: self._rec.state.next_number,
            send_all=lambda: self._rec.send_all(),
        )

    # ----- life -------------------------------------------------------------------------------

    def open(self, *, restarted: bool = False) -> StudyInfo:
        """Take the lease, replay the log (creating the study if new); return the study's info.

        `restarted`: Ray restarted this scheduler while `optimize` ran; carry on with its goal.
        """
        with self._lock:
            self._lease: WriterLease = self._store.acquire_lease(
                description=f"raysweep study {self._requested.name!r}",
                wait=self._lease_wait,
                driver=self._driver,
            )
            try:
                self._rec, report = StudyRecorder.open(
                    self._store,
                    self._requested,
                    load_if_exists=self._load_if_exists,
                    given=self._given,
                )
            except BaseException:
                self._lease.release()
                raise
            self.info = self._rec.info
            self._rec.emit(
                ev.WriterStarted(
                    host=socket.gethostname(),
                    took_over_from=self._lease.describe_takeover(),
                    replay=None if report.clean else report.describe(),
                )
            )
            for trial in self._rec.state.orphaned_running():
                reason = "the study's previous writer stopped while it ran"
                self._rec.interrupt(trial.number, reason, crash=False)
            state = self._rec.state
            if restarted and state.optimizing and state.optimize_target is not None:
                self._aim(state.optimize_target, state.optimize_concurrency)
            self._rec.log.commit()
            self._snapshot_seq = self._rec.log.next_seq
            self._background = threading.Thread(target=self._flush_loop, daemon=True)
            self._background.start()
            self._opened = True
            return self.info

    def attach_sampler(self, sampler: SamplerClient) -> None:
        with self._lock:
            self._proposals.attach(sampler)
            self._rec.send_all()  # a new sampler service knows nothing yet

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._roster.changed()  # waiting runners ask again, and are told to leave
        if not self._opened:
            return
        self._background.join()
        with self._lock:
            try:
                if self._broken is None:
                    # Everything into the chain, even a reopen's few events, so that the
                    # state saved next stands for the whole log.
                    self._rec.log.snapshot()
                    self._save_state()
                # Events staged when the storage failed are written now if it is back; fenced,
                # the log refuses them (StudyLockedError): another writer owns the study.
                self._rec.log.close()
            except (StudyLockedError, StorageError):
                if self._broken is None:
                    raise
                # Every caller was told already why this writer stopped.
            finally:
                self._lease.release()
                # The objects the replay froze (StudyRecorder.open) may go now, like any others.
                gc.unfreeze()

    def _save_state(self) -> None:
        """Save the study's state beside the log (under the lock, with everything committed),
        so that the next open reads a row per trial instead of the events (`_state_table`)."""
        if self._rec.state.last_seq != self._rec.log.next_seq - 1:
            return
        captured = self._capture_state(with_pruner=True)
        if captured is not None:
            # One whole file, with the pruner's state: the next open reads it alone.
            self._write_state(captured, whole=True)

    def _capture_state(self, *, with_pruner: bool = False) -> StateToSave | None:
        """The state to save now (under the lock, with everything applied committed)."""
        # The rows are lists and texts by the thousand, none of them in a cycle: each
        # collection they set off would walk the whole study for nothing (at 100,000 trials,
        # about half the time of a save of every trial).
        with gc_paused():
            try:
                return self._rec.capture_state(with_pruner=with_pruner)
            except (TypeError, ValueError, OverflowError):
                # A value the table cannot hold: the log holds everything, so the next open
                # replays it; a cache must never keep a study from going on or closing.
                return None

    def _write_state(self, captured: StateToSave, *, whole: bool = False) -> None:
        """Have the log save `captured`; its rows are the saver's to keep or hand back."""
        saved = False
        try:
            saved = self._rec.log.save_state(captured, whole=whole) is not None
        except (TypeError, ValueError, OverflowError):
            pass  # a value Arrow's columns cannot hold: as in `_capture_state`
        finally:
            with self._lock:
                self._rec.saver.confirm(self._rec.state, saved)

    def _save_state_while_running(self) -> None:
        """Save what changed since the last saved state, so that a study killed before it
        closes reopens from it: the rows are taken under the lock, and written without it."""
        with self._lock:
            self._commit()
            captured = self._capture_state()
        if captured is not None:
            self._write_state(captured)

    def _snapshot(self) -> None:
        """Snapshot what was committed since the last one. Needs no lock: the log serialises
        it with commits, and only the flush thread (or close, after it ended) calls it."""
        due = self._rec.log.next_seq
        if due > self._snapshot_seq:
            self._rec.log.snapshot()
            self._snapshot_seq = due

    def _flush_loop(self) -> None:
        last_beat = time.monotonic()
        while not self._closed.wait(_FLUSH_INTERVAL_S):
            doing = "committing events"
            try:
                self._commit()
                if time.monotonic() - last_beat >= _HEARTBEAT_INTERVAL_S:
                    doing = "renewing the lease (heartbeat)"
                    self._lease.heartbeat()
                    last_beat = time.monotonic()
                if self._rec.log.next_seq - self._snapshot_seq >= SNAPSHOT_EVERY:
                    doing = "writing a snapshot"
                    # Outside the scheduler's lock: runners' calls go on meanwhile (a snapshot
                    # costs what is new since the last one, and holds up only commits).
                    self._snapshot()
                    doing = "saving the study's state"
                    self._save_state_while_running()
            except Exception as exc:
                # A writer that goes on without its commits or heartbeats is worse than none:
                # another driver would take the lease of a process still answering runners.
                self._break(doing, exc)
                return

    def _refuse_calls(self, exc: BaseException, doing: str) -> None:
        """Answer every later call with why this scheduler cannot work (it never opened)."""
        if isinstance(exc, RaysweepError):
            self._broken = exc  # it says what failed: a held lease, a corrupt log
        else:
            self._break(doing, exc)

    def _break(self, doing: str, exc: BaseException) -> RaysweepError:
        """Stop writing for good; every later call raises the returned error."""
        if self._broken is not None:
            return self._broken
        if isinstance(exc, StudyLockedError):
            # Another writer took the study over (we stalled past the lease's staleness).
            self._broken = exc
        else:
            self._broken = StorageError(
                f"the study's writer stopped: {doing} failed at {self._store.location} "
                f"({type(exc).__name__}: {exc}). Everything acknowledged before is in the log; "
                "fix the storage (space, permissions, the mount) and run again to continue"
            )
            self._broken.__cause__ = exc
        return self._broken

    def _check_writing(self) -> None:
        if self._broken is not None:
            raise self._broken

    def _commit(self) -> None:
        self._check_writing()
        try:
            self._rec.log.commit()
        except Exception as exc:
            raise self._break("committing events", exc) from exc

    # ----- optimize -----------------------------------------------------------------------------

    def start_optimize(self, n_trials: int, concurrency: int = 1, run: str | None = None) -> int:
        """Aim for `n_trials` finished trials in total; returns how many runs may be wanted.

        Paused trials count as finished unless promoted; each of them may be promoted, so
        they count among the runs that may be wanted. `run` names a detached run.
        """
        with self._lock:
            self._check_writing()
            self._rec.emit(ev.OptimizeStarted(n_trials, concurrency, run))
            self._aim(n_trials, concurrency)
            self._roster.changed()
            state = self._rec.state
            remaining = max(0, n_trials - state.settled_count()) + state.count(TrialState.PAUSED)
        self._commit()
        return remaining

    def _aim(self, n_trials: int, concurrency: int) -> None:
        self._target = n_trials
        self._accepting = True
        # Two proposals per runner ahead: one request to the SamplerService per few trials.
        self._proposals.ahead = max(1, 2 * concurrency)

    def stop_new_trials(self, reason: str | None = None) -> None:
        """`optimize` starts no more trials; `reason` is logged (None: the caller stopped it)."""
        with self._lock:
            stopping = self._accepting and self._broken is None
            if stopping:
                self._rec.emit(ev.OptimizeStopped(reason or None))
            self._accepting = False
            self._roster.changed()
        if stopping:
            # Durable before it returns: a scheduler restarted after this must not take up
            # the goal again (with no n_trials, optimize would never end).
            self._commit()

    def run_ended(self, run: str) -> bool:
        """Whether the log shows detached run `run` started and then stopped.

        A detached run's host that Ray restarts asks this before it starts `run` again: a run
        that ended (its goal reached, or stopped) must stay ended.
        """
        with self._lock:
            state = self._rec.state
            return state.optimize_run == run and not state.optimizing

    def wants_more(self) -> bool:
        """Whether a runner asking now could get work: a new trial, a re-run or a promotion."""
        with self._lock:
            self._check_writing()
            if self._wants_more():
                return True
            return self._accepting and self._rec.take_promotion(final=self._final()) is not None

    def _wants_more(self) -> bool:
        """Whether `optimize` wants another trial run (new, or re-run after an interruption)."""
        return self._accepting and not self._final()

    def next_trial(
        self, runner: str, outcome: TrialOutcome | None, take: bool = True
    ) -> Assignment | Idle | None:
        """Close the runner's last trial (if any) and hand it the next one (if any is wanted).

        `Idle`: nothing now, but work may come (a running trial may pause and make a promotion,
        or be lost and need a re-run); the runner waits (`wait_for_work`) and asks again. None:
        no work can come (or the runner was retired): the runner leaves. The SamplerService is
        asked outside the lock, so that other runners' reports are not held up while it
        proposes.
        """
        stale = None
        with self._lock:
            self._check_writing()
            self._roster.asked(runner)
            if outcome is not None:
                self._runner_trials.pop(runner, None)
                stale = self._rec.close_attempt(outcome)
                self._roster.changed()
            rerun, promoted = self._take_waiting_work(runner) if take else (None, None)
        self._commit()
        if stale is not None and outcome is not None:
            # Best effort: a checkpoint left behind costs disk, never a result.
            with contextlib.suppress(OSError):
                self._store.remove_checkpoint(outcome.number, stale)
        if promoted is not None:
            return promoted
        if rerun is not None:
            return self._with_proposal(rerun)
        if not take:
            return None
        while True:
            started = self._new_trial(ev.ORIGIN_OPTIMIZE, runner)
            if isinstance(started, Assignment):
                return started
            with self._lock:
                if self._roster.is_retired(runner) or self._no_work_can_come():
                    return None
                # A pause or a loss since the new trial was refused may have made work.
                rerun, promoted = self._take_waiting_work(runner)
                if rerun is None and promoted is None:
                    if started is None and self._wants_more():
                        continue
                    self._roster.went_idle(runner)
                    return Idle(self._roster.version)
            self._commit()
            return promoted if promoted is not None else self._with_proposal(rerun)  # type: ignore[arg-type]

    def _take_waiting_work(self, runner: str) -> tuple[Assignment | None, Assignment | None]:
        """A re-run, else a promotion, started on `runner` (lock held): (re-run, promotion)."""
        if self._roster.is_retired(runner):
            return None, None
        rerun = self._assign_rerun(runner) if self._wants_more() else None
        return rerun, self._assign_promotion(runner) if rerun is None else None

    def _no_work_can_come(self) -> bool:
        """Whether the optimize call is over: no runner can be given work now or later."""
        if not self._accepting:
            return True
        if not self._final() or self._runner_trials:
            # New trials (or re-runs) are wanted, or a running trial may pause or be lost.
            return False
        return self._rec.take_promotion(final=True) is None

    def wait_for_work(self, runner: str, version: int, timeout: float = 30.0) -> int:
        """Wait (an idle runner, or the pool) until something changed since `version`."""
        with self._lock:
            return self._roster.wait(version, timeout)

    def place(self, request: PlacementRequest) -> PlacementAnswer:
        """Plan what the runner pool starts and retires now (retirements applied at once).

        With a function of the trial's parameters, new trials' shapes need their proposals:
        one not fetched yet is asked for (outside the lock) and the plan made again.
        """
        for _ in range(2):
            with self._lock:
                self._check_writing()
                self._roster.request = request.resources
                self._roster.autoscaling = request.autoscaling
                answer = self._roster.plan(
                    request,
                    busy=self._runner_trials,
                    work=lambda now: self._pending_work(request, now),
                    done=self._no_work_can_come(),
                )
                refill = self._accepting
            if answer.awaiting_proposal is None:
                break
            self._proposals.get(answer.awaiting_proposal, refill=refill, consume=False)
        return answer

    def _pending_work(self, request: PlacementRequest, now: float) -> tuple[list[Work], int | None]:
        """What waits for a runner (lock held): re-runs, a promotion, the new trials wanted;
        and the first new trial whose shapes wait for its proposal, not fetched yet."""
        if not self._accepting:
            return [], None
        items: list[Work] = []

        def add(key: str, kind: WorkKind, shapes: tuple[Shape, ...], rung: int = 0) -> None:
            if not request.autoscaling:
                check_holdable(shapes, request.nodes, key)
            items.append(Work(key, kind, shapes, rung, self._roster.first_seen(key, now)))

        reruns = self._rec.state.waiting_optimize_trials() if self._wants_more() else []
        for number in reruns:
            rung = self._rec.state.trials[number].checkpoint_step or 0
            add(work_key(number, WorkKind.RERUN), WorkKind.RERUN, self._shapes(number, rung), rung)
        # Every promotion possible now, up to a runner each: one waiting for busy hardware
        # must not keep the others from runners that are free.
        for promotion in self._rec.promotions(final=self._final(), limit=request.max_runners):
            number, rung = promotion.trial, promotion.rung
            shapes = self._shapes(number, rung)
            add(work_key(number, WorkKind.PROMOTION), WorkKind.PROMOTION, shapes, rung)
        unknown = None
        if self._target is not None:
            wanted = self._target - self._rec.state.settled_count() - len(self._runner_trials)
            first = self._rec.state.next_number
            for number in range(
                first, first + min(max(0, wanted - len(reruns)), request.max_runners)
            ):
                shapes = request.resources.shapes
                if request.resources.function is not None:
                    proposal = self._proposals.ready(number)
                    if proposal is None or isinstance(proposal, NoProposal):
                        unknown = number if proposal is None else None
                        break
                    shapes = self._shapes(number, 0, proposal)
                add(work_key(number, WorkKind.NEW), WorkKind.NEW, shapes)
        return items, unknown

    def _shapes(
        self, number: int, rung: int, proposal: Proposal | None = None
    ) -> tuple[Shape, ...]:
        """The shapes trial `number` accepts at `rung` (lock held; the pool's request set)."""
        request = self._roster.request
        assert request is not None
        if request.function is None:
            return request.shapes
        trial = self._rec.state.trials.get(number)
        if proposal is None:
            proposal = trial.proposal if trial is not None else {}
        params = {name: value for name, (_, value) in proposal.items()}
        if trial is not None:
            params.update(trial.params)
        return request.for_trial(params, rung, number)

    def _suits(self, runner: str, number: int, rung: int, proposal: Proposal | None = None) -> bool:
        """Whether `runner` may run trial `number` at `rung` (lock held): its shape is one the
        trial accepts. A runner the pool never described (a core driven directly) may."""
        shape = self._roster.shape_of(runner)
        if shape is None or self._roster.request is None:
            return True
        return shape in self._shapes(number, rung, proposal)

    def _assign_promotion(self, runner: str) -> Assignment | None:
        """Resume the first paused trial the scheduler would promote now that `runner` may
        run, if any (lock held): one that needs other hardware waits for a runner of it, and
        does not keep this one idle."""
        if not self._accepting:
            return None
        promotion = next(
            (
                p
                for p in self._rec.promotions(final=self._final(), limit=_PROMOTIONS_LOOKED_AT)
                if self._suits(runner, p.trial, p.rung)
                and not self._roster.kept_from(runner, p.trial, WorkKind.PROMOTION)
            ),
            None,
        )
        if promotion is None:
            return None
        number = promotion.trial
        trial = self._rec.state.trials[number]
        assert trial.paused_step is not None
        resume = Resume(
            trial.checkpoint_step or trial.paused_step, trial.checkpoint_step is not None
        )
        placement, recorded = self._placement(runner)
        self._rec.resume(promotion, runner, recorded)
        self._holds(runner, number, trial.attempt)
        return self._handout(number, trial.attempt, resume, placement)

    def _final(self) -> bool:
        """`optimize` has started all its trials: the scheduler should not wait for more."""
        if self._target is None:
            return True
        in_flight = len(self._runner_trials)
        return self._rec.state.settled_count() + in_flight >= self._target

    def _handout(
        self,
        number: int,
        attempt: int,
        resume: Resume | None = None,
        placement: Placement | None = None,
    ) -> Assignment:
        return dataclasses.replace(
            self._assignment(number, attempt),
            resume=resume,
            checkpoint_root=self._store.checkpoint_root,
            checkpoint_format=self._checkpoint_format,
            placement=placement,
            energy_before=self._energy_before(number),
        )

    def _energy_before(self, number: int) -> dict[str, float | None] | None:
        tally = self._rec.state.trials[number].hardware
        if tally is None:
            return None
        return {key: tally.get(key) for key in ("cpu_joules", "gpu_joules")}

    def _holds(self, runner: str, number: int, attempt: int) -> None:
        """`runner` was handed trial `number` (lock held)."""
        self._runner_trials[runner] = (number, attempt)
        if self._roster.took_work(runner):
            # Idle runners may take what comes after it (the next trial in number order).
            self._roster.changed()

    def _placement(self, runner: str | None) -> tuple[Placement | None, dict[str, Any] | None]:
        """Where `runner` runs (lock held), and the same as the log records it."""
        placement = self._roster.placement(runner)
        return placement, None if placement is None else placement.to_json()

    def _assign_rerun(self, runner: str) -> Assignment | None:
        """A trial of `optimize` waiting to be re-run, started on `runner` (lock held)."""
        trials = self._rec.state.trials
        suited = (
            n
            for n in self._rec.state.waiting_optimize_trials()
            if self._suits(runner, n, trials[n].checkpoint_step or 0)
            and not self._roster.kept_from(runner, n, WorkKind.RERUN)
        )
        number = next(suited, None)
        if number is None:
            return None
        trial = trials[number]
        attempt = trial.attempt + 1
        resume = None
        if trial.checkpoint_step is not None:
            # Promote mode: the re-run picks up from the trial's last checkpoint.
            resume = Resume(trial.checkpoint_step, True)
        resume_step = resume.step if resume is not None else None
        placement, recorded = self._placement(runner)
        self._rec.emit(ev.TrialStarted(attempt, runner, resume_step, recorded), number)
        self._holds(runner, number, attempt)
        return self._handout(number, attempt, resume, placement)

    def _new_trial(
        self, origin: str, runner: str | None, request: str | None = None
    ) -> Assignment | _Unsuited | None:
        """Create and start the next trial once the sampler has a point for it.

        The proposal is fetched before the trial exists, so that a sampler with no point left
        (a finished grid) ends the study's run instead of leaving a trial that cannot start.
        None: no trial is wanted (any more) for `optimize`. `_UNSUITED`: the next trial is for a
        runner of another shape (new trials start in number order).
        """
        while True:
            with self._lock:
                if origin == ev.ORIGIN_OPTIMIZE and not self._wants_more():
                    return None
                number = self._rec.state.next_number
                refill = self._accepting
            proposal = self._proposals.get(number, refill=refill, consume=False)
            with self._lock:
                if number != self._rec.state.next_number:
                    continue  # another caller created it meanwhile: try the next number
                if origin == ev.ORIGIN_OPTIMIZE:
                    if not self._wants_more() or self._roster.is_retired(runner or ""):
                        return None
                    assert runner is not None
                    # A trial interrupted (or promoted) meanwhile goes first.
                    rerun = self._assign_rerun(runner)
                    if rerun is not None:
                        break
                    promoted = self._assign_promotion(runner)
                    if promoted is not None:
                        self._commit()
                        return promoted
                if (
                    runner is not None
                    and not isinstance(proposal, NoProposal)
                    and (
                        not self._suits(runner, number, 0, proposal)
                        or self._roster.kept_from(runner, number, WorkKind.NEW)
                    )
                ):
                    # The next trial needs another shape, or the runner's node is kept for
                    # work ahead of it: it waits for another runner.
                    return _UNSUITED
                if isinstance(proposal, NoProposal):
                    self.exhausted_reason = proposal.reason
                    self.stop_new_trials(f"sampler exhausted: {proposal.reason}")
                    if origin == ev.ORIGIN_ASK:
                        raise SearchSpaceExhaustedError(proposal.reason)
                    return None
                self._proposals.discard(number)
                bracket = self._rec.scheduler.bracket(number)
                created = ev.TrialCreated(origin, bracket, encode_proposal(proposal), request)
                self._rec.emit(created, number)
                placement, recorded = self._placement(runner)
                if runner is not None:
                    self._rec.emit(ev.TrialStarted(0, runner, None, recorded), number)
                    self._holds(runner, number, 0)
                started = dataclasses.replace(
                    self._handout(number, 0, None, placement), proposal=proposal
                )
            self._commit()
            return started
        self._commit()
        return self._with_proposal(rerun)

    def _with_proposal(self, assignment: Assignment) -> Assignment:
        """A re-run gets the proposal its trial was created with; params drawn take precedence."""
        with self._lock:
            recorded = self._rec.state.trials[assignment.number].proposal
        if recorded:
            return dataclasses.replace(assignment, proposal=dict(recorded))
        # A log from before proposals were recorded: ask again.
        proposal = self._proposals.get(assignment.number, refill=self._accepting)
        if isinstance(proposal, NoProposal):
            proposal = {}  # a re-run keeps the parameters it drew; others are drawn as asked
        return dataclasses.replace(assignment, proposal=proposal)

    def checkpoint_root(self) -> str:
        """Where runners write and read checkpoints (the pool checks that its nodes reach it)."""
        return self._store.checkpoint_root

    def busy_runners(self) -> set[str]:
        """Runners that hold a trial now."""
        with self._lock:
            return set(self._runner_trials)

    def pool_lost(self, reason: str) -> None:
        """The runner pool died, and every runner with it: their trials are re-run."""
        for runner in self.busy_runners():
            self.runner_lost(runner, reason, True)

    def runner_lost(self, runner: str, reason: str, crash: bool) -> None:
        """A runner is gone (died, or killed on Ctrl-C): its trial is re-run, not failed."""
        with self._lock:
            self._check_writing()
            self._roster.lost(runner)
            self._roster.changed()
            held = self._runner_trials.pop(runner, None)
            if held is not None:
                number, attempt = held
                trial = self._rec.state.trials[number]
                if trial.attempt == attempt and trial.state is TrialState.RUNNING:
                    self._rec.interrupt(number, reason, crash=crash)
        self._commit()

    # ----- inside a trial -----------------------------------------------------------------------

    def report(self, number: int, attempt: int, notes: tuple[Note, ...]) -> Decision | None:
        """Record a runner's batch; returns the pruner's decision on its last report, if any."""
        with self._lock:
            self._check_writing()
            self._require_running(number, attempt)
            return self._rec.apply_notes(number, attempt, notes)

    def report_later(self, number: int, attempt: int, notes: tuple[Note, ...]) -> None:
        """A batch sent without waiting; it may arrive after the attempt closed.

        Threaded actors do not keep a caller's calls in order, so the notes of a closed attempt
        are still recorded (the values happened), just not judged by the pruner.
        """
        with self._lock:
            self._check_writing()
            trial = self._rec.state.trials.get(number)
            if trial is not None and trial.attempt == attempt:
                judge = trial.state is TrialState.RUNNING
                self._rec.apply_notes(number, attempt, notes, judge=judge)

    def suggest(
        self,
        number: int,
        attempt: int,
        name: str,
        distribution: Distribution,
        notes: tuple[Note, ...],
    ) -> Any:
        with self._lock:
            self._check_writing()
            self._require_running(number, attempt)
            self._rec.apply_notes(number, attempt, notes)
            trial = self._rec.state.trials[number]
            known = trial.distributions.get(name, self._rec.state.distributions.get(name))
            if known is not None:
                try:
                    check_compatible(known, distribution)
                except IncompatibleDistributionError as exc:
                    raise IncompatibleDistributionError(f"parameter {name!r}: {exc}") from None
            if name in trial.params:
                return trial.params[name]
            updates = self._rec.take_updates()
        value = self._proposals.suggest(number, name, distribution, updates)
        with self._lock:
            self._require_running(number, attempt)
            # A parameter is drawn once: if a concurrent call recorded it meanwhile, that wins.
            self._rec.record_param(number, name, distribution, value)
            return self._rec.state.trials[number].params[name]

    # ----- reading ------------------------------------------------------------------------------

    def exhausted(self) -> str | None:
        """Why the sampler stopped proposing (a finished grid), or None."""
        return self.exhausted_reason

    def hardware(self) -> dict[int, dict[str, Any]]:
        """What each trial's ended attempts held and used (`_hardware_use` tallies)."""
        with self._lock:
            self._check_writing()
            return self._rec.state.hardware()

    def placements(self) -> dict[int, dict[str, Any]]:
        """Where each trial's latest attempt ran (`Placement.to_json`), where known."""
        with self._lock:
            self._check_writing()
            return self._rec.state.placements()

    def records(self) -> list[TrialRecord]:
        with self._lock:
            self._check_writing()
            return self._rec.state.records()

    def record(self, number: int) -> TrialRecord:
        with self._lock:
            self._check_writing()
            if number not in self._rec.state.trials:
                raise TrialStateError(f"trial {number} does not exist in this study")
            return self._rec.state.record(number)

    def progress(self) -> Progress:
        with self._lock:
            self._check_writing()
            return self._progress()

    def best(self) -> TrialRecord:
        """The best trial of a single-objective study (feasible COMPLETE trials only, ties to
        the lower number): one record, so that `best_value` does not ship the whole study.

        ValueError, saying why, when no trial qualifies.
        """
        with self._lock:
            self._check_writing()
            state = self._rec.state
            number = state.best_number()
            if number is not None:
                return state.record(number)
            complete = state.count(TrialState.COMPLETE)
        name = self.info.name
        if not complete:
            raise ValueError(f"study {name!r} has no completed trial yet")
        raise ValueError(
            f"study {name!r} has {complete} completed trials but none is feasible "
            "(every one has a constraint value > 0)"
        )

    def resource_usage(self) -> ResourceUsage:
        with self._lock:
            self._check_writing()
            return dataclasses.replace(self._rec.state.usage)

    # ----- ask / tell ---------------------------------------------------------------------------

    def ask(self, request: str | None = None) -> Assignment:
        """Create and start a trial for an ask/tell caller.

        `request`: the call's id. A caller whose reply was lost (the actor died) calls again
        with the same id and gets the trial the first call created, instead of a second one
        left RUNNING for ever.
        """
        with self._lock:
            self._check_writing()
            number = self._rec.state.asked.get(request) if request is not None else None
            if number is not None:
                trial = self._rec.state.trials[number]
                handed = self._handout(number, trial.attempt)
                return dataclasses.replace(handed, proposal=dict(trial.proposal))
        if self._rec.scheduler.pauses:
            raise ValueError(
                "this study's scheduler pauses trials and resumes them on runners (promote "
                "mode), which ask/tell cannot do: run it with study.optimize(...), or create "
                "the study with mode='stop' to use ask/tell"
            )
        assignment = self._new_trial(ev.ORIGIN_ASK, None, request)
        assert isinstance(assignment, Assignment)  # ask always gets a trial, or raises
        return assignment

    def tell(
        self,
        number: int,
        state: TrialState,
        values: tuple[float, ...] | None,
        error: str | None,
        notes: tuple[Note, ...] = (),
        constraints: tuple[float, ...] | None = None,
        request: str | None = None,
    ) -> TrialRecord:
        """Finish a trial from ask. `request`: the call's id; the same call made again (its
        reply was lost) is answered with the record, not applied twice."""
        if state is TrialState.PAUSED:
            raise ValueError("tell cannot pause a trial; tell COMPLETE, PRUNED or FAILED")
        with self._lock:
            self._check_writing()
            told = self._rec.state.trials.get(number)
            if request is not None and told is not None and told.told_by == request:
                return self._rec.state.record(number)
            attempt = self._require_tellable(number)
            problem = self._rec.constraints_problem(constraints, state)
            if problem is not None:
                raise ValueError(f"trial {number} was not told: {problem}")
            self._rec.close_attempt(
                TrialOutcome(
                    number, attempt, state, values, error, notes, constraints, request=request
                )
            )
            record = self._rec.state.record(number)
        self._commit()
        self._proposals.prefetch()
        return record

    # ----- questions of the state (lock held) ----------------------------------------------

    def _require_running(self, number: int, attempt: int) -> None:
        trial = self._rec.state.trials.get(number)
        if trial is None:
            raise TrialStateError(f"trial {number} does not exist in this study")
        if trial.state is not TrialState.RUNNING or trial.attempt != attempt:
            raise TrialStateError(
                f"trial {number} (attempt {attempt}) is not running: it is "
                f"{trial.state.value} at attempt {trial.attempt}"
            )

    def _require_tellable(self, number: int) -> int:
        """The attempt of a trial that `tell` may finish; TrialStateError saying why not."""
        trial = self._rec.state.trials.get(number)
        if trial is None:
            raise TrialStateError(f"trial {number} does not exist in this study")
        if trial.origin != ev.ORIGIN_ASK:
            raise TrialStateError(
                f"trial {number} was started by optimize, which records its result; "
                "tell only trials that came from ask"
            )
        if trial.state is not TrialState.RUNNING:
            raise TrialStateError(
                f"trial {number} cannot be told: it is already {trial.state.value}"
            )
        return trial.attempt

    def _assignment(self, number: int, attempt: int) -> Assignment:
        """The trial as it stands, before its proposal is attached."""
        trial = self._rec.state.trials[number]
        return Assignment(
            number=number,
            attempt=attempt,
            params=dict(trial.params),
            distributions=dict(trial.distributions),
            proposal={},
            scheduler=self._rec.scheduler,
            n_objectives=len(self._rec.info.directions),
            n_constraints=self._rec.state.n_constraints,
        )

    def _progress(self) -> Progress:
        """Counts by state and the best feasible value so far (single objective), both kept by
        the state as trials change: no walk over the study."""
        state = self._rec.state
        best = state.best_number()
        values = state.trials[best].values if best is not None else None
        return Progress(
            counts=state.counts(),
            best_value=values[0] if values else None,
            target=self._target,
            # Paused trials count as done: they hold no runner, and run again only if promoted.
            finished=self._rec.state.settled_count(),
            accepting=self._accepting,
            waiting=self._waiting_reason(),
        )

    def _waiting_reason(self) -> str | None:
        waits = self._roster.last_waits
        if not waits or not self._accepting:
            return None
        more = f" (and {len(waits) - 1} more waiting)" if len(waits) > 1 else ""
        first = waits[0]
        reason = first.reason
        if self._roster.autoscaling and reason.startswith("no node can hold"):
            # Ray does not publish what its autoscaler could launch: say how long it has been
            # asked, so that a shape no node type has is not a silent wait for ever.
            now = time.monotonic()
            waited = now - self._roster.first_seen(first.work, now)
            reason += (
                f"; the autoscaler was asked for a node {waited:.0f} s ago (it launches only "
                "the node types of its config: see `ray status`)"
            )
        return f"{first.work} waits: {reason}{more}"
