"""The start-up of greedy k-center: the exact distance of every row to its nearest labeled row.

On pools with runs of consecutive close rows (video), balls around runs bound which labeled
rows can be nearest to a run's rows (two levels: runs of up to 64 rows, then of 4), so most
rows are compared with a few labeled rows only; else, and for rows whose short run keeps most
labeled rows as candidates, blocks of matrix products are scanned. Products in the embeddings'
precision only filter: every value that enters d2 is an exact float64 squared distance from
direct differences.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from alseg.acquisition.array_ops import ArrayOps
from alseg.acquisition.runs import MAX_RUN, run_balls, split_runs
from alseg.distances import (
    Matrix,
    exact_squared_pairs,
    float64_squared_norms,
    squared_distance_blocks,
    squared_norms,
)

#: Entries of one (rows × labeled rows) block of the start-up at most (4 MB in float32).
_BLOCK_ELEMENTS = 1 << 20
#: A run with at most this many candidate labeled rows gets exact distances to them alone.
_FEW_CANDIDATES = 32
#: Exact (row, labeled row) pairs of the start-up by runs computed together at most.
_PAIRS_PER_BATCH = 1 << 18
#: Rows of one run of the start-up's second level at most.
_REFINED_RUN = 4
#: A short run's rows get a product with their candidates if these are at most this share of
#: the labeled rows, else they are scanned against all.
_SUBSET_SHARE = 0.5


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


class LabeledStartUp(ArrayOps):
    """d2 and center of every row against the labeled rows. The k-center state that uses it
    sets ``x``, ``chunk``, ``exact_chunk``, ``sq`` (float64 squared norms), ``g``
    (:func:`alseg.distances.dot_error_factor`), ``d2``, ``center`` and ``stats``."""

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
        rounding = self._product_rounding()
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

    def _product_rounding(self) -> float:
        """r with |(‖a‖² + ‖b‖² − 2·fl(a·b)) − ‖a − b‖²| <= r·(‖a‖² + ‖b‖²): the product's error
        g·‖a‖·‖b‖ (twice, halved by ‖a‖·‖b‖ <= (‖a‖² + ‖b‖²)/2) plus the float64 sums'."""
        return self.g + (self.x.shape[1] + 8) * 2.0**-51

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
        rounding = self._product_rounding()
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
