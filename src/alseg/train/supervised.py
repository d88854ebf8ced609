"""Supervised training: cross-entropy on labeled images (SPEC §3)."""

from __future__ import annotations

import numpy as np
import torch

from alseg.config import SSLConfig, TrainConfig
from alseg.data.base import SegDataset
from alseg.models import SegmentationModel
from alseg.train.common import (
    FitResult,
    StepCallback,
    Timer,
    endless_batches,
    labeled_loss,
    make_optimizer,
    poly_lr,
    prepare,
    to_device,
)


def fit_supervised(
    model: SegmentationModel,
    labeled: SegDataset,
    unlabeled: SegDataset | None,
    train: TrainConfig,
    ssl: SSLConfig,
    device: torch.device,
    seed: int,
    on_step: StepCallback | None = None,
) -> FitResult:
    """SGD with poly decay for epochs * |L| / batch iterations; ``unlabeled`` is not used."""
    timer = Timer()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    total = train.iterations(len(labeled))
    optimizer = make_optimizer(model, train)
    prepare(model, train, device)
    batches = endless_batches(labeled, train, rng)
    loss_value = float("nan")
    for iteration in range(total):
        poly_lr(optimizer, iteration, total, train.poly_power)
        images, masks = to_device(*next(batches), device, train.channels_last)
        loss = labeled_loss(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if on_step is not None:
            on_step(iteration + 1, total, loss_value)
    model.eval()
    return FitResult(total, timer.seconds(), loss_value, {"ce": loss_value})
