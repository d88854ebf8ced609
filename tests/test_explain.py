import numpy as np
import pytest

from alseg.acquisition.base import PoolView
from alseg.acquisition.explain import cover_distances, explain_picks
from alseg.acquisition.registry import get_strategy


def testcover_distances_match_a_naive_loop():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 6))
    covered, picked = np.array([3, 17, 25]), np.array([5, 0, 39, 12, 7])
    cover, nearest, to_earlier = cover_distances(x, covered, picked, chunk=2)
    for j, p in enumerate(picked):
        earlier = {int(q): float(np.sqrt(((x[p] - x[q]) ** 2).sum())) for q in picked[:j]}
        others = [float(np.sqrt(((x[p] - x[c]) ** 2).sum())) for c in covered]
        assert cover[j] == pytest.approx(min(others + list(earlier.values())))
        if j == 0:
            assert nearest[j] == -1 and to_earlier[j] == np.inf
        else:
            closest = min(earlier, key=earlier.get)
            assert picked[nearest[j]] == closest
            assert to_earlier[j] == pytest.approx(earlier[closest])
    empty, _, _ = cover_distances(x, np.array([], dtype=np.int64), picked[:1])
    assert empty[0] == np.inf


def view_with(results: dict, labeled=(0,), n: int = 6) -> PoolView:
    unlabeled = np.setdiff1d(np.arange(n), labeled)
    return PoolView(np.asarray(labeled), unlabeled, ["s"] * n, np.arange(n), results)


def test_single_sample_picks_explain_score_and_rank():
    scores = np.array([0.0, 0.5, 0.9, 0.1, 0.7, 0.2], dtype=np.float32)
    entropy = get_strategy("entropy")
    view = view_with({"entropy": scores})
    (first, second) = explain_picks(entropy, view, np.array([2, 4]), entropy.parse_options())
    assert first == (pytest.approx(0.9), "mean pixel entropy 0.9, rank 1 of 5 candidates")
    assert second[1].endswith("rank 2 of 5 candidates")


def test_near_duplicates_of_earlier_picks_are_marked_within_the_radius():
    embeddings = np.array([[0.0, 0], [10, 0], [10, 0.1], [0, 10], [5, 5], [9, 9]])
    coreset = get_strategy("coreset")
    view = view_with({"embedding": embeddings})
    picks = np.array([1, 2, 3])
    marked = explain_picks(coreset, view, picks, coreset.parse_options(), 0.5)
    assert "near-duplicate" not in marked[0][1] and "near-duplicate" not in marked[2][1]
    assert "near-duplicate of pick #1 (distance 0.1)" in marked[1][1]
    assert marked[0][0] == pytest.approx(10.0)  # coreset's score: distance to the cover
    plain = explain_picks(coreset, view, picks, coreset.parse_options())
    assert all("near-duplicate" not in reason for _, reason in plain)
