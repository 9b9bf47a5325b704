"""The RESULTS.md section of `latency.py`: tables, goals and the reading."""

from __future__ import annotations

import math
from collections.abc import Sequence

from benchmarks._shared.results_md import md_table
from benchmarks._shared.stats import fmt
from benchmarks.ask_tell._latency_run import ASK_TELL, BARE, MATCHED, Cell, Measured

# Through ask/tell, ours should take at most 1/goal of Optuna's time with N trials.
GOALS = {1000: 5.0, 10000: 10.0}
LABELS = {
    ("ours", BARE): "ours TPE, bare sampler",
    ("ours", ASK_TELL): "ours TPE, ask/tell on Ray",
    ("ours-defaults", BARE): "ours TPE defaults, bare sampler",
    ("ours-defaults", ASK_TELL): "ours TPE defaults, ask/tell on Ray",
    ("optuna", ASK_TELL): "Optuna TPE, ask/tell (in-process) ᵃ",
}


def _find(cells: Sequence[Cell], space: str, size: int, system: str, level: str) -> Cell | None:
    for cell in cells:
        if (cell.space, cell.size, cell.system, cell.level) == (space, size, system, level):
            return cell
    return None


def _ms(seconds: float) -> str:
    return fmt(seconds * 1000, 2 if seconds < 0.1 else 1)


def _ratio(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}×"


def table(measured: Measured, spaces: Sequence[str], sizes: Sequence[int]) -> str:
    """One row per (space, N, system, level): K, median, p90, Optuna's median ÷ this median."""
    rows = []
    for space in spaces:
        for size in sizes:
            optuna = _find(measured.cells, space, size, "optuna", ASK_TELL)
            for (system, level), label in LABELS.items():
                cell = _find(measured.cells, space, size, system, level)
                if cell is None:
                    continue
                ratio = (
                    math.nan
                    if optuna is None or system == "optuna"
                    else (optuna.median / cell.median)
                )
                rows.append(
                    [
                        space,
                        label,
                        f"{size:,}",
                        str(len(cell.samples)),
                        _ms(cell.median),
                        _ms(cell.p90),
                        _ratio(ratio),
                    ]
                )
    head = ["space", "system", "history N", "K", "median (ms)", "p90 (ms)", "Optuna ÷ this ᵇ"]
    return md_table(head, rows, left=2)


def goal_lines(measured: Measured, spaces: Sequence[str], sizes: Sequence[int]) -> list[str]:
    """Met or missed, and by how much, for each goal size that was run."""
    lines = []
    met = total = 0
    for size, goal in GOALS.items():
        if size not in sizes:
            lines.append(f"Goal at {size:,} trials (ours ≤ 1/{goal:g} of Optuna): not measured.")
            continue
        for space in spaces:
            ours = _find(measured.cells, space, size, "ours", ASK_TELL)
            optuna = _find(measured.cells, space, size, "optuna", ASK_TELL)
            if ours is None or optuna is None:
                continue
            ratio = optuna.median / ours.median
            allowed = optuna.median / goal
            verdict = (
                f"**met** with {ratio / goal:.1f}× to spare"
                if ratio >= goal
                else f"**missed** by {goal / ratio:.1f}×: ours would need ≤ {_ms(allowed)} ms"
            )
            bare = _find(measured.cells, space, size, "ours", BARE)
            alone = (
                ""
                if bare is None
                else (
                    f" The bare sampler alone is {optuna.median / bare.median:.1f}× faster than "
                    f"Optuna ({_ms(bare.median)} ms)."
                )
            )
            met += ratio >= goal
            total += 1
            lines.append(
                f"{space}, {size:,} trials, through ask/tell: ours {_ms(ours.median)} ms vs "
                f"Optuna {_ms(optuna.median)} ms (median) = {ratio:.1f}× faster; goal "
                f"≥ {goal:g}× — {verdict}.{alone}"
            )
    if total:
        lines.insert(0, f"Goals through ask/tell met in {met} of {total} (space, N) cells.")
    return lines


def overhead_lines(measured: Measured, spaces: Sequence[str], sizes: Sequence[int]) -> list[str]:
    """What the Ray path adds to the bare sampler, and what the random pre-fill cost."""
    lines = []
    for space in spaces:
        parts = []
        for size in sizes:
            bare = _find(measured.cells, space, size, "ours", BARE)
            ray = _find(measured.cells, space, size, "ours", ASK_TELL)
            if bare is not None and ray is not None:
                parts.append(f"{_ms(ray.median - bare.median)} ms at {size:,}")
        fill = measured.fills.get(space)
        per_trial = (
            f"; pre-filling with RandomSampler through ask/tell took "
            f"{1000 * fill.seconds / fill.trials:.1f} ms per trial ({fill.trials:,} trials), "
            f"and opening the study (with the sampler to measure or RandomSampler; "
            f"{fill.reopens} times) {fill.reopen_s / max(1, fill.reopens):.1f} s each on average"
            if fill is not None and fill.trials
            else ""
        )
        if parts:
            lines.append(
                f"{space}: ask/tell on Ray adds (median − bare median) {', '.join(parts)}"
                f"{per_trial}."
            )
    return lines


def footnotes(with_defaults: bool) -> str:
    settings = ", ".join(f"{k}={v!r}" for k, v in MATCHED.items())
    defaults = (
        "ours TPE defaults: `TPESampler(seed=0)`."
        if with_defaults
        else "Our TPE's defaults equal these settings, so it has no separate row."
    )
    return (
        f"Samplers: ours `TPESampler({settings}, seed=0)`; Optuna "
        f"`TPESampler({settings}, seed=0)` (both set explicitly); {defaults}\n"
        "A proposal is timed from just before `ask` (ours bare: building the `SamplingContext`) "
        "to the return of the objective's last suggest call; `tell` is not timed. The first "
        "proposal of each cell is a warm-up, not timed. Histories hold N COMPLETE trials "
        "(random points, values of the space's objective) plus the earlier cells' proposals. "
        "Ours bare keeps the same record objects from one proposal to the next, as the "
        "SamplerService does, so our TPE's per-record encoding memo only meets the new ones; "
        "Optuna's study likewise keeps its trials between asks.\n"
        "ᵃ Optuna's public ask/tell runs in the caller's process (`InMemoryStorage`, history "
        "added with `study.add_trials`): its bare-sampler and ask/tell levels are the same "
        "measurement, shown once.\n"
        "ᵇ Optuna's median ÷ this system's median: above 1, this system proposes faster.\n"
    )
