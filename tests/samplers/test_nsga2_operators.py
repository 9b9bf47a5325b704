"""NSGA-II's pieces: crowding distance, survival, tournaments, crossover and mutation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.samplers._nsga2._genetic import CROSSOVERS, crossover, mutate
from raysweep.samplers._nsga2._selection import (
    Candidate,
    binary_tournament,
    crowding_distance,
    fitness,
    parent_population,
    survivors,
)

BOUNDS = np.array([[0.0, 1.0], [-5.0, 5.0], [-0.5, 3.5], [np.log(1e-3), 0.0]])
CATEGORICAL = np.array([False, False, True, False])


def _candidates(*losses: tuple[float, ...], violations: tuple[float, ...] = ()) -> tuple:
    return tuple(
        (i, tuple(map(float, loss)), violations[i] if violations else 0.0)
        for i, loss in enumerate(losses)
    )


def test_crowding_distance_by_hand() -> None:
    losses = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0]])
    distance = crowding_distance(losses)
    assert np.isinf(distance[[0, 3]]).all()
    # (3 - 0) / 4 + (4 - 1) / 4 and (4 - 1) / 4 + (2 - 0) / 4
    assert distance[1:3].tolist() == pytest.approx([1.5, 1.25])


def test_crowding_distance_small_flat_and_infinite_fronts() -> None:
    assert np.isinf(crowding_distance(np.zeros((2, 3)))).all()
    flat = crowding_distance(np.zeros((4, 2)))
    assert not np.isnan(flat).any()
    assert (flat[np.isfinite(flat)] == 0).all()
    wild = crowding_distance(np.array([[-np.inf, 5.0], [0.0, 2.0], [1.0, 1.0], [np.inf, 0.0]]))
    assert not np.isnan(wild).any()
    assert np.isfinite(wild[1:3]).all()


def test_survivors_take_whole_fronts_then_the_least_crowded() -> None:
    candidates = _candidates(
        (0.0, 4.0), (1.0, 3.0), (2.0, 2.0), (2.1, 1.9), (4.0, 0.0),  # front 0
        (5.0, 5.0), (6.0, 6.0),  # fronts 1 and 2
    )  # fmt: skip
    chosen = {c[0] for c in survivors(candidates, 4)}
    # The ends are always kept; of the crowded pair (2, 2) and (2.1, 1.9) at most one survives.
    assert {0, 4} <= chosen and len(chosen & {2, 3}) <= 1 and chosen <= {0, 1, 2, 3, 4}
    assert {c[0] for c in survivors(candidates, 6)} == {0, 1, 2, 3, 4, 5}
    assert survivors(candidates, 7) == candidates
    assert survivors(candidates, 10) == candidates


def test_survivors_prefer_feasible_then_small_violations() -> None:
    candidates = _candidates(
        (0.0, 0.0), (9.0, 9.0), (8.0, 8.0), (1.0, 1.0), violations=(3.0, 0.0, 0.0, 0.5)
    )
    assert [c[0] for c in survivors(candidates, 3)] == [1, 2, 3]


def test_parent_population_is_elitist() -> None:
    first = _candidates((0.0, 0.0), (5.0, 5.0), (6.0, 6.0))
    # A worse second generation cannot displace the best point of the first.
    second = tuple((n + 3, (7.0 + n, 7.0 - n), 0.0) for n in range(3))
    parents = parent_population([first, second], 3)
    assert parents[0] == first[0]
    assert len(parents) == 3
    assert parent_population([], 3) == ()
    assert parent_population([first[:1], ()], 3) == first[:1]


def test_fitness_ranks_and_crowds_within_each_rank() -> None:
    candidates = _candidates((0.0, 1.0), (1.0, 0.0), (2.0, 2.0))
    ranks, crowding = fitness(candidates)
    assert ranks == (0, 0, 1)
    assert all(np.isinf(crowding))
    assert fitness(()) == ((), ())


def test_binary_tournament_prefers_rank_then_crowding() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        # Index 0 beats everyone it meets, index 2 loses to everyone.
        winner = binary_tournament(rng, (0, 1, 1), (0.1, 2.0, 1.0))
        assert winner in (0, 1)
        assert binary_tournament(rng, (0, 1, 1), (0.1, 2.0, 1.0), exclude=0) == 1
    assert binary_tournament(rng, (3, 0), (0.0, 0.0), exclude=1) == 0
    counts = np.bincount([binary_tournament(rng, (0,) * 4, (1.0,) * 4) for _ in range(400)])
    assert (counts > 50).all()  # equal fitness: every entrant can win


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(CROSSOVERS), st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_children_stay_inside_the_bounds(kind: str, seed: int, swapping_prob: float) -> None:
    rng = np.random.default_rng(seed)
    first = rng.uniform(BOUNDS[:, 0], BOUNDS[:, 1])
    second = rng.uniform(BOUNDS[:, 0], BOUNDS[:, 1])
    first[2], second[2] = 1.0, 3.0  # categorical indices
    child = crossover(kind, rng, first, second, BOUNDS, CATEGORICAL, swapping_prob)
    assert ((BOUNDS[:, 0] <= child) & (child <= BOUNDS[:, 1])).all()
    assert child[2] in (1.0, 3.0)  # categoricals are swapped, never blended
    mutated = mutate(rng, child, BOUNDS, 0.5)
    assert ((BOUNDS[:, 0] <= mutated) & (mutated <= BOUNDS[:, 1])).all()


def test_uniform_crossover_swaps_with_the_given_probability() -> None:
    rng = np.random.default_rng(1)
    first, second, unit = np.zeros(4), np.ones(4), np.tile([0.0, 1.0], (4, 1))
    assert (crossover("uniform", rng, first, second, unit, CATEGORICAL, 0.0) == 0).all()
    assert (crossover("uniform", rng, first, second, unit, CATEGORICAL, 1.0) == 1).all()
    first, second = np.zeros(1000), np.ones(1000)
    bounds = np.tile([0.0, 1.0], (1000, 1))
    child = crossover("uniform", rng, first, second, bounds, np.zeros(1000, bool), 0.3)
    assert set(child.tolist()) == {0.0, 1.0}
    assert child.mean() == pytest.approx(0.3, abs=0.05)


def test_blend_and_sbx_children_lie_around_their_parents() -> None:
    rng = np.random.default_rng(2)
    bounds = np.tile([-100.0, 100.0], (2000, 1))
    numeric = np.zeros(2000, bool)
    first, second = np.full(2000, 1.0), np.full(2000, 2.0)
    blend = crossover("blxalpha", rng, first, second, bounds, numeric, 0.5)
    assert blend.min() >= 0.5 and blend.max() <= 2.5  # the interval widened by half each side
    assert blend.min() < 0.6 and blend.max() > 2.4
    sbx = crossover("sbx", rng, first, second, bounds, numeric, 0.5)
    # About half the coordinates are crossed; the rest copy a parent. Eta 20 keeps children close.
    copied = np.isin(sbx, (1.0, 2.0))
    assert 0.35 < copied.mean() < 0.65
    assert np.abs(sbx - 1.5).max() < 1.5
    same = crossover("sbx", rng, first, first, bounds, numeric, 0.5)
    assert (same == first).all()


def test_sbx_near_a_bound_stays_inside_it() -> None:
    rng = np.random.default_rng(3)
    bounds = np.tile([0.0, 1.0], (5000, 1))
    child = crossover(
        "sbx", rng, np.full(5000, 1e-6), np.full(5000, 0.5), bounds, np.zeros(5000, bool), 0.5
    )
    assert child.min() >= 0.0 and child.max() <= 1.0


def test_mutation_probability() -> None:
    rng = np.random.default_rng(4)
    child = np.full(4, 0.5)
    assert (mutate(rng, child, BOUNDS, 0.0) == child).all()
    redrawn = mutate(rng, np.full(1000, 7.0), np.tile([0.0, 1.0], (1000, 1)), 1.0)
    assert (redrawn <= 1.0).all() and redrawn.std() > 0.2


def test_unknown_crossover_is_refused() -> None:
    with pytest.raises(ValueError, match="'spx' is unknown"):
        crossover(
            "spx",
            np.random.default_rng(0),
            np.zeros(1),
            np.zeros(1),
            BOUNDS[:1],
            CATEGORICAL[:1],
            0.5,
        )


def test_candidate_type_is_a_plain_tuple() -> None:
    candidate: Candidate = (0, (1.0, 2.0), 0.0)
    assert survivors((candidate,), 1) == (candidate,)
