"""simulate: argument checks, misbehaving schedulers, properties and the real schedulers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulator_fakes import BogusPromoter, Config, Gate, LateGate, flat, from_list, run

from raysweep.scheduling import (
    ASHA,
    Hyperband,
    MedianStopping,
    NoPruning,
    PercentileStopping,
    SimulatedTrial,
    Simulation,
    simulate,
)

# --- schedulers that misbehave ------------------------------------------------------------------


def test_a_pause_at_the_last_step_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="paused trial 0 at its last step 4"):
        run(LateGate(rung=4), [(1.0, 1.0)])


def test_promoting_a_trial_that_is_not_paused_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="promoted trial 0, which is not paused"):
        run(BogusPromoter(), [(1.0, 1.0)] * 2)


# --- argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"scheduler": "asha"}, TypeError, "scheduler must be a raysweep.scheduling.Scheduler"),
        ({"curve": None}, TypeError, "curve must be a function"),
        ({"propose": 3}, TypeError, "propose must be a function"),
        ({"timer": 1.0}, TypeError, "such as time.perf_counter"),
        ({"maximize": 1}, TypeError, "maximize must be True or False"),
        ({"checkpoints": None}, TypeError, "checkpoints must be True or False"),
        ({"n_workers": 0}, ValueError, "n_workers must be at least 1"),
        ({"n_workers": 2.0}, TypeError, "n_workers must be an int"),
        ({"n_workers": True}, TypeError, "n_workers must be an int"),
        ({"max_steps": 0}, ValueError, "max_steps must be at least 1"),
        ({"max_trials": 0}, ValueError, "max_trials must be at least 1"),
        ({"max_epochs": -3}, ValueError, "max_epochs must be at least 1"),
        ({"max_time": math.nan}, ValueError, "max_time must be finite and at least 0"),
        ({"max_time": math.inf}, ValueError, "max_time must be finite and at least 0"),
        ({"max_time": -1.0}, ValueError, "max_time must be finite and at least 0"),
        ({"max_time": "1"}, TypeError, "max_time must be a number"),
        ({"max_trials": None}, ValueError, "pass max_trials .*, max_epochs .* or max_time"),
        # ASHA(max_resource=27) trains for 27 steps: another max_steps says what to pass.
        ({"max_steps": 9}, ValueError, "full budget is 27 steps.*pass max_steps=27"),
        ({"max_steps": 28}, ValueError, "step 28 is beyond max_resource=27"),
    ],
)
def test_bad_arguments_say_what_to_pass(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {
        "scheduler": ASHA(max_resource=27),
        "curve": flat,
        "propose": from_list([(1.0, 1.0)] * 5),
        "n_workers": 2,
        "max_steps": 27,
        "maximize": True,
        "max_trials": 5,
    }
    arguments.update(change)
    with pytest.raises(error, match=message):
        simulate(**arguments)


def test_a_pausing_scheduler_needs_steps_after_its_rungs() -> None:
    with pytest.raises(ValueError, match=r"pauses trials at step 4.*pass max_steps above 4"):
        run(Gate(rung=4), [(1.0, 1.0)])


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        ((1.0,), TypeError, r"curve must return \(value, seconds\)"),
        (None, TypeError, r"curve must return \(value, seconds\)"),
        (("high", 1.0), TypeError, "curve's value for trial 0 at step 1 must be a real number"),
        ((1.0, True), TypeError, "curve's seconds .* must be a real number"),
        ((1.0, -1.0), ValueError, "duration of -1.0 seconds"),
        ((1.0, math.nan), ValueError, "must be finite and at least 0"),
        ((1.0, math.inf), ValueError, "must be finite and at least 0"),
    ],
)
def test_bad_curve_results_are_errors(returned: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        simulate(
            NoPruning(), curve=lambda config, step: returned, propose=from_list([None]),
            n_workers=1, max_steps=2, maximize=True, max_trials=1,
        )  # fmt: skip


def test_nan_values_and_integer_results_are_accepted() -> None:
    sim = simulate(
        ASHA(max_resource=3), curve=lambda config, step: (config, 2), propose=from_list(
            [math.nan, 1, 2]), n_workers=1, max_steps=3, maximize=True, max_trials=3,
    )  # fmt: skip
    assert math.isnan(sim.events[0].value) and sim.end_time == 2.0 * sim.epochs
    assert all(type(e.value) is float and type(e.time) is float for e in sim.events)


# --- properties -------------------------------------------------------------------------------

durations = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])
configs_strategy = st.lists(
    st.tuples(st.integers(0, 9).map(float), durations), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(configs=configs_strategy, n_workers=st.integers(1, 5), max_steps=st.integers(1, 5))
def test_without_pruning_every_trial_runs_every_step(
    configs: list[Config], n_workers: int, max_steps: int
) -> None:
    sim = run(NoPruning(), configs, n_workers=n_workers, max_steps=max_steps)
    assert sim.epochs == len(configs) * max_steps == len(sim.events)
    assert [e.epochs for e in sim.events] == list(range(1, sim.epochs + 1))
    assert [(e.time, e.worker) for e in sim.events] == sorted(
        (e.time, e.worker) for e in sim.events
    )
    assert [t.state for t in sim.trials] == ["complete"] * len(configs)
    assert sorted(c.trial for c in sim.completions) == list(range(len(configs)))
    assert sim.end_time == sim.events[-1].time
    finished: dict[int, float] = {}  # worker -> when its previous step finished
    for event in sim.events:
        seconds = configs[event.trial][1]
        # A worker runs one step at a time, each right after the previous one.
        assert event.time >= finished.get(event.worker, 0.0) + seconds
        finished[event.worker] = event.time
    for trial in range(len(configs)):
        steps = [e.step for e in sim.events if e.trial == trial]
        assert steps == list(range(1, max_steps + 1))
        assert len({e.worker for e in sim.events if e.trial == trial}) == 1


def replayed_actions(scheduler: ASHA | Hyperband | MedianStopping, sim: Simulation) -> list[str]:
    """The actions a fresh state gives to the simulation's reports, fed in event order."""
    state = scheduler.new_state(maximize=sim.maximize)
    return [state.on_report(e.trial, 0, e.step, e.value).action.value for e in sim.events]


