"""The SamplerService: a sampler kept in step with the study by the TrialScheduler.

The scheduler sends the trial records that changed since its last call along with each request,
so the service's copy of the history is current when it proposes, and a restarted service is
brought back in step by the first request after it starts (the scheduler sends everything).
"""

from __future__ import annotations

from typing import Any

from raysweep.samplers import (
    Distribution,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
)


class SamplerServiceCore:
    def __init__(
        self, sampler: Sampler, study_seed: int, directions: tuple[StudyDirection, ...]
    ) -> None:
        self._sampler = sampler
        self._seed = study_seed
        self._directions = directions
        self._history: dict[int, TrialRecord] = {}

    def _context(self, number: int, updates: list[TrialRecord]) -> SamplingContext:
        for record in updates:
            self._history[record.number] = record
        history = [r for n, r in self._history.items() if n != number]
        return SamplingContext(
            study_seed=self._seed,
            trial_number=number,
            directions=self._directions,
            history=history,
        )

    def propose(
        self, number: int, updates: list[TrialRecord]
    ) -> dict[str, tuple[Distribution, Any]]:
        """The joint proposal at trial start: values for the space seen in earlier trials."""
        context = self._context(number, updates)
        space = self._sampler.infer_relative_search_space(context)
        if not space:
            return {}
        values = self._sampler.sample_relative(context, space)
        return {name: (space[name], values[name]) for name in space if name in values}

    def suggest(
        self, number: int, name: str, distribution: Distribution, updates: list[TrialRecord]
    ) -> Any:
        """An independent proposal for a parameter the joint proposal did not cover."""
        context = self._context(number, updates)
        return self._sampler.sample_independent(context, name, distribution)
