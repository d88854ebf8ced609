"""Greedy k-center selection (Coreset) without pairwise distance matrices.

Squared Euclidean distances are computed as ‖x‖² − 2 x·c + ‖c‖² (clamped at 0) from row norms
computed once (:mod:`alseg.distances`), so each pick costs one matrix-vector product over the
embeddings: one read of the N×D matrix. Extra memory is O(N + chunk_size·max(D, chunk_size)).
CPU work runs on numpy's BLAS, CUDA work on torch.
"""

from __future__ import annotations

import numpy as np
import torch

from alseg.distances import (
    Matrix,
    as_index_array,
    as_matrix,
    nearest_squared,
    squared_distances_to_row,
    squared_norms,
)


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
        raise ValueError(f"k={k} is not within 0..{available}, the number of unlabeled rows")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1")
    return _greedy_picks(x, labeled_idx, k, chunk_size)


def _greedy_picks(x: Matrix, labeled_idx: np.ndarray, k: int, chunk_size: int) -> np.ndarray:
    """The greedy loop on validated input (numpy or torch matrix, on any device)."""
    picks = np.empty(k, dtype=np.int64)
    if k == 0:
        return picks
    on_torch = isinstance(x, torch.Tensor)
    xp = torch if on_torch else np
    sq_norms = squared_norms(x, chunk_size)
    min_d2, _ = nearest_squared(
        x,
        x,
        chunk=chunk_size,
        reference_rows=labeled_idx,
        query_sq=sq_norms,
        reference_sq=sq_norms,
    )
    labeled_rows = torch.as_tensor(labeled_idx, device=x.device) if on_torch else labeled_idx
    min_d2[labeled_rows] = float("-inf")
    d2_to_pick = xp.zeros_like(min_d2)
    for step in range(k):
        pick = int(min_d2.argmax())
        picks[step] = pick
        min_d2[pick] = float("-inf")
        if step + 1 == k:
            break
        squared_distances_to_row(x, sq_norms, pick, out=d2_to_pick)
        xp.minimum(min_d2, d2_to_pick, out=min_d2)
    return picks
