"""The link of a trial created by `Study.ask`: every call goes straight to the TrialScheduler."""

from __future__ import annotations

from typing import Any

import ray

from raysweep.orchestrator._protocol import Note
from raysweep.samplers import Distribution
from raysweep.scheduling import Decision


class AskLink:
    raises_on_prune = False

    def __init__(self, scheduler: Any, number: int, attempt: int) -> None:
        self._scheduler = scheduler
        self._number = number
        self._attempt = attempt

    def suggest(self, name: str, distribution: Distribution, notes: tuple[Note, ...]) -> Any:
        return ray.get(
            self._scheduler.suggest.remote(self._number, self._attempt, name, distribution, notes)
        )

    def send(self, notes: tuple[Note, ...], *, wait: bool) -> Decision | None:
        # An ask/tell caller has no runner to batch for it: everything is sent as it happens.
        decision: Decision | None = ray.get(
            self._scheduler.report.remote(self._number, self._attempt, notes)
        )
        return decision

    def interrupted(self) -> bool:
        return False

    def flush_due(self) -> bool:
        return True

    def save_checkpoint(self, step: int, data: bytes) -> str:
        # `ask` refuses studies whose scheduler pauses trials, so no pause reaches here.
        raise RuntimeError("trials from ask are never paused")
