"""Optuna's side of the sampler benchmarks: an in-memory study, its history added in bulk, and
proposals made with its public `ask` / `tell` (in-process: there is no other level for Optuna).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from _drive import quiet_optuna
from _sampler_spaces import objective, optuna_distribution, suggest_params

from raysweep.samplers import Distribution


def tpe(seed: int, **arguments: Any) -> Any:
    """Optuna's TPESampler with `arguments` (set explicitly by the caller) and `seed`."""
    import optuna

    quiet_optuna()
    return optuna.samplers.TPESampler(seed=seed, **arguments)


class OptunaStudy:
    """An Optuna study on `InMemoryStorage`, minimizing."""

    def __init__(self, sampler: Any) -> None:
        import optuna

        quiet_optuna()
        self.study = optuna.create_study(
            sampler=sampler, storage=optuna.storages.InMemoryStorage(), direction="minimize"
        )
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(
        self, rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Distribution], float]]
    ) -> None:
        """Add COMPLETE trials (params, our distributions, value) in one `add_trials` call."""
        import optuna

        self.study.add_trials(
            [
                optuna.trial.create_trial(
                    params=dict(params),
                    distributions={n: optuna_distribution(d) for n, d in dists.items()},
                    value=value,
                )
                for params, dists, value in rows
            ]
        )
        self._count += len(rows)

    def ask(self, space: str) -> tuple[Any, dict[str, Any]]:
        """`study.ask()` and the objective's suggest calls: a trial and its parameters."""
        trial = self.study.ask()
        return trial, suggest_params(trial, space)

    def tell(self, trial: Any, space: str, params: Mapping[str, Any]) -> None:
        self.study.tell(trial, objective(space, params))
        self._count += 1

    def timed_proposal(self, space: str) -> float:
        """Seconds for one ask plus its suggests; the trial is then told."""
        started = time.perf_counter()
        trial, params = self.ask(space)
        elapsed = time.perf_counter() - started
        self.tell(trial, space, params)
        return elapsed
