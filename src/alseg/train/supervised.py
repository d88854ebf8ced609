"""Supervised training: cross-entropy on labeled images (SPEC §3)."""

from __future__ import annotations

import numpy as np
import torch

from alseg.devices import train_autocast
from alseg.train.common import (
    Timer,
    endless_batches,
    labeled_loss,
    make_optimizer,
    poly_lr,
    prepare,
    to_device,
)
from alseg.train.registry import SUPERVISED, register_trainer
from alseg.train.request import FitRequest, FitResult


@register_trainer(SUPERVISED)
def fit_supervised(request: FitRequest) -> FitResult:
    """SGD with poly decay for epochs * |L| / batch iterations; ``unlabeled`` is not used."""
    model, train, device = request.model, request.train, request.device
    timer = Timer()
    rng = np.random.default_rng(request.seed)
    torch.manual_seed(request.seed)
    total = train.iterations(len(request.labeled))
    optimizer = make_optimizer(model, train)
    prepare(model, train, device)
    batches = endless_batches(request.labeled, train, rng)
    loss_value = float("nan")
    for iteration in range(total):
        poly_lr(optimizer, iteration, total, train.poly_power)
        images, masks = to_device(*next(batches), device, train.channels_last)
        with train_autocast(device, train.cpu_bf16):
            loss = labeled_loss(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if request.on_step is not None:
            request.on_step(iteration + 1, total, loss_value)
    model.eval()
    return FitResult(total, timer.seconds(), loss_value, {"ce": loss_value})
