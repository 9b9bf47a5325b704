"""What an objective may return: checked before anything is recorded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raysweep.orchestrator._core._trial import objective_values


@pytest.mark.parametrize(
    ("result", "n", "expected"),
    [
        (0.5, 1, (0.5,)),
        (3, 1, (3.0,)),
        (np.float32(0.25), 1, (0.25,)),
        ([0.5], 1, (0.5,)),
        ((1.0, 2), 2, (1.0, 2.0)),
        ([1, np.float64(-2.5)], 2, (1.0, -2.5)),
    ],
)
def test_accepted(result: object, n: int, expected: tuple[float, ...]) -> None:
    assert objective_values(result, n) == expected


@pytest.mark.parametrize(
    ("result", "n", "message"),
    [
        (math.nan, 1, "return a finite number"),
        (-math.inf, 1, "return a finite number"),
        (None, 1, "None"),
        (True, 1, "True"),
        ("0.5", 1, "'0.5'"),
        ([0.1, 0.2], 1, "return a finite number"),
        (0.5, 2, "return a sequence of 2 numbers"),
        ("ab", 2, "return a sequence of 2 numbers"),
        ([1.0], 2, "returned 1 values; the study has 2"),
        ([1.0, math.nan], 2, "return a finite number"),
    ],
)
def test_refused(result: object, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=r"objective returned|return a sequence") as info:
        objective_values(result, n)
    assert message in str(info.value)
