"""simulate: hand-checked scenarios of the discrete-event simulator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from simulator_fakes import Config, Gate, counter_timer, flat, rows, run

from raysweep.scheduling import ASHA, NoPruning, SimulatedTrial, simulate

# --- hand-checked scenarios -------------------------------------------------------------------


def test_one_worker_runs_trials_one_after_another() -> None:
    seen: list[tuple[SimulatedTrial, ...]] = []

    def propose(number: int, trials: Sequence[SimulatedTrial]) -> Config:
        seen.append(tuple(trials))
        return (0.1 * (number + 1), 1.0)

    sim = run(NoPruning(), [], propose=propose, max_trials=3)
    assert rows(sim) == [
        (float(t), 0, (t - 1) // 4, (t - 1) % 4 + 1, "continue") for t in range(1, 13)
    ]
    assert [e.epochs for e in sim.events] == list(range(1, 13))
    assert [(c.time, c.epochs, c.trial) for c in sim.completions] == [
        (4, 4, 0),
        (8, 8, 1),
        (12, 12, 2),
    ]
    assert sim.epochs == 12 and sim.end_time == 12.0
    assert sim.repeated_epochs == 0 and sim.resumes == 0
    assert [t.state for t in sim.trials] == ["complete"] * 3
    assert sim.trials[1].values == {1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2}
    assert sim.trials[1].last_step == 4 and sim.trials[1].last_value == 0.2
    # propose saw every earlier trial, finished, each time.
    assert [len(trials) for trials in seen] == [0, 1, 2]
    assert [t.state for t in seen[2]] == ["complete", "complete"]
    assert sim.decision_seconds == 0.0 and sim.propose_seconds == 0.0


def test_workers_run_in_parallel_and_ties_go_to_the_lower_worker() -> None:
    # Trial 0 takes 1 s a step, trial 1 2 s: worker 0 finishes trial 0 at t=2 and starts
    # trial 2 there while worker 1 is still in trial 1's first step.
    sim = run(NoPruning(), [(0.5, 1.0), (0.6, 2.0), (0.7, 1.0)], n_workers=2, max_steps=2)
    assert rows(sim) == [
        (1.0, 0, 0, 1, "continue"),
        (2.0, 0, 0, 2, "continue"),
        (2.0, 1, 1, 1, "continue"),
        (3.0, 0, 2, 1, "continue"),
        (4.0, 0, 2, 2, "continue"),
        (4.0, 1, 1, 2, "continue"),
    ]
    assert [c.trial for c in sim.completions] == [0, 2, 1]
    assert sim.end_time == 4.0 and sim.epochs == 6


def test_propose_gets_frozen_snapshots() -> None:
    seen: list[tuple[SimulatedTrial, ...]] = []

    def propose(number: int, trials: Sequence[SimulatedTrial]) -> Config:
        seen.append(tuple(trials))
        return [(1.0, 1.0), (2.0, 3.0), (3.0, 1.0)][number]

    sim = run(NoPruning(), [], propose=propose, n_workers=2, max_steps=2, max_trials=3)
    # Trial 2 is proposed at t=2, when trial 1 (3 s a step) has not finished a step yet.
    snapshot = seen[2]
    assert [(t.number, t.state, dict(t.values)) for t in snapshot] == [
        (0, "complete", {1: 1.0, 2: 1.0}),
        (1, "running", {}),
    ]
    assert sim.trials[1].state == "complete" and snapshot[1].state == "running"
    with pytest.raises(AttributeError):
        snapshot[1].state = "complete"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot[0].values[1] = 5.0  # type: ignore[index]


def test_asha_stop_cuts_the_trials_behind() -> None:
    # Rungs 1 and 3 (max 9, η = 3), maximising; values are constant per trial. By hand:
    # trial 2 (0.1) is below the rung-1 cutoff 0.9 of {0.5, 0.9, 0.1}; trial 3 (0.7) passes
    # rung 1 (cutoff 0.7 of four values) but not rung 3 (cutoff 0.9 of {0.5, 0.9, 0.7}).
    configs = [(0.5, 1.0), (0.9, 1.0), (0.1, 1.0), (0.7, 1.0)]
    sim = run(ASHA(max_resource=9), configs, max_steps=9)
    assert [t.state for t in sim.trials] == ["complete", "complete", "stopped", "stopped"]
    assert [t.last_step for t in sim.trials] == [9, 9, 1, 3]
    assert sim.epochs == 9 + 9 + 1 + 3
    assert [(e.trial, e.step) for e in sim.events if e.action == "stop"] == [(2, 1), (3, 3)]
    # Minimising the same values flips who survives: trial 1 (0.9) is now the worst.
    low = run(ASHA(max_resource=9), configs, max_steps=9, maximize=False)
    assert low.trials[1].state == "stopped" and low.trials[1].last_step == 1


def test_pause_and_resume_in_order_with_checkpoints() -> None:
    # Quorum 2: nothing is promoted until two trials have paused at step 2; then the best first.
    gate = Gate(rung=2, quorum=2)
    configs = [(0.3, 1.0), (0.8, 1.0), (0.5, 1.0), (0.9, 1.0)]
    sim = run(gate, configs)
    assert [(e.trial, e.step, e.action) for e in sim.events] == [
        (0, 1, "continue"), (0, 2, "pause"),
        (1, 1, "continue"), (1, 2, "pause"),
        (1, 3, "continue"), (1, 4, "continue"),  # the better one first,
        (0, 3, "continue"), (0, 4, "continue"),  # then the other paused trial,
        (2, 1, "continue"), (2, 2, "pause"), (2, 3, "continue"), (2, 4, "continue"),
        (3, 1, "continue"), (3, 2, "pause"), (3, 3, "continue"), (3, 4, "continue"),
    ]  # fmt: skip
    assert [e.time for e in sim.events] == [float(t) for t in range(1, 17)]
    assert [c.trial for c in sim.completions] == [1, 0, 2, 3]
    assert sim.epochs == 16 and sim.repeated_epochs == 0
    assert sim.resumes == 4 and [t.resumes for t in sim.trials] == [1, 1, 1, 1]
    calls = gate.states[0].calls
    # The freed worker asks for a promotion before anything else, and resumes what it names.
    i = calls.index(("report", 1, 0, 2))
    assert calls[i : i + 4] == [
        ("report", 1, 0, 2),
        ("promotion",),
        ("resume", 1),
        ("report", 1, 0, 3),
    ]
    assert all(call[2] == 0 for call in calls if call[0] == "report")  # attempt is always 0


def test_resume_without_checkpoints_reruns_the_steps() -> None:
    gate = Gate(rung=2, quorum=2)
    configs = [(0.3, 1.0), (0.8, 1.0), (0.5, 1.0), (0.9, 1.0)]
    sim = run(gate, configs, checkpoints=False)
    trial_1 = [(e.step, e.action) for e in sim.events if e.trial == 1]
    assert trial_1 == [(1, "continue"), (2, "pause")] + [(k, "continue") for k in range(1, 5)]
    assert sim.epochs == 16 + 4 * 2 and sim.repeated_epochs == 4 * 2
    assert sim.end_time == 24.0
    # Every re-run step was reported too.
    assert sum(call[0] == "report" for call in gate.states[0].calls) == sim.epochs


def test_idle_worker_takes_a_promotion_made_by_another_workers_pause() -> None:
    # Worker 0 pauses trial 0 at t=2 and idles (max_trials reached); at t=4 worker 1 pauses
    # trial 1, which opens the gate: worker 1 resumes the better trial 0, idle worker 0 trial 1.
    sim = run(Gate(rung=2, quorum=2), [(0.9, 1.0), (0.2, 2.0)], n_workers=2)
    assert rows(sim) == [
        (1.0, 0, 0, 1, "continue"),
        (2.0, 0, 0, 2, "pause"),
        (2.0, 1, 1, 1, "continue"),
        (4.0, 1, 1, 2, "pause"),
        (5.0, 1, 0, 3, "continue"),
        (6.0, 0, 1, 3, "continue"),
        (6.0, 1, 0, 4, "continue"),
        (8.0, 0, 1, 4, "continue"),
    ]
    assert [t.state for t in sim.trials] == ["complete", "complete"]


def test_idle_worker_is_offered_work_after_a_continue_too() -> None:
    # Only trial 0 pauses (at step 1); it becomes promotable when trial 1 reports step 3, a
    # report that just continues. The idle worker 0 must pick it up at that moment (t=3).
    gate = Gate(rung=1, release_step=3, pause_trials=frozenset({0}))
    sim = run(gate, [(0.5, 1.0), (0.7, 1.0)], n_workers=2)
    assert rows(sim) == [
        (1.0, 0, 0, 1, "pause"),
        (1.0, 1, 1, 1, "continue"),
        (2.0, 1, 1, 2, "continue"),
        (3.0, 1, 1, 3, "continue"),
        (4.0, 0, 0, 2, "continue"),
        (4.0, 1, 1, 4, "continue"),
        (5.0, 0, 0, 3, "continue"),
        (6.0, 0, 0, 4, "continue"),
    ]
    assert sim.resumes == 1 and sim.end_time == 6.0


def test_paused_trials_left_at_the_end_stay_paused() -> None:
    sim = run(Gate(rung=2), [(0.5, 1.0), (0.6, 1.0)], n_workers=2)
    assert [t.state for t in sim.trials] == ["paused", "paused"]
    assert sim.completions == () and sim.epochs == 4 and sim.end_time == 2.0


# --- stop criteria ----------------------------------------------------------------------------


def test_max_epochs_caps_the_steps_started() -> None:
    def propose(number: int, trials: Sequence[SimulatedTrial]) -> Config:
        return (float(number), 1.0)

    sim = simulate(
        NoPruning(), curve=flat, propose=propose, n_workers=3, max_steps=4, maximize=True,
        max_epochs=10,
    )  # fmt: skip
    # Three trials run side by side; only trial 0 gets a fourth step (the tenth).
    assert sim.epochs == 10 and len(sim.events) == 10
    assert [t.state for t in sim.trials] == ["complete", "running", "running"]
    assert [t.last_step for t in sim.trials] == [4, 3, 3]
    assert sim.end_time == 4.0


@pytest.mark.parametrize(("max_time", "epochs"), [(2.5, 3), (2.0, 3), (1.999, 2), (0.0, 1)])
def test_max_time_stops_starting_steps(max_time: float, epochs: int) -> None:
    # One worker, 1 s steps: steps start at t = 0, 1, 2, ...; a step may start at max_time.
    def propose(number: int, trials: Sequence[SimulatedTrial]) -> Config:
        return (1.0, 1.0)

    sim = simulate(
        NoPruning(), curve=flat, propose=propose, n_workers=1, max_steps=2, maximize=True,
        max_time=max_time,
    )  # fmt: skip
    assert sim.epochs == epochs
    assert sim.end_time == float(epochs)  # the step that started last still finishes


def test_the_first_limit_reached_ends_the_run() -> None:
    configs = [(1.0, 1.0)] * 10
    sim = run(NoPruning(), configs, max_trials=10, max_epochs=6, max_time=100.0)
    assert sim.epochs == 6
    sim = run(NoPruning(), configs, max_trials=2, max_epochs=60, max_time=100.0)
    assert sim.epochs == 8


def test_zero_second_steps_need_a_limit_other_than_time() -> None:
    def propose(number: int, trials: Sequence[SimulatedTrial]) -> Config:
        return (1.0, 0.0)

    common: dict[str, Any] = {
        "curve": flat, "propose": propose, "n_workers": 2, "max_steps": 3, "maximize": True
    }  # fmt: skip
    with pytest.raises(ValueError, match="pass max_trials or max_epochs too"):
        simulate(NoPruning(), max_time=10.0, **common)
    sim = simulate(NoPruning(), max_time=10.0, max_epochs=7, **common)
    assert sim.epochs == 7 and sim.end_time == 0.0


# --- timer ------------------------------------------------------------------------------------


def test_timer_delays_the_worker_that_waits() -> None:
    # By hand: promotion (1 s) + propose (1 s) before each trial, 1 s per report, 10 s steps.
    sim = run(NoPruning(), [(0.5, 10.0)] * 2, max_steps=2, timer=counter_timer())
    assert [e.time for e in sim.events] == [12.0, 23.0, 36.0, 47.0]
    assert [c.time for c in sim.completions] == [23.0, 47.0]
    # After the last report (t=48) the worker asks once more for a promotion.
    assert sim.end_time == 49.0
    assert sim.decision_seconds == 4 + 3  # four reports, three promotion queries
    assert sim.propose_seconds == 2


def test_timer_for_an_idle_worker_starts_when_the_decision_is_known() -> None:
    # As in test_idle_worker_is_offered_work_after_a_continue_too, with 10 s steps and 1 s per
    # call. Trial 1's step-2 report finishes at t=23 and is answered at 24; idle worker 0 asks
    # for a promotion (25), resumes trial 0 (26) and its step 2 ends at 36.
    gate = Gate(rung=1, release_step=2, pause_trials=frozenset({0}))
    configs = [(0.5, 10.0), (0.7, 10.0)]
    sim = run(gate, configs, n_workers=2, max_steps=3, timer=counter_timer())
    assert rows(sim) == [
        (12.0, 0, 0, 1, "pause"),
        (12.0, 1, 1, 1, "continue"),
        (23.0, 1, 1, 2, "continue"),
        (34.0, 1, 1, 3, "continue"),
        (36.0, 0, 0, 2, "continue"),
        (47.0, 0, 0, 3, "continue"),
    ]
    assert sim.end_time == 49.0
    # 6 reports, 8 promotion queries (2 at the start, 6 after reports), 1 resume.
    assert sim.decision_seconds == 15.0 and sim.propose_seconds == 2.0


def test_a_timer_that_goes_backwards_is_an_error() -> None:
    readings = iter([5.0, 4.0])
    with pytest.raises(ValueError, match="monotonic clock"):
        run(NoPruning(), [(1.0, 1.0)], timer=lambda: next(readings))


# --- incumbent trace --------------------------------------------------------------------------


def test_incumbent_trace_follows_the_best_completed_trial() -> None:
    configs = [(0.5, 1.0), (0.3, 1.0), (0.9, 1.0), (0.9, 1.0), (math.nan, 1.0)]
    sim = run(NoPruning(), configs, max_steps=1)
    trace = sim.incumbent_trace()
    assert [(c.time, c.epochs, c.trial, c.value) for c in trace] == [
        (1.0, 1, 0, 0.5), (2.0, 2, 0, 0.5), (3.0, 3, 2, 0.9), (4.0, 4, 2, 0.9), (5.0, 5, 2, 0.9),
    ]  # fmt: skip
    low = run(NoPruning(), configs, max_steps=1, maximize=False).incumbent_trace()
    assert [c.trial for c in low] == [0, 1, 1, 1, 1]
    # A score ranks by something else than the observed value, in the same direction.
    scored = sim.incumbent_trace(lambda trial: -trial.config[0])
    assert [(c.trial, c.value) for c in scored] == [
        (0, -0.5),
        (1, -0.3),
        (1, -0.3),
        (1, -0.3),
        (1, -0.3),
    ]


def test_incumbent_trace_counts_nan_as_the_worst() -> None:
    sim = run(NoPruning(), [(math.nan, 1.0), (-1e300, 1.0)], max_steps=1)
    trace = sim.incumbent_trace()
    assert trace[0].trial == 0 and math.isnan(trace[0].value)
    assert (trace[1].trial, trace[1].value) == (1, -1e300)
    with pytest.raises(TypeError, match="score must return a real number"):
        sim.incumbent_trace(lambda trial: "high")  # type: ignore[arg-type,return-value]
