"""HistoryView: the study's records lent to a sampler, which must behave as the tuple it stands
for without being copied."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raysweep.samplers import (
    FloatDistribution,
    HistoryView,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
)

X = FloatDistribution(low=0.0, high=1.0)


def _record(number: int) -> TrialRecord:
    return TrialRecord(
        number=number, state=TrialState.RUNNING, params={"x": 0.5}, distributions={"x": X}
    )


@st.composite
def _views(draw: st.DrawFn) -> tuple[HistoryView, tuple[TrialRecord, ...]]:
    base = [_record(n) for n in range(draw(st.integers(0, 12)))]
    left_out = draw(st.lists(st.integers(0, len(base) - 1), max_size=5)) if base else []
    extra = tuple(_record(100 + n) for n in range(draw(st.integers(0, 3))))
    expected = tuple(r for i, r in enumerate(base) if i not in left_out) + extra
    return HistoryView(base, left_out, extra), expected


@given(_views(), st.integers(-20, 20), st.slices(20))
def test_a_view_reads_as_the_tuple_it_stands_for(
    drawn: tuple[HistoryView, tuple[TrialRecord, ...]], index: int, cut: slice
) -> None:
    view, expected = drawn
    assert len(view) == len(expected)
    assert tuple(view) == expected
    assert list(reversed(view)) == list(reversed(expected))
    assert view[cut] == expected[cut]
    if -len(expected) <= index < len(expected):
        assert view[index] is expected[index]
    else:
        with pytest.raises(IndexError):
            view[index]
    for record in expected:
        assert record in view
        assert view.index(record) == expected.index(record)
        assert view.count(record) == 1
    assert _record(999) not in view
    assert view == expected and view == list(expected) and expected == view
    assert view != (*expected, _record(999))
    assert pickle.loads(pickle.dumps(view)) == expected


def test_a_view_refuses_positions_its_list_does_not_have() -> None:
    with pytest.raises(ValueError, match=r"must lie in 0\.\.1, not \[2\]"):
        HistoryView([_record(0), _record(1)], [2])
    with pytest.raises(TypeError, match="ints or slices"):
        HistoryView([_record(0)])["0"]  # type: ignore[call-overload]


def test_a_context_keeps_a_view_as_it_is_and_copies_anything_else() -> None:
    base = [_record(n) for n in range(3)]
    view = HistoryView(base, [1])
    kept = SamplingContext(
        study_seed=0, trial_number=1, directions=(StudyDirection.MINIMIZE,), history=view
    )
    assert kept.history is view
    copied = SamplingContext(
        study_seed=0, trial_number=1, directions=(StudyDirection.MINIMIZE,), history=base[::2]
    )
    assert type(copied.history) is tuple and copied.history == view
    # The context still checks the view as it checks a tuple.
    with pytest.raises(ValueError, match="trial 1 is in its own history"):
        SamplingContext(
            study_seed=0,
            trial_number=1,
            directions=(StudyDirection.MINIMIZE,),
            history=HistoryView(base),
        )
    with pytest.raises(ValueError, match=r"sampler_rng: seed=-1 must be a non-negative int"):
        SamplingContext(
            study_seed=-1, trial_number=1, directions=(StudyDirection.MINIMIZE,), history=()
        )
