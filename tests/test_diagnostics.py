import numpy as np
import pytest
from scipy.spatial.distance import pdist

from alseg.diagnostics import mean_pairwise_distance, selection_diagnostics
from alseg.neighbours import near_duplicate_radius


def test_counts_and_temporal_neighbours_by_hand():
    sequences = ["a", "a", "a", "b", "b", "c"]
    frames = np.array([0, 3, 40, 10, 30, 7])
    groups = np.array([0, 0, 1, 2, 3, -1])
    result = selection_diagnostics(
        np.array([0, 1, 2, 3, 5]), np.arange(6), sequences, frames, groups, None
    )
    assert result["picks"] == 5
    assert result["distinct_sequences"] == 3
    assert result["distinct_groups"] == 3  # 0, 1, 2; the ungrouped pick does not count
    # a/0 and a/3 are 3 frames apart (<= 5); a/40, b/10 and c/7 have no close pick.
    assert result["temporal_neighbour_share"] == pytest.approx(2 / 5)
    assert "near_duplicate_share" not in result


def test_embedding_spread_and_near_duplicates():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(50, 8))
    pool[1] = pool[0] + 1e-3  # a near-duplicate pair
    sequences = [f"s{i}" for i in range(50)]
    frames = np.zeros(50, dtype=int)
    groups = np.arange(50)
    picks = np.array([0, 1, 2, 3])
    result = selection_diagnostics(picks, np.arange(50), sequences, frames, groups, pool)
    assert result["pool_spread"] == pytest.approx(pdist(pool).mean())
    assert result["pick_spread"] == pytest.approx(pdist(pool[picks]).mean())
    assert result["near_duplicate_share"] == pytest.approx(2 / 4)


def test_near_duplicates_use_the_radius_of_advise_by_hand():
    # Unlabeled pool 0..9 and 1000: 55 pair distances, the 28th smallest is 4, so the typical
    # distance is 4 and the near-duplicate radius 0.5 x 4 = 2 (the mean, 184, would give 92).
    pool = np.array([*range(10), 1000], dtype=float)[:, None]
    picks = np.array([0, 1, 5, 7, 10])  # nearest other pick: 1, 1, 2, 2, 993
    names = [f"s{i}" for i in range(11)]
    result = selection_diagnostics(picks, np.arange(11), names, np.zeros(11), np.arange(11), pool)
    assert result["near_duplicate_share"] == pytest.approx(4 / 5)
    assert result["pool_spread"] == pytest.approx(10120 / 55)


def test_mean_pairwise_distance_matches_scipy_and_samples_large_sets():
    x = np.random.default_rng(1).normal(size=(30, 5))
    rng = np.random.default_rng(0)
    assert mean_pairwise_distance(x, 100, rng) == pytest.approx(pdist(x).mean())
    sampled = mean_pairwise_distance(x, 10, np.random.default_rng(0))
    assert sampled == pytest.approx(pdist(x).mean(), rel=0.5)
    assert np.isnan(mean_pairwise_distance(x[:1], 10, rng))


@pytest.mark.parametrize("pair_sample", [10, 1_000_000])
def test_pool_rows_read_in_place_give_the_values_of_a_copy(pair_sample):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    rows = np.sort(rng.choice(300, 120, replace=False))
    assert near_duplicate_radius(x, 3, pair_sample=pair_sample, rows=rows) == (
        near_duplicate_radius(x[rows], 3, pair_sample=pair_sample)
    )
    for max_points in (50, 500):
        in_place = mean_pairwise_distance(x, max_points, np.random.default_rng(1), rows)
        copied = mean_pairwise_distance(x[rows], max_points, np.random.default_rng(1))
        assert in_place == copied
