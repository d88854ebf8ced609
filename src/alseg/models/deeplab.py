"""DeepLabv3+ (segmentation-models-pytorch) on any timm encoder or a registered one (WRN-38), with
an MC-dropout head and embeddings.

Inputs are float RGB batches in [0, 1] (B, 3, H, W) of any size; the model normalises them with
the ImageNet statistics, pads to a multiple of the output stride and returns logits at input size.
"""

from __future__ import annotations

from pathlib import Path

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn

from alseg.errors import ConfigError
from alseg.models.encoders import (
    check_weights_path,
    get_encoder,
    is_known_encoder,
    list_encoders,
)
from alseg.models.pretrained import LITE0_ENCODER, timm_imagenet_classifier, timm_weights_file
from alseg.models.protocol import ModelOutput

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_ENCODER = LITE0_ENCODER
WEIGHTS = ("imagenet", "none")
#: ASPP dilation rates per output stride (SPEC §3).
ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class DeepLabV3Plus(nn.Module):
    """DeepLabv3+ whose pieces (encode, decode, classify, embed) are reachable one by one; an
    implementation of ``alseg.models.protocol.SegmentationModel``. ``ModelOutput.features`` is the
    ASPP projection output (B, 256, h, w)."""

    def __init__(self, net: smp.DeepLabV3Plus, num_classes: int, head_dropout: float) -> None:
        super().__init__()
        self.net = net
        self.num_classes = num_classes
        self.head_dropout = head_dropout
        self.stride = net.encoder.output_stride
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def decoder_channels(self) -> int:
        return self.net.segmentation_head[0].in_channels

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.net.encoder.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        backbone = {id(p) for p in self.backbone_parameters()}
        return [p for p in self.parameters() if id(p) not in backbone]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.stride, (-w) % self.stride
        return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Encoder feature maps for images in [0, 1] (padded to the output stride)."""
        return self.net.encoder(self._pad((images - self.mean) / self.std))

    def decode(
        self,
        features: list[torch.Tensor],
        size: tuple[int, int],
        dropout_mask: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Logits at ``size`` from encoder features.

        ``dropout_mask`` (B or 1, decoder_channels, 1, 1) replaces the head dropout with a fixed
        channel mask (MC dropout with the same masks for every image); without it the head dropout
        is active in training mode only.
        """
        decoder = self.net.decoder
        aspp = decoder.aspp[0](features[-1])
        context = decoder.up(decoder.aspp[1:](aspp))
        fused = decoder.block2(torch.cat([context, decoder.block1(features[2])], dim=1))
        if dropout_mask is not None:
            fused = fused * dropout_mask
        elif self.head_dropout > 0:
            fused = F.dropout2d(fused, self.head_dropout, self.training)
        logits = self.net.segmentation_head[0](fused)
        padded = features[0].shape[-2:]
        logits = F.interpolate(logits, size=padded, mode="bilinear", align_corners=False)
        return ModelOutput(logits=logits[..., : size[0], : size[1]], features=aspp)

    def forward_output(
        self, images: torch.Tensor, dropout_mask: torch.Tensor | None = None
    ) -> ModelOutput:
        return self.decode(self.encode(images), images.shape[-2:], dropout_mask)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_output(images).logits

    def embedding(self, output: ModelOutput) -> torch.Tensor:
        """ASPP projection output average-pooled to a 2x2 grid: (B, 4 * 256) (SPEC §2)."""
        return F.adaptive_avg_pool2d(output.features.float(), 2).flatten(1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.forward_output(images))

    def copy_head_from(self, other: DeepLabV3Plus) -> None:
        """Decoder and segmentation head of ``other`` (the official supervised code's keep-head)."""
        self.net.decoder.load_state_dict(other.net.decoder.state_dict())
        self.net.segmentation_head.load_state_dict(other.net.segmentation_head.state_dict())

    def mc_dropout_masks(self, passes: int, generator: torch.Generator) -> torch.Tensor:
        """``passes`` channel-dropout masks (T, 1, C, 1, 1), scaled by 1/(1-p), reproducible."""
        if self.head_dropout <= 0:
            raise ConfigError("MC dropout needs a model built with head_dropout > 0 (e.g. 0.5)")
        keep = 1.0 - self.head_dropout
        shape = (passes, 1, self.decoder_channels, 1, 1)
        draws = torch.rand(shape, generator=generator)
        return (draws < keep).float() / keep


