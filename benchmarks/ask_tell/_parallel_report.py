"""Near-duplicates within a batch of simultaneous asks, and the section of `parallel_asks.py`.

Two points of a batch are near-duplicates when they hold the same parameters, every categorical
and int is equal, and every float is within 1 % of its range (in the search coordinate: a
log-scaled float's range is that of its logarithm). The distance between two points sums, per
parameter either holds, the squared difference in units of the range (floats and ints), 1 for a
differing categorical and 1 for a parameter only one holds; its square root is reported.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks._shared.results_md import md_table
from benchmarks.ask_tell._parallel_run import BATCH, SYSTEMS, Batch
from raysweep.samplers import CategoricalDistribution, Distribution, FloatDistribution

TOLERANCE = 0.01
PAIRS = BATCH * (BATCH - 1) // 2


def _scaled(distribution: Distribution, value: Any) -> float:
    low, high = distribution.internal_bounds()
    return (distribution.to_internal(value) - low) / (high - low)


def near_duplicate(a: Mapping[str, Any], b: Mapping[str, Any], space: Mapping[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    for name in a:
        distribution = space[name]
        if isinstance(distribution, FloatDistribution):
            if abs(_scaled(distribution, a[name]) - _scaled(distribution, b[name])) > TOLERANCE:
                return False
        elif a[name] != b[name]:
            return False
    return True


def distance(a: Mapping[str, Any], b: Mapping[str, Any], space: Mapping[str, Any]) -> float:
    total = 0.0
    for name in set(a) | set(b):
        if name not in a or name not in b:
            total += 1.0
        elif isinstance(space[name], CategoricalDistribution):
            total += float(a[name] != b[name])
        else:
            total += (_scaled(space[name], a[name]) - _scaled(space[name], b[name])) ** 2
    return math.sqrt(total)


@dataclass(frozen=True)
class Summary:
    """One system on one space, over every round of every seed."""

    pairs: int  # near-duplicate pairs
    rounds: int
    rounds_with: int  # rounds with at least one near-duplicate pair
    min_distances: tuple[float, ...]  # per round, the smallest distance within its batch

    @property
    def mean_min(self) -> float:
        return float(np.mean(self.min_distances)) if self.min_distances else math.nan


def summarize(batches: Sequence[Batch], space: Mapping[str, Distribution]) -> Summary:
    pairs = rounds_with = 0
    minima = []
    for batch in batches:
        found = sum(near_duplicate(a, b, space) for a, b in itertools.combinations(batch, 2))
        pairs += found
        rounds_with += found > 0
        minima.append(min(distance(a, b, space) for a, b in itertools.combinations(batch, 2)))
    return Summary(pairs, len(batches), rounds_with, tuple(minima))


def table(summaries: Mapping[str, Summary]) -> str:
    rows = [
        [
            SYSTEMS[name].label,
            f"{s.pairs} / {s.rounds * PAIRS}",
            f"{s.rounds_with} / {s.rounds}",
            f"{s.mean_min:.4f}",
            f"{min(s.min_distances):.4f}",
        ]
        for name, s in summaries.items()
    ]
    head = [
        "system",
        "near-duplicate pairs",
        "rounds with any",
        "mean min distance ᵃ",
        "smallest distance",
    ]
    return md_table(head, rows)


def legend(names: Sequence[str]) -> str:
    return "".join(f"- {SYSTEMS[n].label}: {SYSTEMS[n].description}\n" for n in names)


def reading(space: str, summaries: Mapping[str, Summary], *, goal: bool) -> list[str]:
    """Ours against the goal (zero near-duplicates, on the continuous space), the peers beside."""
    lines = []
    for name in ("ours-asktell", "ours-bare"):
        s = summaries.get(name)
        if s is None:
            continue
        found = f"{s.pairs} near-duplicate pair(s) in {s.rounds_with} of {s.rounds} rounds"
        verdict = f"goal of zero — **{'met' if s.pairs == 0 else 'missed'}** ({found})"
        lines.append(
            f"{space}: {SYSTEMS[name].label}: {verdict if goal else found}; "
            f"mean min distance {s.mean_min:.4f}."
        )
    peers = [
        f"{SYSTEMS[n].label} {summaries[n].pairs} pair(s) in {summaries[n].rounds_with} "
        f"round(s), mean min distance {summaries[n].mean_min:.4f}"
        for n in ("optuna", "optuna-liar", "random")
        if n in summaries
    ]
    if peers:
        lines.append(f"{space}: " + "; ".join(peers) + ".")
    return lines


def same_points(space: str, by_system: Mapping[str, Sequence[Batch]]) -> list[str]:
    """Whether ours through ask/tell proposed exactly the bare sampler's points: it should, as
    the bare driver shows pending asks to the sampler the way the orchestrator does."""
    ray, bare = by_system.get("ours-asktell"), by_system.get("ours-bare")
    if ray is None or bare is None:
        return []
    differing = sum(a != b for a, b in zip(ray, bare, strict=True))
    if not differing:
        return [
            f"{space}: ours through ask/tell on Ray and the bare sampler proposed exactly the "
            f"same points in all {len(ray)} rounds."
        ]
    return [
        f"{space}: ours through ask/tell on Ray and the bare sampler proposed different points "
        f"in {differing} of {len(ray)} rounds. Expected: `tell` asks for the next proposal at "
        "once, so the first ask of a round gets a proposal computed after the first of the "
        "previous round's eight tells (it has not seen the other seven results), while the bare "
        "driver proposes after all eight."
    ]
