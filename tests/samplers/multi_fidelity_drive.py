"""Tiny in-process ASHA runs (one worker, eta 3) that drive a sampler with fidelity steps.

Each run returns the true quality of every new configuration the sampler proposed, so a test
can compare samplers without the noise of which trials the scheduler happened to keep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from raysweep.samplers import (
    FloatDistribution,
    Sampler,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)

MIN = (StudyDirection.MINIMIZE,)
SPACE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}
STEPS = (1, 3, 9, 27)
ETA = 3
Curve = Callable[[float, float, int], float]


def quality(x: float, y: float) -> float:
    """How good a configuration really is: its loss at an infinite budget."""
    return (x - 0.3) ** 2 + (y - 0.7) ** 2


def faithful(x: float, y: float, step: int) -> float:
    """A learning curve whose ranking at low steps is noisy but correlates with the end."""
    return quality(x, y) + (0.3 + 0.1 * math.sin(25 * x + 17 * y)) / math.sqrt(step)


def deceptive(x: float, y: float, step: int) -> float:
    """A curve whose low steps favour a decoy at (0.8, 0.2); the decoy fades by step 27."""
    decoy = (x - 0.8) ** 2 + (y - 0.2) ** 2
    return quality(x, y) + 0.4 * (decoy - quality(x, y)) * 3.0 / step


def _propose(sampler: Sampler, context: SamplingContext) -> dict[str, Any]:
    params = sampler.sample_relative(context, sampler.infer_relative_search_space(context))
    for name, distribution in SPACE.items():
        if name not in params:
            params[name] = sampler.sample_independent(context, name, distribution)
    return params


def stop_mode(sampler: Sampler, seed: int, n_trials: int, curve: Curve = faithful) -> list[float]:
    """ASHA in stop mode: a trial goes on past a rung only while in its rung's top 1/eta."""
    history: list[TrialRecord] = []
    at_rung: dict[int, list[float]] = {step: [] for step in STEPS[:-1]}
    qualities = []
    for number in range(n_trials):
        context = SamplingContext(seed, number, MIN, history, fidelity_steps=STEPS)
        params = _propose(sampler, context)
        qualities.append(quality(params["x"], params["y"]))
        reports: dict[int, float] = {}
        state = TrialState.COMPLETE
        for step in STEPS:
            reports[step] = curve(params["x"], params["y"], step)
            if step in at_rung:
                at_rung[step].append(reports[step])
                ranked = sorted(at_rung[step])
                if reports[step] > ranked[max(len(ranked) // ETA - 1, 0)]:
                    state = TrialState.PRUNED
                    break
        value = (reports[STEPS[-1]],) if state is TrialState.COMPLETE else None
        history.append(TrialRecord(number, state, params, SPACE, value, None, reports))
    return qualities


def promote_mode(
    sampler: Sampler, seed: int, n_trials: int, curve: Curve = faithful
) -> list[float]:
    """ASHA in promote mode: every trial pauses at each rung; the worker resumes the best paused
    trial of the highest rung that has one in its top 1/eta, else starts a new trial."""
    trials: dict[int, dict[str, Any]] = {}
    qualities = []
    while len(trials) < n_trials:
        promoted = None
        for rung in range(len(STEPS) - 2, -1, -1):
            there = sorted(
                (t["reports"][STEPS[rung]], n) for n, t in trials.items() if t["rung"] >= rung
            )
            waiting = [n for _, n in there[: len(there) // ETA] if trials[n]["rung"] == rung]
            if waiting:
                promoted = waiting[0]
                break
        if promoted is None:
            # Records are rebuilt only when their trial changed, as the orchestrator does.
            for n, t in trials.items():
                if "record" not in t:
                    t["record"] = TrialRecord(
                        n, t["state"], t["params"], SPACE, t["values"], None, dict(t["reports"])
                    )
            history = [t["record"] for t in trials.values()]
            number = len(trials)
            context = SamplingContext(seed, number, MIN, history, fidelity_steps=STEPS)
            params = _propose(sampler, context)
            qualities.append(quality(params["x"], params["y"]))
            reports = {STEPS[0]: curve(params["x"], params["y"], STEPS[0])}
            trials[number] = {"params": params, "reports": reports, "rung": 0}
            trials[number].update(state=TrialState.PAUSED, values=None)
            continue
        trial = trials[promoted]
        trial.pop("record", None)
        trial["rung"] += 1
        step = STEPS[trial["rung"]]
        trial["reports"][step] = curve(trial["params"]["x"], trial["params"]["y"], step)
        if step == STEPS[-1]:
            trial.update(state=TrialState.COMPLETE, values=(trial["reports"][step],))
    return qualities
