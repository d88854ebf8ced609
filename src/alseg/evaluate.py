"""Validation: confusion matrix of a model's predictions over a dataset."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from alseg.data.base import SegDataset
from alseg.data.transforms import eval_batches
from alseg.devices import autocast
from alseg.metrics import ConfusionMatrix
from alseg.models import SegmentationModel


@torch.no_grad()
def evaluate(
    model: SegmentationModel,
    dataset: SegDataset,
    device: torch.device,
    batch_size: int = 32,
    max_images: int | None = None,
    workers: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
) -> ConfusionMatrix:
    """Predict every image (or the first ``max_images``) and accumulate the confusion matrix."""
    model.eval().to(device)
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    matrix = ConfusionMatrix(dataset.num_classes)
    done = 0
    for images, masks, _ in eval_batches(dataset, np.arange(count), batch_size, workers):
        with autocast(device):
            logits = model(images.to(device))
        matrix.update(logits.argmax(1).cpu(), masks)
        done += len(images)
        if on_batch is not None:
            on_batch(done, count)
    return matrix
