"""What the active-learning loop needs from a segmentation network.

Any ``torch.nn.Module`` that also provides the methods below can be trained, evaluated and scored
by alseg: DeepLabv3+ (``alseg.models.deeplab``) is one implementation, ``alseg.models.plain``
wraps an ordinary network that maps images to logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, C, H, W) at the input size
    features: torch.Tensor  # (B, C', h, w) the map the image embedding is pooled from


@runtime_checkable
class SegmentationModel(Protocol):
    """An ``nn.Module`` taking float RGB batches in [0, 1] (B, 3, H, W) of any size.

    - ``model(images)`` returns logits (B, num_classes, H, W);
    - ``encode``/``decode`` split that call so MC-dropout passes reuse the encoder features;
    - ``embedding(output)`` is the per-image vector Coreset and the diagnostics measure
      distances in (B, D);
    - ``mc_dropout_masks`` gives the fixed dropout masks of BALD's MC passes (raise ConfigError
      when the network has no dropout to sample);
    - the two parameter groups get the backbone and head learning rates;
    - ``copy_head_from`` keeps the head of the last cycle's model (option ``keep_head``).
    """

    num_classes: int
    head_dropout: float

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def encode(self, images: torch.Tensor) -> Any: ...

    def decode(
        self, features: Any, size: tuple[int, int], dropout_mask: torch.Tensor | None = None
    ) -> ModelOutput: ...

    def forward_output(self, images: torch.Tensor) -> ModelOutput: ...

    def embedding(self, output: ModelOutput) -> torch.Tensor: ...

    def mc_dropout_masks(self, passes: int, generator: torch.Generator) -> torch.Tensor: ...

    def backbone_parameters(self) -> list[nn.Parameter]: ...

    def head_parameters(self) -> list[nn.Parameter]: ...

    def copy_head_from(self, other: SegmentationModel) -> None: ...
