"""Per-cell numbers of the multi-fidelity benchmark: censored medians, ratios, paired tests.

A cell is (problem, workers, method); its runs are indexed by seed. Epochs (or simulated
seconds) to the first completed top-5% trial are censored for a run that never got one: such a
run counts as the whole budget (its epoch budget, or its own end time), so a median is a lower
bound when runs are censored, and undefined (shown as "> budget") once half of them are.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

Cell = tuple[str, int, str]  # (problem, workers, method)


def by_cell(records: Sequence[Mapping[str, Any]]) -> dict[Cell, dict[int, dict[str, Any]]]:
    """Each cell's results by seed."""
    cells: dict[Cell, dict[int, dict[str, Any]]] = defaultdict(dict)
    for record in records:
        cells[(record["problem"], record["workers"], record["method"])][record["seed"]] = record[
            "result"
        ]
    return dict(cells)


def epochs_to_target(result: Mapping[str, Any]) -> tuple[float, bool]:
    """(epochs to the first completed top-5% trial, whether reached); the budget when not."""
    found = result["epochs_to_top5"]
    return (float(result["budget"]), False) if found is None else (float(found), True)


def time_to_target(result: Mapping[str, Any]) -> tuple[float, bool]:
    """(simulated seconds to the same event, whether reached); the run's end time when not."""
    found = result["time_to_top5"]
    return (float(result["end_time"]), False) if found is None else (float(found), True)


def final_regret(result: Mapping[str, Any]) -> float:
    """The incumbent's regret at the end of the budget; inf when no trial completed."""
    found = result["final_regret"]
    return math.inf if found is None else float(found)


@dataclass(frozen=True)
class Censored:
    """Summary of a censored sample: median and quartiles (nan where undefined), misses."""

    median: float
    q25: float
    q75: float
    missed: int
    n: int

    @property
    def median_known(self) -> bool:
        """Whether fewer than half the runs are censored (else the median is past the budget)."""
        return 2 * self.missed < self.n


def censored(pairs: Sequence[tuple[float, bool]]) -> Censored:
    """Quartiles of censored values; a quartile that depends on a censored run is nan."""
    missed = sum(not reached for _, reached in pairs)
    # A censored run's true value is past the budget: it sorts last, as +inf.
    values = sorted(v for v, reached in pairs if reached) + [math.inf] * missed

    def quantile(q: float) -> float:
        # numpy's linear interpolation, written out: numpy gives nan for 0 * inf at an exact
        # rank next to a censored run, where the value is known.
        position = q * (len(values) - 1)
        low, fraction = int(position), position - int(position)
        if fraction == 0.0:
            found = values[low]
        else:
            found = values[low] + fraction * (values[low + 1] - values[low])
        return found if math.isfinite(found) else math.nan

    if not values:
        return Censored(math.nan, math.nan, math.nan, 0, 0)
    return Censored(quantile(0.5), quantile(0.25), quantile(0.75), missed, len(values))


def ratio(a: Censored, b: Censored) -> float:
    """Ratio of medians; nan when either median is unknown."""
    if not (a.median_known and b.median_known) or b.median <= 0:
        return math.nan
    return a.median / b.median


@dataclass(frozen=True)
class Paired:
    """A paired comparison over seeds of `a` against `b` (lower is better)."""

    n: int
    wins: int
    losses: int
    median_difference: float
    p: float


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> Paired:
    """Two-sided Wilcoxon signed-rank test on the seeds both have (zero differences dropped).

    Infinite values (no completed trial) are replaced by a value above every finite one, so
    that such a run loses to any run with a result and ties another without one.
    """
    seeds = sorted(set(a) & set(b))
    both = np.array([[a[s], b[s]] for s in seeds], dtype=float).reshape(-1, 2)
    finite = both[np.isfinite(both)]
    cap = (float(finite.max()) + 1.0) * 2 if finite.size else 1.0
    both[~np.isfinite(both)] = cap
    differences = both[:, 0] - both[:, 1]
    wins = int(np.sum(differences < 0))
    losses = int(np.sum(differences > 0))
    if wins + losses == 0:
        p = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(wilcoxon(differences, zero_method="wilcox").pvalue)
    median_difference = float(np.median(differences)) if len(differences) else math.nan
    return Paired(len(seeds), wins, losses, median_difference, p)


def median_curve(
    traces: Sequence[Sequence[Sequence[float]]], grid: np.ndarray, column: int
) -> np.ndarray:
    """Median over runs of the incumbent's regret at each grid point (inf before a completion).

    A trace is a list of [epochs, time, regret] at each change of the incumbent's regret;
    `column` picks epochs (0) or time (1) as the axis.
    """
    if not traces:
        return np.full(len(grid), math.nan)
    rows = np.full((len(traces), len(grid)), math.inf)
    for i, trace in enumerate(traces):
        if not trace:
            continue
        at = np.array([entry[column] for entry in trace], dtype=float)
        regrets = np.array([entry[2] for entry in trace], dtype=float)
        index = np.searchsorted(at, grid, side="right") - 1
        rows[i] = np.where(index >= 0, regrets[np.maximum(index, 0)], math.inf)
    return np.asarray(np.median(rows, axis=0))
