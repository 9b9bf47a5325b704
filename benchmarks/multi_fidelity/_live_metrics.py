"""The live benchmark's workload (which configurations, how long each epoch sleeps) and the
numbers one run is judged by.

Seed s replays LC-Digits through seed index s % 3: its trials are the first N configurations of
`numpy.random.default_rng(s).permutation(512)`, in that order, the same for every system. An
epoch sleeps `scale` times the CPU seconds the table measured for it; `scale` is chosen so the
median epoch of the table sleeps `MEDIAN_EPOCH_S`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.multi_fidelity._lc_digits_table import DEFAULT_TABLE, TableConfig, load_curves
from benchmarks.multi_fidelity._live_systems import MAX_RESOURCE, WORKERS, Epoch, Trace
from benchmarks.multi_fidelity._live_trials import Curve
from benchmarks.multi_fidelity._problems import LC_DIGITS_SEEDS, MFProblem, lc_digits

MEDIAN_EPOCH_S = 0.040
SECONDS = "cpu"
# A trial whose start is this much earlier than a lower-numbered trial's counts as out of order
# (sleeps overshoot by a few milliseconds on a busy machine).
ORDER_SLACK_S = 0.020


def scale() -> float:
    """Sleep seconds per CPU second of the table: the median epoch then sleeps MEDIAN_EPOCH_S."""
    seconds = load_curves(DEFAULT_TABLE, "epoch_cpu_seconds").seconds
    return MEDIAN_EPOCH_S / float(np.median(seconds))


@dataclass(frozen=True)
class Workload:
    """One seed's problem, its trials' configurations in order, and the curves they replay."""

    problem: MFProblem
    configs: tuple[TableConfig, ...]
    curves: tuple[Curve, ...]


def workload(seed: int, trials: int, factor: float) -> Workload:
    """Seed `seed`'s first `trials` configurations, each epoch sleeping `factor` × CPU seconds."""
    if trials < 1:
        raise ValueError(f"trials={trials} is not positive; pass 1 or more")
    problem = lc_digits(seed % LC_DIGITS_SEEDS, seconds=SECONDS)
    n_configs = load_curves(DEFAULT_TABLE).n_configs
    if trials > n_configs:
        raise ValueError(f"trials={trials} exceeds the table's {n_configs} configurations")
    rows = np.random.default_rng(seed).permutation(n_configs)[:trials]
    configs = tuple(TableConfig(int(r), seed % LC_DIGITS_SEEDS) for r in rows)
    curves = tuple(
        tuple(
            (value, factor * seconds)
            for value, seconds in (problem.curve(c, e) for e in range(1, problem.max_steps + 1))
        )
        for c in configs
    )
    return Workload(problem, configs, curves)


def summarize(work: Workload, trace: Trace) -> dict[str, Any]:
    """The run's numbers: epochs and seconds until the first completed top-5% trial (None when
    no completed trial is in the top 5%), total epochs, final regret, and diagnostics."""
    problem, configs = work.problem, work.configs
    good = [problem.full_value(c) >= problem.top5_threshold for c in configs]
    ordered = sorted(trace.epochs, key=lambda e: (e.ts, e.trial, e.step))
    to_target, seconds_to_target = _first_hit(ordered, good, trace.start_ts)
    # The same count in the order the event log stamped the reports (raysweep only).
    by_log = None
    if all(e.log_ts is not None for e in trace.epochs):
        log_order = sorted(trace.epochs, key=lambda e: (e.log_ts or 0.0, e.trial, e.step))
        by_log = _first_hit(log_order, good, trace.start_ts)[0]
    finals = {e.trial: e.value for e in ordered if e.step == MAX_RESOURCE}
    first_done = _first_hit(ordered, [True] * len(configs), trace.start_ts)[0]
    regret = None
    if finals:
        # The system's pick: the completed trial with the best final value, earliest on ties.
        pick = max(finals, key=lambda t: (finals[t], -t))
        regret = problem.best_full_value - problem.full_value(configs[pick])
    first_ts = ordered[0].ts if ordered else math.nan
    return {
        "epochs_to_target": to_target,
        "time_to_target_s": None if seconds_to_target is None else round(seconds_to_target, 4),
        # The same without the start-up (runners, Tune's controller) before the first epoch.
        "time_after_first_epoch_s": None
        if seconds_to_target is None
        else round(seconds_to_target - (first_ts - trace.start_ts), 4),
        "epochs_to_target_log_order": by_log,
        "total_epochs": len(trace.epochs),
        "wall_s": round(trace.wall_s, 4),
        "first_epoch_s": round(first_ts - trace.start_ts, 4),
        "final_regret": regret,
        "completed": len(finals),
        "epochs_to_first_completion": first_done,
        "top5_in_sample": sum(good),
        "top5_completed": sum(good[t] for t in finals),
        "out_of_order": out_of_order(work, trace),
        **_worker_time(work, trace, ordered),
        **trace.extra,
    }


def _worker_time(work: Workload, trace: Trace, ordered: Sequence[Epoch]) -> dict[str, Any]:
    """Worker time from the first epoch's start to the last epoch's end, and how much of it the
    epochs (sleeps) filled: the rest is hand-offs, checkpoints, decisions and idle workers."""
    if not ordered:
        return {}
    sleep = sum(work.curves[e.trial][e.step - 1][1] for e in ordered)
    first = ordered[0]
    span = ordered[-1].ts - (first.ts - work.curves[first.trial][first.step - 1][1])
    runs = int(trace.extra["trial_runs"])
    return {
        "sleep_s": round(sleep, 4),
        "span_s": round(span, 4),
        "busy_share": round(sleep / (WORKERS * span), 4),
        "gap_per_run_ms": round(1000 * (WORKERS * span - sleep) / runs, 2),
    }


def _first_hit(
    ordered: Sequence[Any], good: Sequence[bool], start_ts: float
) -> tuple[int | None, float | None]:
    for count, epoch in enumerate(ordered, 1):
        if epoch.step == MAX_RESOURCE and good[epoch.trial]:
            return count, float(epoch.ts - start_ts)
    return None, None


def out_of_order(work: Workload, trace: Trace) -> int:
    """How many trials started (first epoch's end minus its sleep) more than ORDER_SLACK_S
    before some lower-numbered trial: 0 when the system took the trials in the given order."""
    starts: dict[int, float] = {}
    for epoch in trace.epochs:
        began = epoch.ts - work.curves[epoch.trial][epoch.step - 1][1]
        starts[epoch.trial] = min(starts.get(epoch.trial, began), began)
    ordered = [starts[i] for i in sorted(starts)]
    latest, count = -math.inf, 0
    for began in ordered:
        count += began < latest - ORDER_SLACK_S
        latest = max(latest, began)
    return count
