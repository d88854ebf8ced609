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

Start-up (d to the labeled rows): on pools with runs of close rows, by balls around runs (see
``_Cover._nearest_labeled_by_runs``); else block by block as matrix products with the same exact
recheck. Extra memory: O(N) (60 bytes per row kept, about as much again in per-pick
temporaries), a copy of the labeled rows during start-up, plus blocks of at most 2^20 entries
and chunk_size rows. CPU work runs on numpy's BLAS, accelerator work on torch (there without
runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from alseg.acquisition.runs import (
    MAX_RUN,
    gap_edges,
    middle_rows,
    run_balls,
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
    squared_distance_blocks,
    squared_norms,
)

#: Entries of one (rows × labeled rows) block of the start-up at most (4 MB in float32).
_BLOCK_ELEMENTS = 1 << 20
#: Runs of close rows are used (start-up, pruning) if runs of at most ``_NEARBY_RUN`` rows
#: hold this many rows on average,
_MIN_MEAN_RUN = 4
#: and rows lie this close to the middle row of theirs, relative to other rows (medians),
_NEARBY_MAX_OFFSET = 0.25
#: judged on this many rows.
_NEARBY_SAMPLE = 1024
#: Rows of one run of the pruning by representatives at most.
_NEARBY_RUN = 8
#: A run with at most this many candidate labeled rows gets exact distances to them alone.
_FEW_CANDIDATES = 32
#: Exact (row, labeled row) pairs of the start-up by runs computed together at most.
_PAIRS_PER_BATCH = 1 << 18
#: Rows of one run of the start-up's second level at most.
_REFINED_RUN = 4
#: A short run's rows get a product with their candidates if these are at most this share of
#: the labeled rows, else they are scanned against all.
_SUBSET_SHARE = 0.5
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


class _PairBatch:
    """(row, labeled position) pairs collected until ``_PAIRS_PER_BATCH``, then handed to
    ``take`` together."""

    def __init__(self, take: Callable[[np.ndarray, np.ndarray], None]) -> None:
        self.take = take
        self.rows: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.count = 0

    def add(self, rows: np.ndarray, positions: np.ndarray) -> None:
        self.rows.append(rows)
        self.positions.append(positions)
        self.count += len(rows)
        if self.count >= _PAIRS_PER_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.count:
            self.take(np.concatenate(self.rows), np.concatenate(self.positions))
        self.rows, self.positions, self.count = [], [], 0


