"""Tables for benchmarks with a few named problems: a metric per (problem, system) over seeds,
and ours against a peer per problem (ratio of means, Mann–Whitney p, W/T/L)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks._shared.results_md import md_table
from benchmarks._shared.stats import ALPHA, Comparison, compare, fmt, fmt_p, mean_std, median, tally
from benchmarks.sampler_quality._systems import SYSTEMS

Key = tuple[str, str]  # (problem label, system)
Values = Mapping[Key, list[float]]


def collect(
    records: Sequence[Mapping[str, Any]],
    label: Callable[[Mapping[str, Any]], str],
    metric: Callable[[Mapping[str, Any]], float],
) -> dict[Key, list[float]]:
    """`metric` of each record, per (problem label, system), in seed order."""
    found: dict[Key, list[tuple[int, float]]] = defaultdict(list)
    for r in records:
        found[(label(r), r["system"])].append((r["seed"], metric(r)))
    return {k: [v for _, v in sorted(pairs)] for k, pairs in found.items()}


def mean_pm(values: Sequence[float], digits: int = 3) -> str:
    mean, std = mean_std(values)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}" if values else "–"


def compare_pairs(
    problems: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    values: Values,
    *,
    lower_is_better: bool,
) -> list[tuple[str, str, str, Comparison]]:
    """(ours, peer, problem, comparison) for each pair and problem where both have runs."""
    out = []
    for ours, peer in pairs:
        for problem in problems:
            a, b = values.get((problem, ours)), values.get((problem, peer))
            if a and b:
                out.append((ours, peer, problem, compare(a, b, lower_is_better=lower_is_better)))
    return out


def _ratio(a: Sequence[float], b: Sequence[float], use_median: bool) -> str:
    pick = median if use_median else (lambda v: float(np.mean(v)))
    x, y = pick(a), pick(b)
    if not y or math.isinf(x) or math.isinf(y):
        return "–"
    return f"{x / y:.2f}"


def pair_table(
    found: Sequence[tuple[str, str, str, Comparison]],
    values: Values,
    *,
    ratio: str | None,
    use_median: bool = False,
) -> str:
    """One row per (pair, problem); `ratio` names the ratio column (None: no such column)."""
    head = ["ours", "peer", "problem", *([ratio] if ratio else []), "p", "W/T/L"]
    rows = []
    for ours, peer, problem, c in found:
        cells = [SYSTEMS[ours].label, SYSTEMS[peer].label, problem]
        if ratio:
            cells.append(_ratio(values[(problem, ours)], values[(problem, peer)], use_median))
        rows.append([*cells, fmt_p(c.p), c.outcome])
    return md_table(head, rows, left=3) if rows else "(no pair of systems to compare)\n"


def pair_reading(
    found: Sequence[tuple[str, str, str, Comparison]], pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """One line per pair: wins, ties and losses over the problems."""
    lines = []
    for ours, peer in pairs:
        outcomes = [c.outcome for o, p, _, c in found if (o, p) == (ours, peer)]
        if not outcomes:
            continue
        w, t, loss = tally(outcomes)
        worse = [prob for o, p, prob, c in found if (o, p) == (ours, peer) and c.outcome == "L"]
        where = f" (significantly worse on {', '.join(worse)})" if worse else ""
        lines.append(
            f"{SYSTEMS[ours].label} vs {SYSTEMS[peer].label}: {w} W / {t} T / {loss} L over "
            f"{len(outcomes)} problems{where}."
        )
    return lines


def ours_vs_peers(
    pairs: Sequence[tuple[str, str]],
    systems: Sequence[str],
    problems: Sequence[str],
    values: Values,
    *,
    lower_is_better: bool,
    metric: str,
    ratio: str | None = None,
) -> tuple[str, list[str]]:
    """The pairs of which both systems ran: their table with a line on the test (`metric` names
    what is compared), and the reading's lines on them."""
    ran = [(a, b) for a, b in pairs if a in systems and b in systems]
    found = compare_pairs(problems, ran, values, lower_is_better=lower_is_better)
    table = (
        f"{pair_table(found, values, ratio=ratio)}\n"
        f"p: two-sided Mann–Whitney U on the final {metric} of the seeds; W/T/L for ours at "
        f"p < {ALPHA:g} (T when not significant).\n"
    )
    return table, pair_reading(found, ran)
