from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from alseg.acquisition.batch import (
    diverse_entropy,
    every_nth,
    kmeans,
    typiclust,
)

BLOB_CENTERS = np.array([[0, 0], [20, 0], [0, 20], [20, 20], [40, 40], [-20, 10]], dtype=float)
BLOB_SIZE = 25


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = np.concatenate([c + rng.normal(0, 1.0, (BLOB_SIZE, 2)) for c in BLOB_CENTERS])
    return points, np.repeat(np.arange(len(BLOB_CENTERS)), BLOB_SIZE)


def test_kmeans_recovers_separated_blobs_and_is_deterministic() -> None:
    points, blob = blobs()
    centers, labels = kmeans(points, 6, np.random.default_rng(3))
    # each cluster is exactly one blob
    assert len({(b, c) for b, c in zip(blob, labels, strict=True)}) == 6
    nearest = cdist(points, centers).argmin(1)
    assert np.array_equal(nearest, labels)
    again_centers, again_labels = kmeans(points, 6, np.random.default_rng(3))
    assert np.array_equal(labels, again_labels) and np.array_equal(centers, again_centers)


def test_kmeans_uses_weighted_means() -> None:
    points = np.array([[0.0, 0.0], [4.0, 0.0], [100.0, 0.0]])
    centers, labels = kmeans(points, 2, np.random.default_rng(0), weights=[1.0, 3.0, 2.0])
    order = np.argsort(centers[:, 0])
    np.testing.assert_allclose(centers[order], [[3.0, 0.0], [100.0, 0.0]])
    assert labels[0] == labels[1] != labels[2]


def test_kmeans_with_more_clusters_than_distinct_points() -> None:
    points = np.array([[0.0], [0.0], [1.0], [1.0], [1.0]])
    centers, labels = kmeans(points, 4, np.random.default_rng(0))
    assert centers.shape == (4, 1) and set(labels.tolist()) <= set(range(4))
    assert np.array_equal(cdist(points, centers).argmin(1), labels)


def test_kmeans_rejects_bad_arguments() -> None:
    points = np.zeros((3, 2))
    with pytest.raises(ValueError, match="n_clusters=4"):
        kmeans(points, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="weights"):
        kmeans(points, 2, np.random.default_rng(0), weights=[1.0, -1.0, 1.0])


def test_typiclust_picks_the_most_typical_point_of_each_uncovered_blob() -> None:
    points, blob = blobs()
    labeled = np.array([0, BLOB_SIZE])  # blobs 0 and 1 are covered
    picks = typiclust(points, labeled, 4, np.random.default_rng(1), knn=10)
    assert sorted(blob[picks].tolist()) == [2, 3, 4, 5]
    for p in picks:
        members = np.flatnonzero(blob == blob[p])
        d = cdist(points[members], points[members])
        np.fill_diagonal(d, np.inf)
        mean_knn = np.sort(d, axis=1)[:, :10].mean(1)
        assert p == members[np.argmin(mean_knn)]


def test_typiclust_returns_distinct_unlabeled_and_is_deterministic() -> None:
    rng = np.random.default_rng(4)
    points = rng.normal(size=(200, 5))
    labeled = rng.choice(200, size=30, replace=False)
    picks = typiclust(points, labeled, 40, np.random.default_rng(7))
    assert len(set(picks.tolist())) == 40 and not set(picks.tolist()) & set(labeled.tolist())
    assert np.array_equal(picks, typiclust(points, labeled, 40, np.random.default_rng(7)))
    # more picks than clusters with room: small clusters are used once large ones are exhausted
    few = typiclust(points[:12], [], 12, np.random.default_rng(0), min_cluster_size=5)
    assert sorted(few.tolist()) == list(range(12))
    with pytest.raises(ValueError, match="k=171"):
        typiclust(points, labeled, 171, np.random.default_rng(0))


def test_diverse_entropy_picks_one_per_blob_among_uncertain_candidates() -> None:
    points, blob = blobs()
    scores = np.random.default_rng(5).random(len(points))
    candidates = np.flatnonzero(blob != 5)
    picks = diverse_entropy(points, scores, candidates, 5, np.random.default_rng(2), prefilter=25)
    assert sorted(blob[picks].tolist()) == [0, 1, 2, 3, 4]
    assert np.array_equal(
        picks,
        diverse_entropy(points, scores, candidates, 5, np.random.default_rng(2), prefilter=25),
    )


def test_diverse_entropy_keeps_only_the_top_scores() -> None:
    points, _ = blobs()
    scores = np.arange(len(points), dtype=float)
    picks = diverse_entropy(
        points, scores, np.arange(len(points)), 3, np.random.default_rng(0), prefilter=1
    )
    assert sorted(picks.tolist()) == [len(points) - 3, len(points) - 2, len(points) - 1]


def test_diverse_entropy_fills_empty_clusters_with_distinct_picks() -> None:
    points = np.zeros((10, 2))
    scores = np.zeros(10)
    picks = diverse_entropy(points, scores, np.arange(10), 4, np.random.default_rng(0))
    assert len(set(picks.tolist())) == 4
    with pytest.raises(ValueError, match="k=11"):
        diverse_entropy(points, scores, np.arange(10), 11, np.random.default_rng(0))
    with pytest.raises(ValueError, match="scores"):
        diverse_entropy(points, scores[:5], np.arange(10), 2, np.random.default_rng(0))


def test_every_nth_takes_every_fifth_frame_per_sequence() -> None:
    sequences = np.array(["b"] * 7 + ["a"] * 11)
    frames = np.concatenate([np.arange(7)[::-1], np.arange(100, 111)])
    candidates = np.arange(18)
    picked = every_nth(sequences, frames, candidates, 5)
    assert [(sequences[i], frames[i]) for i in picked] == [
        ("a", 100),
        ("a", 105),
        ("a", 110),
        ("b", 0),
        ("b", 5),
    ]
    assert every_nth(sequences, frames, [], 5).tolist() == []
    with pytest.raises(ValueError, match="n=0"):
        every_nth(sequences, frames, candidates, 0)
