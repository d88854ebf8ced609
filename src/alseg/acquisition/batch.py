"""Selection rules of the batch-aware strategies: TypiClust, diverse entropy, uniform in time.

All functions are pure: they take pool-wide arrays (row i describes pool image i) plus index arrays
and return the picked pool indices as an int64 array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import sparse

from alseg.distances import (
    as_index_array,
    as_matrix,
    nearest_squared,
    squared_distance_blocks,
    squared_distances_to_row,
)

_BLOCK_ELEMENTS = 1 << 22  # distance-block size (elements) for chunked computations


def _check_k(k: int, available: int, what: str) -> None:
    if not 0 <= k <= available:
        raise ValueError(f"k={k} is not within 0..{available}, the number of {what}")


def _row_sq_norms(x: np.ndarray) -> np.ndarray:
    """Squared row norms by einsum: k-means' rounding, kept so that its picks stay unchanged."""
    return np.einsum("ij,ij->i", x, x)


def _assign(x: np.ndarray, x_sq: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center per row (first on ties), in row chunks."""
    _, labels = nearest_squared(
        x,
        centers,
        chunk=max(1, _BLOCK_ELEMENTS // len(centers)),
        reference_chunk=len(centers),
        query_sq=x_sq,
        reference_sq=_row_sq_norms(centers),
    )
    return labels


def _kmeans_plus_plus(
    x: np.ndarray, x_sq: np.ndarray, n_clusters: int, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Initial centers: each next one drawn with probability ∝ weight · squared distance."""
    chosen = np.zeros(len(x), dtype=bool)
    min_d2 = np.full(len(x), np.inf, dtype=x.dtype)
    d2 = np.empty_like(min_d2)
    mass = weights.astype(np.float64)
    picks = []
    for _ in range(n_clusters):
        cumulative = np.cumsum(mass)
        if cumulative[-1] > 0:
            pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        else:  # every remaining row coincides with a center (or has no weight)
            pick = int(rng.choice(np.flatnonzero(~chosen)))
        picks.append(pick)
        chosen[pick] = True
        squared_distances_to_row(x, x_sq, pick, out=d2)
        np.minimum(min_d2, d2, out=min_d2)
        mass = np.where(chosen, 0.0, weights * min_d2)
    return x[picks].copy()


def kmeans(
    x: np.ndarray | torch.Tensor,
    n_clusters: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    iters: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means (k-means++ seeding, then Lloyd): returns (centers (K, D), labels (N,)).

    ``labels`` are the nearest-center assignment for the returned centers. A cluster that is empty
    or has zero total weight keeps its previous center.
    """
    points = as_matrix(x, "cpu")
    n = len(points)
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters={n_clusters} is not within 1..{n}, the number of points")
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != n or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be {n} finite values >= 0")
    x_sq = _row_sq_norms(points)
    centers = _kmeans_plus_plus(points, x_sq, n_clusters, w, rng)
    labels = _assign(points, x_sq, centers)
    for _ in range(iters):
        membership = sparse.csr_matrix((w, (labels, np.arange(n))), shape=(n_clusters, n))
        weight_sums = np.bincount(labels, weights=w, minlength=n_clusters)
        filled = weight_sums > 0
        sums = np.asarray(membership @ points)
        centers[filled] = sums[filled] / weight_sums[filled, None]
        new_labels = _assign(points, x_sq, centers)
        converged = np.array_equal(new_labels, labels)
        labels = new_labels
        if converged:
            break
    return centers, labels


def _mean_knn_distance(points: np.ndarray, knn: int) -> np.ndarray:
    """Per point, the mean Euclidean distance to its ``knn`` nearest other points (0 if alone)."""
    m = len(points)
    neighbours = min(knn, m - 1)
    if neighbours == 0:
        return np.zeros(m)
    sq = _row_sq_norms(points)
    result = np.empty(m)
    step = max(1, _BLOCK_ELEMENTS // m)
    blocks = squared_distance_blocks(
        points, points, chunk=step, reference_chunk=m, query_sq=sq, reference_sq=sq
    )
    for start, _, block in blocks:
        np.maximum(block, 0, out=block)
        rows = np.arange(len(block))
        block[rows, start + rows] = np.inf
        nearest = np.partition(block, neighbours - 1, axis=1)[:, :neighbours]
        result[start : start + step] = np.sqrt(nearest).mean(1)
    return result


def typiclust(
    embeddings: np.ndarray | torch.Tensor,
    labeled: np.ndarray | Sequence[int],
    k: int,
    rng: np.random.Generator,
    *,
    min_cluster_size: int = 5,
    knn: int = 20,
    max_clusters: int | None = None,
) -> np.ndarray:
    """TypiClust (Hacohen et al. 2022): the most typical point of the largest uncovered clusters.

    Clusters the whole pool into |L| + k clusters (at most ``max_clusters``; the official code caps
    at 500). Each pick takes, among clusters larger than ``min_cluster_size`` that still hold an
    unpicked unlabeled point, the one with the fewest labeled or picked points (then the largest),
    and picks its unlabeled point with the highest typicality: the inverse mean distance to its
    ``knn`` nearest neighbours within the cluster.
    """
    x = as_matrix(embeddings, "cpu")
    n = len(x)
    labeled_idx = as_index_array(labeled, n)
    _check_k(k, n - len(labeled_idx), "unlabeled rows")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    n_clusters = min(len(labeled_idx) + k, n)
    if max_clusters is not None:
        n_clusters = min(n_clusters, max(1, max_clusters))
    _, labels = kmeans(x, n_clusters, rng)
    sizes = np.bincount(labels, minlength=n_clusters)
    covered = np.bincount(labels[labeled_idx], minlength=n_clusters)
    open_points = sizes - covered
    taken = np.zeros(n, dtype=bool)
    taken[labeled_idx] = True
    mean_knn: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    picks = np.empty(k, dtype=np.int64)
    for step in range(k):
        eligible = (open_points > 0) & (sizes > min_cluster_size)
        if not eligible.any():
            eligible = open_points > 0
        candidates = np.flatnonzero(eligible)
        order = np.lexsort((candidates, -sizes[candidates], covered[candidates]))
        cluster = int(candidates[order[0]])
        if cluster not in mean_knn:
            members = np.flatnonzero(labels == cluster)
            mean_knn[cluster] = (members, _mean_knn_distance(x[members], knn))
        members, distances = mean_knn[cluster]
        free = ~taken[members]
        pick = int(members[free][np.argmin(distances[free])])
        picks[step] = pick
        taken[pick] = True
        covered[cluster] += 1
        open_points[cluster] -= 1
    return picks


def diverse_entropy(
    embeddings: np.ndarray | torch.Tensor,
    scores: np.ndarray | torch.Tensor,
    candidates: np.ndarray | Sequence[int],
    k: int,
    rng: np.random.Generator,
    *,
    prefilter: int = 10,
) -> np.ndarray:
    """Diverse mini-batch selection (Zhdanov 2019) on pool-wide ``embeddings`` and ``scores``.

    Keeps the ``prefilter``·k highest-scoring candidates (ties in a seeded random order), clusters
    them by k-means weighted with their scores (negative scores count as 0) and picks per cluster
    the member closest to its centroid; empty clusters are filled by the next highest scores.
    """
    x = as_matrix(embeddings, "cpu")
    n = len(x)
    score_arr = np.asarray(
        scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else scores,
        dtype=np.float64,
    ).reshape(-1)
    if len(score_arr) != n or not np.all(np.isfinite(score_arr)):
        raise ValueError(f"scores must be {n} finite values, one per embedding row")
    pool = as_index_array(candidates, n, "candidates")
    _check_k(k, len(pool), "candidates")
    if prefilter < 1:
        raise ValueError(f"prefilter={prefilter} must be at least 1")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    shuffled = pool[rng.permutation(len(pool))]
    ranked = shuffled[np.argsort(-score_arr[shuffled], kind="stable")]
    top = ranked[: min(prefilter * k, len(ranked))]
    centers, labels = kmeans(x[top], k, rng, weights=np.clip(score_arr[top], 0, None))
    picks = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        if members.size:
            d2 = ((x[top[members]] - centers[cluster]) ** 2).sum(1)
            picks.append(int(top[members[np.argmin(d2)]]))
    chosen = set(picks)
    picks.extend(int(i) for i in top if i not in chosen)
    return np.asarray(picks[:k], dtype=np.int64)


def _candidates_by_sequence(
    sequences: Sequence[str] | np.ndarray,
    frames: Sequence[int] | np.ndarray,
    candidates: np.ndarray | Sequence[int],
) -> list[np.ndarray]:
    """Candidates grouped per sequence (sequences in sorted order), each group in frame order."""
    seq = np.asarray(sequences)
    frame = np.asarray(frames)
    if seq.shape != frame.shape or seq.ndim != 1:
        raise ValueError(
            f"sequences and frames must be 1-D and equally long, got {seq.shape} and {frame.shape}"
        )
    pool = as_index_array(candidates, len(seq), "candidates")
    order = np.lexsort((pool, frame[pool], seq[pool]))
    ordered = pool[order]
    boundaries = np.flatnonzero(seq[ordered][1:] != seq[ordered][:-1]) + 1
    return [group for group in np.split(ordered, boundaries) if group.size]


def every_nth(
    sequences: Sequence[str] | np.ndarray,
    frames: Sequence[int] | np.ndarray,
    candidates: np.ndarray | Sequence[int],
    n: int = 5,
) -> np.ndarray:
    """Every n-th candidate in time order within each sequence, starting with the first."""
    if n < 1:
        raise ValueError(f"n={n} must be at least 1")
    groups = _candidates_by_sequence(sequences, frames, candidates)
    if not groups:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([group[::n] for group in groups]).astype(np.int64)
