"""The SamplerService: a sampler kept in step with the study by the TrialScheduler.

The scheduler sends the trial records that changed since its last call along with each request,
so the service's copy of the history is current when it proposes, and a restarted service is
brought back in step by the first request after it starts (the scheduler sends everything).
Proposals are asked for a few trial numbers at a time, ahead of need, so that handing a trial
to a runner does not wait for the sampler.

A proposal handed out is a point taken, though its trial may not have started (or recorded its
parameters) yet: until its record says otherwise, the service shows it to the sampler as a
RUNNING trial holding the proposed values, so that proposals made together, or while the first
trials start, do not repeat one point.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from raysweep.orchestrator._core._protocol import NoProposal, Proposal, ProposalOrNone, Updates
from raysweep.orchestrator._errors import SamplerOutOfStepError
from raysweep.samplers import (
    Distribution,
    HistoryView,
    Sampler,
    SamplingContext,
    SearchSpaceExhaustedError,
    SeenDistributions,
    StudyDirection,
    TrialRecord,
    TrialState,
)


class SamplerServiceCore:
    def __init__(
        self,
        sampler: Sampler,
        study_seed: int,
        directions: tuple[StudyDirection, ...],
        fidelities: tuple[int, ...] = (),
    ) -> None:
        self._sampler = sampler
        # The steps at which the study's scheduler compares trials (and the full budget): a
        # multi-fidelity sampler models the results there. Plain ints: samplers never see the
        # scheduler itself.
        self._fidelities = fidelities
        self._seed = study_seed
        self._directions = directions
        # The history, kept in place: one record per trial in the order trials first arrived,
        # and where each one is. An update replaces or appends records, so that the work per
        # proposal follows what changed, not the length of the study.
        self._records: list[TrialRecord] = []
        self._position: dict[int, int] = {}
        self._versions: dict[int, int] = {}
        self._seen = SeenDistributions()
        # Views of `_records` lent to the sampler: while one lives, an update changes a copy
        # (one C-level copy, and only when a sampler kept a context past its call).
        self._lent: list[weakref.ref[HistoryView]] = []
        self._synced = False
        # Proposals handed out whose trial has not finished: trial number -> the proposal.
        self._handed: dict[int, Proposal] = {}
        # The RUNNING record shown for a handed proposal, with the record and the proposal it
        # was built from (record None: its trial has none yet): built again only when either
        # changes, not on every proposal of every other trial.
        self._taken_records: dict[int, tuple[TrialRecord | None, Proposal, TrialRecord]] = {}

    def _apply(self, updates: Updates) -> None:
        if updates.complete:
            self._synced = True
        elif not self._synced:
            # Started (or restarted by Ray) after the scheduler's first message: ask for all.
            raise SamplerOutOfStepError("the sampler service has not seen the whole study yet")
        for record in updates.records:
            # Requests run concurrently in the scheduler: keep only the newest copy of a record.
            if self._versions.get(record.number, -1) < updates.version:
                if self._lent:
                    if any(view() is not None for view in self._lent):
                        self._records = list(self._records)
                    self._lent = []
                position = self._position.get(record.number)
                if position is None:
                    self._position[record.number] = len(self._records)
                    self._records.append(record)
                else:
                    self._records[position] = record
                self._versions[record.number] = updates.version
                self._seen.update(record)

    def _history(
        self, left_out: tuple[int, ...] = (), extra: tuple[TrialRecord, ...] = ()
    ) -> HistoryView:
        """Every trial's newest record in the order the trials first arrived, less the trials
        `left_out`, then `extra`: lent, not copied."""
        view = HistoryView(
            self._records, [self._position[n] for n in left_out if n in self._position], extra
        )
        self._lent = [lent for lent in self._lent if lent() is not None]
        self._lent.append(weakref.ref(view))
        return view

    def _context(self, number: int) -> SamplingContext:
        # A re-run or asked trial is not part of its own history; a taken point replaces its
        # trial's record, after the others.
        taken = self._taken(number)
        history = self._history((number, *taken), tuple(taken.values()))
        return SamplingContext(
            study_seed=self._seed,
            trial_number=number,
            directions=self._directions,
            history=history,
            seen=dict(self._seen.distributions),
            fidelity_steps=self._fidelities,
            history_excludes_trial=True,  # built without it, above
        )

    def _taken(self, number: int) -> dict[int, TrialRecord]:
        """Handed-out proposals of other trials not finished yet, as RUNNING records."""
        taken: dict[int, TrialRecord] = {}
        for other, proposal in list(self._handed.items()):
            position = self._position.get(other)
            record = self._records[position] if position is not None else None
            if record is not None and record.state not in (TrialState.RUNNING, TrialState.WAITING):
                del self._handed[other]  # finished (or paused): its record tells the truth
                self._taken_records.pop(other, None)
                continue
            if other == number or not proposal:
                continue
            built = self._taken_records.get(other)
            if built is None or built[0] is not record or built[1] is not proposal:
                built = (record, proposal, _running(other, proposal, record))
                self._taken_records[other] = built
            taken[other] = built[2]
        return taken

    def propose(self, numbers: tuple[int, ...], updates: Updates) -> dict[int, ProposalOrNone]:
        """Joint proposals at trial start, one per trial number, over the space seen so far."""
        self._apply(updates)
        proposals: dict[int, ProposalOrNone] = {}
        for number in numbers:
            context = self._context(number)
            try:
                space = self._sampler.infer_relative_search_space(context)
                values = self._sampler.sample_relative(context, space) if space else {}
            except SearchSpaceExhaustedError as exc:
                proposals[number] = NoProposal(str(exc) or "the sampler has no new point")
                continue
            proposal = {name: (space[name], values[name]) for name in space if name in values}
            proposals[number] = self._handed[number] = proposal
        return proposals

    def suggest(self, number: int, name: str, distribution: Distribution, updates: Updates) -> Any:
        """An independent proposal for a parameter the joint proposal did not cover."""
        self._apply(updates)
        return self._sampler.sample_independent(self._context(number), name, distribution)


def _running(number: int, proposal: Proposal, record: TrialRecord | None) -> TrialRecord:
    """A handed-out point as the RUNNING trial it is: the proposal, then what its record says."""
    params = {name: value for name, (_, value) in proposal.items()}
    distributions = {name: dist for name, (dist, _) in proposal.items()}
    if record is not None:
        params.update(record.params)
        distributions.update(record.distributions)
    return TrialRecord(
        number=number, state=TrialState.RUNNING, params=params, distributions=distributions
    )


class _Done:
    """An answer already computed; like a Ray call, an error surfaces when it is read."""

    def __init__(self, compute: Callable[[], dict[int, ProposalOrNone]]) -> None:
        self._result: dict[int, ProposalOrNone] | None = None
        self._error: Exception | None = None
        try:
            self._result = compute()
        except Exception as exc:
            self._error = exc

    def result(self) -> dict[int, ProposalOrNone]:
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class LocalSamplerClient:
    """The SamplerService in the caller's process (tests; no Ray)."""

    def __init__(self, service: SamplerServiceCore) -> None:
        self._service = service

    def propose(self, numbers: tuple[int, ...], updates: Updates) -> _Done:
        return _Done(lambda: self._service.propose(numbers, updates))

    def suggest(self, number: int, name: str, distribution: Distribution, updates: Updates) -> Any:
        return self._service.suggest(number, name, distribution, updates)
