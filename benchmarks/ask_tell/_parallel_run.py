"""The runs of `parallel_asks.py`: start-up trials one at a time, then rounds of 8 asks made
before any of them is told, per system; the result is each round's 8 parameter sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks.ask_tell._bare_study import BareStudy, ProposedTrial
from benchmarks.ask_tell._optuna_study import OptunaStudy, tpe
from benchmarks.ask_tell._ray_study import RayStudy
from benchmarks.ask_tell._study import AskTellStudy
from raysweep.samplers import RandomSampler, Sampler, TPESampler, TrialRecord

BATCH = 8
STARTUP = 20
# Optuna's start-up trials follow ours, as in the quality benchmarks.
OURS_STARTUP = TPESampler().n_startup_trials
Batch = list[dict[str, Any]]


@dataclass(frozen=True)
class SystemInfo:
    name: str
    label: str
    description: str


SYSTEMS = {
    s.name: s
    for s in (
        SystemInfo(
            "ours-asktell",
            "ours TPE, ask/tell on Ray",
            "`TPESampler(seed=s)` (defaults) in a study on the local Ray session, driven with "
            "`study.ask()` / `study.tell()`",
        ),
        SystemInfo(
            "ours-bare",
            "ours TPE, bare sampler",
            "`TPESampler(seed=s)` in-process; each pending ask is in the next ask's history "
            "as a RUNNING record holding its proposal, as the orchestrator shows it",
        ),
        SystemInfo(
            "optuna",
            "Optuna TPE",
            f"`TPESampler(multivariate=True, n_startup_trials={OURS_STARTUP}, "
            "constant_liar=False, seed=s)`, in-memory study",
        ),
        SystemInfo(
            "optuna-liar",
            "Optuna TPE, constant liar",
            f"`TPESampler(multivariate=True, n_startup_trials={OURS_STARTUP}, "
            "constant_liar=True, seed=s)`, in-memory study",
        ),
        SystemInfo(
            "random",
            "random",
            "our `RandomSampler`, bare, study seed s",
        ),
    )
}


class Driver(Protocol):
    def ask(self) -> tuple[Any, dict[str, Any]]: ...

    def tell(self, handle: Any, params: dict[str, Any]) -> None: ...


class _Bare:
    def __init__(self, sampler: Sampler, seed: int, space: str) -> None:
        self._study = BareStudy(sampler, seed=seed)
        self._space = space
        self._pending: list[TrialRecord] = []

    def ask(self) -> tuple[Any, dict[str, Any]]:
        trial = self._study.propose(self._space, self._pending)
        self._pending.append(trial.running_record())
        return trial, trial.params

    def tell(self, handle: Any, params: dict[str, Any]) -> None:
        assert isinstance(handle, ProposedTrial)
        self._pending = [r for r in self._pending if r.number != handle.number]
        self._study.tell(handle, self._space)


class _AskTell:
    """A study driven through its own ask/tell (ours on Ray, Optuna's): pending asks are the
    study's business."""

    def __init__(self, study: AskTellStudy, space: str) -> None:
        self._study = study
        self._space = space

    def ask(self) -> tuple[Any, dict[str, Any]]:
        return self._study.ask(self._space)

    def tell(self, handle: Any, params: dict[str, Any]) -> None:
        self._study.tell(handle, self._space, params)


def play(driver: Driver, rounds: int) -> list[Batch]:
    """STARTUP trials one after another, then `rounds` rounds of BATCH asks, then BATCH tells."""
    for _ in range(STARTUP):
        handle, params = driver.ask()
        driver.tell(handle, params)
    batches = []
    for _ in range(rounds):
        asked = [driver.ask() for _ in range(BATCH)]
        batches.append([dict(params) for _, params in asked])
        for handle, params in asked:
            driver.tell(handle, params)
    return batches


def run(system: str, space: str, seed: int, rounds: int, storage: Path) -> list[Batch]:
    """One run of `system` on `space` with seed `seed`."""
    startup = OURS_STARTUP
    makers: dict[str, Callable[[], Driver]] = {
        "ours-bare": lambda: _Bare(TPESampler(seed=seed), seed, space),
        "random": lambda: _Bare(RandomSampler(seed=seed), seed, space),
        "optuna": lambda: _AskTell(
            OptunaStudy(
                tpe(seed, multivariate=True, n_startup_trials=startup, constant_liar=False)
            ),
            space,
        ),
        "optuna-liar": lambda: _AskTell(
            OptunaStudy(tpe(seed, multivariate=True, n_startup_trials=startup, constant_liar=True)),
            space,
        ),
    }
    if system != "ours-asktell":
        return play(makers[system](), rounds)
    study = RayStudy(storage, f"parallel-{space}-s{seed}")
    try:
        study.use(TPESampler(seed=seed))
        return play(_AskTell(study, space), rounds)
    finally:
        study.close()
