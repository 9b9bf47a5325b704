"""The live benchmark's RESULTS.md section: per-system table, paired ratios, goal verdicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks._shared.results_md import bullets, command, header, md_table
from benchmarks._shared.stats import fmt

SECTION = "multi-fidelity-live"
PROMOTE, STOP, TUNE = "ours-promote", "ours-stop", "raytune-asha"
LABELS = {
    PROMOTE: "raysweep ASHA, promote (checkpoints)",
    STOP: "raysweep ASHA, stop",
    TUNE: "Ray Tune ASHAScheduler (stop)",
}
# (result field, column title, digits); a missing value (no target reached) ranks as ∞.
METRICS = (
    ("epochs_to_target", "epochs to target", 0),
    ("time_to_target_s", "time to target (s)", 1),
    ("time_after_first_epoch_s", "time to target after 1st epoch (s)", 1),
    ("total_epochs", "total epochs", 0),
    ("wall_s", "wall (s)", 1),
    ("first_epoch_s", "1st epoch (s)", 1),
    ("final_regret", "final regret (%)", 2),
)
# Where the time went: (result field, column title, digits).
DIAGNOSTICS = (
    ("epochs_to_first_completion", "epochs to 1st completed trial", 0),
    ("trial_runs", "trial runs", 0),
    ("sleep_s", "epoch sleeps (s)", 1),
    ("busy_share", "workers busy in epochs (%)", 0),
    ("gap_per_run_ms", "other worker time per trial run (ms)", 0),
)
# The metrics the ratio table compares (not regret: it is 0 in most runs).
RATIO_METRICS = METRICS[:6]
# Goals: (metric, ours-promote ÷ peer at most).
GOALS = ((TUNE, "epochs_to_target", 0.5), (STOP, "epochs_to_target", 0.7))


def _value(record: Mapping[str, Any], metric: str) -> float:
    found = record["result"][metric]
    if found is None:
        return math.inf
    return 100 * float(found) if metric in ("final_regret", "busy_share") else float(found)


def by_system(records: Sequence[Mapping[str, Any]], metric: str) -> dict[str, dict[int, float]]:
    """metric[system][seed]."""
    table: dict[str, dict[int, float]] = {}
    for record in records:
        table.setdefault(record["system"], {})[int(record["seed"])] = _value(record, metric)
    return table


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    # "inverted_cdf" picks observed values, so a quartile that falls on a censored run is ∞
    # rather than an interpolation with ∞.
    q = np.quantile(np.array(values, dtype=float), [0.25, 0.5, 0.75], method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


def _median_iqr(values: Sequence[float], digits: int) -> str:
    if not values:
        return "–"
    low, mid, high = quartiles(values)
    return f"{fmt(mid, digits)} [{fmt(low, digits)}–{fmt(high, digits)}]"


def paired(
    table: Mapping[str, Mapping[int, float]], ours: str, peer: str
) -> tuple[float, list[float], int]:
    """Ratio of medians, per-seed ratios (where both finite), seeds where ours was lower."""
    seeds = sorted(set(table.get(ours, {})) & set(table.get(peer, {})))
    if not seeds:
        return math.nan, [], 0
    a = [table[ours][s] for s in seeds]
    b = [table[peer][s] for s in seeds]
    ratio = quartiles(a)[1] / quartiles(b)[1]
    per_seed = [x / y for x, y in zip(a, b, strict=True) if math.isfinite(x + y) and y > 0]
    return ratio, per_seed, sum(x < y for x, y in zip(a, b, strict=True))


def _ratio_rows(records: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> list[list[str]]:
    rows = []
    for peer in (TUNE, STOP):
        if PROMOTE not in systems or peer not in systems:
            continue
        for metric, title, _ in RATIO_METRICS:
            table = by_system(records, metric)
            ratio, per_seed, lower = paired(table, PROMOTE, peer)
            n = len(set(table.get(PROMOTE, {})) & set(table.get(peer, {})))
            spread = (
                f"{fmt(float(np.median(per_seed)))} "
                f"[{fmt(float(np.min(per_seed)))}–{fmt(float(np.max(per_seed)))}]"
                if per_seed
                else "–"
            )
            rows.append([f"promote ÷ {peer}", title, fmt(ratio), spread, f"{lower}/{n}"])
    return rows


def section(
    records: Sequence[Mapping[str, Any]],
    *,
    systems: Sequence[str],
    seeds: int,
    trials: int,
    factor: float,
    median_epoch_s: float,
    date: str,
    machine_text: str,
    total_s: float,
    lines: Sequence[str],
) -> str:
    """The section's markdown (without its markers)."""
    rows = []
    for system in systems:
        mine = [r for r in records if r["system"] == system]
        if not mine:
            continue
        cells = [LABELS.get(system, system), str(len(mine))]
        cells.append(f"{sum(r['result']['epochs_to_target'] is None for r in mine)}/{len(mine)}")
        for metric, _, digits in METRICS:
            cells.append(_median_iqr([_value(r, metric) for r in mine], digits))
        rows.append(cells)
    head = ["system", "runs", "censored", *(title for _, title, _ in METRICS)]
    diagnostics = [
        [
            LABELS.get(system, system),
            *(
                _median_iqr([_value(r, m) for r in records if r["system"] == system], digits)
                for m, _, digits in DIAGNOSTICS
            ),
        ]
        for system in systems
        if any(r["system"] == system for r in records)
    ]
    ratio_head = [
        "pair",
        "metric",
        "ratio of medians",
        "per-seed ratio: median [min–max]",
        "seeds promote lower",
    ]
    dates = sorted(str(r["date"]) for r in records)
    return (
        header(
            "Multi-fidelity, live on Ray: ASHA promote vs stop vs Ray Tune",
            cmd=command(),
            date=date,
            machine_text=machine_text,
            total_s=total_s,
        )
        + f"\nLC-Digits replayed in real time: {seeds} seeds × {trials} trials per system, "
        f"2 workers (1 CPU each), epoch sleep = {factor:.2f} × the table's epoch CPU seconds "
        f"(median epoch {1000 * median_epoch_s:.0f} ms). ASHA min 1, max 27, η = 3 everywhere.\n\n"
        "Median [interquartile range] over seeds; a run that never completes a top-5% "
        "configuration is censored (∞). "
        + (f"The runs shown ran from {dates[0]} to {dates[-1]}.\n\n" if dates else "\n\n")
        + md_table(head, rows)
        + "\n"
        + md_table(ratio_head, _ratio_rows(records, systems), left=2)
        + "\nWhere the worker time went (median [IQR]): from the start of the first epoch to "
        "the end of the last, the two workers' time is epoch sleeps plus everything else "
        "(start of a trial run, reports and decisions, checkpoints, a worker waiting for "
        "work at the end); that remainder is divided by the trial runs (a resumption is a "
        "run).\n\n"
        + md_table(["system", *(t for _, t, _ in DIAGNOSTICS)], diagnostics)
        + "\n### Reading\n\n"
        + bullets(lines)
    )
