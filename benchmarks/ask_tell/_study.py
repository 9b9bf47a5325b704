"""What the two studies driven through the public ask/tell share, ours on Ray and Optuna's in
memory: an ask with the space's suggest calls, a tell with the space's objective, and a proposal
timed the same way for both."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from benchmarks.ask_tell._spaces import objective, suggest_params


class AskTellStudy:
    """A study whose `ask()` and `tell(trial, value)` are the library's own; a subclass provides
    `study` and starts `finished` (the trials told so far) at 0."""

    study: Any
    finished: int

    def ask(self, space: str) -> tuple[Any, dict[str, Any]]:
        """`study.ask()` and the objective's suggest calls: a trial and its parameters."""
        trial = self.study.ask()
        return trial, suggest_params(trial, space)

    def tell(self, trial: Any, space: str, params: Mapping[str, Any]) -> None:
        self.study.tell(trial, objective(space, params))
        self.finished += 1

    def timed_proposal(self, space: str) -> float:
        """Seconds for one ask plus its suggests (for ours, the actor round trips included); the
        trial is then told, untimed."""
        started = time.perf_counter()
        trial, params = self.ask(space)
        elapsed = time.perf_counter() - started
        self.tell(trial, space, params)
        return elapsed
