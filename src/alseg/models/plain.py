"""Any segmentation network as an alseg model: a thin wrapper that provides the protocol."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alseg.errors import ConfigError
from alseg.models.protocol import ModelOutput


class PlainSegmentationModel(nn.Module):
    """Wraps ``network``, which maps images in [0, 1] (B, 3, H, W) to logits (B, C, h, w).

    Logits are resized to the input size. The image embedding (Coreset, diagnostics) is the
    output of ``embedding_layer`` (a submodule of ``network``; default: the logits) average-pooled
    to a 2x2 grid. ``backbone`` (a submodule) gets the backbone learning rate, everything else the
    head learning rate. There is no MC dropout, so BALD needs another model.
    """

    head_dropout = 0.0

    def __init__(
        self,
        network: nn.Module,
        num_classes: int,
        *,
        backbone: nn.Module | None = None,
        embedding_layer: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.num_classes = num_classes
        self.backbone = backbone
        self._captured: list[torch.Tensor] = []
        if embedding_layer is not None:
            embedding_layer.register_forward_hook(lambda _, __, out: self._captured.append(out))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def decode(
        self,
        features: torch.Tensor,
        size: tuple[int, int],
        dropout_mask: torch.Tensor | None = None,
    ) -> ModelOutput:
        if dropout_mask is not None:
            raise ConfigError("this model has no MC dropout; BALD needs a model that provides it")
        self._captured.clear()
        logits = self.network(features)
        embedded = self._captured[-1] if self._captured else logits
        if logits.shape[-2:] != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return ModelOutput(logits=logits, features=embedded)

    def forward_output(self, images: torch.Tensor) -> ModelOutput:
        return self.decode(self.encode(images), tuple(images.shape[-2:]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_output(images).logits

    def embedding(self, output: ModelOutput) -> torch.Tensor:
        return F.adaptive_avg_pool2d(output.features.float(), 2).flatten(1)

    def mc_dropout_masks(self, passes: int, generator: torch.Generator) -> torch.Tensor:
        raise ConfigError("this model has no MC dropout; BALD needs a model that provides it")

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [] if self.backbone is None else list(self.backbone.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        backbone = {id(p) for p in self.backbone_parameters()}
        return [p for p in self.network.parameters() if id(p) not in backbone]

    def copy_head_from(self, other: PlainSegmentationModel) -> None:
        """Every parameter outside the backbone from ``other`` (same architecture)."""
        backbone = {id(p) for p in self.backbone_parameters()}
        names = {n for n, p in self.network.named_parameters() if id(p) not in backbone}
        state = {k: v for k, v in other.network.state_dict().items() if k in names}
        self.network.load_state_dict(state, strict=False)
