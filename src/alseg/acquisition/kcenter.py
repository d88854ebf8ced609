"""Greedy k-center selection (Coreset) without pairwise distance matrices.

Squared Euclidean distances are computed as ‖x‖² − 2 x·c + ‖c‖² (clamped at 0) from row norms
computed once, so each pick costs one matrix-vector product over the embeddings: one read of the
N×D matrix. Extra memory is O(N + chunk_size·max(D, chunk_size)). CPU work runs on numpy's BLAS,
CUDA work on torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alseg.errors import ConfigError

Matrix = Any  # np.ndarray on CPU, torch.Tensor on an accelerator


@dataclass(frozen=True)
class _Backend:
    """The few array operations the greedy loop needs, for numpy or torch."""

    full: Callable[[int, float], Matrix]
    index: Callable[[np.ndarray], Any]
    row_min: Callable[[Matrix], Matrix]
    matvec_into: Callable[[Matrix, Matrix, Matrix], None]
    minimum_into: Callable[[Matrix, Matrix], None]
    clamp_zero: Callable[[Matrix], None]


def _numpy_backend(dtype: np.dtype) -> _Backend:
    return _Backend(
        full=lambda n, value: np.full(n, value, dtype=dtype),
        index=lambda rows: rows,
        row_min=lambda block: block.min(1),
        matvec_into=lambda x, v, out: np.dot(x, v, out=out),
        minimum_into=lambda target, other: np.minimum(target, other, out=target),
        clamp_zero=lambda a: np.maximum(a, 0, out=a),
    )


def _torch_backend(dtype: torch.dtype, device: torch.device) -> _Backend:
    return _Backend(
        full=lambda n, value: torch.full((n,), value, dtype=dtype, device=device),
        index=lambda rows: torch.as_tensor(rows, device=device),
        row_min=lambda block: block.amin(1),
        matvec_into=lambda x, v, out: torch.mv(x, v, out=out),
        minimum_into=lambda target, other: torch.minimum(target, other, out=target),
        clamp_zero=lambda a: a.clamp_(min=0),
    )


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
        raise ConfigError(f"embeddings must be a 2-D (N, D) array, got shape {tuple(x.shape)}")
    if isinstance(x, torch.Tensor):
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        x = x.contiguous().numpy() if x.device.type == "cpu" else x.contiguous()
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if not bool(np.isfinite(float(x.sum()))):  # one pass, no N×D temporary
        raise ConfigError("embeddings contain NaN or infinite values (or overflow their dtype)")
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
        raise ConfigError(f"{name} must hold integer row indices, got dtype {idx.dtype}")
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise ConfigError(f"{name} index {int(bad[0])} out of range; allowed: 0..{n - 1}")
    return np.unique(idx.astype(np.int64))


def _row_sq_norms(x: Matrix, backend: _Backend, chunk_size: int) -> Matrix:
    norms = backend.full(x.shape[0], 0.0)
    for start in range(0, x.shape[0], chunk_size):
        rows = x[start : start + chunk_size]
        norms[start : start + chunk_size] = (rows * rows).sum(1)
    return norms


def _min_sq_dist_to_set(
    x: Matrix, sq_norms: Matrix, centers: np.ndarray, backend: _Backend, chunk_size: int
) -> Matrix:
    """Per row of x, the squared distance to the nearest of the rows ``centers``, blockwise."""
    min_d2 = backend.full(x.shape[0], float("inf"))
    for c_start in range(0, len(centers), chunk_size):
        center_idx = backend.index(centers[c_start : c_start + chunk_size])
        block_centers = x[center_idx]
        center_norms = sq_norms[center_idx]
        for start in range(0, x.shape[0], chunk_size):
            block = x[start : start + chunk_size] @ block_centers.T
            block *= -2
            block += sq_norms[start : start + chunk_size, None]
            block += center_norms[None, :]
            rows_min = backend.row_min(block)
            backend.clamp_zero(rows_min)
            backend.minimum_into(min_d2[start : start + chunk_size], rows_min)
    return min_d2


def kcenter_greedy(
    embeddings: np.ndarray | torch.Tensor,
    labeled: np.ndarray | torch.Tensor | list[int],
    k: int,
    *,
    chunk_size: int = 1024,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Pick ``k`` unlabeled rows by greedy k-center, in pick order.

    d(u) is the Euclidean distance from row u to the nearest labeled row (∞ when none). Each step
    picks the not yet chosen, unlabeled row with the largest d (the first one on ties) and then
    lowers d(u) to ‖u − pick‖ where that is smaller. ``device`` (default: where the embeddings
    are) selects CPU (numpy BLAS) or an accelerator (torch).
    """
    x = as_matrix(embeddings, device)
    n = x.shape[0]
    labeled_idx = as_index_array(labeled, n)
    available = n - len(labeled_idx)
    if not 0 <= k <= available:
        raise ConfigError(f"k={k} is not within 0..{available}, the number of unlabeled rows")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size={chunk_size} must be at least 1")
    return _greedy_picks(x, labeled_idx, k, chunk_size)


def _greedy_picks(x: Matrix, labeled_idx: np.ndarray, k: int, chunk_size: int) -> np.ndarray:
    """The greedy loop on validated input (numpy or torch matrix, on any device)."""
    if isinstance(x, torch.Tensor):
        backend = _torch_backend(x.dtype, x.device)
    else:
        backend = _numpy_backend(x.dtype)
    n = x.shape[0]
    picks = np.empty(k, dtype=np.int64)
    if k == 0:
        return picks
    sq_norms = _row_sq_norms(x, backend, chunk_size)
    min_d2 = _min_sq_dist_to_set(x, sq_norms, labeled_idx, backend, chunk_size)
    min_d2[backend.index(labeled_idx)] = float("-inf")
    d2_to_pick = backend.full(n, 0.0)
    for step in range(k):
        pick = int(min_d2.argmax())
        picks[step] = pick
        min_d2[pick] = float("-inf")
        if step + 1 == k:
            break
        backend.matvec_into(x, x[pick], d2_to_pick)
        d2_to_pick *= -2
        d2_to_pick += sq_norms
        d2_to_pick += sq_norms[pick]
        backend.clamp_zero(d2_to_pick)
        backend.minimum_into(min_d2, d2_to_pick)
    return picks
