"""Optuna's SuccessiveHalving and Hyperband pruners behind raysweep's Scheduler contract.

    .venv/bin/python -m benchmarks.multi_fidelity._optuna_pruners   # self-check against Optuna

The simulator (`raysweep.scheduling.simulate`) drives any `Scheduler`; this adapter lets it drive
an Optuna study instead, so that ours and Optuna's pruners run on the same curves, proposals and
workers. The state holds an in-memory Optuna study. A trial's first report creates its Optuna
trial with `study.ask()` (after asking for every lower number still missing, so Optuna's trial
numbers equal ours: Hyperband's bracket of a trial is a hash of its number). Each report is
`trial.report(value, step)`; at `max_resource` the trial is told COMPLETE with that value;
otherwise `trial.should_prune()` decides: pruned trials are told PRUNED and answered STOP, the
others CONTINUE. Optuna never pauses, so this is stop-mode successive halving as Optuna runs it.

A trial created in Optuna is RUNNING there from its first report on, not from when the simulated
worker started it; that changes nothing, as Optuna's pruners only read reported values.

Optuna is a benchmark-only dependency: only benchmarks/ imports it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from benchmarks._shared.optuna_logging import quiet_optuna
from raysweep.scheduling import Action, Decision, Scheduler, SchedulerState
from raysweep.scheduling._base import check_report

PRUNERS = ("sh", "hyperband")
# Fixed: Optuna's Hyperband assigns brackets by a hash of the study name and the trial number.
STUDY_NAME = "raysweep-simulation"


@dataclass(frozen=True, kw_only=True)
class OptunaPruner(Scheduler):
    """Optuna's `SuccessiveHalvingPruner` (``pruner="sh"``) or `HyperbandPruner` as a Scheduler.

    ``"sh"`` is `SuccessiveHalvingPruner(min_resource, reduction_factor,
    min_early_stopping_rate=0)`; ``"hyperband"`` is `HyperbandPruner(min_resource, max_resource,
    reduction_factor)`. Every step below ``max_resource`` is a decision step, since Optuna's
    trials ask ``should_prune()`` after every report; ``max_resource`` is the full budget.
    """

    pruner: str
    min_resource: int = 1
    max_resource: int
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner={self.pruner!r}: pass one of {PRUNERS}")
        for name in ("min_resource", "max_resource", "reduction_factor"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {number!r}")
        if self.min_resource < 1 or self.reduction_factor < 2:
            raise ValueError(
                f"min_resource={self.min_resource}, reduction_factor={self.reduction_factor}: "
                "pass min_resource >= 1 and reduction_factor >= 2"
            )
        if self.max_resource <= self.min_resource:
            raise ValueError(
                f"max_resource={self.max_resource} must exceed min_resource={self.min_resource}; "
                "pass the full budget of a trial in steps"
            )

    def decision_steps(self) -> tuple[int, ...]:
        return tuple(range(1, self.max_resource))

    def fidelities(self) -> tuple[int, ...]:
        return (*self.decision_steps(), self.max_resource)

    def new_state(self, *, maximize: bool) -> SchedulerState:
        if not isinstance(maximize, bool):
            raise TypeError(f"maximize must be a bool, got {maximize!r}")
        return OptunaPrunerState(self, maximize=maximize)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": f"optuna-{self.pruner}",
            "min_resource": self.min_resource,
            "max_resource": self.max_resource,
            "reduction_factor": self.reduction_factor,
        }

    def validate_step(self, step: int) -> None:
        super().validate_step(step)
        if step > self.max_resource:
            raise ValueError(f"step {step} is beyond max_resource={self.max_resource}")

    def optuna_pruner(self) -> Any:
        """A fresh Optuna pruner with this configuration."""
        import optuna

        if self.pruner == "sh":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=self.min_resource,
                reduction_factor=self.reduction_factor,
                min_early_stopping_rate=0,
            )
        return optuna.pruners.HyperbandPruner(
            min_resource=self.min_resource,
            max_resource=self.max_resource,
            reduction_factor=self.reduction_factor,
        )


def new_study(config: OptunaPruner, *, maximize: bool) -> Any:
    """An in-memory Optuna study with `config`'s pruner (the sampler proposes nothing here)."""
    import optuna

    quiet_optuna()
    return optuna.create_study(
        storage=optuna.storages.InMemoryStorage(),
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=config.optuna_pruner(),
        study_name=STUDY_NAME,
        direction="maximize" if maximize else "minimize",
    )


