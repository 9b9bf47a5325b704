"""Optuna's side of the ask/tell benchmarks: an in-memory study, its history added in bulk, and
proposals made with its public `ask` / `tell` (in-process: there is no other level for Optuna).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks._shared.optuna_logging import quiet_optuna
from benchmarks.ask_tell._spaces import optuna_distribution
from benchmarks.ask_tell._study import AskTellStudy
from raysweep.samplers import Distribution


def tpe(seed: int, **arguments: Any) -> Any:
    """Optuna's TPESampler with `arguments` (set explicitly by the caller) and `seed`."""
    import optuna

    quiet_optuna()
    return optuna.samplers.TPESampler(seed=seed, **arguments)


class OptunaStudy(AskTellStudy):
    """An Optuna study on `InMemoryStorage`, minimizing."""

    def __init__(self, sampler: Any) -> None:
        import optuna

        quiet_optuna()
        self.study = optuna.create_study(
            sampler=sampler, storage=optuna.storages.InMemoryStorage(), direction="minimize"
        )
        self.finished = 0

    def __len__(self) -> int:
        return self.finished

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
        self.finished += len(rows)