class _Cover:
    """Exact squared distance d2 of every row to its nearest center, and what bounds changes.

    Per row: ``d2`` (float64, -inf once labeled or picked), ``center`` (position in
    ``centers`` of a center at that distance), ``limit`` (the pick p may lower d2 only if
    fl(x_u·x_p) > limit + (1 − g)·‖x_p‖²/2) and ``reach`` (4·d2: p may lower it only if
    ‖p − center‖² < reach).
    """

    def __init__(self, x: Matrix, labeled: np.ndarray, more_centers: int, chunk: int) -> None:
        self.x, self.chunk = x, chunk
        self.exact_chunk = max(1, min(chunk, _EXACT_ELEMENTS // x.shape[1]))
        self.on_torch = isinstance(x, torch.Tensor)
        row_bytes = x.shape[1] * (x.element_size() if self.on_torch else x.itemsize)
        self.gather_chunk = max(1, _GATHER_BYTES // row_bytes)
        n = x.shape[0]
        self.sq = float64_squared_norms(x, chunk)
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

    def _nearest_labeled(self, labeled: Matrix, edges: np.ndarray | None) -> None:
        """d2 and center of every row against the labeled rows, exactly: by runs of consecutive
        rows (cut at ``edges``) where the pool has that structure (video), else by one scan of
        all pairs."""
        if edges is None:
            self._nearest_labeled_scan(labeled, None)
        else:
            self._nearest_labeled_by_runs(labeled, edges)

    def _nearest_labeled_by_runs(self, labeled: np.ndarray, edges: np.ndarray) -> None:
        """The start-up on runs of consecutive, close rows (cut at ``edges``).

        A run is a ball (center m, radius R) around its rows. With D(c) = ‖m − c‖ for every
        labeled c, every row u of the run has d(u) <= min D + R, and ‖u − c‖ >= D(c) − R: only
        the labeled rows with D(c) − R <= min D + R can be nearest to a row of the run. Runs
        with few such candidates get exact distances to them alone. The others (rows about
        equally far from many labeled rows, as in a drive without labeled frames) are split
        into runs of ``_REFINED_RUN`` rows, whose smaller balls leave fewer candidates: few get
        exact distances, more get a product with their candidates, and only rows with most
        labeled rows as candidates are scanned against all. Per run: one product with the
        labeled rows in the embeddings' precision (bounds widened by its rounding error).
        """
        bounds = split_runs(edges, MAX_RUN)
        references = self.x[labeled]
        references_sq = self.sq[labeled]
        pairs = _PairBatch(lambda rows, positions: self._take_closer(rows, positions, labeled))
        deep: list[tuple[int, int]] = []
        self._bound_runs(
            bounds[:-1],
            bounds[1:],
            references,
            references_sq,
            pairs,
            lambda a, b, _: deep.append((a, b)),
        )
        scanned: list[np.ndarray] = []

        def refine(start: int, stop: int, positions: np.ndarray) -> None:
            if len(positions) > len(labeled) * _SUBSET_SHARE:
                scanned.append(np.arange(start, stop))
            else:
                self._scan_candidates(start, stop, positions, references, references_sq, pairs)

        if deep:
            pieces = [np.arange(a, b, _REFINED_RUN) for a, b in deep]
            starts = np.concatenate(pieces)
            ends = np.repeat([b for _, b in deep], [len(piece) for piece in pieces])
            stops = np.minimum(starts + _REFINED_RUN, ends)
            self._bound_runs(starts, stops, references, references_sq, pairs, refine)
        pairs.flush()
        rest = np.concatenate(scanned) if scanned else np.empty(0, dtype=np.int64)
        self.stats["startup_runs"] = len(bounds) - 1
        self.stats["startup_rows_refined"] = sum(b - a for a, b in deep)
        self.stats["startup_rows_scanned"] = len(rest)
        if len(rest):
            self._nearest_labeled_scan(labeled, rest)

    def _bound_runs(
        self,
        starts: np.ndarray,
        stops: np.ndarray,
        references: np.ndarray,
        references_sq: np.ndarray,
        pairs: _PairBatch,
        many: Callable[[int, int, np.ndarray], None],
    ) -> None:
        """For each run starts[i]:stops[i], the labeled rows (positions in ``references``)
        that can be nearest to one of its rows: at most ``_FEW_CANDIDATES`` go to ``pairs``
        with every row of the run, more to ``many(start, stop, positions)``."""
        # |fl(m·c) − m·c| <= g·‖m‖·‖c‖, plus the float64 roundings of the sums
        rounding = self.g + (self.x.shape[1] + 8) * 2.0**-51
        per_block = max(1, _BLOCK_ELEMENTS // len(references))
        for first in range(0, len(starts), per_block):
            block_starts = starts[first : first + per_block]
            block_stops = stops[first : first + per_block]
            centers, radii = run_balls(self.x, block_starts, block_stops)
            centers_sq = float64_squared_norms(centers, self.chunk)
            approx = centers_sq[:, None] + references_sq[None, :]
            error = rounding * approx
            approx -= 2 * (centers @ references.T).astype(np.float64)
            # ‖u − c‖ >= D(c) − R and d(u) <= min D + R: c is a candidate if D(c) <= min D + 2R
            nearest = np.sqrt(np.maximum((approx + error).min(1), 0.0))
            reach_sq = (nearest + 2 * radii) ** 2 * (1 + 2.0**-40)
            candidates = approx - error <= reach_sq[:, None]
            for run, count in enumerate(candidates.sum(1)):
                start, stop = int(block_starts[run]), int(block_stops[run])
                positions = np.flatnonzero(candidates[run])
                if count > _FEW_CANDIDATES:
                    many(start, stop, positions)
                else:
                    rows = np.arange(start, stop)
                    pairs.add(np.repeat(rows, count), np.tile(positions, len(rows)))

    def _scan_candidates(
        self,
        start: int,
        stop: int,
        positions: np.ndarray,
        references: np.ndarray,
        references_sq: np.ndarray,
        pairs: _PairBatch,
    ) -> None:
        """Rows start:stop against the labeled rows at ``positions`` alone: one product gives
        approximate squared distances, off by at most tol(u) = r·(‖u‖² + max ‖c‖²); only the
        pairs within 2·tol(u) of the row's smallest can be nearest, and go to ``pairs``."""
        chosen_sq = references_sq[positions]
        rows_sq = self.sq[start:stop]
        products = (self.x[start:stop] @ references[positions].T).astype(np.float64)
        approx = rows_sq[:, None] + chosen_sq[None, :] - 2 * products
        rounding = self.g + (self.x.shape[1] + 8) * 2.0**-51
        tol = rounding * (rows_sq + chosen_sq.max())
        near, columns = np.nonzero(approx <= (approx.min(1) + 2 * tol)[:, None])
        pairs.add(start + near, positions[columns])

    def _nearest_labeled_scan(self, labeled: Matrix, rows: np.ndarray | None) -> None:
        """d2 and center of ``rows`` (None: every row) against the labeled rows, exactly.

        Blocks of approximate squared distances (matrix products, off by at most
        tol(u) = 4g·(‖u‖² + max‖c‖²)) are scanned once. With m(u) the smallest approximate value
        so far and e(u) the smallest exact one, a labeled row c is recomputed exactly only if its
        approximate value is <= min(m(u) + 2·tol(u), e(u) + tol(u)): any other c is provably no
        closer than a row already recomputed (or, for m, than the row giving m, which is).
        """
        x = self.x
        approx_sq = squared_norms(x, self.chunk)
        tol = 4 * self.g * (self.sq + float(self.sq[labeled].max()))
        approx_min = self._full(x.shape[0], np.inf, dtype=x.dtype)
        batches = [None] if rows is None else np.array_split(rows, -(-len(rows) // self.chunk))
        for subset in batches:
            blocks = squared_distance_blocks(
                x if subset is None else x[subset],
                x,
                chunk=self.chunk,
                reference_chunk=max(self.chunk, _BLOCK_ELEMENTS // self.chunk),
                reference_rows=labeled,
                query_sq=approx_sq if subset is None else approx_sq[subset],
                reference_sq=approx_sq,
            )
            for start, ref_start, block in blocks:
                stop = start + block.shape[0]
                local = self._arange(block.shape[0])
                at = slice(start, stop) if subset is None else subset[start:stop]
                row_ids = local + start if subset is None else at
                nearest = block.argmin(1)
                low = block[local, nearest]
                approx_min[at] = self._minimum(approx_min[at], low)
                # each row's nearest in the block first: often exact 0 or decisive
                first = self._nonzero(low <= self._threshold(approx_min, tol, at, block.dtype))
                self._take_closer(row_ids[first], ref_start + nearest[first], labeled)
                block[local, nearest] = np.inf
                bound = self._threshold(approx_min, tol, at, block.dtype)
                more = self._nonzero(self._row_min(block) <= bound)  # usually few rows
                near, columns = self._nonzero(block[more] <= bound[more, None], pairs=True)
                self._take_closer(row_ids[more[near]], ref_start + columns, labeled)

    def _threshold(
        self,
        approx_min: Matrix,
        tol: Matrix,
        rows: slice | np.ndarray,
        dtype: np.dtype | torch.dtype,
    ) -> Matrix:
        """Approximate values above which no labeled row can beat the exact d2 of ``rows``
        (-inf where d2 is 0), rounded up to ``dtype``."""
        bound = self._minimum(approx_min[rows] + 2 * tol[rows], self.d2[rows] + tol[rows])
        bound[self.d2[rows] == 0] = -np.inf
        return self._round_up(bound, dtype)

    def _take_closer(self, rows: Matrix, positions: Matrix, labeled: Matrix) -> None:
        """Lower d2[rows] to the exact ‖x_row − x_labeled[position]‖² where smaller (rows may
        repeat), recording the position as the row's center."""
        if len(rows) == 0:
            return
        exact = exact_squared_pairs(self.x, rows, labeled[positions], self.exact_chunk)
        before = self.d2[rows]
        if self.on_torch:
            self.d2.scatter_reduce_(0, rows, exact, "amin")
        else:
            np.minimum.at(self.d2, rows, exact)
        won = (exact < before) & (exact == self.d2[rows])
        self.center[rows[won]] = positions[won]

    def _dots(self, rows: Matrix, pick: int) -> Matrix:
        """x_row · x_pick in the embeddings' precision for ``rows``, as float64, by chunks."""
        out = self._full(len(rows), 0.0)
        point = self.x[pick]
        step = self.gather_chunk
        for start in range(0, len(rows), step):
            out[start : start + step] = self.x[rows[start : start + step]] @ point
        return out

    def _full(
        self,
        n: int,
        value: float,
        *,
        integer: bool = False,
        dtype: np.dtype | torch.dtype | None = None,
    ) -> Matrix:
        """Length-n array of ``value`` beside the embeddings: int64, ``dtype`` or float64."""
        if self.on_torch:
            kind = torch.int64 if integer else dtype or torch.float64
            return torch.full((n,), value, dtype=kind, device=self.x.device)
        return np.full(n, value, dtype=np.int64 if integer else dtype or np.float64)

    def _index(self, rows: np.ndarray) -> Matrix:
        return torch.as_tensor(rows, device=self.x.device) if self.on_torch else rows

    def _row_min(self, block: Matrix) -> Matrix:
        return block.amin(1) if self.on_torch else block.min(1)

    def _arange(self, n: int) -> Matrix:
        return torch.arange(n, device=self.x.device) if self.on_torch else np.arange(n)

    def _nonzero(self, mask: Matrix, *, pairs: bool = False) -> Matrix:
        if self.on_torch:
            return mask.nonzero(as_tuple=True) if pairs else mask.nonzero().flatten()
        return np.nonzero(mask) if pairs else np.flatnonzero(mask)

    def _minimum(self, a: Matrix, b: Matrix) -> Matrix:
        return torch.minimum(a, b) if self.on_torch else np.minimum(a, b)

    def _round_up(self, values: Matrix, dtype: np.dtype | torch.dtype) -> Matrix:
        """``values`` in ``dtype``, rounded up (a threshold that keeps every row it kept)."""
        if self.on_torch:
            cast = values.to(dtype)
            return torch.nextafter(cast, torch.full_like(cast, np.inf))
        return np.nextafter(values.astype(dtype), dtype.type(np.inf))
