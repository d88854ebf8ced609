"""What a trainer is given (``FitRequest``) and what it returns (``FitResult``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from alseg.config import SSLConfig, TrainConfig
    from alseg.data.base import SegDataset
    from alseg.models import SegmentationModel

#: Called after each iteration with (iteration, total iterations, loss).
StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class FitRequest:
    """Train ``model`` in place on ``labeled`` (and ``unlabeled``, for semi-supervised trainers)."""

    model: SegmentationModel
    labeled: SegDataset
    unlabeled: SegDataset | None
    train: TrainConfig
    ssl: SSLConfig
    device: torch.device
    seed: int
    on_step: StepCallback | None = None


@dataclass
class FitResult:
    iterations: int
    seconds: float
    final_loss: float
    losses: dict[str, float] = field(default_factory=dict)  # last value of each loss term


#: A training function: trains ``request.model`` in place.
TrainFunction = Callable[[FitRequest], FitResult]
