"""Array operations that run alike on numpy arrays (CPU) and torch tensors (any device)."""

from __future__ import annotations

import numpy as np
import torch

from alseg.distances import Matrix


class ArrayOps:
    """numpy or torch versions of a few array operations, chosen by ``on_torch``, with new
    arrays placed beside ``x``."""

    x: Matrix
    on_torch: bool

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