@settings(max_examples=40, deadline=None)
@given(configs=configs_strategy, n_workers=st.integers(1, 4), maximize=st.booleans())
def test_stopping_rules_see_every_report_in_event_order(
    configs: list[Config], n_workers: int, maximize: bool
) -> None:
    for scheduler in (
        ASHA(max_resource=9),
        Hyperband(max_resource=9),
        MedianStopping(warmup_steps=1, min_trials=2),
    ):
        sim = run(scheduler, configs, n_workers=n_workers, max_steps=9, maximize=maximize)
        assert replayed_actions(scheduler, sim) == [e.action for e in sim.events]
        for trial in sim.trials:
            last = [e for e in sim.events if e.trial == trial.number][-1]
            expected = "stopped" if last.action == "stop" else "complete"
            assert trial.state == expected and (expected == "stopped" or last.step == 9)


def check_pausing_run(
    sim: Simulation, rungs_of: Callable[[int], tuple[int, ...]], checkpoints: bool
) -> None:
    """Invariants of a run of a pausing scheduler limited by max_trials only."""
    resumes = repeated = 0
    for trial in sim.trials:
        events = [e for e in sim.events if e.trial == trial.number]
        rungs = rungs_of(trial.number)
        assert all(e.step in rungs for e in events if e.action == "pause")
        assert all(e.action != "stop" for e in events)
        own = 0
        for before, after in itertools.pairwise(events):
            if before.action == "pause":
                own += 1
                repeated += 0 if checkpoints else before.step
                assert after.step == (before.step + 1 if checkpoints else 1)
            else:
                assert after.step == before.step + 1
        assert trial.resumes == own
        resumes += own
        assert trial.state == ("paused" if events[-1].action == "pause" else "complete")
    assert sim.resumes == resumes and sim.repeated_epochs == repeated
    assert sim.epochs == len(sim.events)


