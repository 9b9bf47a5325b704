"""One of our samplers driven in-process over a history of TrialRecords, as the orchestrator's
SamplerService drives it, without Ray: a joint proposal over the inferred relative space at trial
start, then `sample_independent` for each name the objective asks that the proposal did not
cover (or covered with another distribution).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.ask_tell._spaces import objective, suggest_params
from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    Sampler,
    SamplingContext,
    SeenDistributions,
    StudyDirection,
    TrialRecord,
    TrialState,
)

DIRECTIONS = (StudyDirection.MINIMIZE,)


class ProposedTrial:
    """A trial being proposed: answers the objective's suggest calls like a study's trial."""

    def __init__(self, sampler: Sampler, context: SamplingContext) -> None:
        self._sampler = sampler
        self._context = context
        self.relative = sampler.infer_relative_search_space(context)
        self.joint = sampler.sample_relative(context, self.relative) if self.relative else {}
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Distribution] = {}

    @property
    def number(self) -> int:
        return self._context.trial_number

    def _suggest(self, name: str, distribution: Distribution) -> Any:
        if name in self.joint and self.relative.get(name) == distribution:
            value = self.joint[name]
        else:
            value = self._sampler.sample_independent(self._context, name, distribution)
        self.params[name] = value
        self.distributions[name] = distribution
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return float(self._suggest(name, FloatDistribution(low, high, log=log)))

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return int(self._suggest(name, IntDistribution(low, high)))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._suggest(name, CategoricalDistribution(choices))

    def running_record(self) -> TrialRecord:
        """The trial as the SamplerService shows a handed-out proposal: RUNNING, holding the
        joint proposal's values overlaid with those the objective drew."""
        params = {name: self.joint[name] for name in self.relative if name in self.joint}
        distributions = {name: self.relative[name] for name in params}
        params.update(self.params)
        distributions.update(self.distributions)
        return TrialRecord(
            number=self.number,
            state=TrialState.RUNNING,
            params=params,
            distributions=distributions,
        )


@dataclass
class BareStudy:
    """A single-objective (minimized) history and one sampler proposing over it."""

    sampler: Sampler
    seed: int = 0

    def __post_init__(self) -> None:
        self.records: list[TrialRecord] = []
        self._seen = SeenDistributions()

    def __len__(self) -> int:
        return len(self.records)

    def context(self, pending: Sequence[TrialRecord] = ()) -> SamplingContext:
        """The context of the next trial number; `pending` are RUNNING trials asked before it."""
        seen = dict(self._seen.distributions)
        for record in pending:  # numbered after every record, so theirs are the latest
            seen.update(record.distributions)
        number = len(self.records) + len(pending)
        return SamplingContext(
            study_seed=self.seed,
            trial_number=number,
            directions=DIRECTIONS,
            history=(*self.records, *pending),
            seen=seen,
        )

    def propose(self, space: str, pending: Sequence[TrialRecord] = ()) -> ProposedTrial:
        """Propose the next trial of `space` (its objective's suggest calls included)."""
        trial = ProposedTrial(self.sampler, self.context(pending))
        suggest_params(trial, space)
        return trial

    def add(
        self,
        params: Mapping[str, Any],
        distributions: Mapping[str, Distribution],
        value: float,
        number: int | None = None,
    ) -> None:
        """Record a COMPLETE trial (by default numbered next)."""
        record = TrialRecord(
            number=len(self.records) if number is None else number,
            state=TrialState.COMPLETE,
            params=params,
            distributions=distributions,
            values=(value,),
        )
        self.records.append(record)
        self._seen.update(record)

    def tell(self, trial: ProposedTrial, space: str) -> float:
        """Evaluate a proposed trial and record it COMPLETE; returns its value."""
        value = objective(space, trial.params)
        self.add(trial.params, trial.distributions, value, trial.number)
        return value
