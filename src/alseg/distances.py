"""Euclidean distances between embedding rows, block by block, never as an N x N matrix.

Squared distances come from ‖q‖² − 2 q·r + ‖r‖² with row norms computed once, so a block of
``chunk`` x ``reference_chunk`` pairs costs one matrix product; memory holds one block at a time,
O(N + chunk · max(D, reference_chunk)) on top of the inputs. The expansion can come out slightly
below 0 for (nearly) identical rows: callers clamp at 0 after taking minima. The block functions
take numpy arrays (CPU BLAS) or torch tensors (any device) and answer in the same kind.

Bad shapes or arguments are programming errors and raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import numpy as np
import torch

Matrix: TypeAlias = "np.ndarray | torch.Tensor"

DEFAULT_CHUNK = 1024
#: Pairs per block in :func:`paired_distances`.
PAIR_CHUNK = 8192


def as_matrix(embeddings: np.ndarray | torch.Tensor, device: str | torch.device | None) -> Matrix:
    """Finite embeddings as a contiguous float32/float64 (N, D) matrix: numpy on CPU, torch else."""
    if isinstance(embeddings, torch.Tensor):
        x = embeddings.detach()
        if device is not None:
            x = x.to(device)
    else:
        x = np.asarray(embeddings)
        if device is not None and torch.device(device).type != "cpu":
            x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (N, D) array, got shape {tuple(x.shape)}")
    if isinstance(x, torch.Tensor):
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        x = x.contiguous().numpy() if x.device.type == "cpu" else x.contiguous()
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if not bool(np.isfinite(float(x.sum()))):  # one pass, no N×D temporary
        raise ValueError("embeddings contain NaN or infinite values (or overflow their dtype)")
    return x if isinstance(x, torch.Tensor) else np.ascontiguousarray(x)


def as_index_array(
    indices: np.ndarray | torch.Tensor | list[int], n: int, name: str = "labeled"
) -> np.ndarray:
    """Sorted unique int64 row indices, each checked to lie in 0..n-1."""
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    idx = np.asarray(indices).reshape(-1)
    if idx.size == 0:
        return np.empty(0, dtype=np.int64)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer row indices, got dtype {idx.dtype}")
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise ValueError(f"{name} index {int(bad[0])} out of range; allowed: 0..{n - 1}")
    return np.unique(idx.astype(np.int64))


def squared_norms(x: Matrix, chunk: int = DEFAULT_CHUNK) -> Matrix:
    """‖row‖² of every row of ``x``, ``chunk`` rows at a time (no N x D temporary)."""
    _check_chunk(chunk)
    norms = _filled(x, x.shape[0], 0.0)
    for start in range(0, x.shape[0], chunk):
        rows = x[start : start + chunk]
        norms[start : start + chunk] = (rows * rows).sum(1)
    return norms


def squared_distances_to_row(x: Matrix, x_sq: Matrix, row: int, out: Matrix) -> None:
    """Write ‖x_i − x_row‖² (clamped at 0) for every row i into ``out``: one matrix-vector
    product, no allocation (the per-pick step of greedy k-center and k-means++)."""
    if isinstance(x, torch.Tensor):
        torch.mv(x, x[row], out=out)
    else:
        np.dot(x, x[row], out=out)
    out *= -2
    out += x_sq
    out += x_sq[row]
    _clamp_at_zero(out)


def squared_distance_blocks(
    queries: Matrix,
    references: Matrix,
    *,
    chunk: int = DEFAULT_CHUNK,
    reference_chunk: int | None = None,
    reference_rows: np.ndarray | None = None,
    query_sq: Matrix | None = None,
    reference_sq: Matrix | None = None,
) -> Iterator[tuple[int, int, Matrix]]:
    """Squared distances (not clamped) from ``queries`` to ``references`` as
    (query start, reference start, block) with blocks of ``chunk`` x ``reference_chunk`` pairs.

    ``reference_rows`` restricts the references to those rows (gathered a chunk at a time;
    reference starts then count positions in ``reference_rows``). ``query_sq`` and
    ``reference_sq`` are the squared row norms (of all rows of ``references``), computed when
    not given.
    """
    reference_chunk = chunk if reference_chunk is None else reference_chunk
    _check_pair(queries, references)
    _check_chunk(chunk)
    _check_chunk(reference_chunk)
    if query_sq is None:
        query_sq = squared_norms(queries, chunk)
    if reference_rows is not None and isinstance(references, torch.Tensor):
        reference_rows = torch.as_tensor(reference_rows, device=references.device)
    return _blocks(
        queries, references, chunk, reference_chunk, reference_rows, query_sq, reference_sq
    )


def _blocks(
    queries: Matrix,
    references: Matrix,
    chunk: int,
    reference_chunk: int,
    reference_rows: Matrix | None,
    query_sq: Matrix,
    reference_sq: Matrix | None,
) -> Iterator[tuple[int, int, Matrix]]:
    count = references.shape[0] if reference_rows is None else len(reference_rows)
    for ref_start in range(0, count, reference_chunk):
        if reference_rows is None:
            rows = slice(ref_start, ref_start + reference_chunk)
        else:
            rows = reference_rows[ref_start : ref_start + reference_chunk]
        refs = references[rows]
        refs_sq = (
            squared_norms(refs, reference_chunk) if reference_sq is None else reference_sq[rows]
        )
        for start in range(0, queries.shape[0], chunk):
            stop = start + chunk
            block = _squared_block(queries[start:stop], refs, query_sq[start:stop], refs_sq)
            yield start, ref_start, block


def pairwise_blocks(
    x: Matrix, *, chunk: int = DEFAULT_CHUNK, x_sq: Matrix | None = None
) -> Iterator[tuple[int, int, Matrix]]:
    """Squared distances (not clamped) between distinct rows of ``x``, each unordered pair once:
    (row start, column start, block) for column starts >= row starts, in that order; entries on
    and below the diagonal of the diagonal blocks are +inf."""
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (N, D) array, got shape {tuple(x.shape)}")
    _check_chunk(chunk)
    return _pairwise(x, chunk, squared_norms(x, chunk) if x_sq is None else x_sq)


def _pairwise(x: Matrix, chunk: int, x_sq: Matrix) -> Iterator[tuple[int, int, Matrix]]:
    n = x.shape[0]
    for start in range(0, n, chunk):
        rows, rows_sq = x[start : start + chunk], x_sq[start : start + chunk]
        for col_start in range(start, n, chunk):
            cols = slice(col_start, col_start + chunk)
            block = _squared_block(rows, x[cols], rows_sq, x_sq[cols])
            if col_start == start:
                _hide_on_and_below_diagonal(block)
            yield start, col_start, block


def nearest_squared(
    queries: Matrix,
    references: Matrix,
    *,
    chunk: int = DEFAULT_CHUNK,
    reference_chunk: int | None = None,
    reference_rows: np.ndarray | None = None,
    query_sq: Matrix | None = None,
    reference_sq: Matrix | None = None,
) -> tuple[Matrix, Matrix]:
    """Per query row, the squared distance to its nearest reference row (clamped at 0) and that
    row's index in ``references`` (the first on ties); +inf and -1 when there are no references.
    Arguments as for :func:`squared_distance_blocks`."""
    n = queries.shape[0]
    best = _filled(queries, n, float("inf"))
    best_position = _filled(queries, n, -1, integer=True)
    blocks = squared_distance_blocks(
        queries,
        references,
        chunk=chunk,
        reference_chunk=reference_chunk,
        reference_rows=reference_rows,
        query_sq=query_sq,
        reference_sq=reference_sq,
    )
    for start, ref_start, block in blocks:
        values, positions = _min_and_argmin(block, axis=1)
        _keep_closer(best, best_position, start, values, positions + ref_start)
    _clamp_at_zero(best)
    if reference_rows is None:
        return best, best_position
    # position -1 (no reference) reads the appended -1
    rows = _like(queries, np.append(np.asarray(reference_rows, dtype=np.int64), -1))
    return best, rows[best_position]


def nearest_neighbours(
    x: Matrix,
    radius: float = 0.0,
    *,
    chunk: int = DEFAULT_CHUNK,
    x_sq: Matrix | None = None,
    earlier_only: bool = False,
) -> tuple[Matrix, Matrix, Matrix]:
    """Per row of ``x``: the squared distance to the nearest other row (clamped at 0), that row
    (the first on ties) and how many other rows lie within ``radius`` (squared distance <=
    radius²); +inf, -1 and 0 for a row without others. ``earlier_only`` looks only at the rows
    before each row (picks in pick order: the nearest earlier pick). Each pair is computed once.
    """
    n = x.shape[0]
    best = _filled(x, n, float("inf"))
    best_index = _filled(x, n, -1, integer=True)
    count = _filled(x, n, 0, integer=True)
    radius_sq = float(radius) ** 2
    for start, col_start, block in pairwise_blocks(x, chunk=chunk, x_sq=x_sq):
        within = block <= radius_sq
        # block entry (r, c) has r < c: the column update offers each row its earlier rows, the
        # row update its later ones; columns first keeps candidates in index order for ties
        count[col_start : col_start + block.shape[1]] += _count(within, axis=0)
        values, rows = _min_and_argmin(block, axis=0)
        _keep_closer(best, best_index, col_start, values, rows + start)
        if not earlier_only:
            count[start : start + block.shape[0]] += _count(within, axis=1)
            values, cols = _min_and_argmin(block, axis=1)
            _keep_closer(best, best_index, start, values, cols + col_start)
    _clamp_at_zero(best)
    return best, best_index, count


def paired_distances(
    x: np.ndarray, first: np.ndarray, second: np.ndarray, chunk: int = PAIR_CHUNK
) -> np.ndarray:
    """Exact ‖x[first[i]] − x[second[i]]‖ for every pair i, in float64, ``chunk`` pairs at a
    time (direct differences: exact duplicates come out 0)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} first rows for {len(second)} second rows")
    _check_chunk(chunk)
    distances = np.empty(len(first))
    for s in range(0, len(first), chunk):
        a = x[first[s : s + chunk]].astype(np.float64)
        a -= x[second[s : s + chunk]]
        distances[s : s + chunk] = np.linalg.norm(a, axis=1)
    return distances


