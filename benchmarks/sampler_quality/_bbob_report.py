"""The BBOB benchmark's markdown: summary per system, win/tie/loss, per-(function, dim) table."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks._shared.results_md import md_table
from benchmarks._shared.stats import (
    ALPHA,
    Comparison,
    compare,
    fmt,
    fmt_p,
    median,
    smallest_p,
    tally,
)
from benchmarks.sampler_quality._systems import SYSTEMS

GOAL_WORSE_SHARE = 0.10  # ours significantly worse than Optuna TPE on at most this share of pairs

Cell = tuple[int, int]  # (function id, dimension)


@dataclass(frozen=True)
class Runs:
    """Final log regrets and run times per (system, cell), in seed order; function names."""

    log_regret: Mapping[tuple[str, Cell], list[float]]
    wall_s: Mapping[tuple[str, Cell], list[float]]
    names: Mapping[int, str]

    @classmethod
    def collect(cls, records: Sequence[Mapping[str, Any]]) -> Runs:
        regret: dict[tuple[str, Cell], list[tuple[int, float]]] = defaultdict(list)
        wall: dict[tuple[str, Cell], list[float]] = defaultdict(list)
        names: dict[int, str] = {}
        for r in records:
            cell = (int(r["problem"]["fid"]), int(r["problem"]["dim"]))
            regret[(r["system"], cell)].append((r["seed"], r["result"]["log_regret"]))
            wall[(r["system"], cell)].append(r["wall_s"])
            names[cell[0]] = r["result"].get("name", "")
        ordered = {k: [v for _, v in sorted(pairs)] for k, pairs in regret.items()}
        return cls(ordered, dict(wall), names)

    def cells(self) -> list[Cell]:
        return sorted({cell for _, cell in self.log_regret}, key=lambda c: (c[1], c[0]))


def normalized(runs: Runs, systems: Sequence[str]) -> dict[tuple[str, Cell], list[float]]:
    """Min–max normalized log regret per cell, over every run of `systems` in that cell.

    0 is the best run any of these systems made on the cell, 1 the worst; a cell where every run
    reached the same value (all solved) gives 0 to all.
    """
    out: dict[tuple[str, Cell], list[float]] = {}
    for cell in runs.cells():
        pooled = [v for s in systems for v in runs.log_regret.get((s, cell), [])]
        if not pooled:
            continue
        low, high = min(pooled), max(pooled)
        for s in systems:
            values = runs.log_regret.get((s, cell), [])
            out[(s, cell)] = [0.0 if high == low else (v - low) / (high - low) for v in values]
    return out


def _mean(groups: list[list[float]]) -> float:
    """Mean over cells of the per-cell mean (each cell weighs the same)."""
    means = [float(np.mean(g)) for g in groups if g]
    return float(np.mean(means)) if means else math.nan


def summary(runs: Runs, systems: Sequence[str], dims: Sequence[int], baseline: str | None) -> str:
    norm = normalized(runs, systems)
    head = ["system", "runs", "mean norm. log regret ᵃ", *(f"d={d}" for d in dims)]
    head += ["mean Δ decades vs random median ᵇ", "s/run (mean)", *(f"s/run d={d}" for d in dims)]
    rows = []
    for s in systems:
        cells = [c for c in runs.cells() if (s, c) in runs.log_regret]
        by_dim = [_mean([norm[(s, c)] for c in cells if c[1] == d]) for d in dims]
        deltas = []
        if baseline is not None:
            for c in cells:
                base = runs.log_regret.get((baseline, c))
                if base:
                    deltas.append([v - median(base) for v in runs.log_regret[(s, c)]])
        walls = [[w for c in cells if c[1] == d for w in runs.wall_s[(s, c)]] for d in dims]
        all_walls = [w for ws in walls for w in ws]
        rows.append(
            [
                SYSTEMS[s].label,
                str(sum(len(runs.log_regret[(s, c)]) for c in cells)),
                fmt(_mean([norm[(s, c)] for c in cells]), 3),
                *(fmt(v, 3) for v in by_dim),
                fmt(_mean(deltas), 2),
                fmt(float(np.mean(all_walls)) if all_walls else math.nan, 2),
                *(fmt(float(np.mean(w)) if w else math.nan, 2) for w in walls),
            ]
        )
    return md_table(head, rows)


def comparisons(runs: Runs, ours: str, peer: str) -> dict[Cell, Comparison]:
    out = {}
    for cell in runs.cells():
        a, b = runs.log_regret.get((ours, cell)), runs.log_regret.get((peer, cell))
        if a and b:
            out[cell] = compare(a, b)
    return out


def wtl_table(runs: Runs, ours: str, peers: Sequence[str], dims: Sequence[int]) -> str:
    head = [
        "comparison",
        "pairs",
        "W",
        "T",
        "L",
        "significantly worse",
        *(f"d={d} W/T/L" for d in dims),
    ]
    rows = []
    for peer in peers:
        found = comparisons(runs, ours, peer)
        if not found:
            continue
        w, t, loss = tally(c.outcome for c in found.values())
        per_dim = [tally(c.outcome for cell, c in found.items() if cell[1] == d) for d in dims]
        rows.append(
            [
                f"{SYSTEMS[ours].label} vs {SYSTEMS[peer].label}",
                str(len(found)),
                str(w),
                str(t),
                str(loss),
                f"{loss} ({100 * loss / len(found):.0f}%)",
                *(f"{a}/{b}/{c}" for a, b, c in per_dim),
            ]
        )
    return md_table(head, rows) if rows else "(no pair of systems to compare)\n"


def per_cell(runs: Runs, systems: Sequence[str], ours: str, peers: Sequence[str]) -> str:
    head = ["f", "name", "d", *(f"median log10 regret, {SYSTEMS[s].label}" for s in systems)]
    for peer in peers:
        head += [f"p vs {SYSTEMS[peer].label}", "W/T/L"]
    found = {peer: comparisons(runs, ours, peer) for peer in peers}
    rows = []
    for cell in runs.cells():
        row = [str(cell[0]), runs.names.get(cell[0], ""), str(cell[1])]
        row += [fmt(median(runs.log_regret.get((s, cell), []))) for s in systems]
        for peer in peers:
            c = found[peer].get(cell)
            row += ["–", "–"] if c is None else [fmt_p(c.p), c.outcome]
        rows.append(row)
    return md_table(head, rows, left=2)


def reading(runs: Runs, ours: str, peer: str, baseline: str | None) -> list[str]:
    lines = []
    found = comparisons(runs, ours, peer)
    if found:
        w, t, loss = tally(c.outcome for c in found.values())
        share = loss / len(found)
        fewest = min(len(v) for v in runs.log_regret.values())
        verdict = (
            "cannot be judged: too few seeds for any test to be significant"
            if smallest_p(fewest, fewest) >= ALPHA
            else f"meets the goal (≤ {100 * GOAL_WORSE_SHARE:.0f}%) with "
            f"{100 * (GOAL_WORSE_SHARE - share):.0f} points to spare"
            if share <= GOAL_WORSE_SHARE
            else f"misses the goal (≤ {100 * GOAL_WORSE_SHARE:.0f}%) by "
            f"{100 * (share - GOAL_WORSE_SHARE):.0f} points"
        )
        lines.append(
            f"{SYSTEMS[ours].label} is significantly worse than {SYSTEMS[peer].label} on {loss} "
            f"of {len(found)} (function, dim) pairs ({100 * share:.0f}%), which {verdict}; it is "
            f"significantly better on {w} and tied on {t}. With {len(found)} tests at p < 0.05, "
            f"about {0.025 * len(found):.1f} false losses are expected by chance alone."
        )
    else:
        lines.append(f"No comparison of {ours} with {peer}: one of them has no runs here.")
    if baseline is not None:
        sanity = comparisons(runs, ours, baseline)
        if sanity:
            w, t, loss = tally(c.outcome for c in sanity.values())
            lines.append(
                f"Sanity: against random search it wins {w}, ties {t} and loses {loss} "
                f"of {len(sanity)} pairs."
            )
    return lines