class OptunaPrunerState(SchedulerState):
    """One simulated study's Optuna study; see the module docstring for the mapping."""

    def __init__(self, config: OptunaPruner, *, maximize: bool) -> None:
        self._config = config
        self._study = new_study(config, maximize=maximize)
        self._trials: list[Any] = []
        self._finished: dict[int, Action] = {}

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        import optuna

        value = check_report(self._config, trial, attempt, step, value)
        if attempt != 0:
            raise ValueError(
                f"attempt={attempt}: Optuna has no re-runs of a trial; the simulator, which never "
                "interrupts a trial, always reports attempt 0"
            )
        if trial in self._finished:
            return Decision(self._finished[trial], "the Optuna trial is finished already")
        while len(self._trials) <= trial:
            self._trials.append(self._study.ask())
        optuna_trial = self._trials[trial]
        optuna_trial.report(value, step)
        if step >= self._config.max_resource:
            if math.isnan(value):
                self._study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(optuna_trial, value)
            self._finished[trial] = Action.CONTINUE
            return Decision(Action.CONTINUE, "full budget: told Optuna COMPLETE", rung=step)
        if optuna_trial.should_prune():
            self._study.tell(optuna_trial, state=optuna.trial.TrialState.PRUNED)
            self._finished[trial] = Action.STOP
            return Decision(Action.STOP, f"Optuna's pruner pruned it at step {step}", rung=step)
        return Decision(Action.CONTINUE, "Optuna's pruner kept it")


def _optuna_loop(config: OptunaPruner, curves: list[list[float]], maximize: bool) -> list[int]:
    """Optuna's own sequential loop (`study.optimize`): the last step each trial ran."""
    import optuna

    study = new_study(config, maximize=maximize)
    last = [0] * len(curves)

    def objective(trial: Any) -> float:
        curve = curves[trial.number]
        for step in range(1, config.max_resource + 1):
            last[trial.number] = step
            trial.report(curve[step - 1], step)
            if step < config.max_resource and trial.should_prune():
                raise optuna.TrialPruned()
        return float(curve[-1])

    study.optimize(objective, n_trials=len(curves))
    return last


def _self_check() -> None:
    """Our adapter in the one-worker simulator must prune exactly what Optuna's loop prunes."""
    import numpy as np

    from raysweep.scheduling import simulate

    steps = 27
    rng = np.random.default_rng(7)
    n = 120
    # Noisy, rising curves whose order changes over time, so that pruning decisions matter.
    quality = rng.uniform(0.0, 1.0, n)
    start = rng.uniform(0.0, 1.0, n)
    curves = [
        [
            float(start[i] + (quality[i] - start[i]) * (s / steps) ** 0.5 + 0.02 * rng.normal())
            for s in range(1, steps + 1)
        ]
        for i in range(n)
    ]
    for pruner in PRUNERS:
        for maximize in (True, False):
            config = OptunaPruner(pruner=pruner, max_resource=steps)
            expected = _optuna_loop(config, curves, maximize)
            run = simulate(
                config,
                curve=lambda c, s: (curves[c][s - 1], 1.0),
                propose=lambda number, _: number,
                n_workers=1,
                max_steps=steps,
                maximize=maximize,
                max_trials=n,
            )
            got = [t.last_step or 0 for t in run.trials]
            assert got == expected, (pruner, maximize, got, expected)
            pruned = sum(s < steps for s in got)
            print(
                f"optuna-{pruner}, maximize={maximize}: the adapter prunes what study.optimize "
                f"prunes ({pruned} of {n} trials pruned, {sum(got)} steps)"
            )
            # Several workers: the same state must stay consistent (each trial ends once).
            wide = simulate(
                config,
                curve=lambda c, s: (curves[c][s - 1], 1.0 + (c % 5) / 7),
                propose=lambda number, _: number,
                n_workers=8,
                max_steps=steps,
                maximize=maximize,
                max_trials=n,
            )
            assert all(t.state in ("stopped", "complete") for t in wide.trials)
    # By hand: maximising, values at step 1 of 0.5, 0.9, 0.1: the third is below the top third.
    state = OptunaPruner(pruner="sh", max_resource=3).new_state(maximize=True)
    actions = [state.on_report(t, 0, 1, v).action for t, v in enumerate((0.5, 0.9, 0.1))]
    assert actions == [Action.CONTINUE, Action.CONTINUE, Action.STOP], actions
    print("by hand: 0.5, 0.9 continue at rung 1 and 0.1 is pruned, as Optuna's rule says")


if __name__ == "__main__":
    _self_check()
