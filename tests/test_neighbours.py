from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from alseg.neighbours import (
    NEAR_DUPLICATE_FRACTION,
    near_duplicate_radius,
    neighbour_stats,
    typical_distance,
)


@pytest.mark.parametrize("chunk", [1, 4, 7, 37, 100])
def test_chunked_neighbours_match_brute_force(chunk):
    rng = np.random.default_rng(chunk)
    points = rng.standard_normal((37, 5)) * 3 + 10
    full = cdist(points, points)
    np.fill_diagonal(full, np.inf)
    radius = 0.5 * np.median(pdist(points))
    stats = neighbour_stats(points, radius, chunk=chunk)
    np.testing.assert_array_equal(stats.index, full.argmin(axis=1))
    np.testing.assert_allclose(stats.distance, full.min(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(stats.count, (full <= radius).sum(axis=1))


def test_neighbours_of_exact_duplicates_are_at_distance_zero():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 3)) * 100
    points = np.vstack([base, base[:2]])
    stats = neighbour_stats(points, radius=1e-3, chunk=3)
    assert set(stats.distance[[0, 1, 6, 7]]) == {0.0}
    assert stats.index[[0, 1, 6, 7]].tolist() == [6, 7, 0, 1]
    assert stats.count[[0, 1, 6, 7]].tolist() == [1, 1, 1, 1]


def test_a_lone_point_has_no_neighbour():
    stats = neighbour_stats(np.array([[1.0, 2.0]]), radius=1.0)
    assert stats.distance.tolist() == [np.inf]
    assert stats.index.tolist() == [-1] and stats.count.tolist() == [0]


def test_typical_distance_is_the_median_of_non_zero_pair_distances():
    points = np.array([[0.0], [0.1], [10.0], [20.0], [30.0], [30.0]])
    # 15 pairs, the copy (30, 30) left out: .1 9.9 10 10 10 10 19.9 | 20 20 20 29.9 29.9 30 30.
    assert typical_distance(points) == pytest.approx((19.9 + 20) / 2)
    assert typical_distance(np.ones((4, 2))) == 0.0


def test_sampled_typical_distance_is_close_and_order_free():
    rng = np.random.default_rng(5)
    centers = rng.standard_normal((8, 32))
    points = centers[rng.integers(8, size=800)] + 0.8 * rng.standard_normal((800, 32))
    exact = float(np.median(pdist(points)))
    sampled = typical_distance(points, seed=0, pair_sample=20_000)
    assert sampled == pytest.approx(exact, rel=0.02)
    shuffled = points[rng.permutation(len(points))]
    assert typical_distance(shuffled, seed=0, pair_sample=20_000) == sampled


def test_near_duplicate_radius_is_half_the_typical_distance_by_default():
    points = np.random.default_rng(2).standard_normal((60, 4))
    assert NEAR_DUPLICATE_FRACTION == 0.5
    typical = float(np.median(pdist(points)))
    assert near_duplicate_radius(points) == pytest.approx(0.5 * typical)
    assert near_duplicate_radius(points, fraction=0.35) == pytest.approx(0.35 * typical)
