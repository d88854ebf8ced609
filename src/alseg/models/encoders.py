"""Encoders besides timm's: backbones alseg builds itself, registered with
segmentation-models-pytorch (smp) so that its DeepLabv3+ decoder sits on them.

Any timm model name is an encoder as it is (smp's ``tu-<name>``). An encoder registered here is
an smp-style module (``(depth, output_stride)`` in, a list of feature maps from the input to the
output stride out, with ``out_channels`` and ``output_stride``) and loads its ImageNet weights
from a local file the user gives (``model.weights_path``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import timm
from segmentation_models_pytorch.encoders import encoders as smp_encoders
from torch import nn

from alseg.errors import ConfigError
from alseg.models.wrn38 import WRN38Encoder, load_wrn38_weights


@dataclass(frozen=True)
class Encoder:
    """A backbone that is not a timm model."""

    name: str
    module: type[nn.Module]
    load_weights: Callable[[nn.Module, str], None]  # (encoder, file) -> None, strict
    weights_help: str  # which file holds its ImageNet weights

    @property
    def smp_name(self) -> str:
        return f"alseg-{self.name}"


_ENCODERS: dict[str, Encoder] = {}


def register_encoder(encoder: Encoder) -> None:
    """Make ``encoder.name`` usable as ``model.encoder`` (and in smp as ``alseg-<name>``)."""
    _ENCODERS[encoder.name] = encoder
    smp_encoders[encoder.smp_name] = {
        "encoder": encoder.module,
        "params": {},
        "pretrained_settings": {},
    }


def get_encoder(name: str) -> Encoder | None:
    """The registered encoder ``name``; None for timm models (and unknown names)."""
    return _ENCODERS.get(name)


def list_encoders() -> list[str]:
    """The registered encoders (timm's models come on top: ``timm.list_models()``)."""
    return sorted(_ENCODERS)


def is_known_encoder(name: str) -> bool:
    return name in _ENCODERS or name in timm.list_models()


def check_weights_path(name: str, weights: str, weights_path: str | None) -> None:
    """ConfigError, saying how to provide it, where a registered encoder's ImageNet weights
    have no file (they come from nowhere else)."""
    encoder = _ENCODERS.get(name)
    if encoder is not None and weights == "imagenet" and weights_path is None:
        raise ConfigError(
            f"{name} ImageNet weights need a local file: set model.weights_path to "
            f"{encoder.weights_help}, or use weights: none"
        )


register_encoder(
    Encoder(
        "wrn38",
        WRN38Encoder,
        load_wrn38_weights,
        "wider_resnet38.pth.tar (ImageNet WRN-38 of NVIDIA's semantic-segmentation code)",
    )
)