def test_asha_promote_by_hand() -> None:
    # Rungs 1 and 3 (max 9, η = 3), maximising. A paused trial is promoted once it ranks in the
    # top floor(n/3) of the n values at its rung: trial 2 (0.9) at n=3, trial 5 (0.8) at n=6.
    # Once the sixth (last) trial exists no new trial will come, and the top ceil(n/3) qualify:
    # trial 2, alone at rung 3 (ceil(1/3) = 1), goes on to the full budget before trial 5 is
    # promoted from rung 1; at rung 3 trial 5 then ranks 2nd of 2, outside ceil(2/3) = 1.
    configs = [(v, 1.0) for v in (0.1, 0.2, 0.9, 0.3, 0.5, 0.8)]
    sim = run(ASHA(max_resource=9, mode="promote"), configs, max_steps=9)
    assert [(e.trial, e.step, e.action) for e in sim.events] == [
        (0, 1, "pause"), (1, 1, "pause"), (2, 1, "pause"),
        (2, 2, "continue"), (2, 3, "pause"),
        (3, 1, "pause"), (4, 1, "pause"), (5, 1, "pause"),
        *[(2, step, "continue") for step in range(4, 10)],
        (5, 2, "continue"), (5, 3, "pause"),
    ]  # fmt: skip
    assert [t.state for t in sim.trials] == ["paused"] * 2 + ["complete"] + ["paused"] * 3
    assert [t.resumes for t in sim.trials] == [0, 0, 2, 0, 0, 1]
    assert [c.trial for c in sim.completions] == [2] and sim.epochs == 16


@settings(max_examples=25, deadline=None)
@given(
    configs=st.lists(st.tuples(st.integers(0, 9).map(float), durations), min_size=1, max_size=30),
    n_workers=st.integers(1, 4),
    checkpoints=st.booleans(),
)
def test_promote_mode_pauses_at_rungs_and_resumes_where_it_paused(
    configs: list[Config], n_workers: int, checkpoints: bool
) -> None:
    asha = ASHA(max_resource=9, mode="promote")
    sim = run(asha, configs, n_workers=n_workers, max_steps=9, checkpoints=checkpoints)
    check_pausing_run(sim, lambda trial: asha.decision_steps(), checkpoints)
    hyperband = Hyperband(max_resource=9, mode="promote")
    sim = run(hyperband, configs, n_workers=n_workers, max_steps=9, checkpoints=checkpoints)
    check_pausing_run(
        sim, lambda trial: hyperband.bracket_rungs(hyperband.bracket(trial)), checkpoints
    )


def test_runs_are_deterministic() -> None:
    def curve(config: float, step: int) -> tuple[float, float]:
        return (config * (1.0 - 0.5**step), 1.0 + (config * 7.0) % 1.0)

    def propose(number: int, trials: Sequence[SimulatedTrial]) -> float:
        return (number * 0.618034) % 1.0

    for scheduler in (ASHA(max_resource=27, mode="promote"), Hyperband(max_resource=27)):
        first, second = (
            simulate(
                scheduler, curve=curve, propose=propose, n_workers=4, max_steps=27,
                maximize=True, max_trials=60, checkpoints=False,
            )
            for _ in range(2)
        )  # fmt: skip
        assert first == second
        assert first.completions and first.resumes + first.epochs > 60


def test_a_percentile_rule_fits_any_budget_up_to_its_max_resource() -> None:
    configs = [(float(v), 1.0) for v in range(10, 0, -1)]  # each worse than all before
    for rule in (PercentileStopping(max_resource=5), MedianStopping()):
        sim = run(rule, configs, max_steps=5, n_workers=3)
        assert replayed_actions(rule, sim) == [e.action for e in sim.events]
        assert any(t.state == "stopped" for t in sim.trials)
