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
#: Rows of one batch of :func:`run_representatives`.
_ROWS_PER_BATCH = 4096


def gap_edges(x: np.ndarray, *, chunk: int = 4096, gap_factor: float = GAP_FACTOR) -> np.ndarray:
    """0, every row that starts after a large step (above ``gap_factor`` times the median
    distance between consecutive rows), and N: runs of any length, before :func:`split_runs`."""
    n = x.shape[0]
    if n < 2:
        return np.array([0, n], dtype=np.int64)
    steps = np.empty(n - 1, dtype=np.float64)
    for start in range(0, n - 1, chunk):
        stop = min(start + chunk, n - 1)
        diff = x[start + 1 : stop + 1] - x[start:stop]
        steps[start:stop] = np.einsum("ij,ij->i", diff, diff)
    limit = gap_factor**2 * max(float(np.median(steps)), np.finfo(np.float64).tiny)
    cuts = np.flatnonzero(steps > limit) + 1
    return np.concatenate(([0], cuts, [n])).astype(np.int64)


def split_runs(edges: np.ndarray, max_run: int) -> np.ndarray:
    """Run boundaries: ``bounds[i]:bounds[i + 1]`` is run i (bounds[0] = 0, bounds[-1] = N),
    the runs between ``edges`` (as :func:`gap_edges` returns) cut every ``max_run`` rows."""
    if edges[-1] == 0:
        return edges
    bounds = [np.arange(a, b, max_run) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return np.concatenate([*bounds, edges[-1:]]).astype(np.int64)


def run_representatives(x: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every row, the middle row of its run (of ``bounds``) and an upper bound (float64)
    of its distance to it, computed as :func:`run_balls` does its radii."""
    representatives = middle_rows(bounds)
    dim = x.shape[1]
    squared = np.empty(x.shape[0], dtype=np.float64)
    for start in range(0, x.shape[0], _ROWS_PER_BATCH):
        stop = start + _ROWS_PER_BATCH
        diff = x[start:stop] - x[representatives[start:stop]]
        squared[start:stop] = np.einsum("ij,ij->i", diff, diff)
    return representatives, _distance_bound(squared, x.dtype, dim)


def middle_rows(bounds: np.ndarray) -> np.ndarray:
    """For every row, the middle row of its run of ``bounds``."""
    sizes = np.diff(bounds)
    return np.repeat(bounds[:-1] + sizes // 2, sizes)


def run_balls(
    x: np.ndarray, starts: np.ndarray, stops: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Center and radius of each run ``x[starts[i]:stops[i]]``.

    A center is the mean of the run's rows rounded to ``x``'s dtype (any point would do); the
    radius (float64) is the largest distance of a row to it, computed in ``x``'s dtype from
    direct differences and widened by its rounding error, so that every row provably lies
    within it.
    """
    centers = np.empty((len(starts), x.shape[1]), dtype=x.dtype)
    squared_radii = np.empty(len(starts), dtype=np.float64)
    for run, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        rows = x[start:stop]
        centers[run] = rows.mean(0, dtype=np.float64)
        diff = rows - centers[run]
        squared_radii[run] = np.einsum("ij,ij->i", diff, diff).max()
    return centers, _distance_bound(squared_radii, x.dtype, x.shape[1])


def _distance_bound(squared: np.ndarray, dtype: np.dtype, dim: int) -> np.ndarray:
    """Upper bounds of distances from sums of ``dim`` squared direct differences computed in
    ``dtype``: relative error at most (D + 3)·u, plus what underflow may lose."""
    info = np.finfo(dtype)
    return np.sqrt(squared + (dim + 2) * float(info.tiny)) * (1 + (dim + 8) * float(info.eps))
