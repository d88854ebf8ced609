"""Runs of consecutive, close rows: the temporal structure of a video pool's embeddings.

Pools list a sequence's frames one after another, so consecutive rows of the embedding matrix
are often near-duplicates. A run is a stretch of consecutive rows with no large step between
neighbours; its ball (center, radius) lets distance computations treat the run as one point
(triangle inequality) where that is safe.
"""

from __future__ import annotations

import numpy as np

#: A step between consecutive rows is large above this factor times the median step.
GAP_FACTOR = 4.0
#: Rows of one run at most.
MAX_RUN = 64
#: Rows converted to float64 at a time.
_ROWS_PER_BATCH = 4096


def close_runs(
    x: np.ndarray, *, chunk: int = 4096, gap_factor: float = GAP_FACTOR, max_run: int = MAX_RUN
) -> np.ndarray:
    """Run boundaries: ``bounds[i]:bounds[i + 1]`` is run i (bounds[0] = 0, bounds[-1] = N).

    A run ends where the distance to the next row exceeds ``gap_factor`` times the median
    distance between consecutive rows, or after ``max_run`` rows.
    """
    n = x.shape[0]
    if n < 2:
        return np.array([0, n], dtype=np.int64)
    steps = np.empty(n - 1, dtype=np.float64)
    for start in range(0, n - 1, chunk):
        stop = min(start + chunk, n - 1)
        diff = x[start + 1 : stop + 1].astype(np.float64) - x[start:stop]
        steps[start:stop] = np.einsum("ij,ij->i", diff, diff)
    limit = gap_factor**2 * max(float(np.median(steps)), np.finfo(np.float64).tiny)
    cuts = np.flatnonzero(steps > limit) + 1
    edges = np.concatenate(([0], cuts, [n]))
    bounds = [np.arange(a, b, max_run) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return np.concatenate([*bounds, [n]]).astype(np.int64)


def run_balls(x: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Center (float64 mean) and radius of each run of ``bounds`` (consecutive boundaries, as
    :func:`close_runs` returns), the radius the largest float64 distance of a row to its center,
    widened by its rounding error so that every row provably lies within it."""
    runs = len(bounds) - 1
    dim = x.shape[1]
    centers = np.empty((runs, dim), dtype=np.float64)
    radii = np.empty(runs, dtype=np.float64)
    first = 0
    while first < runs:
        last = int(np.searchsorted(bounds, bounds[first] + _ROWS_PER_BATCH, side="right")) - 1
        last = min(max(last, first + 1), runs)
        offset = int(bounds[first])
        rows = x[offset : bounds[last]].astype(np.float64)
        local = bounds[first : last + 1] - offset
        sizes = np.diff(local)
        centers[first:last] = np.add.reduceat(rows, local[:-1], axis=0) / sizes[:, None]
        diff = rows - np.repeat(centers[first:last], sizes, axis=0)
        distances = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        radii[first:last] = np.maximum.reduceat(distances, local[:-1])
        first = last
    return centers, radii * (1 + (dim + 8) * 2.0**-50)