def build_model(
    num_classes: int,
    encoder: str = DEFAULT_ENCODER,
    weights: str = "imagenet",
    head_dropout: float = 0.0,
    output_stride: int = 16,
    aspp_dropout: float = 0.1,
    weights_path: str | None = None,
) -> DeepLabV3Plus:
    """DeepLabv3+ on ``encoder`` (a timm model or a registered one such as ``wrn38``);
    ``weights="imagenet"`` loads ImageNet encoder weights (strictly: none may stay random).

    ``weights_path`` is a local file of the encoder's weights: the published checkpoint for a
    registered encoder (required), timm's state dict for a timm model. Without it
    ``efficientnet_lite0`` loads from the installed package and other timm models from the hub
    cache, or a download where the hub is online (see ``alseg.models.pretrained``).
    """
    if weights not in WEIGHTS:
        raise ConfigError(f"unknown weights {weights!r}; allowed: {', '.join(WEIGHTS)}")
    if output_stride not in ASPP_RATES:
        raise ConfigError(f"output stride {output_stride} not supported; allowed: 8, 16")
    if not 0.0 <= head_dropout < 1.0:
        raise ConfigError(f"head dropout {head_dropout} outside [0, 1)")
    if not is_known_encoder(encoder):
        raise ConfigError(
            f"unknown encoder {encoder!r}; any timm model name works (see timm.list_models()), "
            f"or {', '.join(list_encoders())}; default {DEFAULT_ENCODER}"
        )
    custom = get_encoder(encoder)
    weights_file = imagenet_weights_file(encoder, weights_path) if weights == "imagenet" else None
    net = smp.DeepLabV3Plus(
        encoder_name=f"tu-{encoder}" if custom is None else custom.smp_name,
        encoder_weights=None,
        classes=num_classes,
        encoder_output_stride=output_stride,
        decoder_atrous_rates=ASPP_RATES[output_stride],
        decoder_aspp_dropout=aspp_dropout,
    )
    if weights == "imagenet":
        if custom is None:
            load_imagenet_encoder(net, encoder, weights_file)
        else:
            custom.load_weights(net.encoder, weights_file)
    return DeepLabV3Plus(net, num_classes, head_dropout)


def imagenet_weights_file(encoder: str, weights_path: str | None) -> str | None:
    """The file ``encoder``'s ImageNet weights load from, checked before any model is built
    (None: efficientnet_lite0's package weights or a hub download)."""
    if weights_path is not None and not Path(weights_path).is_file():
        raise ConfigError(f"weights file {weights_path} not found (model.weights_path)")
    if get_encoder(encoder) is None:
        return timm_weights_file(encoder, weights_path)
    check_weights_path(encoder, "imagenet", weights_path)
    return weights_path


def load_imagenet_encoder(net: smp.DeepLabV3Plus, encoder: str, weights_file: str | None) -> None:
    """Fill every tensor of the timm encoder with ImageNet weights (strict: none may stay
    random); ``weights_file`` as ``pretrained.timm_weights_file`` resolves it."""
    source = timm_imagenet_classifier(encoder, weights_file).state_dict()
    target = net.encoder.model.state_dict()
    missing = [name for name in target if name not in source]
    if missing:
        raise ConfigError(f"pretrained {encoder} lacks encoder tensors, e.g. {missing[:3]}")
    net.encoder.model.load_state_dict({name: source[name] for name in target}, strict=True)
