"""The percentile and median stopping rules agree with Optuna's pruners on a synchronous study."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from raysweep.scheduling import Action, MedianStopping, PercentileStopping

S = Action.STOP

# Percentiles whose interpolation over small integers is exact in binary floating point: numpy's
# float arithmetic then gives the very cutoff ours computes exactly, ties included.
DYADIC = [0.0, 12.5, 25.0, 50.0, 75.0, 100.0]


@pytest.mark.parametrize("kind", ["percentile", "median"])
def test_agrees_with_optuna_on_a_synchronous_study(kind: str) -> None:
    """Completed curves, then one running trial: Optuna's pruner and ours decide alike.

    Optuna counts steps from 0: our step s is its step s - 1. Its completed trials ran to the
    end, so the scenario is kept only when our rule did not stop any of them either.
    """
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(20240611)
    compared = judged_stops = 0
    for _ in range(150):
        maximize = bool(rng.integers(2))
        n_done, n_steps = int(rng.integers(1, 8)), int(rng.integers(2, 10))
        warmup, interval = int(rng.integers(0, 3)), int(rng.integers(1, 4))
        min_trials = int(rng.integers(1, n_done + 2))
        percentile = float(rng.choice(DYADIC))
        common = {"warmup_steps": warmup, "interval_steps": interval, "min_trials": min_trials}
        optuna_args = {
            "n_startup_trials": min_trials,
            "n_warmup_steps": warmup,
            "interval_steps": interval,
            "n_min_trials": min_trials,
        }
        if kind == "median":
            ours: PercentileStopping = MedianStopping(**common)
            pruner = optuna.pruners.MedianPruner(**optuna_args)
        else:
            ours = PercentileStopping(percentile=percentile, **common)
            pruner = optuna.pruners.PercentilePruner(percentile, **optuna_args)
        # Later completed trials are better on average, so that ours rarely stops one.
        sign = 1 if maximize else -1
        curves = [
            sign * (i + rng.integers(0, 4, size=n_steps)).astype(float) for i in range(n_done)
        ]
        state = ours.new_state(maximize=maximize)
        study = optuna.create_study(direction="maximize" if maximize else "minimize", pruner=pruner)
        stopped_a_completed_trial = False
        for trial, curve in enumerate(curves):
            for step, value in enumerate(curve, start=1):
                stopped_a_completed_trial |= state.on_report(trial, 0, step, value).action is S
            study.add_trial(
                optuna.trial.create_trial(
                    value=float(curve[-1]),
                    intermediate_values={s: float(v) for s, v in enumerate(curve)},
                )
            )
        if stopped_a_completed_trial:
            continue
        compared += 1
        running = study.ask()
        step = 0
        while step < n_steps:
            step += int(rng.choice([1, 1, 2]))
            if step > n_steps:
                break
            value = math.nan if rng.random() < 0.1 else sign * float(rng.integers(-1, n_done + 4))
            running.report(value, step - 1)
            with warnings.catch_warnings():
                # Optuna's nanmax warns about a running trial that reported only NaN.
                warnings.simplefilter("ignore", RuntimeWarning)
                pruned = running.should_prune()
            decision = state.on_report(n_done, 0, step, value)
            assert pruned == (decision.action is S), (step, value, decision)
            if pruned:
                judged_stops += 1
                break
    assert compared >= 60
    assert judged_stops >= 15