def float64_squared_norms(x: Matrix, chunk: int = DEFAULT_CHUNK) -> Matrix:
    """‖row‖² of every row of ``x`` summed in float64, ``chunk`` rows at a time."""
    _check_chunk(chunk)
    norms = _filled(x, x.shape[0], 0.0, float64=True)
    for start in range(0, x.shape[0], chunk):
        rows = _as_float64(x[start : start + chunk])
        norms[start : start + chunk] = (rows * rows).sum(1)
    return norms


def exact_squared_to_row(
    x: Matrix, row: int, rows: Matrix | None = None, chunk: int = DEFAULT_CHUNK
) -> Matrix:
    """‖x_i − x_row‖² in float64 from direct differences, for ``rows`` (all rows when None).

    Differences of float32 entries are exact in float64 and each value depends only on the two
    rows, so exact duplicates give exactly 0 and equal inputs give equal outputs, whatever the
    chunking (the reference for greedy k-center's ties).
    """
    _check_chunk(chunk)
    count = x.shape[0] if rows is None else len(rows)
    point = _as_float64(x[row])
    out = _filled(x, count, 0.0, float64=True)
    for start in range(0, count, chunk):
        picked = slice(start, start + chunk) if rows is None else rows[start : start + chunk]
        out[start : start + chunk] = _squared_row_sums(_as_float64(x[picked]) - point)
    return out


