"""What every trainer shares: the labeled loss, optimizer groups, poly schedule, batches."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from alseg.config import TrainConfig
from alseg.data.base import IGNORE_INDEX, SegDataset
from alseg.data.transforms import TrainView, batch_keys
from alseg.errors import clean_worker_errors
from alseg.models import SegmentationModel


def labeled_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the labeled (non-ignore) pixels; 0, not NaN, when a batch
    has none (e.g. images without annotation, or crops that fell on void)."""
    per_pixel = F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX, reduction="sum")
    return per_pixel / (masks != IGNORE_INDEX).sum().clamp_min(1)


def make_optimizer(model: SegmentationModel, train: TrainConfig) -> torch.optim.SGD:
    """SGD with the backbone at ``lr_backbone`` and ASPP/decoder/head at ``lr_head``."""
    groups = [
        {
            "params": model.backbone_parameters(),
            "lr": train.lr_backbone,
            "initial_lr": train.lr_backbone,
        },
        {"params": model.head_parameters(), "lr": train.lr_head, "initial_lr": train.lr_head},
    ]
    return torch.optim.SGD(groups, momentum=train.momentum, weight_decay=train.weight_decay)


def poly_lr(optimizer: torch.optim.Optimizer, iteration: int, total: int, power: float) -> None:
    """Set each group's lr to initial_lr * (1 - iteration / total) ** power."""
    factor = (1.0 - iteration / total) ** power
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


def endless_batches(
    dataset: SegDataset, train: TrainConfig, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Augmented (images, masks) batches forever, in a seeded order."""
    view = TrainView(dataset, train.crop, train.scale_range, train.hflip)
    loader = DataLoader(
        view,
        batch_sampler=batch_keys(len(dataset), train.batch_size, rng),
        num_workers=train.workers,
        persistent_workers=train.workers > 0,
    )
    return clean_worker_errors(loader)


def prepare(
    model: SegmentationModel, train: TrainConfig, device: torch.device
) -> SegmentationModel:
    model.to(device)
    if train.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    return model


def to_device(
    images: torch.Tensor, masks: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, masks.to(device, non_blocking=True)


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start
