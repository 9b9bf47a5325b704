"""A scheduler rebuilt from the log after a restart decides exactly like one that never stopped.

The orchestrator never saves scheduler state: after a restart it makes a fresh state and replays
every logged input (reports and resumptions, in order). This checks, for each configuration in
``CASES``, that the rebuilt state then gives the same Decisions and the same ``promotion()``
answers as the original for all the inputs that follow.

The inputs come from a small simulated study: a few workers run trials that report increasing
steps with random values (ties, NaN and infinities included), crash and re-run with a higher
attempt, send stale reports from old attempts and late reports while paused; a free worker
resumes whatever ``promotion()`` names, else starts a new trial. To cover another scheduler,
add a ``(name, scheduler)`` pair to ``CASES``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.scheduling import (
    ASHA,
    Action,
    Decision,
    Hyperband,
    MedianStopping,
    PercentileStopping,
    Promotion,
    Scheduler,
    SchedulerState,
)

# Hypothesis runs hundreds of logged studies: seconds, not milliseconds.
pytestmark = pytest.mark.slow

CASES: list[tuple[str, Scheduler]] = [
    ("asha-stop", ASHA(max_resource=27)),
    ("asha-stop-eta2-min2", ASHA(min_resource=2, max_resource=20, reduction_factor=2)),
    ("asha-promote", ASHA(max_resource=27, mode="promote")),
    (
        "asha-promote-eta4",
        ASHA(min_resource=2, max_resource=40, reduction_factor=4, mode="promote"),
    ),
    ("hyperband-stop", Hyperband(max_resource=27)),
    ("hyperband-stop-eta2-3brackets", Hyperband(max_resource=20, reduction_factor=2, brackets=3)),
    ("hyperband-promote", Hyperband(max_resource=27, mode="promote")),
    (
        "hyperband-promote-eta2",
        Hyperband(min_resource=2, max_resource=24, reduction_factor=2, mode="promote"),
    ),
    ("median", MedianStopping(warmup_steps=2, min_trials=2)),
    ("percentile-interval", PercentileStopping(percentile=25.0, min_trials=1, interval_steps=3)),
]

Input = tuple[str, int, int, int, float] | tuple[str, int]  # ("report", ...) or ("resume", t)

VALUES = [0.0, 0.5, 1.0, 1.0, -2.0, math.nan, math.inf, -math.inf]


def last_step(scheduler: Scheduler) -> int:
    """The highest step a simulated trial reports: max_resource where there is one."""
    return int(getattr(scheduler, "max_resource", 0) or 40)


@dataclass
class Study:
    """The original state, fed input by input, with what it answered after each one."""

    state: SchedulerState
    log: list[Input] = field(default_factory=list)
    decisions: list[Decision | None] = field(default_factory=list)
    promotions: list[Promotion | None] = field(default_factory=list)

    def feed(self, entry: Input) -> Decision | None:
        decision = apply(self.state, entry)
        self.log.append(entry)
        self.decisions.append(decision)
        self.promotions.append(self.state.promotion())
        return decision


def apply(state: SchedulerState, entry: Input) -> Decision | None:
    if entry[0] == "resume":
        state.on_resume(entry[1])
        return None
    _, trial, attempt, step, value = entry  # type: ignore[misc]
    return state.on_report(trial, attempt, step, value)


def simulate(scheduler: Scheduler, maximize: bool, rng: random.Random, events: int) -> Study:
    study = Study(scheduler.new_state(maximize=maximize))
    top = last_step(scheduler)
    workers = rng.randint(1, 4)
    running: dict[int, list[int]] = {}  # trial -> [attempt, last step sent]
    paused: dict[int, list[int]] = {}
    attempts: dict[int, int] = {}  # trial -> newest attempt run
    reported: dict[int, int] = {}  # trial -> newest attempt the scheduler has seen
    new_trial = 0

    def value() -> float:
        return rng.choice(VALUES) if rng.random() < 0.5 else round(rng.uniform(-3, 3), 1)

    def send(trial: int, progress: list[int], step: int) -> Decision | None:
        progress[1] = step
        reported[trial] = progress[0]
        return study.feed(("report", trial, progress[0], step, value()))

    for _ in range(events):
        while len(running) < workers:
            promotion = study.state.promotion()
            if promotion is not None:
                study.feed(("resume", promotion.trial))
                progress = paused.pop(promotion.trial)
                if rng.random() < 0.3:
                    progress[1] = 0  # no checkpoint: it starts over from step 1
                running[promotion.trial] = progress
            else:
                running[new_trial] = [0, 0]
                attempts[new_trial] = 0
                new_trial += 1
        roll = rng.random()
        if roll < 0.07:
            trial = rng.choice(sorted(running))
            attempts[trial] += 1  # crashed: re-run with a higher attempt
            running[trial] = [attempts[trial], running[trial][1] if rng.random() < 0.3 else 0]
        elif roll < 0.12 and any(reported.values()):
            # A message from an attempt older than one the scheduler has already heard from.
            trial = rng.choice(sorted(t for t, a in reported.items() if a))
            stale = ("report", trial, rng.randrange(reported[trial]), rng.randint(1, top), value())
            study.feed(stale)
        elif roll < 0.17 and paused:
            trial = rng.choice(sorted(paused))
            progress = paused[trial]
            if progress[1] < top:  # a message sent before the runner saw the pause
                send(trial, progress, min(top, progress[1] + rng.randint(1, 6)))
        else:
            trial = rng.choice(sorted(running))
            progress = running[trial]
            decision = send(trial, progress, min(top, progress[1] + rng.randint(1, 6)))
            assert decision is not None
            if decision.action is Action.PAUSE:
                paused[trial] = running.pop(trial)
            elif decision.action is Action.STOP or progress[1] == top:
                del running[trial]
    return study


@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize(("name", "scheduler"), CASES, ids=[name for name, _ in CASES])
@given(
    maximize=st.booleans(),
    rng=st.randoms(use_true_random=False),
    events=st.integers(0, 150),
    cut_fraction=st.floats(0, 1),
)
def test_a_state_rebuilt_from_the_log_makes_the_same_future_decisions(
    name: str,
    scheduler: Scheduler,
    maximize: bool,
    rng: random.Random,
    events: int,
    cut_fraction: float,
) -> None:
    study = simulate(scheduler, maximize, rng, events)
    cut = math.floor(cut_fraction * len(study.log))
    rebuilt = scheduler.new_state(maximize=maximize)
    for entry in study.log[:cut]:
        apply(rebuilt, entry)
    assert rebuilt.promotion() == (study.promotions[cut - 1] if cut else None)
    for index in range(cut, len(study.log)):
        entry = study.log[index]
        assert apply(rebuilt, entry) == study.decisions[index], (name, index, entry)
        assert rebuilt.promotion() == study.promotions[index], (name, index, entry)


@settings(max_examples=40, deadline=None)
@pytest.mark.parametrize(("name", "scheduler"), CASES, ids=[name for name, _ in CASES])
@given(
    maximize=st.booleans(),
    rng=st.randoms(use_true_random=False),
    events=st.integers(0, 150),
    cut_fraction=st.floats(0, 1),
)
def test_a_state_restored_from_its_saved_data_makes_the_same_future_decisions(
    name: str,
    scheduler: Scheduler,
    maximize: bool,
    rng: random.Random,
    events: int,
    cut_fraction: float,
) -> None:
    # A saved state is a cache of the replay above: restored (after a trip through JSON, as it
    # is stored), it must be the replayed state, decision for decision.
    study = simulate(scheduler, maximize, rng, events)
    cut = math.floor(cut_fraction * len(study.log))
    replayed = scheduler.new_state(maximize=maximize)
    for entry in study.log[:cut]:
        apply(replayed, entry)
    saved = replayed.saved()
    if saved is None:
        return  # this scheduler saves nothing: it is always replayed
    restored = scheduler.new_state(maximize=maximize)
    restored.restore(json.loads(json.dumps(saved)))
    assert restored.saved() == saved
    assert restored.promotion() == (study.promotions[cut - 1] if cut else None)
    for index in range(cut, len(study.log)):
        entry = study.log[index]
        assert apply(restored, entry) == study.decisions[index], (name, index, entry)
        assert restored.promotion() == study.promotions[index], (name, index, entry)


def test_a_saved_state_restores_only_a_state_of_the_same_configuration() -> None:
    saved = ASHA(max_resource=27).new_state(maximize=True).saved()
    assert saved is not None
    for other in (
        ASHA(max_resource=27).new_state(maximize=False),
        ASHA(max_resource=27, mode="promote").new_state(maximize=True),
        ASHA(max_resource=9).new_state(maximize=True),
    ):
        with pytest.raises(ValueError, match="cannot restore"):
            other.restore(saved)
    with pytest.raises(ValueError, match="does not restore"):
        MedianStopping().new_state(maximize=True).restore(saved)


@pytest.mark.parametrize(("name", "scheduler"), CASES, ids=[name for name, _ in CASES])
def test_the_simulated_study_exercises_the_scheduler(name: str, scheduler: Scheduler) -> None:
    # Guards the property above against a simulation that never reaches the interesting cases.
    study = simulate(scheduler, True, random.Random(7), 400)
    actions = {d.action for d in study.decisions if d is not None}
    expected = {Action.CONTINUE, Action.PAUSE if scheduler.pauses else Action.STOP}
    assert expected <= actions, name
    assert any("stale" in d.reason for d in study.decisions if d is not None), name
    resumed = [entry for entry in study.log if entry[0] == "resume"]
    assert bool(resumed) == scheduler.pauses, name
