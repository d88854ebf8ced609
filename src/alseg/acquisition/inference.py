"""One streamed inference pass over pool images, computing exactly what a strategy needs.

Per-pixel maps are reduced to one number (or one embedding) per image on the device, batch by batch,
by the scorers of the requested needs (``alseg.acquisition.scorers``), so memory does not grow with
the pool apart from the per-image results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from alseg.acquisition.scorers import InferenceBatch, PassState, split_need
from alseg.data.base import SegDataset
from alseg.data.transforms import eval_batches
from alseg.devices import autocast
from alseg.models.protocol import SegmentationModel

ProgressCallback = Callable[[int, int], None]


@torch.no_grad()
def infer_pool(
    model: SegmentationModel,
    dataset: SegDataset,
    indices: np.ndarray,
    needs: Iterable[str],
    device: torch.device,
    batch_size: int = 32,
    seed: int = 0,
    workers: int = 0,
    on_batch: ProgressCallback | None = None,
) -> dict[str, np.ndarray]:
    """Per-image results for ``dataset[indices]``, keyed by need: arrays of len(indices)
    (embeddings N x D). ``seed`` fixes the MC-dropout masks of ``mc:T`` needs."""
    scorers = {need: split_need(need) for need in sorted(set(needs))}
    model.eval().to(device)
    state = PassState(model, seed, device)
    results: dict[str, np.ndarray] = {}
    done = 0
    for images, _, positions in eval_batches(dataset, indices, batch_size, workers):
        batch = InferenceBatch(state, images.to(device))
        with autocast(device):
            values = {need: s.compute(batch, arg) for need, (s, arg) in scorers.items()}
        for need, value in values.items():
            if need not in results:
                results[need] = np.zeros((len(indices), *value.shape[1:]), dtype=np.float32)
            results[need][positions.numpy()] = value.float().cpu().numpy()
        done += len(positions)
        if on_batch is not None:
            on_batch(done, len(indices))
    return results
