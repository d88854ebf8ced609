"""Greedy k-center selection (Coreset): the exact rule of SPEC §2, without pairwise matrices.

d(u) is kept as an exact float64 squared distance: every value that enters it comes from direct
differences (:func:`alseg.distances.exact_squared_to_row`), so ties (exact duplicates, equal
distances) and near-duplicates resolve as the rule says. Matrix products in the embeddings'
precision only *filter*: a dot product is off by at most g·‖a‖·‖b‖
(:func:`alseg.distances.dot_error_factor`), so a row whose approximate distance to a new pick is
provably not below d(u) is skipped and every other row is recomputed exactly. Per pick that is
one matrix-vector product over the embeddings (one read) plus exact work on the rows near it.

Pruning (triangle inequality): every row remembers a center (labeled row or earlier pick) at
distance d(u). A pick p can bring u closer only if ‖p − center(u)‖ < 2·d(u), since
‖p − center(u)‖ <= ‖p − u‖ + d(u). Bounding ‖p − c‖ for every center costs one product over the
centers; only the rows that pass are read. On clustered data (video: consecutive frames, drives)
that is a small part of the matrix; where it is not (random data) the plain pass runs and pruning
is retried ever more rarely. Where consecutive rows form runs of close rows
(:mod:`alseg.acquisition.runs`), a second test goes through the middle row m(u) of each row's
run of at most 8: ‖p − u‖ >= ‖p − m(u)‖ − ‖u − m(u)‖, one product per run instead of per row.
Picks are identical either way.

Start-up (d to the labeled rows, :mod:`alseg.acquisition.kcenter_startup`): on pools with runs
of close rows, by balls around runs; else block by block as matrix products with the same exact
recheck. Extra memory: O(N) (60 bytes per row kept, about as much again in per-pick
temporaries), a copy of the labeled rows during start-up, plus blocks of at most 2^20 entries
and chunk_size rows. CPU work runs on numpy's BLAS, accelerator work on torch (there without
runs).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from alseg.acquisition.kcenter_startup import LabeledStartUp
from alseg.acquisition.runs import (
    gap_edges,
    middle_rows,
    run_representatives,
    split_runs,
)
from alseg.distances import (
    Matrix,
    as_index_array,
    as_matrix,
    dot_error_factor,
    exact_squared_pairs,
    exact_squared_to_row,
    float64_squared_norms,
)

#: Runs of close rows are used (start-up, pruning) if runs of at most ``_NEARBY_RUN`` rows
#: hold this many rows on average,
_MIN_MEAN_RUN = 4
#: and rows lie this close to the middle row of theirs, relative to other rows (medians),
_NEARBY_MAX_OFFSET = 0.25
#: judged on this many rows.
_NEARBY_SAMPLE = 1024
#: Rows of one run of the pruning by representatives at most.
_NEARBY_RUN = 8
#: float32 rows with squared norms from here up are handled in float64 (products, and sums of
#: four of them, stay below float32's largest value 2^128).
_FLOAT32_SAFE_SQUARED = 2.0**120
#: Entries of one float64 block of exact differences at most (2 MB).
_EXACT_ELEMENTS = 1 << 18
#: Bytes of rows gathered for one product at most: small enough to stay in cache (1 MB; 4 MB
#: blocks made scattered reads ~3x slower).
_GATHER_BYTES = 1 << 20
#: Pruning pays while it leaves at most this fraction of the rows (and has fewer centers).
_PRUNE_MAX_FRACTION = 1 / 3
#: After pruning did not pay, the plain pass runs for 1, 2, 4, ... up to this many picks.
_PRUNE_MAX_WAIT = 64


def kcenter_greedy(
    embeddings: np.ndarray | torch.Tensor,
    labeled: np.ndarray | torch.Tensor | list[int],
    k: int,
    *,
    chunk_size: int = 1024,
    device: str | torch.device | None = None,
    prune: bool = True,
) -> np.ndarray:
    """Pick ``k`` unlabeled rows by greedy k-center, in pick order.

    d(u) is the Euclidean distance from row u to the nearest labeled row (∞ when none). Each step
    picks the not yet chosen, unlabeled row with the largest d (the first one on ties) and then
    lowers d(u) to ‖u − pick‖ where that is smaller; distances are exact (float64 differences).
    ``device`` (default: where the embeddings are) selects CPU (numpy BLAS) or an accelerator
    (torch). ``prune`` allows triangle-inequality pruning where it pays (same picks).
    """
    x = as_matrix(embeddings, device)
    n = x.shape[0]
    labeled_idx = as_index_array(labeled, n)
    available = n - len(labeled_idx)
    if not 0 <= k <= available:
        raise ValueError(f"k={k} is not within 0..{available}, the number of unlabeled rows")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1")
    return _greedy_picks(x, labeled_idx, k, chunk_size, prune=prune)


def _greedy_picks(
    x: Matrix,
    labeled_idx: np.ndarray,
    k: int,
    chunk_size: int,
    *,
    prune: bool = True,
    stats: dict[str, float] | None = None,
) -> np.ndarray:
    """The greedy loop on validated input (numpy or torch matrix, on any device); ``stats``
    receives the seconds spent in start-up (distances to the labeled rows) and in the picks, and
    counts of the rows read per pick and of the exact recomputations."""
    picks = np.empty(k, dtype=np.int64)
    if k == 0:
        return picks
    start = time.perf_counter()
    cover = _Cover(x, labeled_idx, k - 1, chunk_size)
    picks_start = time.perf_counter()
    cover.stats["startup_s"] = picks_start - start
    wait, backoff = 0, 1
    for step in range(k):
        picks[step] = cover.farthest()
        if step + 1 == k:
            break
        if prune and wait == 0 and cover.may_prune():
            if cover.add_pruned(int(picks[step])):
                backoff = 1
                continue
            backoff = min(2 * backoff, _PRUNE_MAX_WAIT)
            wait = backoff
        else:
            wait = max(0, wait - 1)
        cover.add_full(int(picks[step]))
    cover.stats["picks_s"] = time.perf_counter() - picks_start
    if stats is not None:
        stats.update(cover.stats)
    return picks


def _without_overflow(x: Matrix, max_squared_norm: float) -> Matrix:
    """``x``, or its float64 copy where products and squared distances of its rows could
    overflow float32 (squared norms from 2^120 up): the same values, exact products."""
    if not np.isfinite(max_squared_norm):
        raise ValueError("embedding norms overflow float64; scale the embeddings down")
    if x.dtype in (np.float32, torch.float32) and max_squared_norm >= _FLOAT32_SAFE_SQUARED:
        return x.double() if isinstance(x, torch.Tensor) else x.astype(np.float64)
    return x


class _Cover(LabeledStartUp):
    """Exact squared distance d2 of every row to its nearest center, and what bounds changes.

    Per row: ``d2`` (float64, -inf once labeled or picked), ``center`` (position in
    ``centers`` of a center at that distance), ``limit`` (the pick p may lower d2 only if
    fl(x_u·x_p) > limit + (1 − g)·‖x_p‖²/2) and ``reach`` (4·d2: p may lower it only if
    ‖p − center‖² < reach).
    """

    def __init__(self, x: Matrix, labeled: np.ndarray, more_centers: int, chunk: int) -> None:
        self.on_torch = isinstance(x, torch.Tensor)
        self.sq = float64_squared_norms(x, chunk)
        x = _without_overflow(x, float(self.sq.max()) if len(self.sq) else 0.0)
        self.x, self.chunk = x, chunk
        self.exact_chunk = max(1, min(chunk, _EXACT_ELEMENTS // x.shape[1]))
        row_bytes = x.shape[1] * (x.element_size() if self.on_torch else x.itemsize)
        self.gather_chunk = max(1, _GATHER_BYTES // row_bytes)
        n = x.shape[0]
        self.g = dot_error_factor(x)
        # relative room for the float64 roundings of exact values and thresholds
        self.slack = 2.0**-40 + 16 * (x.shape[1] + 2) * 2.0**-53
        self.d2 = self._full(n, np.inf)
        self.center = self._full(n, 0, integer=True)
        self.centers = self._full(len(labeled) + more_centers, 0, integer=True)
        self.count = len(labeled)
        self.dots = self._full(n, 0.0, dtype=x.dtype)
        self.stats: dict[str, float] = {
            "picks_updated": 0,
            "rows_read": 0,
            "rows_exact": 0,
            "full_passes": 0,
        }
        edges = None if self.on_torch else self._close_run_edges()
        #: per row: the middle row of its short run and an upper bound of the distance to it
        self.nearby = None
        if edges is not None:
            bounds = split_runs(edges, _NEARBY_RUN)
            self.nearby = run_representatives(x, bounds)
            self.stats["nearby_runs"] = len(bounds) - 1
        if len(labeled):
            rows = self._index(labeled)
            self.centers[: len(labeled)] = rows
            self._nearest_labeled(rows, edges)
            self.d2[rows] = -np.inf
        self.limit = self._full(n, 0.0)
        self.reach = self._full(n, 0.0)
        self._refresh(slice(None))

    def farthest(self) -> int:
        """The row with the largest d (first on ties) among those not labeled or picked."""
        return int(self.d2.argmax())

    def may_prune(self) -> bool:
        return 0 < self.count <= self.x.shape[0] * _PRUNE_MAX_FRACTION

    def add_full(self, pick: int) -> None:
        """Make ``pick`` a center, reading every row once."""
        self._register(pick)
        if self.on_torch:
            torch.mv(self.x, self.x[pick], out=self.dots)
        else:
            np.dot(self.x, self.x[pick], out=self.dots)
        self.stats["rows_read"] += self.x.shape[0]
        self.stats["full_passes"] += 1
        self._lower(pick, self._nonzero(self.dots > self.limit + self._shift(pick)))

    def add_pruned(self, pick: int) -> bool:
        """Make ``pick`` a center reading only the rows the triangle inequality leaves; False
        (and nothing changed) when those are too many for pruning to pay."""
        centers = self.centers[: self.count]
        sq_pick = float(self.sq[pick])
        # lower bound of ‖p − c‖² for every center c from its rounded dot product
        lower = (1 - self.g) * (self.sq[centers] + sq_pick) - 2 * self._dots(centers, pick)
        rows = self._nonzero(lower[self.center] < self.reach)
        self.stats["rows_read"] += len(centers)
        if len(rows) > self.x.shape[0] * _PRUNE_MAX_FRACTION:
            return False
        if self.nearby is not None:
            rows = self._near_representative(rows, pick)
        self._register(pick)
        self.stats["rows_read"] += len(rows)
        rows = rows[self._dots(rows, pick) > self.limit[rows] + self._shift(pick)]
        self._lower(pick, rows)
        return True

    def _near_representative(self, rows: np.ndarray, pick: int) -> np.ndarray:
        """The ``rows`` that the pick may bring closer by the triangle inequality through their
        run's representative m(u): ‖p − u‖ >= ‖p − m(u)‖ − ‖u − m(u)‖. One product per
        representative, not per row."""
        representatives, offsets = self.nearby
        rows_representatives = representatives[rows]
        # rows ascend, and so do their representatives: each distinct one starts a group
        firsts = np.flatnonzero(np.diff(rows_representatives, prepend=-1))
        distinct = rows_representatives[firsts]
        self.stats["rows_read"] += len(distinct)
        lower = (1 - self.g) * (self.sq[distinct] + self.sq[pick]) - 2 * self._dots(distinct, pick)
        low = np.sqrt(np.maximum(lower, 0.0)) * (1 - 2.0**-40)
        low = np.repeat(low, np.diff(np.append(firsts, len(rows))))
        reach = np.sqrt(self.d2[rows] * (1 + self.slack)) + offsets[rows]
        return rows[low < reach]

    def _close_run_edges(self) -> np.ndarray | None:
        """Where runs of consecutive close rows start (:func:`runs.gap_edges`), or None where
        the pool has too little of that structure: runs too short, or rows about as far from
        the middle row of their short run as from other rows (random data; on a sample)."""
        x, n = self.x, self.x.shape[0]
        edges = gap_edges(x, chunk=max(self.chunk, 4096))
        bounds = split_runs(edges, _NEARBY_RUN)
        structured = len(bounds) - 1 <= n / _MIN_MEAN_RUN
        if structured:
            rng = np.random.default_rng(0)
            rows = rng.integers(0, n, size=min(n, _NEARBY_SAMPLE))
            others = rng.integers(0, n, size=len(rows))
            near = exact_squared_pairs(x, rows, middle_rows(bounds)[rows])
            far = exact_squared_pairs(x, rows, others)
            structured = np.median(near) <= _NEARBY_MAX_OFFSET**2 * np.median(far)
        for key in ("nearby_runs", "startup_runs", "startup_rows_refined"):
            self.stats[key] = 0
        return edges if structured else None

    def _register(self, pick: int) -> None:
        self.centers[self.count] = pick
        self.count += 1
        self.stats["picks_updated"] += 1
        self.d2[pick] = -np.inf
        self.limit[pick] = np.inf
        self.reach[pick] = -np.inf

    def _shift(self, pick: int) -> float:
        return 0.5 * (1 - self.g) * float(self.sq[pick])

    def _lower(self, pick: int, rows: Matrix) -> None:
        """Recompute d2 exactly for ``rows`` against the newest center ``pick``."""
        if len(rows) == 0:
            return
        exact = exact_squared_to_row(self.x, pick, rows, self.exact_chunk)
        closer = exact < self.d2[rows]
        rows = rows[closer]
        self.d2[rows] = exact[closer]
        self.center[rows] = self.count - 1
        self._refresh(rows)
        self.stats["rows_exact"] += len(closer)

    def _refresh(self, rows: Matrix | slice) -> None:
        """Recompute ``limit`` and ``reach`` from d2 (±inf for labeled or picked rows, d2 = 0
        rows never change, rows at d2 = inf always might)."""
        d2 = self.d2[rows] * (1 + self.slack)
        limit = 0.5 * ((1 - self.g) * self.sq[rows] - d2)
        limit[d2 <= 0] = np.inf
        self.limit[rows] = limit
        self.reach[rows] = 4 * d2

    def _dots(self, rows: Matrix, pick: int) -> Matrix:
        """x_row · x_pick in the embeddings' precision for ``rows``, as float64, by chunks."""
        out = self._full(len(rows), 0.0)
        point = self.x[pick]
        step = self.gather_chunk
        for start in range(0, len(rows), step):
            out[start : start + step] = self.x[rows[start : start + step]] @ point
        return out
