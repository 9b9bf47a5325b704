"""Hypothesis strategies for the samplers tests (named to avoid clashing with other test dirs)."""

from __future__ import annotations

from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from raysweep.samplers import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)


def json_kind(value: CategoricalChoice) -> tuple[str, Any]:
    """Two choices are duplicates exactly when these keys are equal (bool apart from numbers)."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return ("str", value)


scalars: st.SearchStrategy[CategoricalChoice] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@st.composite
def linear_floats(draw: st.DrawFn) -> FloatDistribution:
    low = draw(st.floats(-1e6, 1e6))
    high = low + draw(st.floats(1e-3, 1e6))
    assume(low < high)
    return FloatDistribution(low, high)


@st.composite
def log_floats(draw: st.DrawFn) -> FloatDistribution:
    low = draw(st.floats(1e-8, 1e4))
    return FloatDistribution(low, low * draw(st.floats(1.001, 1e6)), log=True)


@st.composite
def stepped_floats(draw: st.DrawFn) -> FloatDistribution:
    # Decimal-looking bounds and steps, as users write them (0.1, 0.05, 1e-3, ...).
    digits = draw(st.integers(0, 4))
    low = draw(st.integers(-(10**4), 10**4)) / 10**digits
    step = draw(st.integers(1, 500)) / 10 ** draw(st.integers(0, 4))
    count = draw(st.integers(1, 300))
    return FloatDistribution(low, low + count * step, step=step)


@st.composite
def ints(draw: st.DrawFn) -> IntDistribution:
    low = draw(st.integers(-1000, 1000))
    step = draw(st.integers(1, 7))
    return IntDistribution(low, low + step * draw(st.integers(1, 200)), step=step)


@st.composite
def log_ints(draw: st.DrawFn) -> IntDistribution:
    low = draw(st.integers(1, 1000))
    return IntDistribution(low, low + draw(st.integers(1, 10**6)), log=True)


categoricals: st.SearchStrategy[CategoricalDistribution] = st.lists(
    scalars, min_size=1, max_size=8, unique_by=json_kind
).map(CategoricalDistribution)

distributions: st.SearchStrategy[Distribution] = st.one_of(
    linear_floats(), log_floats(), stepped_floats(), ints(), log_ints(), categoricals
)
