"""Approximate near-duplicate search (``alseg.ann``) against the exact all-pairs one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg import neighbours
from alseg.advise import redundancy_index, sequence_neighbour_pairs
from alseg.ann import approximate_neighbours
from alseg.errors import ConfigError
from alseg.neighbours import near_duplicate_radius, neighbour_stats


def video_pool(
    drives: int = 25, frames: int = 200, dim: int = 128, seed: int = 0
) -> tuple[np.ndarray, list[str], list[int]]:
    """Drives far apart, each a slow mean-reverting walk plus noise (consecutive frames near,
    distant frames of a drive not): 25 x 200 = 5,000 video-like embeddings by default."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(drives):
        speed = rng.uniform(0.5, 0.97)
        walk = rng.standard_normal(dim)
        centre = rng.standard_normal(dim)
        for _ in range(frames):
            walk = speed * walk + np.sqrt(1 - speed**2) * rng.standard_normal(dim)
            rows.append(centre + walk + 0.3 * rng.standard_normal(dim))
    sequences = [f"drive{d}" for d in range(drives) for _ in range(frames)]
    return np.asarray(rows, np.float32), sequences, list(range(frames)) * drives


@pytest.fixture(scope="module")
def pool() -> tuple[np.ndarray, list[str], list[int]]:
    return video_pool()


def test_approximate_index_agrees_with_the_exact_one(pool):
    x, sequences, frames = pool
    radius = near_duplicate_radius(x)
    pairs = sequence_neighbour_pairs(sequences, frames)
    exact = neighbour_stats(x, radius, method="exact")
    approx = neighbour_stats(x, radius, method="approximate", candidate_pairs=pairs)
    assert exact.exact and not approx.exact
    assert exact.count.sum() > len(x)  # a pool with many near-duplicates
    assert (approx.count <= exact.count).all()  # no false positives
    assert approx.count.sum() / exact.count.sum() >= 0.99
    reports = [redundancy_index(*pool, neighbours=m) for m in ("exact", "approximate")]
    assert [r.neighbours for r in reports] == ["exact", "approximate"]
    assert abs(reports[0].index - reports[1].index) < 0.01
    assert abs(reports[0].embedding_redundancy - reports[1].embedding_redundancy) < 0.01


def test_nearest_distances_are_exact_and_never_below_the_true_ones(pool):
    x = pool[0]
    radius = near_duplicate_radius(x)
    exact = neighbour_stats(x, radius, method="exact")
    approx = neighbour_stats(x, radius, method="approximate")
    assert (approx.index >= 0).all() and (approx.index != np.arange(len(x))).all()
    assert (approx.distance >= exact.distance * (1 - 1e-12)).all()
    same = approx.index == exact.index
    assert same.mean() > 0.99
    np.testing.assert_array_equal(approx.distance[same], exact.distance[same])


@pytest.mark.parametrize("assignments", [3, 5, 8])
def test_every_pair_is_counted_once_however_many_lists_see_it(assignments):
    """Tight groups (exact copies among them) far apart, a few per list: the lists see every
    pair, most of them several times, and each counts once."""
    rng = np.random.default_rng(assignments)
    centres = 100 * rng.standard_normal((100, 16))
    x = centres[rng.integers(100, size=2000)] + 0.01 * rng.standard_normal((2000, 16))
    x[1000:1100] = x[:100]
    x = x.astype(np.float32)
    radius = 1.0
    exact = neighbour_stats(x, radius, method="exact")
    _, _, count = approximate_neighbours(x, radius, list_size=50, assignments=assignments)
    np.testing.assert_array_equal(count, exact.count)


def test_candidate_pairs_add_what_the_lists_miss_and_nothing_twice(pool):
    x, sequences, frames = pool
    radius = near_duplicate_radius(x)
    exact = neighbour_stats(x, radius, method="exact").count
    pairs = sequence_neighbour_pairs(sequences, frames, offsets=30)
    _, _, alone = approximate_neighbours(x, radius, list_size=20, assignments=1)
    _, _, helped = approximate_neighbours(
        x, radius, candidate_pairs=pairs, list_size=20, assignments=1
    )
    assert alone.sum() < helped.sum()
    assert (alone <= helped).all() and (helped <= exact).all()


def test_points_alone_in_their_lists_still_get_their_exact_nearest():
    x = np.array([[0, 0], [3, 4], [30, 40], [31, 40], [100, 0]], dtype=np.float32)
    distance, index, count = approximate_neighbours(x, 0.5, list_size=1, assignments=1, chunk=2)
    assert index.tolist() == [1, 0, 3, 2, 3]
    np.testing.assert_allclose(distance, [5.0, 5.0, 1.0, 1.0, np.hypot(69, 40)])
    assert count.tolist() == [0, 0, 0, 0, 0]


def test_auto_switches_to_the_approximate_search_above_the_threshold(pool, monkeypatch):
    x, sequences, frames = pool
    assert redundancy_index(x, sequences, frames).neighbours == "exact"
    monkeypatch.setattr(neighbours, "EXACT_MAX_POINTS", len(x) - 1)
    assert redundancy_index(x, sequences, frames).neighbours == "approximate"
    assert redundancy_index(x, sequences, frames, neighbours="exact").neighbours == "exact"
    assert not neighbour_stats(x, 1.0).exact


def test_float16_memmap_is_read_as_its_float32_values(pool, tmp_path):
    x = pool[0]
    stored = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float16, x.shape)
    stored[:] = x
    values = np.asarray(stored, np.float32)
    expected = redundancy_index(values, neighbours="approximate")
    assert redundancy_index(stored, neighbours="approximate") == expected


def test_unknown_methods_are_refused(pool):
    with pytest.raises(ValueError, match="auto, exact, approximate"):
        neighbour_stats(pool[0], 1.0, method="fast")
    with pytest.raises(ConfigError, match="auto, exact, approximate"):
        redundancy_index(pool[0], neighbours="fast")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 60), st.sampled_from([1, 3, 5]))
def test_small_pools_never_overcount(seed, n, list_size):
    """Any pool, exact copies included: counts never above the exact ones, equal when one list
    holds the whole pool; nearest distances never below the exact ones."""
    rng = np.random.default_rng(seed)
    bases = rng.standard_normal((int(rng.integers(1, n + 1)), 3))
    x = (bases[rng.integers(len(bases), size=n)] + 0.3 * rng.standard_normal((n, 3))).astype(
        np.float32
    )
    radius = 0.5
    exact = neighbour_stats(x, radius, method="exact")
    distance, index, count = approximate_neighbours(x, radius, list_size=list_size)
    assert (count <= exact.count).all()
    assert (distance >= exact.distance * (1 - 1e-12)).all() and (index != np.arange(n)).all()
    one_list = approximate_neighbours(x, radius, list_size=n)[2]
    np.testing.assert_array_equal(one_list, exact.count)
