"""What a finished promote-mode study must show at its rungs, whatever the arrival order."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence


def check_every_rung_promoted_its_top(
    curves: Mapping[int, Mapping[int, float]], rungs: Sequence[int], eta: int, *, maximize: bool
) -> list[int]:
    """Assert that the top ⌈n/η⌉ of every rung reached the next; returns how many reached each.

    `curves`: each trial's reported values by step. ASHA may promote more than ⌈n/η⌉ (a trial
    promoted early can be overtaken by later arrivals), never fewer, and never leaves one of
    the top ⌈n/η⌉ paused.
    """
    sign = 1.0 if maximize else -1.0
    reached = [sum(rung in curve for curve in curves.values()) for rung in rungs]
    for low, high in itertools.pairwise(rungs):
        at_rung = {n: sign * c[low] for n, c in curves.items() if low in c}
        promoted = {n for n, c in curves.items() if high in c}
        quota = math.ceil(len(at_rung) / eta)
        top = set(sorted(at_rung, key=lambda n: (-at_rung[n], n))[:quota])
        assert top <= promoted, (f"rung {low}: stranded", sorted(top - promoted), reached)
        assert len(promoted) >= quota, (low, reached)
    return reached
