"""The methods of the multi-fidelity benchmark: a scheduler, a proposer and checkpointing each.

Random proposals are the same for every method of one seed: trial `number` gets
`problem.random_config(default_rng([seed, number]), used=<the run's earlier configs>)`, and as
trial n's config depends only on trials 0..n-1's, every method sees the same sequence (on
LC-Digits no table row repeats within a run while unused rows are left). The model-based method
proposes with `MultiFidelitySampler(TPESampler())` given the scheduler's fidelities, mapped to a
configuration with `problem.config_from_params` (on LC-Digits the nearest unused table row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.multi_fidelity._optuna_pruners import OptunaPruner
from benchmarks.multi_fidelity._problems import Config, MFProblem
from raysweep.samplers import (
    MultiFidelitySampler,
    SamplingContext,
    StudyDirection,
    TPESampler,
    TrialRecord,
    TrialState,
)
from raysweep.scheduling import ASHA, Hyperband, Scheduler, SimulatedTrial

MIN_RESOURCE, MAX_RESOURCE, ETA = 1, 27, 3


@dataclass(frozen=True)
class Method:
    """One benchmarked method; `name` is its key in tables and in the run cache."""

    name: str
    description: str
    scheduler: Scheduler
    checkpoints: bool = True
    model_based: bool = False

    def config(self) -> dict[str, Any]:
        """What identifies the method's behaviour (hashed into the run cache's keys)."""
        found: dict[str, Any] = {
            "scheduler": self.scheduler.to_json(),
            "checkpoints": self.checkpoints,
        }
        if self.model_based:
            found["sampler"] = _sampler().to_json()
        return found


def _asha(mode: str) -> ASHA:
    return ASHA(
        min_resource=MIN_RESOURCE, max_resource=MAX_RESOURCE, reduction_factor=ETA, mode=mode
    )


def _hyperband(mode: str) -> Hyperband:
    return Hyperband(
        min_resource=MIN_RESOURCE, max_resource=MAX_RESOURCE, reduction_factor=ETA, mode=mode
    )


def _optuna(pruner: str) -> OptunaPruner:
    return OptunaPruner(
        pruner=pruner, min_resource=MIN_RESOURCE, max_resource=MAX_RESOURCE, reduction_factor=ETA
    )


def _sampler() -> MultiFidelitySampler:
    return MultiFidelitySampler(TPESampler())


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("ours-asha-stop", "raysweep ASHA, stop mode", _asha("stop")),
        Method(
            "ours-asha-promote",
            "raysweep ASHA, promote mode, resumed from checkpoints",
            _asha("promote"),
        ),
        Method(
            "ours-asha-promote-restart",
            "raysweep ASHA, promote mode without checkpoints (a resumed trial reruns from step 1)",
            _asha("promote"),
            checkpoints=False,
        ),
        Method(
            "ours-hyperband-stop", "raysweep asynchronous Hyperband, stop mode", _hyperband("stop")
        ),
        Method(
            "ours-hyperband-promote",
            "raysweep asynchronous Hyperband, promote mode",
            _hyperband("promote"),
        ),
        Method(
            "ours-model-based",
            "raysweep ASHA promote mode with MultiFidelitySampler(TPESampler()) proposals",
            _asha("promote"),
            model_based=True,
        ),
        Method("optuna-sh", "Optuna SuccessiveHalvingPruner (stop only)", _optuna("sh")),
        Method("optuna-hyperband", "Optuna HyperbandPruner (stop only)", _optuna("hyperband")),
    )
}


class RandomProposer:
    """`propose(number, trials)` for the simulator: the seed's random sequence of configs."""

    def __init__(self, problem: MFProblem, seed: int) -> None:
        self._problem = problem
        self._seed = seed

    def __call__(self, number: int, trials: Sequence[SimulatedTrial]) -> Config:
        rng = np.random.default_rng([self._seed, number])
        return self._problem.random_config(rng, used=[t.config for t in trials])


class ModelProposer:
    """`propose(number, trials)` with `MultiFidelitySampler(TPESampler())`.

    Trial records are rebuilt only for trials whose snapshot changed (the simulator hands out a
    new snapshot object only for those), so a proposal costs the sampler's work, not a rescan.
    """

    def __init__(self, problem: MFProblem, seed: int, fidelities: tuple[int, ...]) -> None:
        self._problem = problem
        self._seed = seed
        self._fidelities = fidelities
        self._sampler = _sampler()
        self._direction = StudyDirection.MAXIMIZE if problem.maximize else StudyDirection.MINIMIZE
        self._params: list[dict[str, Any]] = []
        self._records: list[tuple[SimulatedTrial, TrialRecord]] = []

    def __call__(self, number: int, trials: Sequence[SimulatedTrial]) -> Config:
        history = [self._record(t) for t in trials]
        context = SamplingContext(
            self._seed,
            number,
            (self._direction,),
            history,
            seen=self._problem.space if history else None,
            fidelity_steps=self._fidelities,
        )
        sampler = self._sampler
        params = sampler.sample_relative(context, sampler.infer_relative_search_space(context))
        for name, distribution in self._problem.space.items():
            if name not in params:
                params[name] = sampler.sample_independent(context, name, distribution)
        config = self._problem.config_from_params(params, used=[t.config for t in trials])
        # The record holds what ran: on a table, the chosen row's values, not the proposal.
        self._params.append(self._problem.params_of(config))
        return config

    def _record(self, trial: SimulatedTrial) -> TrialRecord:
        number = trial.number
        if number < len(self._records) and self._records[number][0] is trial:
            return self._records[number][1]
        record = _trial_record(trial, self._params[number], self._problem.space)
        if number < len(self._records):
            self._records[number] = (trial, record)
        else:
            self._records.append((trial, record))
        return record


_STATES = {"running": TrialState.RUNNING, "paused": TrialState.PAUSED, "stopped": TrialState.PRUNED}


def _trial_record(
    trial: SimulatedTrial, params: Mapping[str, Any], space: Mapping[str, Any]
) -> TrialRecord:
    values: tuple[float, ...] | None = None
    state = _STATES.get(trial.state, TrialState.FAILED)
    final = trial.last_value
    if trial.state == "complete" and final is not None and not math.isnan(final):
        state, values = TrialState.COMPLETE, (float(final),)
    return TrialRecord(
        trial.number,
        state,
        dict(params),
        dict(space),
        values,
        intermediate_values=dict(trial.values),
    )


def proposer(method: Method, problem: MFProblem, seed: int) -> RandomProposer | ModelProposer:
    """The proposer `method` uses on `problem` in the run with `seed`."""
    if method.model_based:
        return ModelProposer(problem, seed, method.scheduler.fidelities())
    return RandomProposer(problem, seed)
