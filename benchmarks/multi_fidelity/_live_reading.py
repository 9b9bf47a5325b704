"""The live benchmark's reading: goal verdicts, fairness facts and why the numbers come out so.

Every line is computed from the cached runs; nothing here is a number copied from a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks._shared.stats import fmt
from benchmarks.multi_fidelity._live_report import (
    GOALS,
    PROMOTE,
    STOP,
    TUNE,
    by_system,
    paired,
    quartiles,
)
from benchmarks.multi_fidelity._live_systems import MAX_RESOURCE, MIN_RESOURCE, REDUCTION_FACTOR


def reading(records: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> list[str]:
    """All the reading's lines, goals first."""
    return [
        *goal_lines(records, systems),
        *why_lines(records, systems),
        *fact_lines(records, systems),
    ]


def promote_floor() -> int:
    """The fewest epochs before promote mode completes any trial: a trial reaches the top
    rung only from the top 1/η of the rung below, so rung k must first hold η^(K−k) trials."""
    rungs = []
    step = MIN_RESOURCE
    while step < MAX_RESOURCE:
        rungs.append(step)
        step *= REDUCTION_FACTOR
    bounds = [0, *rungs, MAX_RESOURCE]
    top = len(rungs)
    return sum(REDUCTION_FACTOR ** (top - k) * (bounds[k + 1] - bounds[k]) for k in range(top + 1))


def _median(values: Sequence[float]) -> float:
    # The tables' median (an observed value), so the reading quotes the same numbers.
    return quartiles(values)[1] if values else math.nan


def goal_lines(records: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> list[str]:
    """One verdict line per goal whose systems ran (total epochs are given alongside)."""
    lines = []
    for peer, metric, limit in GOALS:
        if PROMOTE not in systems or peer not in systems:
            continue
        ratio, per_seed, lower = paired(by_system(records, metric), PROMOTE, peer)
        total, _, _ = paired(by_system(records, "total_epochs"), PROMOTE, peer)
        n = len({r["seed"] for r in records if r["system"] == peer})
        met = ratio <= limit
        lines.append(
            f"Goal: ours-promote needs ≤ {limit:g}× the epochs of {peer} to reach the target: "
            f"{'**met**' if met else '**missed**'} (ratio of medians {fmt(ratio)}"
            + ("" if met or not math.isfinite(ratio) else f", {fmt(ratio / limit)}× the goal")
            + f"; promote lower on {lower}/{n} seeds; per-seed ratios ≤ {limit:g} on "
            f"{sum(x <= limit for x in per_seed)}/{len(per_seed)} seeds where both reached it). "
            f"Total epochs of the whole run: {fmt(total)}×."
        )
    return lines


def fact_lines(records: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> list[str]:
    """What the runs say about the comparison's fairness and the systems' behaviour."""
    by = {s: {int(r["seed"]): r["result"] for r in records if r["system"] == s} for s in systems}
    lines = []
    if by.get(STOP) and by.get(TUNE):
        seeds = sorted(set(by[STOP]) & set(by[TUNE]))
        same = sum(by[STOP][s]["total_epochs"] == by[TUNE][s]["total_epochs"] for s in seeds)
        lines.append(
            f"ours-stop and Ray Tune trained exactly the same number of epochs on {same}/"
            f"{len(seeds)} seeds. Their rules differ in detail (ours continues a trial whose "
            "value is at least the 1 − 1/η quantile of its rung's values, its own included; "
            "Ray Tune stops one below that percentile of the others' values) and both judge a "
            "trial against the values that arrived before it, so timing changes their "
            "decisions: the stop-mode rows differ through decisions as well as overhead."
        )
    if by.get(PROMOTE):
        runs = list(by[PROMOTE].values())
        lines.append(
            f"ours-promote: {sum(r['pauses'] for r in runs)} pauses, "
            f"{sum(r['resumed_from_checkpoint'] for r in runs)} resumptions from a checkpoint, "
            f"{sum(r['repeated_steps'] for r in runs)} repeated epochs, "
            f"{sum(r['restarted_from_scratch'] for r in runs)} restarts from scratch in "
            f"{len(runs)} runs."
        )
    hits = [r["top5_in_sample"] for runs in by.values() for r in runs.values()]
    if hits:
        lines.append(
            f"Top-5% configurations among a seed's trials: {min(hits)}–{max(hits)} "
            f"(median {float(np.median(hits)):g})."
        )
    disorder = {s: sum(r["out_of_order"] for r in runs.values()) for s, runs in by.items()}
    if any(disorder.values()):
        lines.append(
            "Trials started out of the given order (beyond 20 ms): "
            + ", ".join(f"{s} {n}" for s, n in disorder.items())
            + "."
        )
    return lines


def why_lines(records: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> list[str]:
    """Why the epoch and time ratios come out as they do (only for the systems that ran)."""
    by = {s: [r["result"] for r in records if r["system"] == s] for s in systems}
    if not by.get(PROMOTE):
        return []
    lines = []
    first = {s: _median([r["epochs_to_first_completion"] for r in runs]) for s, runs in by.items()}
    peers = [s for s in (STOP, TUNE) if by.get(s)]
    if peers:
        tune_target = by_system(records, "epochs_to_target").get(TUNE, {})
        half = (
            f" Half of Ray Tune's median epochs to target is "
            f"{fmt(_median(list(tune_target.values())) / 2, 0)}."
            if tune_target
            else ""
        )
        lines.append(
            "Why promote misses the epoch goals: it completes no trial before its rungs fill "
            f"(a trial reaches step {MAX_RESOURCE} only from the top 1/η of the rung below), "
            f"at least {promote_floor()} epochs with these rungs; its first completion came "
            f"after median {fmt(first[PROMOTE], 0)} epochs, against "
            + ", ".join(f"{fmt(first[s], 0)} for {s}" for s in peers)
            + f", whose first trials run straight to step {MAX_RESOURCE}.{half} Its saving is "
            "in the epochs of the whole run (the total-epochs ratios)."
        )
    done = {s: _median([r["completed"] for r in runs]) for s, runs in by.items()}
    censored = sorted(
        int(r["seed"])
        for r in records
        if r["system"] == PROMOTE and r["result"]["epochs_to_target"] is None
    )
    lines.append(
        "The same trials for every system, not the same budget: of them promote completes "
        "(trains to the last step) median "
        + ", ".join(f"{fmt(done[s], 0)} ({s})" for s in by)
        + "; a top-5% configuration that ranks low at an early rung stays paused when the "
        "trials run out" + (f" (promote's censored seeds: {censored})." if censored else ".")
    )
    overhead = {s: _median([r["gap_per_run_ms"] for r in runs]) for s, runs in by.items()}
    startup = {s: _median([r["first_epoch_s"] for r in runs]) for s, runs in by.items()}
    epoch_ms = 1000 * _median([r["sleep_s"] / r["total_epochs"] for rs in by.values() for r in rs])
    lines.append(
        "Time: worker time outside epochs per trial run, median "
        + ", ".join(f"{fmt(overhead[s], 0)} ms ({s})" for s in by)
        + f", against a mean epoch of {fmt(epoch_ms, 0)} ms (median over runs); the first epoch "
        "ends "
        + ", ".join(f"{fmt(startup[s], 1)} s ({s})" for s in by)
        + " after the call starts (runner actors or Tune's controller and trial actors start "
        "first). With such short epochs these overheads weigh on the time ratios; with epochs of "
        "seconds the time ratios would approach the epoch ratios."
    )
    return lines
