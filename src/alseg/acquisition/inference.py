"""One streamed inference pass over pool images, computing exactly what a strategy needs.

Per-pixel maps are reduced to one number (or one embedding) per image on the device, batch by batch,
so memory does not grow with the pool apart from the per-image results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from alseg.acquisition import scores
from alseg.data.base import SegDataset
from alseg.data.transforms import EvalView, same_size_batches
from alseg.models import SegmentationModel

ProgressCallback = Callable[[int, int], None]
KNOWN_NEEDS = frozenset(
    {"entropy", "entropy_minmax", "equal", "equal_consistency", "bald", "embedding"}
)


def eval_batches(
    dataset: SegDataset, indices: np.ndarray | None, batch_size: int, workers: int = 0
) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(images, masks, positions) batches of equal-size images, deterministic order."""
    view = EvalView(dataset, indices)
    loader = torch.utils.data.DataLoader(view, batch_size=None, num_workers=workers)
    return same_size_batches(iter(loader), batch_size)


def autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda")


@torch.no_grad()
def infer_pool(
    model: SegmentationModel,
    dataset: SegDataset,
    indices: np.ndarray,
    needs: Iterable[str],
    device: torch.device,
    batch_size: int = 32,
    mc_passes: int = 20,
    seed: int = 0,
    workers: int = 0,
    on_batch: ProgressCallback | None = None,
) -> dict[str, np.ndarray]:
    """Per-image results for ``dataset[indices]``: arrays of len(indices) (embeddings N x 1024)."""
    needs = frozenset(needs)
    unknown = needs - KNOWN_NEEDS
    if unknown:
        raise ValueError(f"unknown inference needs {sorted(unknown)}")
    model.eval().to(device)
    masks = None
    if "bald" in needs:
        masks = model.mc_dropout_masks(mc_passes, torch.Generator().manual_seed(seed)).to(device)
    results: dict[str, np.ndarray] = {}
    done = 0
    for images, _, positions in eval_batches(dataset, indices, batch_size, workers):
        images = images.to(device)
        with autocast(device):
            batch = _infer_batch(model, images, needs, masks)
        for name, values in batch.items():
            if name not in results:
                results[name] = np.zeros((len(indices), *values.shape[1:]), dtype=np.float32)
            results[name][positions.numpy()] = values.float().cpu().numpy()
        done += len(positions)
        if on_batch is not None:
            on_batch(done, len(indices))
    return results


def _infer_batch(
    model: SegmentationModel,
    images: torch.Tensor,
    needs: frozenset[str],
    mc_masks: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    features = model.encode(images)
    size = images.shape[-2:]
    output = model.decode(features, size)
    logits = output.logits.float()
    out: dict[str, torch.Tensor] = {}
    if "entropy" in needs:
        out["entropy"] = scores.entropy(logits)
    if "entropy_minmax" in needs:
        out["entropy_minmax"] = scores.entropy(logits, normalize="minmax")
    if "equal" in needs or "equal_consistency" in needs:
        flipped = model.forward_output(images.flip(-1)).logits.float()
        if "equal" in needs:
            out["equal"] = scores.equal(logits, flipped)
        if "equal_consistency" in needs:
            out["equal_consistency"] = scores.equal(logits, flipped, variant="consistency")
    if "embedding" in needs:
        out["embedding"] = model.pool_embedding(output.aspp.float())
    if "bald" in needs and mc_masks is not None:
        accumulator = scores.BaldAccumulator()
        for mask in mc_masks:
            accumulator.add(model.decode(features, size, dropout_mask=mask).logits.float())
        out["bald"] = accumulator.scores()
    return out
