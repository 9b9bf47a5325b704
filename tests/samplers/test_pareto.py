"""Pareto fronts, non-dominated ranks, constrained domination and the loss conversion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from raysweep.samplers import StudyDirection, nondominated_ranks, pareto_front_mask
from raysweep.samplers._pareto import constraint_violations, losses_of


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def _brute_ranks(losses: np.ndarray) -> np.ndarray:
    """Peel fronts by checking every pair: the definition, O(n^2) per front."""
    ranks = np.full(len(losses), -1)
    remaining = set(range(len(losses)))
    rank = 0
    while remaining:
        front = {
            i for i in remaining if not any(_dominates(losses[j], losses[i]) for j in remaining)
        }
        ranks[list(front)] = rank
        remaining -= front
        rank += 1
    return ranks


# Small integer grids make ties and duplicates common, where sorting shortcuts go wrong.
_losses = st.integers(1, 4).flatmap(
    lambda m: hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 30), st.just(m)),
        elements=st.integers(-3, 3).map(float),
    )
)


def test_ranks_of_a_hand_made_example() -> None:
    losses = np.array(
        [
            [1.0, 5.0],  # front 0
            [2.0, 2.0],  # front 0
            [5.0, 1.0],  # front 0
            [3.0, 3.0],  # dominated by (2, 2) only
            [2.0, 2.0],  # duplicate of a front point
            [6.0, 6.0],  # dominated by (3, 3) as well
            [5.0, 5.0],  # dominated by (3, 3): the front after it
        ]
    )
    assert nondominated_ranks(losses).tolist() == [0, 0, 0, 1, 0, 3, 2]
    assert pareto_front_mask(losses).tolist() == [True, True, True, False, True, False, False]


def test_one_objective_ranks_are_the_order_of_distinct_values() -> None:
    losses = np.array([[3.0], [1.0], [2.0], [1.0], [-np.inf], [np.inf]])
    assert nondominated_ranks(losses).tolist() == [3, 1, 2, 1, 0, 4]


def test_equal_in_one_objective_still_dominates() -> None:
    losses = np.array([[1.0, 1.0], [1.0, 2.0], [0.0, 2.0]])
    assert nondominated_ranks(losses).tolist() == [0, 1, 0]


def test_empty_input() -> None:
    assert nondominated_ranks(np.zeros((0, 2))).shape == (0,)
    assert nondominated_ranks(np.zeros((0, 2))).dtype == np.int64
    assert pareto_front_mask(np.zeros((0, 3))).shape == (0,)


@settings(max_examples=200, deadline=None)
@given(_losses)
def test_ranks_match_the_brute_force_definition(losses: np.ndarray) -> None:
    ranks = nondominated_ranks(losses)
    assert ranks.tolist() == _brute_ranks(losses).tolist()
    assert pareto_front_mask(losses).tolist() == (ranks == 0).tolist()


@settings(max_examples=50, deadline=None)
@given(_losses)
def test_ranks_do_not_depend_on_the_order_of_points(losses: np.ndarray) -> None:
    permutation = np.random.default_rng(len(losses)).permutation(len(losses))
    assert (
        nondominated_ranks(losses)[permutation] == nondominated_ranks(losses[permutation])
    ).all()


def test_random_continuous_points_against_brute_force() -> None:
    losses = np.random.default_rng(0).normal(size=(150, 3))
    assert nondominated_ranks(losses).tolist() == _brute_ranks(losses).tolist()


def test_constrained_domination_puts_feasible_first_then_violation_order() -> None:
    losses = np.array(
        [
            [0.0, 0.0],  # infeasible, best losses
            [1.0, 3.0],  # feasible front 0
            [3.0, 1.0],  # feasible front 0
            [4.0, 4.0],  # feasible front 1
            [9.0, 9.0],  # infeasible, least violation
            [0.0, 0.0],  # infeasible, same violation as the first
        ]
    )
    violations = np.array([2.0, 0.0, 0.0, 0.0, 0.5, 2.0])
    assert nondominated_ranks(losses, violations).tolist() == [3, 0, 0, 1, 2, 3]


def test_all_infeasible_rank_by_violation_from_zero() -> None:
    losses = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]])
    assert nondominated_ranks(losses, np.array([3.0, 1.0, 0.1])).tolist() == [2, 1, 0]


@settings(max_examples=100, deadline=None)
@given(
    _losses.flatmap(
        lambda losses: st.tuples(
            st.just(losses),
            hnp.arrays(np.float64, len(losses), elements=st.sampled_from([0.0, 0.0, 0.5, 2.0])),
        )
    )
)
def test_constrained_ranks_match_deb_domination(case: tuple[np.ndarray, np.ndarray]) -> None:
    losses, violations = case

    def constrained_dominates(i: int, j: int) -> bool:
        if violations[i] == 0 and violations[j] == 0:
            return _dominates(losses[i], losses[j])
        return bool(violations[i] < violations[j])

    ranks = nondominated_ranks(losses, violations)
    remaining = set(range(len(losses)))
    rank = 0
    while remaining:
        front = {i for i in remaining if not any(constrained_dominates(j, i) for j in remaining)}
        assert {i for i in remaining if ranks[i] == rank} == front
        remaining -= front
        rank += 1


def test_without_violations_equals_all_feasible() -> None:
    losses = np.random.default_rng(1).normal(size=(40, 2))
    assert (nondominated_ranks(losses, np.zeros(40)) == nondominated_ranks(losses)).all()


def test_constraint_violations_sum_positive_parts() -> None:
    constraints = np.array([[-1.0, 0.0], [0.5, -3.0], [2.0, 1.5], [0.0, 0.0]])
    assert constraint_violations(constraints).tolist() == [0.0, 0.5, 3.5, 0.0]


def test_losses_of_negates_maximized_objectives() -> None:
    directions = (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE)
    losses = losses_of([(1.0, 2.0), (3.0, -4.0)], directions)
    assert losses.dtype == np.float64
    assert losses.tolist() == [[1.0, -2.0], [3.0, 4.0]]
    assert losses_of([], directions).shape == (0, 2)
    array = np.array([[1.0, 2.0]])
    assert losses_of(array, directions).tolist() == [[1.0, -2.0]]
    assert array.tolist() == [[1.0, 2.0]]  # a copy, not negated in place


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nondominated_ranks(np.zeros(3)), "2-D array"),
        (lambda: pareto_front_mask(np.array([[np.nan, 1.0]])), "NaN"),
        (lambda: nondominated_ranks(np.zeros((3, 2)), np.zeros(2)), r"shape \(3,\)"),
        (lambda: nondominated_ranks(np.zeros((2, 2)), np.array([0.0, -1.0])), ">= 0"),
        (lambda: losses_of([(1.0,)], (StudyDirection.MINIMIZE,) * 2), "2 entries"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