def exact_squared_pairs(
    x: Matrix, first: Matrix, second: Matrix, chunk: int = PAIR_CHUNK
) -> Matrix:
    """‖x[first[i]] − x[second[i]]‖² in float64 from direct differences (as
    :func:`exact_squared_to_row`), ``chunk`` pairs at a time."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} first rows for {len(second)} second rows")
    _check_chunk(chunk)
    out = _filled(x, len(first), 0.0, float64=True)
    for start in range(0, len(first), chunk):
        stop = start + chunk
        out[start:stop] = _squared_row_sums(
            _as_float64(x[first[start:stop]]) - _as_float64(x[second[start:stop]])
        )
    return out


def dot_error_factor(x: Matrix) -> float:
    """A factor g with |fl(a·b) − a·b| <= g·‖a‖·‖b‖ for products of rows of ``x`` computed in
    its precision (BLAS, any summation order, FMA or not), with room for four more roundings.

    The classic bound γ_n = n·u/(1 − n·u) for a length-n dot product, n = D + 4, u the unit
    roundoff of the dtype; torch float32 products that may run in TF32 or bfloat16 (per
    ``torch.backends`` settings) add the input rounding, taken as bfloat16's.
    """
    double = x.dtype in (np.float64, torch.float64)
    unit = 2.0**-53 if double else 2.0**-24
    n = x.shape[1] + 4
    gamma = n * unit / (1 - n * unit)
    if isinstance(x, torch.Tensor) and not double and not _ieee_float32_matmul():
        gamma += 2 * 2.0**-8 + 2.0**-16
    return gamma + 2.0**-40


def _ieee_float32_matmul() -> bool:
    """Whether torch runs float32 matrix products in float32 (no TF32/bfloat16 shortcuts)."""
    matmul = torch.backends.cuda.matmul
    return (
        torch.get_float32_matmul_precision() == "highest"
        and not matmul.allow_tf32
        and getattr(matmul, "fp32_precision", "none") in ("none", "ieee")
    )


def _as_float64(a: Matrix) -> Matrix:
    return a.double() if isinstance(a, torch.Tensor) else a.astype(np.float64)


def _squared_row_sums(differences: Matrix) -> Matrix:
    """Row sums of squares, squaring in place (same expression as an oracle's
    ``((a - b) ** 2).sum(1)``, so results agree bit for bit)."""
    if isinstance(differences, torch.Tensor):
        return differences.square_().sum(1)
    return np.square(differences, out=differences).sum(1)


def _squared_block(rows: Matrix, refs: Matrix, rows_sq: Matrix, refs_sq: Matrix) -> Matrix:
    block = rows @ refs.T
    block *= -2
    block += rows_sq[:, None]
    block += refs_sq[None, :]
    return block


def _min_and_argmin(block: Matrix, axis: int) -> tuple[Matrix, Matrix]:
    if isinstance(block, torch.Tensor):
        values, positions = block.min(dim=axis)
        return values, positions
    positions = block.argmin(axis)
    return np.take_along_axis(block, np.expand_dims(positions, axis), axis).squeeze(axis), positions


def _count(within: Matrix, axis: int) -> Matrix:
    """True entries along ``axis`` (int32 sums: torch sums booleans into int64 far slower)."""
    if isinstance(within, torch.Tensor):
        return within.sum(dim=axis, dtype=torch.int32)
    return within.sum(axis)


def _keep_closer(
    best: Matrix, best_index: Matrix, start: int, values: Matrix, indices: Matrix
) -> None:
    """Where ``values`` beat ``best[start:]`` strictly, take them and their ``indices``."""
    stop = start + values.shape[0]
    where = torch.where if isinstance(best, torch.Tensor) else np.where
    closer = values < best[start:stop]
    best[start:stop] = where(closer, values, best[start:stop])
    best_index[start:stop] = where(closer, indices, best_index[start:stop])


def _clamp_at_zero(a: Matrix) -> None:
    if isinstance(a, torch.Tensor):
        a.clamp_(min=0)
    else:
        np.maximum(a, 0, out=a)


def _hide_on_and_below_diagonal(block: Matrix) -> None:
    """Set the entries on and below the diagonal of a square block to +inf."""
    size = block.shape[0]
    if isinstance(block, torch.Tensor):
        lower = torch.ones(size, size, dtype=torch.bool, device=block.device).tril()
        block.masked_fill_(lower, float("inf"))
    else:
        block[np.tri(size, dtype=bool)] = np.inf


def _filled(
    like: Matrix, n: int, value: float, *, integer: bool = False, float64: bool = False
) -> Matrix:
    """A length-n array of ``value`` where ``like`` lives: int64, float64 or ``like``'s dtype."""
    if isinstance(like, torch.Tensor):
        dtype = torch.int64 if integer else torch.float64 if float64 else like.dtype
        return torch.full((n,), value, dtype=dtype, device=like.device)
    return np.full(n, value, dtype=np.int64 if integer else np.float64 if float64 else like.dtype)


def _like(like: Matrix, values: np.ndarray) -> Matrix:
    return torch.as_tensor(values, device=like.device) if isinstance(like, torch.Tensor) else values


def _check_chunk(chunk: int) -> None:
    if chunk < 1:
        raise ValueError(f"chunk={chunk} must be at least 1")


def _check_pair(queries: Matrix, references: Matrix) -> None:
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(
            "queries and references must be 2-D with equally many columns, got shapes "
            f"{tuple(queries.shape)} and {tuple(references.shape)}"
        )
