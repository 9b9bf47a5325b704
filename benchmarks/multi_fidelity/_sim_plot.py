"""The multi-fidelity benchmark's figure: median incumbent regret against epochs and time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.multi_fidelity._sim_stats import Cell, median_curve

# Regret 0 (the best configuration found) cannot sit on a log axis: draw it at this floor.
REGRET_FLOOR = 1e-4
STYLES = {
    "ours-asha-stop": ("tab:blue", "--"),
    "ours-asha-promote": ("tab:blue", "-"),
    "ours-asha-promote-restart": ("tab:cyan", ":"),
    "ours-hyperband-stop": ("tab:green", "--"),
    "ours-hyperband-promote": ("tab:green", "-"),
    "ours-model-based": ("tab:red", "-"),
    "optuna-sh": ("tab:gray", "--"),
    "optuna-hyperband": ("black", "--"),
}


def _panel(
    axis: Any,
    cells: Mapping[Cell, Mapping[int, Mapping[str, Any]]],
    problem: str,
    workers: int,
    methods: Sequence[str],
    budget: int,
    by_time: bool,
) -> None:
    runs = {m: list(cells.get((problem, workers, m), {}).values()) for m in methods}
    ends = [r["end_time"] for found in runs.values() for r in found]
    if not ends:
        axis.set_visible(False)
        return
    top = float(np.max(ends)) if by_time else float(budget)
    grid = np.linspace(0.0, top, 200)
    for m, found in runs.items():
        if not found:
            continue
        curve = median_curve([r["trace"] for r in found], grid, 1 if by_time else 0)
        if by_time:
            # Past most runs' end the median would be made of the runs still going: cut there.
            curve = np.where(
                grid <= float(np.median([r["end_time"] for r in found])), curve, np.nan
            )
        shown = np.where(np.isfinite(curve), np.maximum(curve, REGRET_FLOOR), np.nan)
        color, style = STYLES.get(m, ("tab:purple", "-"))
        axis.plot(grid, shown, color=color, linestyle=style, label=m, linewidth=1.4)
    axis.set_yscale("log")
    axis.set_xlabel("simulated seconds" if by_time else "epochs")
    axis.set_title(f"{problem}, {workers} worker{'s' if workers > 1 else ''}", fontsize=9)
    axis.grid(True, which="major", alpha=0.3)


def plot(
    cells: Mapping[Cell, Mapping[int, Mapping[str, Any]]],
    problems: Sequence[str],
    workers: Sequence[int],
    methods: Sequence[str],
    budget: int,
    path: Path,
) -> None:
    """Rows: regret vs epochs at 1 and 4 workers, regret vs time at 4 (those that ran)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(w, False) for w in (1, 4) if w in workers]
    if 4 in workers:
        panels.append((4, True))
    if not panels:
        panels = [(workers[0], False)]
    figure, axes = plt.subplots(
        len(panels),
        len(problems),
        figsize=(4.2 * len(problems), 3.2 * len(panels)),
        squeeze=False,
    )
    for row, (w, by_time) in enumerate(panels):
        for column, problem in enumerate(problems):
            _panel(axes[row][column], cells, problem, w, methods, budget, by_time)
        axes[row][0].set_ylabel("median regret of the incumbent")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=math.ceil(len(labels) / 2), fontsize=8)
    figure.suptitle(
        f"Median over seeds of the incumbent's regret (best completed trial by observed value; "
        f"regret 0 drawn at {REGRET_FLOOR:g})",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.08, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
