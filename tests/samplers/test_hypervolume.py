"""Exact hypervolume and exclusive contributions, against hand-made boxes and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from raysweep.samplers import hypervolume, hypervolume_contributions


def _grid_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact by coordinate compression: a grid cell is covered iff its low corner is dominated."""
    points = points[np.all(points < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    axes = [np.unique(np.append(points[:, d], reference[d])) for d in range(len(reference))]
    total = 0.0
    for cell in itertools.product(*(range(len(axis) - 1) for axis in axes)):
        low = np.array([axis[i] for axis, i in zip(axes, cell, strict=True)])
        high = np.array([axis[i + 1] for axis, i in zip(axes, cell, strict=True)])
        if np.any(np.all(points <= low, axis=1)):
            total += float(np.prod(high - low))
    return total


# Integer coordinates from 0 to 5 against a reference of 5: ties, duplicates and points on the
# reference boundary are common.
_cases = st.integers(1, 4).flatmap(
    lambda m: hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 7), st.just(m)),
        elements=st.integers(0, 5).map(float),
    )
)
_REFERENCE = 5.0


def test_two_dimensional_staircase_by_hand() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    # Columns of width 1 from x=1: heights 1, 2, 3 under the reference (4, 4).
    assert hypervolume(points, np.array([4.0, 4.0])) == pytest.approx(6.0)


def test_three_dimensional_boxes_by_hand() -> None:
    reference = np.array([2.0, 2.0, 2.0])
    one = np.array([[0.0, 0.0, 1.0]])
    assert hypervolume(one, reference) == pytest.approx(4.0)
    two = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    # 4 + 2 - overlap [1,2]x[1,2]x[1,2] = 1
    assert hypervolume(two, reference) == pytest.approx(5.0)


def test_four_dimensional_boxes_by_hand() -> None:
    reference = np.ones(4)
    points = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.0, 0.0]])
    # 0.25 + 0.25 - the common box [0.5, 1]^4 of volume 0.0625
    assert hypervolume(points, reference) == pytest.approx(0.4375)
    unit = np.eye(4) * -1.0 + 1.0  # each point is 0 in all but one objective
    assert hypervolume(unit, np.full(4, 2.0)) == pytest.approx(
        _grid_hypervolume(unit, np.full(4, 2.0))
    )


@settings(max_examples=150, deadline=None)
@given(_cases)
def test_hypervolume_matches_the_grid_reference(points: np.ndarray) -> None:
    reference = np.full(points.shape[1], _REFERENCE)
    assert hypervolume(points, reference) == pytest.approx(_grid_hypervolume(points, reference))


@settings(max_examples=100, deadline=None)
@given(_cases)
def test_contributions_are_the_loss_from_removing_each_point(points: np.ndarray) -> None:
    reference = np.full(points.shape[1], _REFERENCE)
    whole = _grid_hypervolume(points, reference)
    expected = [
        whole - _grid_hypervolume(np.delete(points, i, 0), reference) for i in range(len(points))
    ]
    assert hypervolume_contributions(points, reference) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_continuous_points_against_monte_carlo(m: int) -> None:
    rng = np.random.default_rng(m)
    points = rng.random((30, m))
    points /= np.linalg.norm(points, axis=1, keepdims=True)  # a curved front
    reference = np.full(m, 1.1)
    samples = rng.random((200_000, m)) * reference
    covered = np.zeros(len(samples), dtype=bool)
    for point in points:
        covered |= np.all(samples >= point, axis=1)
    estimate = covered.mean() * float(np.prod(reference))
    # 200k samples: the standard error is below 0.002 of the box.
    assert hypervolume(points, reference) == pytest.approx(estimate, abs=0.01 * np.prod(reference))


def test_points_outside_the_reference_box_add_nothing() -> None:
    reference = np.array([1.0, 1.0, 1.0])
    inside = np.array([[0.5, 0.5, 0.5]])
    outside = np.array([[2.0, 0.0, 0.0], [1.0, 0.0, 0.0], [-1.0, -1.0, 1.0]])
    both = np.vstack((inside, outside))
    assert hypervolume(both, reference) == pytest.approx(0.125)
    assert hypervolume(outside, reference) == 0.0
    assert hypervolume_contributions(both, reference).tolist() == pytest.approx([0.125, 0, 0, 0])


def test_duplicates_count_once_and_contribute_nothing() -> None:
    reference = np.array([3.0, 3.0])
    points = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 2.0]])
    assert hypervolume(points, reference) == pytest.approx(3.0)
    assert hypervolume_contributions(points, reference).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_a_dominated_point_contributes_nothing_but_counts_when_its_dominator_goes() -> None:
    reference = np.array([4.0, 4.0])
    points = np.array([[1.0, 1.0], [2.0, 2.0]])
    # Removing (1, 1) leaves (2, 2): 9 - 4.
    assert hypervolume_contributions(points, reference).tolist() == pytest.approx([5.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_contribution_properties_on_continuous_points(m: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.random((n, m))
    reference = np.full(m, 1.0)
    whole = hypervolume(points, reference)
    contributions = hypervolume_contributions(points, reference)
    assert (contributions >= -1e-12).all()
    # Exclusive regions are disjoint parts of the whole.
    assert contributions.sum() <= whole + 1e-9
    for i in rng.choice(n, size=min(n, 3), replace=False):
        without = hypervolume(np.delete(points, i, 0), reference)
        assert contributions[i] == pytest.approx(whole - without, abs=1e-12)
    # Volume scales with each axis, and does not depend on the order of points or objectives.
    scale = rng.uniform(0.5, 2.0, size=m)
    assert hypervolume(points * scale, reference * scale) == pytest.approx(whole * np.prod(scale))
    axes = rng.permutation(m)
    assert hypervolume(points[::-1][:, axes], reference[axes]) == pytest.approx(whole)


def test_large_sets_in_three_and_four_dimensions() -> None:
    rng = np.random.default_rng(7)
    for m, n in ((3, 200), (4, 50)):
        points = rng.random((n, m))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        reference = np.full(m, 1.1)
        whole = hypervolume(points, reference)
        halves = hypervolume(points[: n // 2], reference), hypervolume(points[n // 2 :], reference)
        assert max(halves) < whole < sum(halves)


def test_one_objective_is_the_distance_from_the_best() -> None:
    points = np.array([[3.0], [1.0], [2.0]])
    assert hypervolume(points, np.array([4.0])) == 3.0
    assert hypervolume_contributions(points, np.array([4.0])).tolist() == [0.0, 1.0, 0.0]


def test_empty_and_infinite_points() -> None:
    assert hypervolume(np.zeros((0, 3)), np.ones(3)) == 0.0
    assert hypervolume_contributions(np.zeros((0, 3)), np.ones(3)).shape == (0,)
    assert hypervolume(np.array([[-np.inf, 0.0]]), np.ones(2)) == np.inf


@pytest.mark.parametrize(
    ("points", "reference", "message"),
    [
        (np.zeros((2, 3)), np.zeros(2), "3 columns|2 columns"),
        (np.zeros(3), np.zeros(3), "2-D array"),
        (np.zeros((1, 2)), np.zeros((2, 1)), "one value per objective"),
        (np.array([[np.nan, 0.0]]), np.ones(2), "NaN"),
    ],
)
def test_bad_input_is_refused(points: np.ndarray, reference: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hypervolume(points, reference)
    with pytest.raises(ValueError, match=message):
        hypervolume_contributions(points, reference)
