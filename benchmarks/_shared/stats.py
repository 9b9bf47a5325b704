"""Side-by-side statistics: a two-sided Mann–Whitney U per pair of samples, win/tie/loss."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """Ours against a peer on one problem: the p-value and "W", "T" or "L" (for ours)."""

    p: float
    outcome: str


def compare(
    ours: Sequence[float], theirs: Sequence[float], *, lower_is_better: bool = True
) -> Comparison:
    """Two-sided Mann–Whitney U at `ALPHA`; a tie when not significant.

    The direction comes from the U statistic itself (ours tends lower when U < n·m/2), so it
    agrees with the test even where the medians are equal. Infinite values (no feasible trial)
    rank last as they should.
    """
    if len(ours) < 2 or len(theirs) < 2:
        return Comparison(math.nan, "T")
    result = mannwhitneyu(ours, theirs, alternative="two-sided")
    p = float(result.pvalue)
    if math.isnan(p) or p >= ALPHA:
        return Comparison(1.0 if math.isnan(p) else p, "T")
    ours_lower = float(result.statistic) < len(ours) * len(theirs) / 2
    return Comparison(p, "W" if ours_lower == lower_is_better else "L")


def tally(outcomes: Iterable[str]) -> tuple[int, int, int]:
    """Wins, ties and losses."""
    listed = list(outcomes)
    return listed.count("W"), listed.count("T"), listed.count("L")


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else math.nan


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not len(values):
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def fmt(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "–"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p-value of an exact Mann–Whitney U test of n against m values."""
    return min(1.0, 2 / math.comb(n + m, n))
