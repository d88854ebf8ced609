"""Neighbours in embedding space: exact nearest neighbours, the typical distance of a pool and
the one near-duplicate radius used by ``alseg advise``, projects and the selection diagnostics.

Near-duplicate radius
---------------------
Two images are near-duplicates when their embeddings are at most ``NEAR_DUPLICATE_FRACTION`` =
0.5 times the pool's typical distance apart, the typical distance being the median distance
between two different images (:func:`typical_distance`).

The fraction was calibrated on synthdrive (64x128, pools of 120 and 400 images, three seeds) with
the ImageNet-pretrained EfficientNet-Lite0 embeddings of ``alseg.embeddings`` (2x2-pooled ASPP
projection, seeded untrained head): consecutive frames sit at 0.46-0.48 of the typical distance
(frames 20 apart at about 0.68) and Pool-Aug's augmented copies about as close. At 0.5 the
redundancy index (embedding and time parts) reads, for 120 / 400 images: Pool-0f 0.13 / 0.21,
Pool-5f 0.67 / 0.70, Pool-11f 0.73 / 0.76, Pool-21f 0.81 / 0.83, Pool-Aug 0.59 / 0.62: it ranks
0f < 5f < 11f < 21f and flags Pool-Aug as redundant. The earlier advise default, 0.35, suited the
compact synthetic embeddings of the unit tests but marked almost no synthdrive frames as
near-duplicates (Pool-Aug's index 0.46, "diverse"); a fraction above 0.5 pushes Pool-0f towards
"redundant". Without time metadata (embedding part alone) Pool-Aug stays below 0.5 (0.34 / 0.39).
Recalibrate on a pool of known structure when the embedding model changes.

Exact or approximate
--------------------
:func:`neighbour_stats` is exact (all pairs, chunked) up to ``EXACT_MAX_POINTS`` images and
approximate above (``method="auto"``; ``"exact"`` or ``"approximate"`` force either): candidate
lists from a coarse quantiser, every distance that decides exact (``alseg.ann``), so counts can
only fall short, never overshoot, and the nearest distance is the nearest found (an upper bound).
On video-like pools it found every near-duplicate pair of a 40,000-image subset and of 1,000
images checked against a million (``benchmarks/bench_index_1m.py``); ``tests/test_ann.py`` holds
it to a recall >= 0.99 and the index within 0.01 of the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from alseg.distances import nearest_neighbours, paired_distances

NEAR_DUPLICATE_FRACTION = 0.5
#: Pairs of images the typical distance is measured on (all pairs of smaller pools).
PAIR_SAMPLE = 100_000
#: Largest pool whose neighbours ``method="auto"`` computes exactly (all pairs: about 10 s on
#: one core at 1,024 dimensions); larger pools take the approximate search of ``alseg.ann``.
EXACT_MAX_POINTS = 20_000
#: Rows per chunk when a whole pool is streamed (float16 memmaps are never copied whole).
ROW_CHUNK = 65_536

NeighbourMethod = Literal["auto", "exact", "approximate"]


@dataclass(frozen=True)
class NeighbourStats:
    """Nearest neighbour of every point and how many points lie within a radius of it; when
    ``exact`` is False (approximate search) the nearest found and the points found within the
    radius, exact distances both: an upper bound of the distance, a lower bound of the count."""

    distance: np.ndarray  # float64 (N,), distance to the nearest other point
    index: np.ndarray  # int64 (N,), that point
    count: np.ndarray  # int64 (N,), other points at distance <= radius
    exact: bool = True


def neighbour_stats(
    embeddings: np.ndarray,
    radius: float,
    chunk: int = 2048,
    *,
    method: NeighbourMethod = "auto",
    candidate_pairs: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
) -> NeighbourStats:
    """Nearest other point of every point and the points within ``radius``.

    Exact (``method="exact"``, or "auto" up to ``EXACT_MAX_POINTS`` points): float32 blocks of
    ``chunk`` x ``chunk`` squared distances (each pair once; the points are centred first, which
    keeps the norm expansion precise); the nearest distance is then recomputed exactly (+inf and
    index -1 for a lone point). Approximate (``"approximate"``, or "auto" above): see
    :func:`alseg.ann.approximate_neighbours`; ``candidate_pairs`` (rows likely to be
    near-duplicates, such as consecutive frames) are checked exactly there, and ``seed`` seeds
    its quantiser."""
    if method not in ("auto", "exact", "approximate"):
        raise ValueError(f"unknown method {method!r}; allowed: auto, exact, approximate")
    x = _float_rows(embeddings)
    if method == "approximate" or (method == "auto" and x.shape[0] > EXACT_MAX_POINTS):
        from alseg.ann import approximate_neighbours  # faiss loads only for large pools

        distance, index, count = approximate_neighbours(
            x, radius, candidate_pairs=candidate_pairs, chunk=chunk, seed=seed
        )
        return NeighbourStats(distance=distance, index=index, count=count, exact=False)
    centered = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    with torch.no_grad():
        _, nearest, count = nearest_neighbours(
            torch.from_numpy(np.ascontiguousarray(centered)), radius, chunk=chunk
        )
    index = nearest.numpy()
    found = np.flatnonzero(index >= 0)
    distance = np.full(len(x), np.inf)
    distance[found] = paired_distances(x, found, index[found])
    return NeighbourStats(distance=distance, index=index, count=count.numpy())


def typical_distance(
    embeddings: np.ndarray,
    seed: int = 0,
    *,
    pair_sample: int = PAIR_SAMPLE,
    rows: np.ndarray | None = None,
) -> float:
    """Median non-zero distance between two images: exact over all pairs up to ``pair_sample``
    pairs, otherwise over ``pair_sample`` seeded random pairs (chosen in an order that depends on
    the embeddings only, so the result does not depend on the pool's order). 0 when all coincide
    (exact copies are left out so that they do not shrink it). ``rows``: of ``embeddings[rows]``,
    read without copying them."""
    x = _float_rows(embeddings)
    rows = np.arange(x.shape[0]) if rows is None else np.asarray(rows)
    n = len(rows)
    if n * (n - 1) // 2 <= pair_sample:
        first, second = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        direction = rng.standard_normal(x.shape[1]).astype(np.float32)
        canonical = np.argsort(_project(x, direction, rows), kind="stable")
        first = rng.integers(0, n, size=pair_sample)
        second = rng.integers(0, n - 1, size=pair_sample)
        second += second >= first
        first, second = canonical[first], canonical[second]
    distances = paired_distances(x, rows[first], rows[second])
    distances = distances[distances > 0]
    return float(np.median(distances)) if distances.size else 0.0


def near_duplicate_radius(
    embeddings: np.ndarray,
    seed: int = 0,
    fraction: float = NEAR_DUPLICATE_FRACTION,
    *,
    pair_sample: int = PAIR_SAMPLE,
    rows: np.ndarray | None = None,
) -> float:
    """Distance up to which two images of this pool (``embeddings[rows]``: all rows by default)
    are near-duplicates: ``fraction`` x the typical distance (see the module docstring for the
    calibration of the default)."""
    return fraction * typical_distance(embeddings, seed, pair_sample=pair_sample, rows=rows)


def _float_rows(embeddings: np.ndarray) -> np.ndarray:
    """The embeddings as float32 values: float16 and float32 arrays (memmaps too) as they are,
    anything else converted to float32."""
    x = np.asarray(embeddings)
    return x if x.dtype in (np.float16, np.float32) else x.astype(np.float32)


def _project(x: np.ndarray, direction: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows] @ direction`` in float32, ``ROW_CHUNK`` rows at a time."""
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), ROW_CHUNK):
        out[start : start + ROW_CHUNK] = (
            np.asarray(x[rows[start : start + ROW_CHUNK]], np.float32) @ direction
        )
    return out
