"""What runners and readers ask of the TrialScheduler while trials run: reports, suggestions,
and the study as it stands. A base of `TrialSchedulerCore`, which owns the lock and the log."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from raysweep.orchestrator._errors import TrialStateError
from raysweep.orchestrator._proposals import ProposalSource
from raysweep.orchestrator._protocol import Note, Progress
from raysweep.orchestrator._recorder import StudyRecorder
from raysweep.orchestrator._state import ResourceUsage, StudyInfo
from raysweep.orchestrator._trial_checks import progress, require_running
from raysweep.samplers import (
    Distribution,
    IncompatibleDistributionError,
    TrialRecord,
    TrialState,
    check_compatible,
)
from raysweep.scheduling import Decision


class TrialCalls:
    _lock: threading.RLock
    _rec: StudyRecorder
    _proposals: ProposalSource
    _target: int | None
    _accepting: bool
    info: StudyInfo
    exhausted_reason: str | None

    # ----- inside a trial -----------------------------------------------------------------------

    def report(self, number: int, attempt: int, notes: tuple[Note, ...]) -> Decision | None:
        """Record a runner's batch; returns the pruner's decision on its last report, if any."""
        with self._lock:
            require_running(self._rec, number, attempt)
            return self._rec.apply_notes(number, attempt, notes)

    def report_later(self, number: int, attempt: int, notes: tuple[Note, ...]) -> None:
        """A batch sent without waiting; it may arrive after the attempt closed.

        Threaded actors do not keep a caller's calls in order, so the notes of a closed attempt
        are still recorded (the values happened), just not judged by the pruner.
        """
        with self._lock:
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
            require_running(self._rec, number, attempt)
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
            require_running(self._rec, number, attempt)
            # A parameter is drawn once: if a concurrent call recorded it meanwhile, that wins.
            self._rec.record_param(number, name, distribution, value)
            return self._rec.state.trials[number].params[name]

    # ----- reading ------------------------------------------------------------------------------

    def study_info(self) -> StudyInfo:
        return self.info

    def exhausted(self) -> str | None:
        """Why the sampler stopped proposing (a finished grid), or None."""
        return self.exhausted_reason

    def records(self) -> list[TrialRecord]:
        with self._lock:
            return self._rec.state.records()

    def record(self, number: int) -> TrialRecord:
        with self._lock:
            if number not in self._rec.state.trials:
                raise TrialStateError(f"trial {number} does not exist in this study")
            return self._rec.state.record(number)

    def progress(self) -> Progress:
        with self._lock:
            return progress(self._rec, self._target, self._accepting)

    def resource_usage(self) -> ResourceUsage:
        with self._lock:
            return dataclasses.replace(self._rec.state.usage)
